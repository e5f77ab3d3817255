//! Handshake phases of both sides on WhatsApp's `HandshakeMessage`: message 1
//! is `clientHello.ephemeral` (no payload, and no hash of one); message 2 is
//! `serverHello.{ephemeral, static (48: key + tag), payload}` with the payload
//! a `CertChain`; message 3 is `clientFinish.{static (48), payload}` with the
//! payload a `ClientPayload`. Token order is XX: `e`; `e, ee, s, es`; `s, se`.

use std::fmt;

use prost::Message;
use rand::CryptoRng;

use super::cert::{self, VerifiedChain};
use super::symmetric::SymmetricState;
use super::{NoiseError, Transport};
use crate::frame::WA_HEADER;
use crate::keys::KeyPair;
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};

const DH_LEN: usize = 32;
const TAG_LEN: usize = 16;
const ENC_STATIC_LEN: usize = DH_LEN + TAG_LEN;

fn dh(ours: &KeyPair, theirs: &[u8]) -> Result<zeroize::Zeroizing<[u8; 32]>, NoiseError> {
    ours.agree(theirs)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| NoiseError::Malformed("invalid public key"))
}

fn key32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], NoiseError> {
    bytes.try_into().map_err(|_| NoiseError::Malformed(what))
}

/// Client phase 1: `ClientHello` sent, waiting for the server's hello.
pub struct ClientHandshake {
    sym: SymmetricState,
    ephemeral: KeyPair,
    static_key: KeyPair,
}

impl ClientHandshake {
    /// Starts a handshake with our Noise static key and a fresh ephemeral key
    /// from `rng`; returns the encoded `HandshakeMessage` (client hello) to
    /// send as the first frame.
    pub fn start<R: CryptoRng + ?Sized>(
        static_key: &KeyPair,
        rng: &mut R,
    ) -> Result<(ClientHandshake, Vec<u8>), NoiseError> {
        let ephemeral = KeyPair::generate(rng);
        let mut sym = SymmetricState::new(&WA_HEADER);
        sym.mix_hash(ephemeral.public());
        let msg = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public().to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let hs = ClientHandshake {
            sym,
            ephemeral,
            static_key: static_key.clone(),
        };
        Ok((hs, msg.encode_to_vec()))
    }

    /// Reads the server hello, checks its certificate chain against `root` at
    /// `now` (unix seconds) and the server's static key.
    pub fn read_server_hello(
        mut self,
        message: &[u8],
        root: &[u8; 32],
        now: u64,
    ) -> Result<ClientServerVerified, NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("not a HandshakeMessage"))?;
        let hello = msg
            .server_hello
            .ok_or(NoiseError::Malformed("no serverHello"))?;
        let (Some(e), Some(s), Some(p)) = (hello.ephemeral, hello.r#static, hello.payload) else {
            return Err(NoiseError::Malformed("serverHello lacks a part"));
        };
        if e.len() != DH_LEN || s.len() != ENC_STATIC_LEN {
            return Err(NoiseError::Malformed("serverHello part of wrong length"));
        }
        let sym = &mut self.sym;
        sym.mix_hash(&e);
        sym.mix_key(dh(&self.ephemeral, &e)?.as_ref());
        let server_static = key32(&sym.decrypt_and_hash(&s)?, "server static")?;
        sym.mix_key(dh(&self.ephemeral, &server_static)?.as_ref());
        let chain_bytes = sym.decrypt_and_hash(&p)?;
        let chain = cert::verify_chain(&chain_bytes, root, &server_static, now)?;
        Ok(ClientServerVerified {
            sym: self.sym,
            static_key: self.static_key,
            server_ephemeral: key32(&e, "server ephemeral")?,
            server_static,
            chain,
        })
    }
}

/// Client phase 2: the server is verified; send our static key and payload.
pub struct ClientServerVerified {
    sym: SymmetricState,
    static_key: KeyPair,
    server_ephemeral: [u8; 32],
    server_static: [u8; 32],
    chain: VerifiedChain,
}

impl ClientServerVerified {
    /// The server's Noise static public key.
    pub fn server_static(&self) -> &[u8; 32] {
        &self.server_static
    }

    /// What the verified certificate chain said.
    pub fn chain(&self) -> &VerifiedChain {
        &self.chain
    }

    /// Sends our encrypted static key and `client_payload` (an encoded
    /// `ClientPayload`); returns the `ClientFinish` message and the transport.
    pub fn finish(mut self, client_payload: &[u8]) -> Result<(Vec<u8>, Transport), NoiseError> {
        let enc_static = self.sym.encrypt_and_hash(self.static_key.public())?;
        self.sym
            .mix_key(dh(&self.static_key, &self.server_ephemeral)?.as_ref());
        let enc_payload = self.sym.encrypt_and_hash(client_payload)?;
        let msg = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(enc_static),
                payload: Some(enc_payload),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((
            msg.encode_to_vec(),
            Transport::from_split(self.sym.split(), true),
        ))
    }
}

/// Server phase 1: waiting for a client hello.
pub struct ServerHandshake {
    static_key: KeyPair,
}

impl ServerHandshake {
    /// A responder with the server's Noise static key.
    pub fn new(static_key: &KeyPair) -> Result<ServerHandshake, NoiseError> {
        Ok(ServerHandshake {
            static_key: static_key.clone(),
        })
    }

    /// Reads the client hello and answers with a server hello carrying
    /// `cert_chain` (an encoded `CertChain`, see [`cert::issue_chain`]), with
    /// a fresh ephemeral key from `rng`.
    pub fn read_client_hello<R: CryptoRng + ?Sized>(
        self,
        message: &[u8],
        cert_chain: &[u8],
        rng: &mut R,
    ) -> Result<(ServerAwaitingFinish, Vec<u8>), NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("not a HandshakeMessage"))?;
        let client_e = msg
            .client_hello
            .and_then(|h| h.ephemeral)
            .ok_or(NoiseError::Malformed("no clientHello.ephemeral"))?;
        let client_e = key32(&client_e, "client ephemeral of wrong length")?;
        let mut sym = SymmetricState::new(&WA_HEADER);
        sym.mix_hash(&client_e);
        let ephemeral = KeyPair::generate(rng);
        sym.mix_hash(ephemeral.public());
        sym.mix_key(dh(&ephemeral, &client_e)?.as_ref());
        let enc_static = sym.encrypt_and_hash(self.static_key.public())?;
        sym.mix_key(dh(&self.static_key, &client_e)?.as_ref());
        let enc_payload = sym.encrypt_and_hash(cert_chain)?;
        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public().to_vec()),
                r#static: Some(enc_static),
                payload: Some(enc_payload),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((
            ServerAwaitingFinish { sym, ephemeral },
            reply.encode_to_vec(),
        ))
    }
}

/// Server phase 2: hello sent, waiting for the client's finish.
pub struct ServerAwaitingFinish {
    sym: SymmetricState,
    ephemeral: KeyPair,
}

impl ServerAwaitingFinish {
    /// Reads the client finish: the client's static key and its payload.
    pub fn read_client_finish(mut self, message: &[u8]) -> Result<ServerFinished, NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("not a HandshakeMessage"))?;
        let fin = msg
            .client_finish
            .ok_or(NoiseError::Malformed("no clientFinish"))?;
        let (Some(s), Some(p)) = (fin.r#static, fin.payload) else {
            return Err(NoiseError::Malformed("clientFinish lacks a part"));
        };
        if s.len() != ENC_STATIC_LEN {
            return Err(NoiseError::Malformed("client static of wrong length"));
        }
        let client_static = key32(&self.sym.decrypt_and_hash(&s)?, "client static")?;
        self.sym
            .mix_key(dh(&self.ephemeral, &client_static)?.as_ref());
        let payload = self.sym.decrypt_and_hash(&p)?;
        Ok(ServerFinished {
            client_static,
            payload,
            transport: Transport::from_split(self.sym.split(), false),
        })
    }
}

/// Server phase 3: the handshake is done.
#[derive(Debug)]
pub struct ServerFinished {
    /// The client's Noise static public key (identifies a paired device).
    pub client_static: [u8; 32],
    /// The client's payload (an encoded `ClientPayload`).
    pub payload: Vec<u8>,
    /// The transport ciphers.
    pub transport: Transport,
}

macro_rules! opaque_debug {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(
    ClientHandshake,
    ClientServerVerified,
    ServerHandshake,
    ServerAwaitingFinish
);
