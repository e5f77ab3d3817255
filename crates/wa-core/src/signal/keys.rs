//! Key material: identity, registration id, signed and one-time prekeys, and
//! prekey bundles in their wire form.
//!
//! On the wire (prekey upload and bundle fetch, `xmlns="encrypt"`) public keys
//! are the raw 32 bytes, key ids 3 bytes big-endian, the registration id 4
//! bytes big-endian, and `<type>` the single byte [`KEY_TYPE_DJB`]. The
//! signed prekey's signature, however, is over the 33-byte 0x05-prefixed key
//! (Baileys `Utils/crypto.js` `signedKeyPair` signs `generateSignalPubKey(pub)`;
//! the library verifies bundles the same way).

use rand::{CryptoRng, RngExt};
use wacore_libsignal::protocol::{
    self as lib, DeviceId, GenericSignedPreKey, IdentityKey, PreKeyRecord, PrivateKey, PublicKey,
    SignedPreKeyRecord, Timestamp,
};

use super::SignalError;
use crate::keys::{self, KeyPair};

/// The key type byte of Curve25519 keys (`<type>` on the wire, and the prefix
/// of Signal's serialized public keys).
pub const KEY_TYPE_DJB: u8 = 5;

/// The largest prekey id: ids travel as 3 bytes.
pub const MAX_KEY_ID: u32 = 0x00FF_FFFF;

/// Largest registration id Signal generates (ids are 14-bit, 1..=16380).
const MAX_REGISTRATION_ID: u32 = 16380;

/// A fresh identity key pair.
pub fn generate_identity<R: CryptoRng + ?Sized>(rng: &mut R) -> KeyPair {
    KeyPair::generate(rng)
}

/// A fresh registration id in 1..=16380, as Signal generates them.
pub fn generate_registration_id<R: CryptoRng + ?Sized>(rng: &mut R) -> u32 {
    rng.random_range(1..=MAX_REGISTRATION_ID)
}

/// The bytes a signed prekey's signature covers: `0x05 || public`.
pub fn signed_prekey_message(public: &[u8; 32]) -> [u8; 33] {
    let mut message = [0u8; 33];
    message[0] = KEY_TYPE_DJB;
    message[1..].copy_from_slice(public);
    message
}

/// Checks that `signature` is `identity`'s signature of the signed prekey
/// `prekey_public` (both raw 32-byte keys).
pub fn verify_signed_prekey(identity: &[u8], prekey_public: &[u8], signature: &[u8]) -> bool {
    match <&[u8; 32]>::try_from(prekey_public) {
        Ok(public) => keys::verify(identity, &signed_prekey_message(public), signature),
        Err(_) => false,
    }
}

/// A signed prekey: id, key pair, and the identity key's XEdDSA signature of
/// its 0x05-prefixed public key. `Debug` shows no private key.
#[derive(Debug, Clone)]
pub struct SignedPreKey {
    id: u32,
    key_pair: KeyPair,
    signature: [u8; 64],
}

impl SignedPreKey {
    /// A fresh signed prekey with this id, signed by `identity`.
    pub fn generate<R: CryptoRng + ?Sized>(
        identity: &KeyPair,
        id: u32,
        rng: &mut R,
    ) -> Result<SignedPreKey, SignalError> {
        check_key_id(id)?;
        let key_pair = KeyPair::generate(rng);
        let signature = identity.sign(&signed_prekey_message(key_pair.public()), rng);
        Ok(SignedPreKey {
            id,
            key_pair,
            signature,
        })
    }

    /// A stored signed prekey, read back.
    pub fn from_parts(id: u32, key_pair: KeyPair, signature: [u8; 64]) -> SignedPreKey {
        SignedPreKey {
            id,
            key_pair,
            signature,
        }
    }

    /// The id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    /// The raw 32-byte public key (`<skey><value>`).
    pub fn public(&self) -> &[u8; 32] {
        self.key_pair.public()
    }

    /// The signature (`<skey><signature>`).
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The library's record of this key, stamped with its creation time.
    pub fn record(&self, created_ms: u64) -> Result<SignedPreKeyRecord, SignalError> {
        Ok(SignedPreKeyRecord::new(
            self.id.into(),
            Timestamp::from_epoch_millis(created_ms),
            &library_key_pair(&self.key_pair)?,
            &self.signature,
        ))
    }
}

/// A one-time prekey. `Debug` shows no private key.
#[derive(Debug, Clone)]
pub struct PreKey {
    id: u32,
    key_pair: KeyPair,
}

impl PreKey {
    /// A fresh one-time prekey with this id.
    pub fn generate<R: CryptoRng + ?Sized>(id: u32, rng: &mut R) -> Result<PreKey, SignalError> {
        check_key_id(id)?;
        Ok(PreKey {
            id,
            key_pair: KeyPair::generate(rng),
        })
    }

    /// A stored prekey, read back.
    pub fn from_parts(id: u32, key_pair: KeyPair) -> PreKey {
        PreKey { id, key_pair }
    }

    /// The id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    /// The raw 32-byte public key (`<key><value>`).
    pub fn public(&self) -> &[u8; 32] {
        self.key_pair.public()
    }

    /// The library's record of this key.
    pub fn record(&self) -> Result<PreKeyRecord, SignalError> {
        Ok(PreKeyRecord::new(
            self.id.into(),
            &library_key_pair(&self.key_pair)?,
        ))
    }
}

/// `count` fresh one-time prekeys with consecutive ids from `first_id`,
/// wrapping from [`MAX_KEY_ID`] back to 1 (id 0 is never used).
pub fn generate_prekeys<R: CryptoRng + ?Sized>(
    first_id: u32,
    count: u32,
    rng: &mut R,
) -> Vec<PreKey> {
    let start = first_id.clamp(1, MAX_KEY_ID) - 1;
    (0..count)
        .map(|i| PreKey {
            id: (start + i % MAX_KEY_ID) % MAX_KEY_ID + 1,
            key_pair: KeyPair::generate(rng),
        })
        .collect()
}

/// A key id's 3 wire bytes.
pub fn encode_key_id(id: u32) -> Result<[u8; 3], SignalError> {
    check_key_id(id)?;
    let [_, a, b, c] = id.to_be_bytes();
    Ok([a, b, c])
}

/// A key id from its 3 wire bytes.
pub fn decode_key_id(bytes: &[u8]) -> Result<u32, SignalError> {
    match bytes {
        [a, b, c] => Ok(u32::from_be_bytes([0, *a, *b, *c])),
        _ => Err(SignalError::BadBundle("id")),
    }
}

/// A registration id's 4 wire bytes.
pub fn encode_registration_id(id: u32) -> [u8; 4] {
    id.to_be_bytes()
}

/// A registration id from its 4 wire bytes.
pub fn decode_registration_id(bytes: &[u8]) -> Result<u32, SignalError> {
    <[u8; 4]>::try_from(bytes)
        .map(u32::from_be_bytes)
        .map_err(|_| SignalError::BadBundle("registration"))
}

fn check_key_id(id: u32) -> Result<(), SignalError> {
    if id > MAX_KEY_ID {
        return Err(SignalError::KeyIdOutOfRange(id));
    }
    Ok(())
}

/// The signed prekey of a [`PreKeyBundle`], as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSignedPreKey {
    /// `<id>`: 3 bytes, big-endian.
    pub id: Vec<u8>,
    /// `<value>`: the raw 32-byte public key.
    pub value: Vec<u8>,
    /// `<signature>`: 64 bytes, over `0x05 || value`.
    pub signature: Vec<u8>,
}

/// The one-time prekey of a [`PreKeyBundle`], as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePreKey {
    /// `<id>`: 3 bytes, big-endian.
    pub id: Vec<u8>,
    /// `<value>`: the raw 32-byte public key.
    pub value: Vec<u8>,
}

/// One device's prekey bundle, each field the raw content of its node in the
/// server's answer to `<iq xmlns="encrypt" type="get"><key>`:
/// `<user><registration/><type/><identity/><skey><id/><value/><signature/>
/// </skey>[<key><id/><value/></key>]</user>`.
///
/// Fields are checked when the bundle is processed, not when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// `<registration>`: 4 bytes, big-endian.
    pub registration: Vec<u8>,
    /// `<type>`: the single byte [`KEY_TYPE_DJB`].
    pub key_type: Vec<u8>,
    /// `<identity>`: the raw 32-byte identity public key.
    pub identity: Vec<u8>,
    /// `<skey>`.
    pub signed_prekey: BundleSignedPreKey,
    /// `<key>`, absent when the server has run out of one-time prekeys.
    pub prekey: Option<BundlePreKey>,
}

impl PreKeyBundle {
    /// The bundle a server would hand out for these local keys.
    pub fn from_keys(
        registration_id: u32,
        identity: &[u8; 32],
        signed_prekey: &SignedPreKey,
        prekey: Option<&PreKey>,
    ) -> Result<PreKeyBundle, SignalError> {
        Ok(PreKeyBundle {
            registration: encode_registration_id(registration_id).to_vec(),
            key_type: vec![KEY_TYPE_DJB],
            identity: identity.to_vec(),
            signed_prekey: BundleSignedPreKey {
                id: encode_key_id(signed_prekey.id())?.to_vec(),
                value: signed_prekey.public().to_vec(),
                signature: signed_prekey.signature().to_vec(),
            },
            prekey: prekey
                .map(|k| {
                    Ok::<_, SignalError>(BundlePreKey {
                        id: encode_key_id(k.id())?.to_vec(),
                        value: k.public().to_vec(),
                    })
                })
                .transpose()?,
        })
    }

    /// The library's bundle for the device `device`, every field checked.
    pub(crate) fn to_library(&self, device: u32) -> Result<lib::PreKeyBundle, SignalError> {
        if self.key_type != [KEY_TYPE_DJB] {
            return Err(SignalError::BadBundle("type"));
        }
        let registration_id = decode_registration_id(&self.registration)?;
        let identity = IdentityKey::new(public_key(&self.identity, "identity")?);
        let skey = &self.signed_prekey;
        let skey_id = decode_key_id(&skey.id).map_err(|_| SignalError::BadBundle("skey/id"))?;
        let skey_public = public_key(&skey.value, "skey/value")?;
        if skey.signature.len() != 64 {
            return Err(SignalError::BadBundle("skey/signature"));
        }
        let prekey = match &self.prekey {
            Some(k) => Some((
                decode_key_id(&k.id)
                    .map_err(|_| SignalError::BadBundle("key/id"))?
                    .into(),
                public_key(&k.value, "key/value")?,
            )),
            None => None,
        };
        lib::PreKeyBundle::new(
            registration_id,
            DeviceId::from(device),
            prekey,
            skey_id.into(),
            skey_public,
            skey.signature.clone(),
            identity,
        )
        .map_err(SignalError::from)
    }
}

fn public_key(bytes: &[u8], field: &'static str) -> Result<PublicKey, SignalError> {
    PublicKey::from_djb_public_key_bytes(bytes).map_err(|_| SignalError::BadBundle(field))
}

/// Our key pair in the library's form.
pub(crate) fn library_key_pair(key_pair: &KeyPair) -> Result<lib::KeyPair, SignalError> {
    let private =
        PrivateKey::deserialize(key_pair.private()).map_err(|_| SignalError::InvalidKey)?;
    let public = PublicKey::from_djb_public_key_bytes(key_pair.public())
        .map_err(|_| SignalError::InvalidKey)?;
    Ok(lib::KeyPair::new(public, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_ids_are_in_range() {
        let mut rng = rand::rng();
        for _ in 0..2000 {
            let id = generate_registration_id(&mut rng);
            assert!((1..=16380).contains(&id), "{id}");
        }
    }

    #[test]
    fn signed_prekey_signs_the_prefixed_key() {
        let mut rng = rand::rng();
        let identity = generate_identity(&mut rng);
        let skey = SignedPreKey::generate(&identity, 7, &mut rng).unwrap();
        let mut prefixed = vec![5u8];
        prefixed.extend_from_slice(skey.public());
        assert!(keys::verify(identity.public(), &prefixed, skey.signature()));
        assert!(!keys::verify(
            identity.public(),
            skey.public(),
            skey.signature()
        ));
        assert!(verify_signed_prekey(
            identity.public(),
            skey.public(),
            skey.signature()
        ));
        let other = generate_identity(&mut rng);
        assert!(!verify_signed_prekey(
            other.public(),
            skey.public(),
            skey.signature()
        ));
        assert!(!verify_signed_prekey(
            identity.public(),
            &skey.public()[1..],
            skey.signature()
        ));
    }

    #[test]
    fn key_ids_are_three_bytes() {
        assert_eq!(encode_key_id(0x01_0203).unwrap(), [1, 2, 3]);
        assert_eq!(decode_key_id(&[1, 2, 3]).unwrap(), 0x01_0203);
        assert_eq!(encode_key_id(MAX_KEY_ID).unwrap(), [0xff; 3]);
        assert!(matches!(
            encode_key_id(MAX_KEY_ID + 1),
            Err(SignalError::KeyIdOutOfRange(_))
        ));
        assert!(decode_key_id(&[1, 2]).is_err());
        assert!(decode_key_id(&[0, 1, 2, 3]).is_err());
        assert_eq!(encode_registration_id(0x0102), [0, 0, 1, 2]);
        assert_eq!(decode_registration_id(&[0, 0, 1, 2]).unwrap(), 0x0102);
        assert!(decode_registration_id(&[1, 2]).is_err());
    }

    #[test]
    fn prekey_ids_are_consecutive_and_wrap_past_zero() {
        let mut rng = rand::rng();
        let ids: Vec<u32> = generate_prekeys(5, 3, &mut rng)
            .iter()
            .map(PreKey::id)
            .collect();
        assert_eq!(ids, [5, 6, 7]);
        let ids: Vec<u32> = generate_prekeys(MAX_KEY_ID - 1, 4, &mut rng)
            .iter()
            .map(PreKey::id)
            .collect();
        assert_eq!(ids, [MAX_KEY_ID - 1, MAX_KEY_ID, 1, 2]);
        let ids: Vec<u32> = generate_prekeys(0, 2, &mut rng)
            .iter()
            .map(PreKey::id)
            .collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn bundle_fields_are_checked() {
        let mut rng = rand::rng();
        let identity = generate_identity(&mut rng);
        let skey = SignedPreKey::generate(&identity, 1, &mut rng).unwrap();
        let key = PreKey::generate(9, &mut rng).unwrap();
        let good = PreKeyBundle::from_keys(42, identity.public(), &skey, Some(&key)).unwrap();
        assert!(good.to_library(0).is_ok());
        assert_eq!(good.registration, [0, 0, 0, 42]);
        assert_eq!(good.prekey.as_ref().unwrap().id, [0, 0, 9]);

        type Breaker = fn(&mut PreKeyBundle);
        let cases: [(&str, Breaker); 7] = [
            ("type", |b| b.key_type = vec![6]),
            ("registration", |b| b.registration.truncate(3)),
            ("identity", |b| b.identity.push(0)),
            ("skey/id", |b| b.signed_prekey.id.push(0)),
            ("skey/value", |b| b.signed_prekey.value.truncate(31)),
            ("skey/signature", |b| b.signed_prekey.signature.truncate(63)),
            ("key/value", |b| {
                if let Some(k) = b.prekey.as_mut() {
                    k.value.clear();
                }
            }),
        ];
        for (field, break_it) in cases {
            let mut bad = good.clone();
            break_it(&mut bad);
            match bad.to_library(0) {
                Err(SignalError::BadBundle(f)) => assert_eq!(f, field),
                other => panic!("{field}: {:?}", other.err()),
            }
        }
    }

    #[test]
    fn debug_hides_private_keys() {
        let key = PreKey::from_parts(1, KeyPair::from_private([9; 32]));
        let shown = format!("{key:?}");
        assert!(!shown.contains("0909090909"), "{shown}");
        let skey = SignedPreKey::from_parts(1, KeyPair::from_private([9; 32]), [0; 64]);
        let shown = format!("{skey:?}");
        assert!(!shown.contains("0909090909"), "{shown}");
    }
}
