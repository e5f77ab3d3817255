//! In-memory Signal stores: the reference the persistent stores are held to.
//!
//! Records are kept as the library's values (cloned in and out), so nothing
//! here serializes; see the parent module for what a persistent store must add.
//! `Debug` prints counts only: records hold private keys and chain keys.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use wacore_libsignal::protocol::{
    Direction, IdentityChange, IdentityKey, IdentityKeyPair, IdentityKeyStore, PreKeyId,
    PreKeyRecord, PreKeyStore, PrivateKey, ProtocolAddress, SenderKeyName, SenderKeyRecord,
    SenderKeyStore, SessionRecord, SessionStore, SignalProtocolError, SignedPreKeyId,
    SignedPreKeyRecord, SignedPreKeyStore, error::Result,
};

use super::{PreKey, SignalAddress, SignalError, SignalStore, SignalStores, SignedPreKey};
use crate::keys::KeyPair;

/// Our identity and registration id, and the identity keys peers presented.
///
/// Trust on first use, and a changed key is accepted and reported as
/// [`IdentityChange::ReplacedExisting`] (WhatsApp shows a notice; it does not
/// block).
pub struct MemoryIdentityStore {
    identity: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<ProtocolAddress, IdentityKey>,
}

impl MemoryIdentityStore {
    /// A store for the device with this identity and registration id.
    pub fn new(identity: &KeyPair, registration_id: u32) -> std::result::Result<Self, SignalError> {
        let private =
            PrivateKey::deserialize(identity.private()).map_err(|_| SignalError::InvalidKey)?;
        let identity = IdentityKeyPair::try_from(private).map_err(|_| SignalError::InvalidKey)?;
        Ok(MemoryIdentityStore {
            identity,
            registration_id,
            known: HashMap::new(),
        })
    }

    /// Our registration id.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }

    /// The raw 32-byte identity key `address` last presented, if any.
    pub fn identity_of(&self, address: &SignalAddress) -> Option<[u8; 32]> {
        self.known
            .get(address.protocol_address())
            .and_then(|k| k.public_key().public_key_bytes().try_into().ok())
    }
}

impl fmt::Debug for MemoryIdentityStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryIdentityStore")
            .field("registration_id", &self.registration_id)
            .field("known", &self.known.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl IdentityKeyStore for MemoryIdentityStore {
    async fn get_identity_key_pair(&self) -> Result<IdentityKeyPair> {
        Ok(self.identity.clone())
    }

    async fn get_local_registration_id(&self) -> Result<u32> {
        Ok(self.registration_id)
    }

    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> Result<IdentityChange> {
        let previous = self.known.insert(address.clone(), *identity);
        Ok(IdentityChange::from_changed(
            previous.is_some_and(|p| p != *identity),
        ))
    }

    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &IdentityKey,
        _direction: Direction,
    ) -> Result<bool> {
        Ok(true)
    }

    async fn get_identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>> {
        Ok(self.known.get(address).copied())
    }
}

/// Our one-time prekeys, by id.
#[derive(Default)]
pub struct MemoryPreKeyStore {
    keys: HashMap<u32, PreKeyRecord>,
}

impl MemoryPreKeyStore {
    /// Adds (or replaces) a prekey.
    pub fn insert(&mut self, key: &PreKey) -> std::result::Result<(), SignalError> {
        self.keys.insert(key.id(), key.record()?);
        Ok(())
    }

    /// Whether the prekey with this id is still here (not yet used).
    pub fn contains(&self, id: u32) -> bool {
        self.keys.contains_key(&id)
    }

    /// How many prekeys are left.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether none are left.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for MemoryPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryPreKeyStore")
            .field("keys", &self.keys.len())
            .finish()
    }
}

#[async_trait]
impl PreKeyStore for MemoryPreKeyStore {
    async fn get_pre_key(&self, prekey_id: PreKeyId) -> Result<PreKeyRecord> {
        self.keys
            .get(&prekey_id.into())
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }

    async fn save_pre_key(&mut self, prekey_id: PreKeyId, record: &PreKeyRecord) -> Result<()> {
        self.keys.insert(prekey_id.into(), record.clone());
        Ok(())
    }

    async fn remove_pre_key(&mut self, prekey_id: PreKeyId) -> Result<()> {
        self.keys.remove(&prekey_id.into());
        Ok(())
    }
}

/// Our signed prekeys, by id.
#[derive(Default)]
pub struct MemorySignedPreKeyStore {
    keys: HashMap<u32, SignedPreKeyRecord>,
}

impl MemorySignedPreKeyStore {
    /// Adds (or replaces) a signed prekey created at `created_ms`.
    pub fn insert(
        &mut self,
        key: &SignedPreKey,
        created_ms: u64,
    ) -> std::result::Result<(), SignalError> {
        self.keys.insert(key.id(), key.record(created_ms)?);
        Ok(())
    }

    /// Forgets a signed prekey (after rotation and a grace period).
    pub fn remove(&mut self, id: u32) {
        self.keys.remove(&id);
    }

    /// Whether the signed prekey with this id is here.
    pub fn contains(&self, id: u32) -> bool {
        self.keys.contains_key(&id)
    }
}

impl fmt::Debug for MemorySignedPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySignedPreKeyStore")
            .field("keys", &self.keys.len())
            .finish()
    }
}

#[async_trait]
impl SignedPreKeyStore for MemorySignedPreKeyStore {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> Result<SignedPreKeyRecord> {
        self.keys
            .get(&id.into())
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }

    async fn save_signed_pre_key(
        &mut self,
        id: SignedPreKeyId,
        record: &SignedPreKeyRecord,
    ) -> Result<()> {
        self.keys.insert(id.into(), record.clone());
        Ok(())
    }
}

/// Pairwise session records, by address.
#[derive(Default)]
pub struct MemorySessionStore {
    sessions: HashMap<ProtocolAddress, SessionRecord>,
}

impl MemorySessionStore {
    /// Forgets the session with `address` (the next send needs a new bundle).
    pub fn remove(&mut self, address: &SignalAddress) {
        self.sessions.remove(address.protocol_address());
    }

    /// How many addresses have a session record.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there are no session records.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>> {
        Ok(self.sessions.get(address).cloned())
    }

    async fn has_session(&self, address: &ProtocolAddress) -> Result<bool> {
        Ok(self
            .sessions
            .get(address)
            .is_some_and(|r| r.session_state().is_some()))
    }

    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: SessionRecord,
    ) -> Result<()> {
        self.sessions.insert(address.clone(), record);
        Ok(())
    }
}

/// Sender-key records, by group and sender.
#[derive(Default)]
pub struct MemorySenderKeyStore {
    keys: HashMap<SenderKeyName, SenderKeyRecord>,
}

impl MemorySenderKeyStore {
    /// Forgets a sender key: for our own, the next distribution starts a new
    /// chain (rotation when members leave); the library's trait cannot delete.
    pub fn remove(&mut self, name: &SenderKeyName) {
        self.keys.remove(name);
    }

    /// Whether a record exists for this group and sender.
    pub fn contains(&self, name: &SenderKeyName) -> bool {
        self.keys.contains_key(name)
    }
}

impl fmt::Debug for MemorySenderKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySenderKeyStore")
            .field("keys", &self.keys.len())
            .finish()
    }
}

#[async_trait]
impl SenderKeyStore for MemorySenderKeyStore {
    async fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: SenderKeyRecord,
    ) -> Result<()> {
        self.keys.insert(name.clone(), record);
        Ok(())
    }

    async fn load_sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>> {
        Ok(self.keys.get(name).cloned())
    }
}

/// All five stores of one device, in memory.
#[derive(Debug)]
pub struct MemoryStore {
    /// Identity and registration id; peers' identities.
    pub identity: MemoryIdentityStore,
    /// One-time prekeys.
    pub prekeys: MemoryPreKeyStore,
    /// Signed prekeys.
    pub signed_prekeys: MemorySignedPreKeyStore,
    /// Sessions.
    pub sessions: MemorySessionStore,
    /// Sender keys.
    pub sender_keys: MemorySenderKeyStore,
}

impl MemoryStore {
    /// Empty stores for the device with this identity and registration id.
    pub fn new(identity: &KeyPair, registration_id: u32) -> std::result::Result<Self, SignalError> {
        Ok(MemoryStore {
            identity: MemoryIdentityStore::new(identity, registration_id)?,
            prekeys: MemoryPreKeyStore::default(),
            signed_prekeys: MemorySignedPreKeyStore::default(),
            sessions: MemorySessionStore::default(),
            sender_keys: MemorySenderKeyStore::default(),
        })
    }
}

impl SignalStore for MemoryStore {
    fn stores(&mut self) -> SignalStores<'_> {
        SignalStores {
            identity: &mut self.identity,
            prekeys: &mut self.prekeys,
            signed_prekeys: &mut self.signed_prekeys,
            sessions: &mut self.sessions,
            sender_keys: &mut self.sender_keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_key_material() {
        let identity = KeyPair::from_private([7; 32]);
        let mut store = MemoryStore::new(&identity, 1234).unwrap();
        let key = PreKey::from_parts(1, KeyPair::from_private([8; 32]));
        store.prekeys.insert(&key).unwrap();
        let skey = SignedPreKey::from_parts(1, KeyPair::from_private([9; 32]), [0; 64]);
        store.signed_prekeys.insert(&skey, 0).unwrap();
        let shown = format!("{store:?}");
        for secret in [
            "0707070707",
            "0808080808",
            "0909090909",
            "[7, 7, 7",
            "[8, 8, 8",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("1234"), "{shown}");
    }
}
