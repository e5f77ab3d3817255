//! Where a device keeps what it knows between runs, one trait per role.
//!
//! | role | trait | keyed by |
//! |---|---|---|
//! | own keys and identity | [`DeviceStore`] | (one per store) |
//! | peers' identity keys | [`IdentityStore`] | Signal address |
//! | our one-time prekeys | [`PreKeyStore`] | prekey id |
//! | our signed prekeys | [`SignedPreKeyStore`] | signed prekey id |
//! | pairwise sessions | [`SessionStore`] | Signal address |
//! | group sender keys, and who has ours | [`SenderKeyStore`] | group, sender |
//! | device-list cache | [`DeviceListStore`] | user |
//! | LID <-> phone number | [`LidStore`] | user |
//! | privacy tokens (`tctoken`) | [`PrivacyTokenStore`] | user |
//! | message secrets | [`MessageSecretStore`] | chat, sender, id |
//! | message dedupe | [`DedupeStore`] | chat, sender, id |
//! | app-state sync keys and collection states | [`AppStateStore`] | key id; collection name |
//!
//! A [`Store`] is all of them; one store holds one device (a bridge keeps
//! one per logged-in user). Signal records (sessions, sender keys) are opaque
//! bytes here, so a backend never needs the Signal library. Every write must
//! be durable when the call returns: the client writes the session a
//! ciphertext came from *before* that ciphertext goes on the wire, and
//! deletes a used prekey only after the session it made was written.
//!
//! [`MemoryStore`] keeps everything in memory; [`FileStore`] too, and
//! writes a snapshot file after every change. [`conformance`] is the
//! behaviour every backend must show; the SQL stores run it too.

mod conformance;
mod file;
mod memory;

pub use conformance::conformance;
pub use file::FileStore;
pub use memory::MemoryStore;

use async_trait::async_trait;
use wa_core::signal::{PreKey, SignedPreKey};

use crate::own_device::DeviceState;

/// A failure of a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, database, ...).
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data that cannot be read back as a valid state.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
}

/// Keeps one device's [`DeviceState`].
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// The stored state, `None` if nothing was saved yet (or it was deleted).
    async fn load(&self) -> Result<Option<DeviceState>, StoreError>;
    /// Saves `state`, replacing what was stored.
    async fn save(&self, state: &DeviceState) -> Result<(), StoreError>;
    /// Forgets the device and everything the other roles hold for it
    /// (after a logout: its sessions and keys are worthless).
    async fn delete(&self) -> Result<(), StoreError>;
}

/// The identity keys peers presented, by Signal address (`user[_d].device`).
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The identity key `address` last presented.
    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError>;
    /// Records each `(address, key)`; for each, true if it replaced a
    /// different key. Batched: a first group message learns thousands.
    async fn save_identities(&self, keys: &[(String, [u8; 32])]) -> Result<Vec<bool>, StoreError>;
    /// Forgets the identity of `address`.
    async fn delete_identity(&self, address: &str) -> Result<(), StoreError>;
}

/// Our one-time prekeys: saved before upload, removed once a peer used one.
#[async_trait]
pub trait PreKeyStore: Send + Sync {
    /// Saves `keys` (replacing any with the same id).
    async fn store_prekeys(&self, keys: &[PreKey]) -> Result<(), StoreError>;
    /// The prekey with this id, if still unused.
    async fn load_prekey(&self, id: u32) -> Result<Option<PreKey>, StoreError>;
    /// Removes a used prekey.
    async fn remove_prekey(&self, id: u32) -> Result<(), StoreError>;
    /// How many unused prekeys are kept.
    async fn prekey_count(&self) -> Result<usize, StoreError>;
}

/// Our signed prekeys: the current one and, after a rotation, older ones
/// peers may still start sessions with.
#[async_trait]
pub trait SignedPreKeyStore: Send + Sync {
    /// Saves `key` (replacing any with the same id).
    async fn store_signed_prekey(&self, key: &SignedPreKey) -> Result<(), StoreError>;
    /// The signed prekey with this id.
    async fn load_signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError>;
    /// Removes the signed prekey with this id.
    async fn remove_signed_prekey(&self, id: u32) -> Result<(), StoreError>;
}

/// Pairwise Signal sessions (serialized records), by Signal address.
///
/// Batched, because a first message to a large group touches thousands.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The records of `addresses`, in order (`None` where there is none).
    async fn load_sessions(&self, addresses: &[String])
    -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Saves records (replacing), all or none.
    async fn store_sessions(&self, records: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    /// Removes the session with `address`.
    async fn delete_session(&self, address: &str) -> Result<(), StoreError>;
}

/// Group sender keys (serialized records) by group and sender address, and
/// the member devices our own current sender key was sent to.
#[async_trait]
pub trait SenderKeyStore: Send + Sync {
    /// The record of `sender` in `group`.
    async fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Saves the record of `sender` in `group` (replacing).
    async fn store_sender_key(
        &self,
        group: &str,
        sender: &str,
        record: &[u8],
    ) -> Result<(), StoreError>;
    /// Removes the record of `sender` in `group`.
    async fn delete_sender_key(&self, group: &str, sender: &str) -> Result<(), StoreError>;
    /// The devices (JID strings) that received our sender key for `group`.
    async fn sender_key_holders(&self, group: &str) -> Result<Vec<String>, StoreError>;
    /// Records that `devices` received our sender key for `group`.
    async fn add_sender_key_holders(
        &self,
        group: &str,
        devices: &[String],
    ) -> Result<(), StoreError>;
    /// Forgets who holds our key for `group` (after rotating it).
    async fn clear_sender_key_holders(&self, group: &str) -> Result<(), StoreError>;
}

/// A user's devices we may encrypt to, as last fetched and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDevices {
    /// Device ids (0 is the phone), ADV-verified when cached.
    pub devices: Vec<u16>,
    /// When they were fetched (unix seconds).
    pub fetched: u64,
}

/// The device-list cache, by user (the LID or phone-number user part, with
/// its server: `123@lid`).
#[async_trait]
pub trait DeviceListStore: Send + Sync {
    /// The cached devices of `user`.
    async fn load_devices(&self, user: &str) -> Result<Option<CachedDevices>, StoreError>;
    /// Caches the devices of `user` (replacing).
    async fn store_devices(&self, user: &str, devices: &CachedDevices) -> Result<(), StoreError>;
    /// Drops the cached devices of `user` (a device-list notification).
    async fn delete_devices(&self, user: &str) -> Result<(), StoreError>;
}

/// The mapping between phone-number users and LID users (user parts only).
#[async_trait]
pub trait LidStore: Send + Sync {
    /// Records that `pn` is `lid` (replacing an older mapping of either).
    async fn store_lid_mapping(&self, pn: &str, lid: &str) -> Result<(), StoreError>;
    /// The LID user of phone number `pn`.
    async fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, StoreError>;
    /// The phone number of LID user `lid`.
    async fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, StoreError>;
}

/// A privacy token (`tctoken`) a contact gave us: sent with our 1:1 messages
/// to them. `Debug` prints the timestamp and the token's length only.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivacyToken {
    /// The token bytes, opaque.
    pub token: Vec<u8>,
    /// When the contact issued it (unix seconds, the notification's `t`).
    pub timestamp: u64,
}

impl std::fmt::Debug for PrivacyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacyToken")
            .field("len", &self.token.len())
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// Trusted-contact tokens, by contact user ("123@lid" or
/// "123@s.whatsapp.net", no device).
#[async_trait]
pub trait PrivacyTokenStore: Send + Sync {
    /// Keeps the token `user` gave us, unless the one stored has a newer
    /// timestamp (an equal one replaces it); true if it was stored.
    async fn store_privacy_token(
        &self,
        user: &str,
        token: &[u8],
        timestamp: u64,
    ) -> Result<bool, StoreError>;
    /// The token `user` gave us.
    async fn privacy_token(&self, user: &str) -> Result<Option<PrivacyToken>, StoreError>;
    /// When we last issued our own token to `user` (unix seconds).
    async fn token_issued_at(&self, user: &str) -> Result<Option<u64>, StoreError>;
    /// Records that we issued our token to `user` at `at`.
    async fn set_token_issued_at(&self, user: &str, at: u64) -> Result<(), StoreError>;
    /// Forgets tokens received with a timestamp before `before`; returns how
    /// many.
    async fn prune_privacy_tokens(&self, before: u64) -> Result<usize, StoreError>;
}

/// The `messageSecret` of a message (ours or a contact's): what opens the
/// add-ons sealed with it later (encrypted edits, a bot's reply). `Debug`
/// prints the ids, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageSecret {
    /// The chat, bare ("123@s.whatsapp.net", "123@lid", "456@g.us").
    pub chat: String,
    /// Who sent the message, bare.
    pub sender: String,
    /// The message id.
    pub id: String,
    /// The secret (32 bytes as sent; kept as given).
    pub secret: Vec<u8>,
    /// When it was kept (unix seconds): the prune goes by it.
    pub at: u64,
}

impl std::fmt::Debug for MessageSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSecret")
            .field("chat", &self.chat)
            .field("sender", &self.sender)
            .field("id", &self.id)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// Message secrets, by chat, sender and message id.
#[async_trait]
pub trait MessageSecretStore: Send + Sync {
    /// Keeps these secrets; a message's first secret stays (a later copy
    /// with another one is ignored, as whatsmeow does).
    async fn store_message_secrets(&self, secrets: &[MessageSecret]) -> Result<(), StoreError>;
    /// The secret of message `id` that `sender` sent in `chat`.
    async fn message_secret(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Forgets secrets kept before `before` (unix seconds); returns how
    /// many.
    async fn prune_message_secrets(&self, before: u64) -> Result<usize, StoreError>;
}

/// Messages already handled, so a redelivery is acked and not shown twice.
#[async_trait]
pub trait DedupeStore: Send + Sync {
    /// Marks the message seen; true if it was not seen before.
    async fn mark_message_seen(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        at: u64,
    ) -> Result<bool, StoreError>;
    /// Forgets messages seen before `before` (unix seconds), and copies
    /// kept since before then; returns how many were forgotten.
    async fn prune_seen(&self, before: u64) -> Result<usize, StoreError>;
    /// Keeps the decrypted `plaintext` (an encoded `Message`) of message
    /// `id` from `chat` (the stanza's `from`) and `sender` (its
    /// `participant`, empty outside groups) until its receipt goes out.
    /// Decrypting moved the ratchet on, so if the server delivers the
    /// message again because the receipt never left, this copy is the only
    /// way to read it. Replaces an earlier copy.
    async fn keep_unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        plaintext: &[u8],
        at: u64,
    ) -> Result<(), StoreError>;
    /// The copy kept by [`DedupeStore::keep_unacked`], if any.
    async fn unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Forgets the kept copy: the message's receipt went out.
    async fn drop_unacked(&self, chat: &str, sender: &str, id: &str) -> Result<(), StoreError>;
}

/// An app-state sync key, as our phone shared it. The key data is zeroed
/// when dropped; `Debug` prints the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AppStateKey {
    /// The key id (`AppStateSyncKeyId.keyId`), a few bytes.
    pub id: Vec<u8>,
    /// The 32 bytes the mutation keys are derived from.
    pub data: [u8; 32],
    /// When the phone made it (`AppStateSyncKeyData.timestamp`, ms).
    pub timestamp: i64,
}

impl std::fmt::Debug for AppStateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id: String = self.id.iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("AppStateKey")
            .field("id", &id)
            .finish_non_exhaustive()
    }
}

impl Drop for AppStateKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

/// App-state sync: the keys our phone shared, and the synced state of
/// each collection (opaque bytes: `wa_core::appstate::CollectionState`
/// encoded, by collection name).
#[async_trait]
pub trait AppStateStore: Send + Sync {
    /// Saves `keys` (replacing any with the same id).
    async fn store_app_state_keys(&self, keys: &[AppStateKey]) -> Result<(), StoreError>;
    /// The key with this id.
    async fn app_state_key(&self, id: &[u8]) -> Result<Option<AppStateKey>, StoreError>;
    /// The key new patches are made with: the newest by timestamp (of
    /// equal timestamps, the greatest id).
    async fn latest_app_state_key(&self) -> Result<Option<AppStateKey>, StoreError>;
    /// The stored state of collection `name`.
    async fn app_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Saves the state of collection `name` (replacing).
    async fn store_app_state(&self, name: &str, state: &[u8]) -> Result<(), StoreError>;
    /// Forgets the state of collection `name` (the next sync starts from a
    /// snapshot).
    async fn delete_app_state(&self, name: &str) -> Result<(), StoreError>;
}

/// Every role at once: what a client runs on.
pub trait Store:
    DeviceStore
    + IdentityStore
    + PreKeyStore
    + SignedPreKeyStore
    + SessionStore
    + SenderKeyStore
    + DeviceListStore
    + LidStore
    + PrivacyTokenStore
    + MessageSecretStore
    + DedupeStore
    + AppStateStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: DeviceStore
        + IdentityStore
        + PreKeyStore
        + SignedPreKeyStore
        + SessionStore
        + SenderKeyStore
        + DeviceListStore
        + LidStore
        + PrivacyTokenStore
        + MessageSecretStore
        + DedupeStore
        + AppStateStore
        + std::fmt::Debug
{
}

#[cfg(test)]
mod tests {
    use super::{AppStateKey, PrivacyToken};

    #[test]
    fn app_state_key_debug_shows_the_id_only() {
        let key = AppStateKey {
            id: vec![0, 0, 0, 0, 0x1a, 0x2b],
            data: [0xab; 32],
            timestamp: 1,
        };
        let shown = format!("{key:?}");
        assert!(shown.contains("000000001a2b"), "{shown}");
        assert!(
            !shown.contains("ab, ab") && !shown.contains("171"),
            "{shown}"
        );
    }

    #[test]
    fn privacy_token_debug_shows_no_bytes() {
        let token = PrivacyToken {
            token: vec![0xab; 5],
            timestamp: 1_700_000_000,
        };
        let shown = format!("{token:?}");
        assert!(
            shown.contains("1700000000") && shown.contains("len: 5"),
            "{shown}"
        );
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }
}
