//! The Noise symmetric state (`h`, `ck`, cipher key and counter) with
//! SHA-256, HKDF and AES-256-GCM, as WhatsApp runs it.
//!
//! WhatsApp's XX differs from the Noise specification in one detail: the
//! client hello carries no payload, and no `MixHash` of an empty payload
//! follows the client's ephemeral key. Stock Noise libraries (snow) do hash
//! it, so their handshakes fail against real clients; we hold the state here.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::NoiseError;

/// The protocol name, zero-padded to the hash length, is the initial `h`.
const PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

pub(super) struct SymmetricState {
    h: [u8; 32],
    ck: Zeroizing<[u8; 32]>,
    key: Option<Aes256Gcm>,
    n: u64,
}

/// HKDF-SHA256 with salt `ck`, empty info, 64 bytes out.
fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> Zeroizing<[u8; 64]> {
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF-SHA256's limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(ck), ikm).expand(&[], okm.as_mut());
    okm
}

fn split64(okm: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(okm.get(..32).unwrap_or(&[0; 32]));
    b.copy_from_slice(okm.get(32..).unwrap_or(&[0; 32]));
    (a, b)
}

impl SymmetricState {
    pub(super) fn new(prologue: &[u8]) -> SymmetricState {
        let mut s = SymmetricState {
            h: *PROTOCOL_NAME,
            ck: Zeroizing::new(*PROTOCOL_NAME),
            key: None,
            n: 0,
        };
        s.mix_hash(prologue);
        s
    }

    pub(super) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h.copy_from_slice(&hasher.finalize());
    }

    pub(super) fn mix_key(&mut self, ikm: &[u8]) {
        let okm = hkdf2(&self.ck, ikm);
        let (ck, mut k) = split64(&okm);
        *self.ck = ck;
        self.key = Some(Aes256Gcm::new((&k).into()));
        zeroize::Zeroize::zeroize(&mut k);
        self.n = 0;
    }

    fn nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let n = self.n;
        self.n = n.checked_add(1).ok_or(NoiseError::NonceExhausted)?;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        Ok(nonce)
    }

    pub(super) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let nonce = self.nonce()?;
        let key = self
            .key
            .as_ref()
            .ok_or(NoiseError::State("encrypt before a key".into()))?;
        let ct = key
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &self.h,
                },
            )
            .map_err(|_| NoiseError::State("encryption failed".into()))?;
        self.mix_hash(&ct);
        Ok(ct)
    }

    pub(super) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let nonce = self.nonce()?;
        let key = self
            .key
            .as_ref()
            .ok_or(NoiseError::State("decrypt before a key".into()))?;
        let pt = key
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &self.h,
                },
            )
            .map_err(|_| NoiseError::HandshakeAuth)?;
        self.mix_hash(ciphertext);
        Ok(pt)
    }

    /// The transport keys: first initiator -> responder, second back.
    pub(super) fn split(&self) -> ([u8; 32], [u8; 32]) {
        split64(&hkdf2(&self.ck, &[]))
    }
}
