//! App-state sync ("syncd"): the encrypted, versioned settings every device
//! of an account shares (contacts, archived, muted, pinned and read chats,
//! stars, ...), split into five [`Collection`]s.
//!
//! Each collection is a set of records keyed by an *index* (a JSON array of
//! strings such as `["mute","123@s.whatsapp.net"]`). The server only sees
//! MACs and ciphertext: a record's index is sent as
//! `HMAC-SHA256(index key, index JSON)` and its value as
//! `IV || AES-256-CBC(SyncActionData) || value MAC`. Changes travel as
//! patches (version N-1 to N) and, for a fresh device, as a snapshot.
//!
//! Integrity across patches rests on an LTHash ([`LtHash`]): a 128-byte
//! homomorphic sum of the value MACs of all live records. Every patch and
//! snapshot carries `HMAC(snapshot key, ltHash || version || collection)`,
//! so a device that missed or replayed a patch notices (a
//! [`AppStateError::SnapshotMac`]) and has to fetch a snapshot again.
//!
//! Keys come from app-state sync key shares: 32 bytes of key data per key
//! id, expanded by [`MutationKeys::derive`]. Callers hand them in through a
//! lookup function. Nothing here does I/O: fetching patches and external
//! blobs (media of kind
//! [`MediaKind::AppState`](crate::media::MediaKind::AppState)) is the
//! client's job, and so is persisting [`CollectionState`].

mod action;
mod crypto;
mod patch;
mod state;

pub use action::Action;
pub use crypto::{LtHash, MutationKeys};
pub use patch::{
    KeyLookup, Mutation, NewMutation, Operation, decode_patch, decode_snapshot, encode_patch,
    encode_snapshot, seal_snapshot,
};
pub use state::CollectionState;

/// One of the five app-state collections. Each has its own version, LTHash
/// and set of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// `critical_block`: account settings such as the push name.
    CriticalBlock,
    /// `critical_unblock_low`: contacts.
    CriticalUnblockLow,
    /// `regular_high`: mutes, stars, message deletions.
    RegularHigh,
    /// `regular`: miscellaneous settings.
    Regular,
    /// `regular_low`: archive, pin, mark read, clear/delete chat.
    RegularLow,
}

impl Collection {
    /// Every collection, in the order WhatsApp Web syncs them.
    pub const ALL: [Collection; 5] = [
        Collection::CriticalBlock,
        Collection::CriticalUnblockLow,
        Collection::RegularHigh,
        Collection::Regular,
        Collection::RegularLow,
    ];

    /// The wire name (the `name` attribute of `<collection>`, and the bytes
    /// mixed into snapshot and patch MACs).
    pub fn name(self) -> &'static str {
        match self {
            Collection::CriticalBlock => "critical_block",
            Collection::CriticalUnblockLow => "critical_unblock_low",
            Collection::RegularHigh => "regular_high",
            Collection::Regular => "regular",
            Collection::RegularLow => "regular_low",
        }
    }

    /// The collection with wire name `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Collection {
    type Err = AppStateError;

    fn from_str(s: &str) -> Result<Collection, AppStateError> {
        Collection::from_name(s).ok_or_else(|| AppStateError::UnknownCollection(s.to_owned()))
    }
}

/// Why a patch, snapshot or stored state was refused. `mutation` is the
/// position of the offending mutation (or snapshot record), from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppStateError {
    /// A record or patch names a key id the lookup does not know: the key
    /// share has not arrived yet (request it, then retry).
    #[error("no app-state sync key with id {0}")]
    UnknownKey(String),
    /// A value MAC does not verify: the wrong key, or tampering.
    #[error("value MAC of mutation {mutation} does not verify")]
    ValueMac {
        /// Position of the mutation.
        mutation: usize,
    },
    /// The decrypted index does not hash to the record's index MAC.
    #[error("index MAC of mutation {mutation} does not match its decrypted index")]
    IndexMac {
        /// Position of the mutation.
        mutation: usize,
    },
    /// The value's ciphertext has a bad length or padding (after its MAC
    /// verified, so a peer encrypted garbage).
    #[error("value of mutation {mutation} cannot be decrypted")]
    Decrypt {
        /// Position of the mutation.
        mutation: usize,
    },
    /// The decrypted value is not a SyncActionData, or its index is not a
    /// JSON array of strings.
    #[error("value of mutation {mutation} cannot be decoded: {detail}")]
    Decode {
        /// Position of the mutation.
        mutation: usize,
        /// What the decoder said.
        detail: String,
    },
    /// The snapshot MAC does not match the LTHash this patch leads to: a
    /// patch was missed, replayed or applied to the wrong state. Fetch a
    /// snapshot.
    #[error("snapshot MAC does not verify (LTHash mismatch: missed patch or wrong state?)")]
    SnapshotMac,
    /// The patch MAC does not verify: mutations were dropped, reordered or
    /// altered.
    #[error("patch MAC does not verify")]
    PatchMac,
    /// A required field is absent or empty.
    #[error("app-state message has no {0}")]
    MissingField(&'static str),
    /// Not a collection name.
    #[error("unknown app-state collection {0:?}")]
    UnknownCollection(String),
    /// Stored [`CollectionState`] bytes are not ones
    /// [`CollectionState::to_bytes`] wrote.
    #[error("stored app-state collection state is invalid: {0}")]
    BadState(&'static str),
}

/// Lower-case hex of `bytes`, for key ids in errors and logs.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests;
