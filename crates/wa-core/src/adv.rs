//! Automatic Device Verification (ADV): how an account's primary device (the
//! phone) vouches for a companion, and how anyone checks it.
//!
//! Pairing: the phone signs `[6,0] || details || companion identity key` with
//! its identity key (the account signature) and the server wraps the result in
//! an HMAC keyed with the ADV secret the companion showed in its QR code. The
//! companion checks both, adds its own device signature over
//! `[6,1] || details || its identity key || account key`, and sends the
//! identity back without the account key. Key-index lists are signed over
//! `[6,2] || details`. The hosted-business variants use `[6,5]` and `[6,6]`.

use hmac::{Hmac, KeyInit, Mac};
use prost::Message;
use rand::CryptoRng;
use sha2::Sha256;

use crate::keys::{self, KeyPair};
use crate::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, AdvSignedKeyIndexList,
};

/// Prefix of the account signature over a device identity.
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the device signature over a device identity.
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix of the account signature over a key-index list.
pub const KEY_INDEX_LIST_PREFIX: [u8; 2] = [6, 2];
/// Prefix of the account signature (and HMAC) for hosted accounts.
pub const HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];
/// Prefix of the device signature for hosted accounts.
pub const HOSTED_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 6];

/// Why an ADV structure was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvError {
    /// Not the protobuf expected, or a required part missing.
    #[error("malformed ADV structure: {0}")]
    Malformed(&'static str),
    /// The HMAC does not match the ADV secret.
    #[error("ADV HMAC does not match the ADV secret")]
    BadHmac,
    /// The account signature does not verify.
    #[error("ADV account signature is invalid")]
    BadAccountSignature,
    /// The device signature does not verify.
    #[error("ADV device signature is invalid")]
    BadDeviceSignature,
    /// Signed by another key than the account's.
    #[error("ADV signed by a key other than the account's identity key")]
    WrongAccountKey,
}

fn hosted(t: Option<i32>) -> bool {
    t == Some(AdvEncryptionType::Hosted as i32)
}

fn account_prefix(details: &AdvDeviceIdentity) -> [u8; 2] {
    if hosted(details.device_type) {
        HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        ACCOUNT_SIGNATURE_PREFIX
    }
}

fn device_prefix(details: &AdvDeviceIdentity) -> [u8; 2] {
    if hosted(details.device_type) {
        HOSTED_DEVICE_SIGNATURE_PREFIX
    } else {
        DEVICE_SIGNATURE_PREFIX
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Phone side: vouches for the companion whose identity key is
/// `companion_identity` with the account (phone identity) key.
pub fn sign_device_identity<R: CryptoRng + ?Sized>(
    account: &KeyPair,
    details: &AdvDeviceIdentity,
    companion_identity: &[u8],
    rng: &mut R,
) -> AdvSignedDeviceIdentity {
    let raw = details.encode_to_vec();
    let signature = account.sign_parts(&[&account_prefix(details), &raw, companion_identity], rng);
    AdvSignedDeviceIdentity {
        details: Some(raw),
        account_signature_key: Some(account.public().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    }
}

/// Server side: wraps a signed identity in the HMAC keyed with `adv_secret`.
pub fn wrap_hmac(
    signed: &AdvSignedDeviceIdentity,
    adv_secret: &[u8],
) -> AdvSignedDeviceIdentityHmac {
    let details = signed.encode_to_vec();
    let hmac = hmac_sha256(adv_secret, &[&details]);
    AdvSignedDeviceIdentityHmac {
        details: Some(details),
        hmac: Some(hmac.to_vec()),
        account_type: None,
    }
}

/// What a companion learns from a verified `pair-success`.
#[derive(Debug, Clone)]
pub struct VerifiedPairing {
    /// The signed identity (account signature and key included).
    pub signed: AdvSignedDeviceIdentity,
    /// Its decoded details (key index, timestamp).
    pub details: AdvDeviceIdentity,
}

/// Companion side: checks the `<device-identity>` of `pair-success` against
/// our ADV secret and identity key.
pub fn verify_pairing(
    device_identity: &[u8],
    adv_secret: &[u8],
    own_identity: &[u8],
) -> Result<VerifiedPairing, AdvError> {
    let wrapped = AdvSignedDeviceIdentityHmac::decode(device_identity)
        .map_err(|_| AdvError::Malformed("ADVSignedDeviceIdentityHMAC"))?;
    let (Some(inner), Some(mac)) = (wrapped.details, wrapped.hmac) else {
        return Err(AdvError::Malformed("hmac wrapper lacks a part"));
    };
    let prefix: &[u8] = if hosted(wrapped.account_type) {
        &HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        &[]
    };
    let expected = hmac_sha256(adv_secret, &[prefix, &inner]);
    if !constant_time_eq(&expected, &mac) {
        return Err(AdvError::BadHmac);
    }
    let signed = AdvSignedDeviceIdentity::decode(inner.as_slice())
        .map_err(|_| AdvError::Malformed("ADVSignedDeviceIdentity"))?;
    let details = check_account_signature(&signed, own_identity)?;
    Ok(VerifiedPairing { signed, details })
}

fn check_account_signature(
    signed: &AdvSignedDeviceIdentity,
    device_identity: &[u8],
) -> Result<AdvDeviceIdentity, AdvError> {
    let (Some(raw), Some(key), Some(sig)) = (
        signed.details.as_deref(),
        signed.account_signature_key.as_deref(),
        signed.account_signature.as_deref(),
    ) else {
        return Err(AdvError::Malformed("signed identity lacks a part"));
    };
    let details =
        AdvDeviceIdentity::decode(raw).map_err(|_| AdvError::Malformed("ADVDeviceIdentity"))?;
    if !keys::verify_parts(key, &[&account_prefix(&details), raw, device_identity], sig) {
        return Err(AdvError::BadAccountSignature);
    }
    Ok(details)
}

/// Companion side: adds our device signature and returns the encoding the
/// server expects in `pair-device-sign` (account signature key left out).
pub fn countersign<R: CryptoRng + ?Sized>(
    pairing: &VerifiedPairing,
    own_identity: &KeyPair,
    rng: &mut R,
) -> Result<(AdvSignedDeviceIdentity, Vec<u8>), AdvError> {
    let mut signed = pairing.signed.clone();
    let (Some(raw), Some(account_key)) =
        (signed.details.clone(), signed.account_signature_key.clone())
    else {
        return Err(AdvError::Malformed("signed identity lacks a part"));
    };
    let sig = own_identity.sign_parts(
        &[
            &device_prefix(&pairing.details),
            &raw,
            own_identity.public(),
            &account_key,
        ],
        rng,
    );
    signed.device_signature = Some(sig.to_vec());
    let mut for_server = signed.clone();
    for_server.account_signature_key = None;
    Ok((signed, for_server.encode_to_vec()))
}

/// Checks a companion's full signed identity (as fetched with its prekey
/// bundle, or as returned in `pair-device-sign` with `account_key` supplied):
/// account signature by `account_key`, device signature by `device_identity`.
pub fn verify_device_identity(
    signed: &AdvSignedDeviceIdentity,
    device_identity: &[u8],
    account_key: &[u8],
) -> Result<AdvDeviceIdentity, AdvError> {
    let mut full = signed.clone();
    match full.account_signature_key.as_deref() {
        Some(k) if k != account_key => return Err(AdvError::WrongAccountKey),
        Some(_) => {}
        None => full.account_signature_key = Some(account_key.to_vec()),
    }
    let details = check_account_signature(&full, device_identity)?;
    let (Some(raw), Some(sig)) = (full.details.as_deref(), full.device_signature.as_deref()) else {
        return Err(AdvError::Malformed("no device signature"));
    };
    if !keys::verify_parts(
        device_identity,
        &[&device_prefix(&details), raw, device_identity, account_key],
        sig,
    ) {
        return Err(AdvError::BadDeviceSignature);
    }
    Ok(details)
}

/// Phone side: signs the account's list of valid companion key indexes.
pub fn sign_key_index_list<R: CryptoRng + ?Sized>(
    account: &KeyPair,
    list: &AdvKeyIndexList,
    rng: &mut R,
) -> AdvSignedKeyIndexList {
    let raw = list.encode_to_vec();
    let sig = account.sign_parts(&[&KEY_INDEX_LIST_PREFIX, &raw], rng);
    AdvSignedKeyIndexList {
        details: Some(raw),
        account_signature: Some(sig.to_vec()),
        account_signature_key: None,
    }
}

/// Checks a signed key-index list against the account's identity key.
pub fn verify_key_index_list(
    signed: &AdvSignedKeyIndexList,
    account_key: &[u8],
) -> Result<AdvKeyIndexList, AdvError> {
    let (Some(raw), Some(sig)) = (
        signed.details.as_deref(),
        signed.account_signature.as_deref(),
    ) else {
        return Err(AdvError::Malformed("key-index list lacks a part"));
    };
    if !keys::verify_parts(account_key, &[&KEY_INDEX_LIST_PREFIX, raw], sig) {
        return Err(AdvError::BadAccountSignature);
    }
    AdvKeyIndexList::decode(raw).map_err(|_| AdvError::Malformed("ADVKeyIndexList"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairing() -> (KeyPair, KeyPair, [u8; 32], Vec<u8>) {
        let mut rng = rand::rng();
        let phone = KeyPair::generate(&mut rng);
        let companion = KeyPair::generate(&mut rng);
        let secret = [9u8; 32];
        let details = AdvDeviceIdentity {
            raw_id: Some(77),
            timestamp: Some(1_800_000_000),
            key_index: Some(3),
            ..Default::default()
        };
        let signed = sign_device_identity(&phone, &details, companion.public(), &mut rng);
        let wrapped = wrap_hmac(&signed, &secret).encode_to_vec();
        (phone, companion, secret, wrapped)
    }

    #[test]
    fn full_pairing_round_trip() {
        let (phone, companion, secret, wrapped) = pairing();
        let verified = verify_pairing(&wrapped, &secret, companion.public()).unwrap();
        assert_eq!(verified.details.key_index, Some(3));
        let (_full, for_server) = countersign(&verified, &companion, &mut rand::rng()).unwrap();
        let sent = AdvSignedDeviceIdentity::decode(for_server.as_slice()).unwrap();
        assert_eq!(sent.account_signature_key, None, "account key left out");
        let details = verify_device_identity(&sent, companion.public(), phone.public()).unwrap();
        assert_eq!(details.raw_id, Some(77));
    }

    #[test]
    fn wrong_secret_and_wrong_identity_are_refused() {
        let (_phone, companion, _secret, wrapped) = pairing();
        assert_eq!(
            verify_pairing(&wrapped, &[1u8; 32], companion.public()).unwrap_err(),
            AdvError::BadHmac
        );
        let other = KeyPair::generate(&mut rand::rng());
        assert_eq!(
            verify_pairing(&wrapped, &[9u8; 32], other.public()).unwrap_err(),
            AdvError::BadAccountSignature
        );
        assert!(matches!(
            verify_pairing(b"\xff\xff", &[9u8; 32], companion.public()),
            Err(AdvError::Malformed(_))
        ));
    }

    #[test]
    fn device_signature_by_another_key_or_account_is_refused() {
        let (phone, companion, secret, wrapped) = pairing();
        let verified = verify_pairing(&wrapped, &secret, companion.public()).unwrap();
        let impostor = KeyPair::generate(&mut rand::rng());
        let (full, _) = countersign(&verified, &companion, &mut rand::rng()).unwrap();
        assert_eq!(
            verify_device_identity(&full, impostor.public(), phone.public()).unwrap_err(),
            AdvError::BadAccountSignature
        );
        assert_eq!(
            verify_device_identity(&full, companion.public(), impostor.public()).unwrap_err(),
            AdvError::WrongAccountKey
        );
        let mut forged = full.clone();
        forged.device_signature = Some(vec![0; 64]);
        assert_eq!(
            verify_device_identity(&forged, companion.public(), phone.public()).unwrap_err(),
            AdvError::BadDeviceSignature
        );
    }

    #[test]
    fn key_index_lists() {
        let mut rng = rand::rng();
        let phone = KeyPair::generate(&mut rng);
        let list = AdvKeyIndexList {
            raw_id: Some(77),
            timestamp: Some(5),
            current_index: Some(4),
            valid_indexes: vec![1, 3, 4],
            account_type: None,
        };
        let signed = sign_key_index_list(&phone, &list, &mut rng);
        assert_eq!(
            verify_key_index_list(&signed, phone.public()).unwrap(),
            list
        );
        let other = KeyPair::generate(&mut rng);
        assert_eq!(
            verify_key_index_list(&signed, other.public()).unwrap_err(),
            AdvError::BadAccountSignature
        );
    }
}
