//! [`Store`](super::Store) in memory: for tests, tools, and bridges that
//! re-pair on every start.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use wa_core::signal::{PreKey, SignedPreKey};

use super::{
    AppStateKey, AppStateStore, CachedDevices, DedupeStore, DeviceListStore, DeviceStore,
    IdentityStore, LidStore, MessageSecret, MessageSecretStore, PreKeyStore, PrivacyToken,
    PrivacyTokenStore, SenderKeyStore, SessionStore, SignedPreKeyStore, StoreError,
};
use crate::own_device::DeviceState;

/// Everything a [`MemoryStore`] holds; the file store snapshots it.
#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) device: Option<DeviceState>,
    pub(crate) identities: HashMap<String, [u8; 32]>,
    pub(crate) prekeys: BTreeMap<u32, PreKey>,
    pub(crate) signed_prekeys: BTreeMap<u32, SignedPreKey>,
    pub(crate) sessions: HashMap<String, Vec<u8>>,
    /// By (group, sender).
    pub(crate) sender_keys: HashMap<(String, String), Vec<u8>>,
    pub(crate) holders: HashMap<String, HashSet<String>>,
    pub(crate) devices: HashMap<String, CachedDevices>,
    pub(crate) pn_to_lid: HashMap<String, String>,
    pub(crate) lid_to_pn: HashMap<String, String>,
    /// Privacy tokens contacts gave us, by user.
    pub(crate) privacy_tokens: HashMap<String, PrivacyToken>,
    /// When we last issued our privacy token, by user.
    pub(crate) tokens_issued: HashMap<String, u64>,
    /// Message secrets by (chat, sender, id), and when they were kept.
    pub(crate) message_secrets: HashMap<(String, String, String), (Vec<u8>, u64)>,
    /// By (chat, sender, id): when first seen.
    pub(crate) seen: HashMap<(String, String, String), u64>,
    /// By (chat, sender, id): decrypted messages not yet acknowledged, and
    /// when they were kept.
    pub(crate) unacked: HashMap<(String, String, String), (Vec<u8>, u64)>,
    /// App-state sync keys by id.
    pub(crate) app_state_keys: BTreeMap<Vec<u8>, AppStateKey>,
    /// Collection states by collection name.
    pub(crate) app_states: BTreeMap<String, Vec<u8>>,
}

/// Every store role in memory, behind one lock.
///
/// `Debug` prints counts only.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("MemoryStore");
        if let Ok(i) = self.inner.lock() {
            s.field(
                "paired",
                &i.device.as_ref().is_some_and(DeviceState::is_paired),
            )
            .field("sessions", &i.sessions.len())
            .field("prekeys", &i.prekeys.len())
            .field("sender_keys", &i.sender_keys.len());
        }
        s.finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding `inner` (read back from a snapshot).
    pub(crate) fn from_inner(inner: Inner) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(inner),
        }
    }

    /// Runs `f` on the contents, under the lock (to snapshot them).
    pub(crate) fn with_inner<T>(&self, f: impl FnOnce(&Inner) -> T) -> Result<T, StoreError> {
        let inner = self.lock()?;
        Ok(f(&inner))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Corrupt("memory store lock poisoned".to_owned()))
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn load(&self) -> Result<Option<DeviceState>, StoreError> {
        Ok(self.lock()?.device.clone())
    }

    async fn save(&self, state: &DeviceState) -> Result<(), StoreError> {
        self.lock()?.device = Some(state.clone());
        Ok(())
    }

    async fn delete(&self) -> Result<(), StoreError> {
        // A logged-out device's sessions and keys are worthless: forget all.
        *self.lock()? = Inner::default();
        Ok(())
    }
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.lock()?.identities.get(address).copied())
    }

    async fn save_identities(&self, keys: &[(String, [u8; 32])]) -> Result<Vec<bool>, StoreError> {
        let mut inner = self.lock()?;
        Ok(keys
            .iter()
            .map(|(address, key)| {
                let old = inner.identities.insert(address.clone(), *key);
                old.is_some_and(|o| o != *key)
            })
            .collect())
    }

    async fn delete_identity(&self, address: &str) -> Result<(), StoreError> {
        self.lock()?.identities.remove(address);
        Ok(())
    }
}

#[async_trait]
impl PreKeyStore for MemoryStore {
    async fn store_prekeys(&self, keys: &[PreKey]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for k in keys {
            inner.prekeys.insert(k.id(), k.clone());
        }
        Ok(())
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        Ok(self.lock()?.prekeys.get(&id).cloned())
    }

    async fn remove_prekey(&self, id: u32) -> Result<(), StoreError> {
        self.lock()?.prekeys.remove(&id);
        Ok(())
    }

    async fn prekey_count(&self) -> Result<usize, StoreError> {
        Ok(self.lock()?.prekeys.len())
    }
}

#[async_trait]
impl SignedPreKeyStore for MemoryStore {
    async fn store_signed_prekey(&self, key: &SignedPreKey) -> Result<(), StoreError> {
        self.lock()?.signed_prekeys.insert(key.id(), key.clone());
        Ok(())
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        Ok(self.lock()?.signed_prekeys.get(&id).cloned())
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<(), StoreError> {
        self.lock()?.signed_prekeys.remove(&id);
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load_sessions(
        &self,
        addresses: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let inner = self.lock()?;
        Ok(addresses
            .iter()
            .map(|a| inner.sessions.get(a).cloned())
            .collect())
    }

    async fn store_sessions(&self, records: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for (address, record) in records {
            inner.sessions.insert(address.clone(), record.clone());
        }
        Ok(())
    }

    async fn delete_session(&self, address: &str) -> Result<(), StoreError> {
        self.lock()?.sessions.remove(address);
        Ok(())
    }
}

#[async_trait]
impl SenderKeyStore for MemoryStore {
    async fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()?
            .sender_keys
            .get(&(group.to_owned(), sender.to_owned()))
            .cloned())
    }

    async fn store_sender_key(
        &self,
        group: &str,
        sender: &str,
        record: &[u8],
    ) -> Result<(), StoreError> {
        self.lock()?
            .sender_keys
            .insert((group.to_owned(), sender.to_owned()), record.to_vec());
        Ok(())
    }

    async fn delete_sender_key(&self, group: &str, sender: &str) -> Result<(), StoreError> {
        self.lock()?
            .sender_keys
            .remove(&(group.to_owned(), sender.to_owned()));
        Ok(())
    }

    async fn sender_key_holders(&self, group: &str) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = self
            .lock()?
            .holders
            .get(group)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default();
        out.sort();
        Ok(out)
    }

    async fn add_sender_key_holders(
        &self,
        group: &str,
        devices: &[String],
    ) -> Result<(), StoreError> {
        self.lock()?
            .holders
            .entry(group.to_owned())
            .or_default()
            .extend(devices.iter().cloned());
        Ok(())
    }

    async fn clear_sender_key_holders(&self, group: &str) -> Result<(), StoreError> {
        self.lock()?.holders.remove(group);
        Ok(())
    }
}

#[async_trait]
impl DeviceListStore for MemoryStore {
    async fn load_devices(&self, user: &str) -> Result<Option<CachedDevices>, StoreError> {
        Ok(self.lock()?.devices.get(user).cloned())
    }

    async fn store_devices(&self, user: &str, devices: &CachedDevices) -> Result<(), StoreError> {
        self.lock()?
            .devices
            .insert(user.to_owned(), devices.clone());
        Ok(())
    }

    async fn delete_devices(&self, user: &str) -> Result<(), StoreError> {
        self.lock()?.devices.remove(user);
        Ok(())
    }
}

#[async_trait]
impl LidStore for MemoryStore {
    async fn store_lid_mapping(&self, pn: &str, lid: &str) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if let Some(old_lid) = inner.pn_to_lid.insert(pn.to_owned(), lid.to_owned()) {
            inner.lid_to_pn.remove(&old_lid);
        }
        if let Some(old_pn) = inner.lid_to_pn.insert(lid.to_owned(), pn.to_owned())
            && old_pn != pn
        {
            inner.pn_to_lid.remove(&old_pn);
        }
        Ok(())
    }

    async fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock()?.pn_to_lid.get(pn).cloned())
    }

    async fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock()?.lid_to_pn.get(lid).cloned())
    }
}

#[async_trait]
impl PrivacyTokenStore for MemoryStore {
    async fn store_privacy_token(
        &self,
        user: &str,
        token: &[u8],
        timestamp: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        if inner
            .privacy_tokens
            .get(user)
            .is_some_and(|t| t.timestamp > timestamp)
        {
            return Ok(false);
        }
        let token = PrivacyToken {
            token: token.to_vec(),
            timestamp,
        };
        inner.privacy_tokens.insert(user.to_owned(), token);
        Ok(true)
    }

    async fn privacy_token(&self, user: &str) -> Result<Option<PrivacyToken>, StoreError> {
        Ok(self.lock()?.privacy_tokens.get(user).cloned())
    }

    async fn token_issued_at(&self, user: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock()?.tokens_issued.get(user).copied())
    }

    async fn set_token_issued_at(&self, user: &str, at: u64) -> Result<(), StoreError> {
        self.lock()?.tokens_issued.insert(user.to_owned(), at);
        Ok(())
    }

    async fn prune_privacy_tokens(&self, before: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock()?;
        let len = inner.privacy_tokens.len();
        inner.privacy_tokens.retain(|_, t| t.timestamp >= before);
        Ok(len - inner.privacy_tokens.len())
    }
}

#[async_trait]
impl MessageSecretStore for MemoryStore {
    async fn store_message_secrets(&self, secrets: &[MessageSecret]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for m in secrets {
            inner
                .message_secrets
                .entry((m.chat.clone(), m.sender.clone(), m.id.clone()))
                .or_insert_with(|| (m.secret.clone(), m.at));
        }
        Ok(())
    }

    async fn message_secret(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = (chat.to_owned(), sender.to_owned(), id.to_owned());
        Ok(self
            .lock()?
            .message_secrets
            .get(&key)
            .map(|(s, _)| s.clone()))
    }

    async fn prune_message_secrets(&self, before: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock()?;
        let len = inner.message_secrets.len();
        inner.message_secrets.retain(|_, (_, at)| *at >= before);
        Ok(len - inner.message_secrets.len())
    }
}

#[async_trait]
impl DedupeStore for MemoryStore {
    async fn mark_message_seen(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        at: u64,
    ) -> Result<bool, StoreError> {
        let key = (chat.to_owned(), sender.to_owned(), id.to_owned());
        let mut inner = self.lock()?;
        if inner.seen.contains_key(&key) {
            return Ok(false);
        }
        inner.seen.insert(key, at);
        Ok(true)
    }

    async fn prune_seen(&self, before: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock()?;
        let len = inner.seen.len() + inner.unacked.len();
        inner.seen.retain(|_, at| *at >= before);
        inner.unacked.retain(|_, (_, at)| *at >= before);
        Ok(len - inner.seen.len() - inner.unacked.len())
    }

    async fn keep_unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        plaintext: &[u8],
        at: u64,
    ) -> Result<(), StoreError> {
        let key = (chat.to_owned(), sender.to_owned(), id.to_owned());
        self.lock()?.unacked.insert(key, (plaintext.to_vec(), at));
        Ok(())
    }

    async fn unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = (chat.to_owned(), sender.to_owned(), id.to_owned());
        Ok(self.lock()?.unacked.get(&key).map(|(p, _)| p.clone()))
    }

    async fn drop_unacked(&self, chat: &str, sender: &str, id: &str) -> Result<(), StoreError> {
        let key = (chat.to_owned(), sender.to_owned(), id.to_owned());
        self.lock()?.unacked.remove(&key);
        Ok(())
    }
}

#[async_trait]
impl AppStateStore for MemoryStore {
    async fn store_app_state_keys(&self, keys: &[AppStateKey]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for k in keys {
            inner.app_state_keys.insert(k.id.clone(), k.clone());
        }
        Ok(())
    }

    async fn app_state_key(&self, id: &[u8]) -> Result<Option<AppStateKey>, StoreError> {
        Ok(self.lock()?.app_state_keys.get(id).cloned())
    }

    async fn latest_app_state_key(&self) -> Result<Option<AppStateKey>, StoreError> {
        Ok(self
            .lock()?
            .app_state_keys
            .values()
            .max_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)))
            .cloned())
    }

    async fn app_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.app_states.get(name).cloned())
    }

    async fn store_app_state(&self, name: &str, state: &[u8]) -> Result<(), StoreError> {
        self.lock()?
            .app_states
            .insert(name.to_owned(), state.to_vec());
        Ok(())
    }

    async fn delete_app_state(&self, name: &str) -> Result<(), StoreError> {
        self.lock()?.app_states.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        let store = MemoryStore::new();
        let result = crate::store::conformance(&store).await;
        assert!(result.is_ok(), "{result:?}");
    }
}
