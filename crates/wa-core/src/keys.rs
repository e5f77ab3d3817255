//! Curve25519 key pairs and XEdDSA signatures, the primitives of Noise
//! statics, Signal identities and WhatsApp's certificate and ADV signatures.
//!
//! Signatures are XEdDSA (Signal's `calculate_signature`) over Curve25519
//! keys, not Ed25519; the maths comes from `wacore-libsignal`.

use std::fmt;

use rand::CryptoRng;
use wacore_libsignal::core::curve::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A key of the wrong length.
    #[error("key must be 32 bytes, got {0}")]
    BadLength(usize),
    /// The curve library refused the key.
    #[error("invalid curve25519 key")]
    Invalid,
}

/// A Curve25519 key pair. `Debug` shows the public half only.
#[derive(Clone)]
pub struct KeyPair {
    private: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> KeyPair {
        let mut private = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(private.as_mut());
        // Clamping makes every 32-byte string a valid scalar.
        private[0] &= 248;
        private[31] &= 127;
        private[31] |= 64;
        KeyPair::from_private(*private)
    }

    /// The key pair of a 32-byte private key.
    pub fn from_private(private: [u8; 32]) -> KeyPair {
        let public = x25519_public(&private);
        KeyPair {
            private: Zeroizing::new(private),
            public,
        }
    }

    /// The key pair of a stored private key, which must be 32 bytes.
    pub fn from_private_slice(private: &[u8]) -> Result<KeyPair, KeyError> {
        let p: [u8; 32] = private
            .try_into()
            .map_err(|_| KeyError::BadLength(private.len()))?;
        Ok(KeyPair::from_private(p))
    }

    /// The public key.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The private key; handle with care, never log it.
    pub fn private(&self) -> &[u8; 32] {
        &self.private
    }

    /// XEdDSA signature of `message`.
    pub fn sign<R: CryptoRng + ?Sized>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        self.sign_parts(&[message], rng)
    }

    /// XEdDSA signature of the concatenation of `parts`.
    pub fn sign_parts<R: CryptoRng + ?Sized>(&self, parts: &[&[u8]], rng: &mut R) -> [u8; 64] {
        // A 32-byte key always deserializes and always signs.
        match PrivateKey::deserialize(self.private.as_ref()) {
            Ok(key) => key
                .calculate_signature_for_multipart_message(parts, &mut RngAdapter(rng))
                .unwrap_or([0; 64]),
            Err(_) => [0; 64],
        }
    }
}

impl KeyPair {
    /// X25519 agreement with `their` public key.
    pub fn agree(&self, their: &[u8]) -> Result<[u8; 32], KeyError> {
        if their.len() != 32 {
            return Err(KeyError::BadLength(their.len()));
        }
        let ours = PrivateKey::deserialize(self.private.as_ref()).map_err(|_| KeyError::Invalid)?;
        let theirs = PublicKey::from_djb_public_key_bytes(their).map_err(|_| KeyError::Invalid)?;
        ours.calculate_agreement(&theirs)
            .map_err(|_| KeyError::Invalid)
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &Hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// Shows bytes as lowercase hex in `Debug` output; for public keys and ids,
/// never for secrets.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn x25519_public(private: &[u8; 32]) -> [u8; 32] {
    PrivateKey::deserialize(private)
        .ok()
        .and_then(|k| k.public_key().ok())
        .and_then(|p| p.public_key_bytes().try_into().ok())
        .unwrap_or([0; 32])
}

/// Checks an XEdDSA signature of `message` by the Curve25519 key `public`.
pub fn verify(public: &[u8], message: &[u8], signature: &[u8]) -> bool {
    verify_parts(public, &[message], signature)
}

/// Checks an XEdDSA signature of the concatenation of `parts`.
pub fn verify_parts(public: &[u8], parts: &[&[u8]], signature: &[u8]) -> bool {
    match PublicKey::from_djb_public_key_bytes(public) {
        Ok(key) => key.verify_signature_for_multipart_message(parts, signature),
        Err(_) => false,
    }
}

/// Lets a `?Sized` caller RNG meet the library's `Sized` bound.
struct RngAdapter<'a, R: ?Sized>(&'a mut R);

impl<R: CryptoRng + ?Sized> rand::TryRng for RngAdapter<'_, R> {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: CryptoRng + ?Sized> rand::TryCryptoRng for RngAdapter<'_, R> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let mut rng = rand::rng();
        let k = KeyPair::generate(&mut rng);
        let sig = k.sign(b"hello", &mut rng);
        assert!(verify(k.public(), b"hello", &sig));
        assert!(!verify(k.public(), b"hellO", &sig));
        assert!(verify_parts(k.public(), &[b"hel", b"lo"], &sig));
        let other = KeyPair::generate(&mut rng);
        assert!(!verify(other.public(), b"hello", &sig));
        assert!(!verify(&[1, 2, 3], b"hello", &sig));
        assert!(!verify(k.public(), b"hello", &sig[..10]));
    }

    #[test]
    fn debug_hides_the_private_key() {
        let k = KeyPair::from_private([7; 32]);
        let shown = format!("{k:?}");
        assert!(!shown.contains("0707070707"), "{shown}");
        assert!(shown.contains("public"));
    }

    #[test]
    fn agreement_is_symmetric_and_matches_rfc7748() {
        let a = KeyPair::from_private_slice(
            &hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap(),
        )
        .unwrap();
        let b = KeyPair::from_private_slice(
            &hex::decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
                .unwrap(),
        )
        .unwrap();
        let shared = a.agree(b.public()).unwrap();
        assert_eq!(shared, b.agree(a.public()).unwrap());
        assert_eq!(
            hex::encode(shared),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
        assert_eq!(a.agree(&[1, 2]), Err(KeyError::BadLength(2)));
    }

    #[test]
    fn public_key_matches_x25519() {
        // RFC 7748 section 6.1, Alice.
        let private =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap();
        let k = KeyPair::from_private_slice(&private).unwrap();
        assert_eq!(
            hex::encode(k.public()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }
}
