//! Errors of the Signal layer.

use wacore_libsignal::protocol::SignalProtocolError;

/// Why a Signal operation failed.
///
/// Messages never carry key material. Library errors without a variant of
/// their own are kept as the source of [`SignalError::Malformed`],
/// [`SignalError::Store`] or [`SignalError::Protocol`].
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The JID has no user part, so it names no Signal identity.
    #[error("jid has no user, so it has no signal address")]
    NoAddress,
    /// A prekey bundle field has the wrong length or type.
    #[error("prekey bundle field <{0}> is malformed")]
    BadBundle(&'static str),
    /// A key id does not fit in the 3 bytes the wire gives it.
    #[error("key id {0} does not fit in 3 bytes")]
    KeyIdOutOfRange(u32),
    /// A signature (signed prekey, sender-key message) does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// There is no session with this address; fetch a prekey bundle.
    #[error("no signal session with this address")]
    NoSession,
    /// The store refuses this address's identity key.
    #[error("identity key of this address is not trusted")]
    UntrustedIdentity,
    /// A pkmsg names a one-time prekey we do not have (never had, or used).
    #[error("one-time prekey is unknown or already used")]
    UnknownPreKey,
    /// A pkmsg names a signed prekey we do not have.
    #[error("signed prekey is unknown")]
    UnknownSignedPreKey,
    /// A message whose counter was already decrypted.
    #[error("message was already decrypted")]
    Duplicate,
    /// The message's MAC does not match: tampered, or not for this session.
    #[error("message authentication failed")]
    BadMac,
    /// No sender key of this sender in this group (or not this chain).
    #[error("no sender key for this group and sender")]
    NoSenderKey,
    /// An `<enc>` type that is not `pkmsg` or `msg`.
    #[error("enc type is not pkmsg or msg")]
    UnknownEncType,
    /// Padding after decryption is not WhatsApp's random padding.
    #[error("bad message padding")]
    BadPadding,
    /// Local key material the library refused.
    #[error("invalid local key material")]
    InvalidKey,
    /// A ciphertext or record that does not parse or decrypt.
    #[error("malformed signal message")]
    Malformed(#[source] SignalProtocolError),
    /// A store failed.
    #[error("signal store failed")]
    Store(#[source] SignalProtocolError),
    /// Any other library error.
    #[error("signal protocol error")]
    Protocol(#[source] SignalProtocolError),
}

impl From<SignalProtocolError> for SignalError {
    fn from(e: SignalProtocolError) -> SignalError {
        use SignalProtocolError as E;
        match e {
            E::SessionNotFound(_) => SignalError::NoSession,
            E::UntrustedIdentity(_) => SignalError::UntrustedIdentity,
            E::InvalidPreKeyId => SignalError::UnknownPreKey,
            E::InvalidSignedPreKeyId => SignalError::UnknownSignedPreKey,
            E::SignatureValidationFailed => SignalError::BadSignature,
            E::DuplicatedMessage(..) => SignalError::Duplicate,
            E::BadMac(_) => SignalError::BadMac,
            E::NoSenderKeyState(_) => SignalError::NoSenderKey,
            E::BackendError(..) | E::ApplicationCallbackError(..) => SignalError::Store(e),
            E::InvalidMessage(..)
            | E::InvalidProtobufEncoding
            | E::CiphertextMessageTooShort(_)
            | E::LegacyCiphertextVersion(_)
            | E::UnrecognizedCiphertextVersion(_)
            | E::UnrecognizedMessageVersion(_)
            | E::NoKeyTypeIdentifier
            | E::BadKeyType(_)
            | E::BadKeyLength(..)
            | E::InvalidArgument(_) => SignalError::Malformed(e),
            other => SignalError::Protocol(other),
        }
    }
}
