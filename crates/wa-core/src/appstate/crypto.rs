//! The primitives of app-state sync: key expansion, the index, value,
//! snapshot and patch MACs, value encryption, and the LTHash.

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac as _};
use rand::CryptoRng;
use sha2::{Sha256, Sha512};
use zeroize::{Zeroize, Zeroizing};

use super::Collection;
use super::patch::Operation;

/// HKDF info of the key expansion.
const MUTATION_KEYS_INFO: &[u8] = b"WhatsApp Mutation Keys";
/// HKDF info of the LTHash expansion of one value MAC.
const PATCH_INTEGRITY_INFO: &[u8] = b"WhatsApp Patch Integrity";
/// Length of every MAC here (HMAC-SHA512 is truncated to it).
pub(super) const MAC_LEN: usize = 32;
/// AES block size, also the IV length.
const BLOCK: usize = 16;
/// Length of an LTHash.
const LT_HASH_LEN: usize = 128;

/// The five keys one app-state sync key expands to. Zeroed on drop; `Debug`
/// prints nothing of them.
#[derive(Clone)]
pub struct MutationKeys {
    index: [u8; 32],
    value_encryption: [u8; 32],
    value_mac: [u8; 32],
    snapshot_mac: [u8; 32],
    patch_mac: [u8; 32],
}

impl MutationKeys {
    /// HKDF-SHA256(`key_data`, no salt, "WhatsApp Mutation Keys", 160
    /// bytes), split into five 32-byte keys.
    pub fn derive(key_data: &[u8]) -> MutationKeys {
        let mut okm = Zeroizing::new([0u8; 160]);
        // 160 bytes is far below HKDF-SHA256's limit of 255 * 32.
        let _ = Hkdf::<Sha256>::new(None, key_data).expand(MUTATION_KEYS_INFO, &mut *okm);
        let mut keys = MutationKeys {
            index: [0; 32],
            value_encryption: [0; 32],
            value_mac: [0; 32],
            snapshot_mac: [0; 32],
            patch_mac: [0; 32],
        };
        keys.index.copy_from_slice(&okm[..32]);
        keys.value_encryption.copy_from_slice(&okm[32..64]);
        keys.value_mac.copy_from_slice(&okm[64..96]);
        keys.snapshot_mac.copy_from_slice(&okm[96..128]);
        keys.patch_mac.copy_from_slice(&okm[128..]);
        keys
    }

    /// Key of the index MAC (HMAC-SHA256).
    pub fn index_key(&self) -> &[u8; 32] {
        &self.index
    }

    /// AES-256-CBC key of record values.
    pub fn value_encryption_key(&self) -> &[u8; 32] {
        &self.value_encryption
    }

    /// Key of the value MAC (HMAC-SHA512, truncated).
    pub fn value_mac_key(&self) -> &[u8; 32] {
        &self.value_mac
    }

    /// Key of the snapshot MAC (HMAC-SHA256).
    pub fn snapshot_mac_key(&self) -> &[u8; 32] {
        &self.snapshot_mac
    }

    /// Key of the patch MAC (HMAC-SHA256).
    pub fn patch_mac_key(&self) -> &[u8; 32] {
        &self.patch_mac
    }

    /// `HMAC-SHA256(index key, index JSON)`.
    pub(super) fn index_mac(&self, index_json: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = hmac_sha256(&self.index);
        mac.update(index_json);
        mac.finalize().into_bytes().into()
    }

    /// `HMAC-SHA512(value MAC key, op || key id || enc || u64be(len(key id)
    /// + 1))[..32]`, with op 1 for SET and 2 for REMOVE.
    pub(super) fn value_mac(&self, op: Operation, key_id: &[u8], enc: &[u8]) -> [u8; MAC_LEN] {
        let op_byte = match op {
            Operation::Set => 1u8,
            Operation::Remove => 2u8,
        };
        let mut key = Zeroizing::new([0u8; 128]);
        key[..32].copy_from_slice(&self.value_mac);
        // HMAC zero-pads short keys to its block (128 bytes for SHA-512),
        // so this is HMAC keyed with the 32-byte key, built infallibly.
        let mut mac = <Hmac<Sha512> as KeyInit>::new(&(*key).into());
        mac.update(&[op_byte]);
        mac.update(key_id);
        mac.update(enc);
        mac.update(&(key_id.len() as u64).wrapping_add(1).to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// `HMAC-SHA256(snapshot key, ltHash || u64be(version) || collection)`.
    pub(super) fn snapshot_mac(
        &self,
        hash: &LtHash,
        version: u64,
        collection: Collection,
    ) -> [u8; MAC_LEN] {
        let mut mac = hmac_sha256(&self.snapshot_mac);
        mac.update(&hash.0);
        mac.update(&version.to_be_bytes());
        mac.update(collection.name().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `HMAC-SHA256(patch key, snapshot MAC || value MACs || u64be(version)
    /// || collection)`.
    pub(super) fn patch_mac<'a>(
        &self,
        snapshot_mac: &[u8],
        value_macs: impl IntoIterator<Item = &'a [u8]>,
        version: u64,
        collection: Collection,
    ) -> [u8; MAC_LEN] {
        let mut mac = hmac_sha256(&self.patch_mac);
        mac.update(snapshot_mac);
        for value_mac in value_macs {
            mac.update(value_mac);
        }
        mac.update(&version.to_be_bytes());
        mac.update(collection.name().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `IV || AES-256-CBC-PKCS7(plaintext)` under a random IV.
    pub(super) fn encrypt_value<R: CryptoRng + ?Sized>(
        &self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Vec<u8> {
        let mut iv = [0u8; BLOCK];
        rng.fill_bytes(&mut iv);
        let cipher = cbc::Encryptor::<Aes256>::new(&self.value_encryption.into(), &iv.into());
        let mut enc = iv.to_vec();
        enc.extend_from_slice(&cipher.encrypt_padded_vec::<Pkcs7>(plaintext));
        enc
    }

    /// Inverse of [`MutationKeys::encrypt_value`]; `None` on a bad length
    /// or padding.
    pub(super) fn decrypt_value(&self, enc: &[u8]) -> Option<Vec<u8>> {
        let (iv, ciphertext) = enc.split_first_chunk::<BLOCK>()?;
        if ciphertext.is_empty() || ciphertext.len() % BLOCK != 0 {
            return None;
        }
        let cipher = cbc::Decryptor::<Aes256>::new(&self.value_encryption.into(), &(*iv).into());
        cipher.decrypt_padded_vec::<Pkcs7>(ciphertext).ok()
    }
}

impl Drop for MutationKeys {
    fn drop(&mut self) {
        self.index.zeroize();
        self.value_encryption.zeroize();
        self.value_mac.zeroize();
        self.snapshot_mac.zeroize();
        self.patch_mac.zeroize();
    }
}

impl std::fmt::Debug for MutationKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutationKeys").finish_non_exhaustive()
    }
}

/// HMAC-SHA256 keyed with a 32-byte key, built without a fallible call.
fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut padded = Zeroizing::new([0u8; 64]);
    padded[..32].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new(&(*padded).into())
}

/// Constant-time equality of two MACs (of any length).
pub(super) fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The 128-byte LTHash of a collection: the sum, as 64 little-endian
/// 16-bit words with wrapping arithmetic, of the HKDF expansion of every
/// live record's value MAC. Adding and subtracting commute, so the hash
/// depends only on the set of live records.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LtHash(pub [u8; LT_HASH_LEN]);

impl LtHash {
    /// The hash of an empty collection.
    pub const ZERO: LtHash = LtHash([0; LT_HASH_LEN]);

    /// Adds the record with value MAC `value_mac`.
    pub fn add(&mut self, value_mac: &[u8]) {
        let expanded = expand(value_mac);
        for (word, delta) in self.0.chunks_exact_mut(2).zip(expanded.chunks_exact(2)) {
            let sum = u16::from_le_bytes([word[0], word[1]])
                .wrapping_add(u16::from_le_bytes([delta[0], delta[1]]));
            word.copy_from_slice(&sum.to_le_bytes());
        }
    }

    /// Removes the record with value MAC `value_mac`.
    pub fn subtract(&mut self, value_mac: &[u8]) {
        let expanded = expand(value_mac);
        for (word, delta) in self.0.chunks_exact_mut(2).zip(expanded.chunks_exact(2)) {
            let diff = u16::from_le_bytes([word[0], word[1]])
                .wrapping_sub(u16::from_le_bytes([delta[0], delta[1]]));
            word.copy_from_slice(&diff.to_le_bytes());
        }
    }

    /// The 128 bytes.
    pub fn as_bytes(&self) -> &[u8; LT_HASH_LEN] {
        &self.0
    }
}

impl Default for LtHash {
    fn default() -> LtHash {
        LtHash::ZERO
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The first 8 bytes tell hashes apart in logs; all 128 are noise.
        write!(f, "LtHash({}..)", super::hex(&self.0[..8]))
    }
}

/// HKDF-SHA256(`value_mac`, no salt, "WhatsApp Patch Integrity", 128).
fn expand(value_mac: &[u8]) -> [u8; LT_HASH_LEN] {
    let mut out = [0u8; LT_HASH_LEN];
    let _ = Hkdf::<Sha256>::new(None, value_mac).expand(PATCH_INTEGRITY_INFO, &mut out);
    out
}
