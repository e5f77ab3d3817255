//! The Noise XX handshake (`Noise_XX_25519_AESGCM_SHA256`, prologue = the
//! `WA` header) as WhatsApp frames it, and the transport ciphers after it.
//!
//! Phases are types moved forward by value: a client goes
//! [`ClientHandshake`] -> [`ClientServerVerified`] -> [`Transport`]; a server
//! (the simulator) goes [`ServerHandshake`] -> [`ServerAwaitingFinish`] ->
//! [`ServerFinished`]. Nothing here does I/O: each step takes the received
//! message bytes and returns the bytes to frame and send.
//!
//! The symmetric state is our own (see `symmetric.rs` for the one detail in
//! which WhatsApp departs from the Noise specification), and so is the
//! transport: WhatsApp frames go up to 16 MiB, past Noise's 64 KiB messages.

pub mod cert;
mod handshake;
mod symmetric;

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

pub use handshake::{
    ClientHandshake, ClientServerVerified, ServerAwaitingFinish, ServerFinished, ServerHandshake,
};

/// Noise protocol name (the initial hash is this, zero-padded to 32 bytes).
pub const PATTERN: &str = "Noise_XX_25519_AESGCM_SHA256";

/// Handshake and transport failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    /// The handshake message is not the protobuf or shape expected.
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    /// A handshake message failed to decrypt or authenticate.
    #[error("handshake message failed authentication")]
    HandshakeAuth,
    /// The server's certificate chain was refused.
    #[error(transparent)]
    Cert(#[from] cert::CertError),
    /// A transport frame failed to decrypt or authenticate.
    #[error("frame failed to decrypt")]
    Decrypt,
    /// The nonce counter ran out (2^64 frames): the connection must end.
    #[error("nonce counter exhausted")]
    NonceExhausted,
    /// A step taken out of order (a bug on our side).
    #[error("noise state error: {0}")]
    State(String),
}

/// One direction of the transport: AES-256-GCM, 96-bit nonce of four zero
/// bytes and a big-endian 64-bit counter from 0, empty associated data.
pub struct CipherState {
    cipher: Aes256Gcm,
    counter: u64,
}

impl CipherState {
    fn new(key: &[u8; 32]) -> CipherState {
        CipherState {
            cipher: Aes256Gcm::new(key.into()),
            counter: 0,
        }
    }

    fn nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let n = self.counter;
        self.counter = n.checked_add(1).ok_or(NoiseError::NonceExhausted)?;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        Ok(nonce)
    }

    /// Encrypts one frame payload.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let nonce = self.nonce()?;
        self.cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .map_err(|_| NoiseError::State("encryption failed".into()))
    }

    /// Decrypts one frame payload.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let nonce = self.nonce()?;
        self.cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| NoiseError::Decrypt)
    }

    /// Frames handled so far in this direction.
    pub fn counter(&self) -> u64 {
        self.counter
    }
}

impl fmt::Debug for CipherState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CipherState")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// Both directions after the handshake.
#[derive(Debug)]
pub struct Transport {
    /// Our sending direction.
    pub send: CipherState,
    /// Our receiving direction.
    pub recv: CipherState,
}

impl Transport {
    fn from_split(keys: ([u8; 32], [u8; 32]), initiator: bool) -> Transport {
        let (c1, c2) = (CipherState::new(&keys.0), CipherState::new(&keys.1));
        let mut keys = keys;
        zeroize::Zeroize::zeroize(&mut keys.0);
        zeroize::Zeroize::zeroize(&mut keys.1);
        if initiator {
            Transport { send: c1, recv: c2 }
        } else {
            Transport { send: c2, recv: c1 }
        }
    }

    /// Encrypts a payload to send.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.send.encrypt(plaintext)
    }

    /// Decrypts a received payload.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.recv.decrypt(ciphertext)
    }

    /// The two directions, for a reader and a writer that run apart.
    pub fn into_split(self) -> (CipherState, CipherState) {
        (self.send, self.recv)
    }
}

#[cfg(test)]
mod tests;
