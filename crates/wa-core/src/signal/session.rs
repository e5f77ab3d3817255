//! Pairwise sessions: building one from a prekey bundle, and the 1:1 cipher
//! (`<enc type="pkmsg">` and `<enc type="msg">`).

use std::fmt;
use std::str::FromStr;

use rand::CryptoRng;
use wacore_libsignal::protocol::{
    self as lib, CiphertextMessage, IdentityChange, PreKeySignalMessage, SignalMessage,
    SignalProtocolError, UsePQRatchet,
};

use super::{PreKeyBundle, SignalAddress, SignalError, SignalStore};

/// The `type` of an `<enc>` node carrying a pairwise Signal message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncType {
    /// `pkmsg`: a PreKeySignalMessage, sent until the peer has answered.
    Pkmsg,
    /// `msg`: a SignalMessage on an established session.
    Msg,
}

impl EncType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            EncType::Pkmsg => "pkmsg",
            EncType::Msg => "msg",
        }
    }
}

impl fmt::Display for EncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EncType {
    type Err = SignalError;

    /// Parses `pkmsg` or `msg`; anything else (`skmsg` included) is not a
    /// pairwise message.
    fn from_str(s: &str) -> Result<EncType, SignalError> {
        match s {
            "pkmsg" => Ok(EncType::Pkmsg),
            "msg" => Ok(EncType::Msg),
            _ => Err(SignalError::UnknownEncType),
        }
    }
}

/// Builds a session with `address` from its prekey bundle (X3DH as the
/// initiator), replacing any current session (which is archived).
///
/// Checks the bundle's fields and the signed prekey's signature. Reports
/// whether `address` presented a different identity key than before.
pub async fn process_prekey_bundle<S, R>(
    store: &mut S,
    address: &SignalAddress,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<IdentityChange, SignalError>
where
    S: SignalStore + ?Sized,
    R: CryptoRng,
{
    let bundle = bundle.to_library(address.device())?;
    let stores = store.stores();
    Ok(lib::process_prekey_bundle(
        address.protocol_address(),
        stores.sessions,
        stores.identity,
        &bundle,
        rng,
        UsePQRatchet::No,
    )
    .await?)
}

/// Whether there is a current session with `address` (if not, fetch a bundle).
pub async fn has_session<S>(store: &mut S, address: &SignalAddress) -> Result<bool, SignalError>
where
    S: SignalStore + ?Sized,
{
    let stores = store.stores();
    Ok(lib::has_session(&*stores.sessions, address.protocol_address()).await?)
}

/// Encrypts `plaintext` (already padded, see [`super::pad`]) for `address`.
///
/// Returns [`EncType::Pkmsg`] while the session is one we started and the
/// peer has not yet answered, [`EncType::Msg`] after.
pub async fn encrypt<S>(
    store: &mut S,
    address: &SignalAddress,
    plaintext: &[u8],
) -> Result<(EncType, Vec<u8>), SignalError>
where
    S: SignalStore + ?Sized,
{
    let stores = store.stores();
    let message = lib::message_encrypt(
        plaintext,
        address.protocol_address(),
        stores.sessions,
        stores.identity,
    )
    .await?;
    match message {
        CiphertextMessage::PreKeySignalMessage(m) => Ok((EncType::Pkmsg, m.serialized().to_vec())),
        CiphertextMessage::SignalMessage(m) => Ok((EncType::Msg, m.serialized().to_vec())),
        CiphertextMessage::SenderKeyMessage(_) | CiphertextMessage::PlaintextContent(_) => {
            Err(SignalError::Protocol(SignalProtocolError::InvalidState(
                "encrypt",
                "library returned a non-pairwise message".to_owned(),
            )))
        }
    }
}

/// Decrypts a message from `address`; the result is still padded (see
/// [`super::unpad`]).
///
/// A pkmsg that starts a new session uses up the one-time prekey it names:
/// the prekey is deleted once the library has stored the session. A pkmsg of
/// a session already built (the peer sends pkmsg until we answer) needs no
/// prekey.
pub async fn decrypt<S, R>(
    store: &mut S,
    address: &SignalAddress,
    enc_type: EncType,
    ciphertext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError>
where
    S: SignalStore + ?Sized,
    R: CryptoRng,
{
    let stores = store.stores();
    let remote = address.protocol_address();
    match enc_type {
        EncType::Pkmsg => {
            let message = PreKeySignalMessage::try_from(ciphertext)?;
            let result = lib::message_decrypt_prekey(
                &message,
                remote,
                &mut *stores.sessions,
                &mut *stores.identity,
                &mut *stores.prekeys,
                &*stores.signed_prekeys,
                rng,
                UsePQRatchet::No,
            )
            .await?;
            if let Some(id) = result.consumed_prekey_id {
                stores.prekeys.remove_pre_key(id).await?;
            }
            Ok(result.plaintext)
        }
        EncType::Msg => {
            let message = SignalMessage::try_from(ciphertext)?;
            let result = lib::message_decrypt_signal(
                &message,
                remote,
                stores.sessions,
                stores.identity,
                rng,
            )
            .await?;
            Ok(result.plaintext)
        }
    }
}
