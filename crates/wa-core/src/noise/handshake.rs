//! Handshake phases of both sides, mapping snow's XX messages onto WhatsApp's
//! `HandshakeMessage`: message 1 is `clientHello.ephemeral`; message 2 is
//! `e(32) || enc_s(48) || enc_payload`, split into `serverHello.{ephemeral,
//! static, payload}` with the payload a `CertChain`; message 3 is
//! `enc_s(48) || enc_payload`, split into `clientFinish.{static, payload}`
//! with the payload a `ClientPayload`.

use std::fmt;

use prost::Message;

use super::cert::{self, VerifiedChain};
use super::{NoiseError, PATTERN, Transport};
use crate::frame::WA_HEADER;
use crate::keys::KeyPair;
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};

const DH_LEN: usize = 32;
const TAG_LEN: usize = 16;
const ENC_STATIC_LEN: usize = DH_LEN + TAG_LEN;
/// Noise's limit on one handshake message.
const MAX_HANDSHAKE: usize = 65535;

fn builder_state(
    static_key: &KeyPair,
    initiator: bool,
) -> Result<snow::HandshakeState, NoiseError> {
    let params: snow::params::NoiseParams = PATTERN
        .parse()
        .map_err(|e: snow::Error| NoiseError::State(e.to_string()))?;
    let b = snow::Builder::new(params)
        .local_private_key(static_key.private())?
        .prologue(&WA_HEADER)?;
    Ok(if initiator {
        b.build_initiator()?
    } else {
        b.build_responder()?
    })
}

fn write(hs: &mut snow::HandshakeState, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
    if payload.len() > MAX_HANDSHAKE - 2 * ENC_STATIC_LEN {
        return Err(NoiseError::Malformed("handshake payload too large"));
    }
    let mut out = vec![0u8; MAX_HANDSHAKE];
    let n = hs.write_message(payload, &mut out)?;
    out.truncate(n);
    Ok(out)
}

fn read(hs: &mut snow::HandshakeState, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
    if message.len() > MAX_HANDSHAKE {
        return Err(NoiseError::Malformed("handshake message too large"));
    }
    let mut out = vec![0u8; message.len()];
    let n = hs.read_message(message, &mut out)?;
    out.truncate(n);
    Ok(out)
}

fn remote_static(hs: &snow::HandshakeState) -> Result<[u8; 32], NoiseError> {
    hs.get_remote_static()
        .and_then(|s| s.try_into().ok())
        .ok_or(NoiseError::State("no remote static key".into()))
}

/// Client phase 1: `ClientHello` sent, waiting for the server's hello.
pub struct ClientHandshake {
    hs: snow::HandshakeState,
}

impl ClientHandshake {
    /// Starts a handshake with our Noise static key; returns the encoded
    /// `HandshakeMessage` (client hello) to send as the first frame.
    pub fn start(static_key: &KeyPair) -> Result<(ClientHandshake, Vec<u8>), NoiseError> {
        let mut hs = builder_state(static_key, true)?;
        let e = write(&mut hs, &[])?;
        let msg = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(e),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((ClientHandshake { hs }, msg.encode_to_vec()))
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
        let mut joined = Vec::with_capacity(e.len() + s.len() + p.len());
        joined.extend_from_slice(&e);
        joined.extend_from_slice(&s);
        joined.extend_from_slice(&p);
        let chain_bytes = read(&mut self.hs, &joined)?;
        let server_static = remote_static(&self.hs)?;
        let chain = cert::verify_chain(&chain_bytes, root, &server_static, now)?;
        Ok(ClientServerVerified {
            hs: self.hs,
            server_static,
            chain,
        })
    }
}

/// Client phase 2: the server is verified; send our static key and payload.
pub struct ClientServerVerified {
    hs: snow::HandshakeState,
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
        let out = write(&mut self.hs, client_payload)?;
        let (s, p) = out.split_at(ENC_STATIC_LEN.min(out.len()));
        let msg = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(s.to_vec()),
                payload: Some(p.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let keys = self.hs.dangerously_get_raw_split();
        Ok((msg.encode_to_vec(), Transport::from_split(keys, true)))
    }
}

/// Server phase 1: waiting for a client hello.
pub struct ServerHandshake {
    hs: snow::HandshakeState,
}

impl ServerHandshake {
    /// A responder with the server's Noise static key.
    pub fn new(static_key: &KeyPair) -> Result<ServerHandshake, NoiseError> {
        Ok(ServerHandshake {
            hs: builder_state(static_key, false)?,
        })
    }

    /// Reads the client hello and answers with a server hello carrying
    /// `cert_chain` (an encoded `CertChain`, see [`cert::issue_chain`]).
    pub fn read_client_hello(
        mut self,
        message: &[u8],
        cert_chain: &[u8],
    ) -> Result<(ServerAwaitingFinish, Vec<u8>), NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("not a HandshakeMessage"))?;
        let e = msg
            .client_hello
            .and_then(|h| h.ephemeral)
            .ok_or(NoiseError::Malformed("no clientHello.ephemeral"))?;
        if e.len() != DH_LEN {
            return Err(NoiseError::Malformed("client ephemeral of wrong length"));
        }
        read(&mut self.hs, &e)?;
        let out = write(&mut self.hs, cert_chain)?;
        let (e, rest) = out.split_at(DH_LEN.min(out.len()));
        let (s, p) = rest.split_at(ENC_STATIC_LEN.min(rest.len()));
        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(e.to_vec()),
                r#static: Some(s.to_vec()),
                payload: Some(p.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((ServerAwaitingFinish { hs: self.hs }, reply.encode_to_vec()))
    }
}

/// Server phase 2: hello sent, waiting for the client's finish.
pub struct ServerAwaitingFinish {
    hs: snow::HandshakeState,
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
        let mut joined = s;
        joined.extend_from_slice(&p);
        let payload = read(&mut self.hs, &joined)?;
        let client_static = remote_static(&self.hs)?;
        let keys = self.hs.dangerously_get_raw_split();
        Ok(ServerFinished {
            client_static,
            payload,
            transport: Transport::from_split(keys, false),
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
