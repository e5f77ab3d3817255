//! [`Store`](super::Store) in one file: everything is kept in memory (a
//! [`MemoryStore`]) and, after every change, written whole to the file.
//!
//! Meant for tools and single-user companions, not for bridges with many
//! devices: each write rewrites the snapshot. A write goes to `PATH.tmp`,
//! is fsynced and renamed over `PATH` (then the folder is fsynced), so a
//! crash leaves either the old or the new snapshot, never half of one. On
//! unix the file is created with mode 0600: it holds private keys.
//!
//! The format is JSON with a `"version"` field (now 1); bytes are standard
//! base64, JIDs their string form, the account's signed identity its
//! encoded protobuf. A file this build cannot read is
//! [`StoreError::Corrupt`], naming the path.
//!
//! Two processes on one file would each overwrite the other's sessions, so
//! an open store holds an exclusive lock on `PATH.lock` (released when the
//! store is dropped or the process dies); a second open fails.

mod snapshot;

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, OwnedMutexGuard};
use wa_core::signal::{PreKey, SignedPreKey};

use super::memory::{Inner, MemoryStore};
use super::{
    AppStateKey, AppStateStore, CachedDevices, DedupeStore, DeviceListStore, DeviceStore,
    IdentityStore, LidStore, MessageSecret, MessageSecretStore, PreKeyStore, PrivacyToken,
    PrivacyTokenStore, SenderKeyStore, SessionStore, SignedPreKeyStore, StoreError,
};
use crate::own_device::DeviceState;
use snapshot::{decode, encode};

/// Every store role in memory, persisted to one snapshot file after each
/// change.
///
/// When a write fails the call returns the error and memory may be ahead
/// of the file until the next successful write. `Debug` prints the path
/// and counts only.
pub struct FileStore {
    path: PathBuf,
    /// `PATH.lock`, locked while the store is open.
    _lock: fs::File,
    memory: MemoryStore,
    /// Held from a change until its snapshot is on disk, so snapshots are
    /// written in the order of the changes and one at a time.
    writing: Arc<Mutex<()>>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("memory", &self.memory)
            .finish()
    }
}

impl FileStore {
    /// Opens the store kept at `path`: reads the snapshot there, or starts
    /// empty when there is no file yet (it is written at the first change).
    ///
    /// Fails with [`StoreError::Backend`] when another store (in this or
    /// another process) has the file open.
    pub fn open(path: impl Into<PathBuf>) -> Result<FileStore, StoreError> {
        let path = path.into();
        let lock = lock_file(&path)?;
        let inner = match fs::read(&path) {
            Ok(bytes) => decode(&bytes)
                .map_err(|why| StoreError::Corrupt(format!("{}: {why}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Inner::default(),
            Err(e) => {
                return Err(StoreError::Corrupt(format!(
                    "{}: cannot read: {e}",
                    path.display()
                )));
            }
        };
        Ok(FileStore {
            path,
            _lock: lock,
            memory: MemoryStore::from_inner(inner),
            writing: Arc::new(Mutex::new(())),
        })
    }

    /// Where the snapshot is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a change: hold the guard until [`persist`](Self::persist).
    async fn begin(&self) -> OwnedMutexGuard<()> {
        self.writing.clone().lock_owned().await
    }

    /// Writes the current contents. The guard moves along with the write,
    /// so a caller that gives up waiting cannot start a second write to the
    /// same temporary file.
    async fn persist(&self, guard: OwnedMutexGuard<()>) -> Result<(), StoreError> {
        let bytes = self.memory.with_inner(encode)??;
        let path = self.path.clone();
        let write = move || {
            let result = write_atomic(&path, &bytes);
            drop(guard);
            result.map_err(|e| {
                StoreError::Backend(Box::new(io::Error::new(
                    e.kind(),
                    format!("writing {}: {e}", path.display()),
                )))
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(write).await.map_err(|e| {
                StoreError::Backend(Box::new(io::Error::other(format!(
                    "store writer task: {e}"
                ))))
            })?,
            Err(_) => write(),
        }
    }
}

/// `path` with `suffix` appended (`store.json.tmp`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes the exclusive lock of the store at `path`.
fn lock_file(path: &Path) -> Result<fs::File, StoreError> {
    let lock_path = sibling(path, ".lock");
    let backend = |why: String| {
        StoreError::Backend(Box::new(io::Error::other(format!(
            "{}: {why}",
            lock_path.display()
        ))))
    };
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let file = opts.open(&lock_path).map_err(|e| backend(e.to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(backend("the store is open elsewhere".to_owned())),
        Err(fs::TryLockError::Error(e)) => Err(backend(e.to_string())),
    }
}

/// Writes `bytes` to `path.tmp`, fsyncs it, renames it over `path` and
/// fsyncs the folder.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, ".tmp");
    {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut file = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            // A leftover temporary file keeps its old mode: set it again.
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[async_trait]
impl DeviceStore for FileStore {
    async fn load(&self) -> Result<Option<DeviceState>, StoreError> {
        self.memory.load().await
    }

    async fn save(&self, state: &DeviceState) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.save(state).await?;
        self.persist(guard).await
    }

    async fn delete(&self) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.delete().await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl IdentityStore for FileStore {
    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, StoreError> {
        self.memory.load_identity(address).await
    }

    async fn save_identities(&self, keys: &[(String, [u8; 32])]) -> Result<Vec<bool>, StoreError> {
        let guard = self.begin().await;
        let changed = self.memory.save_identities(keys).await?;
        self.persist(guard).await?;
        Ok(changed)
    }

    async fn delete_identity(&self, address: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.delete_identity(address).await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl PreKeyStore for FileStore {
    async fn store_prekeys(&self, keys: &[PreKey]) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_prekeys(keys).await?;
        self.persist(guard).await
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        self.memory.load_prekey(id).await
    }

    async fn remove_prekey(&self, id: u32) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.remove_prekey(id).await?;
        self.persist(guard).await
    }

    async fn prekey_count(&self) -> Result<usize, StoreError> {
        self.memory.prekey_count().await
    }
}

#[async_trait]
impl SignedPreKeyStore for FileStore {
    async fn store_signed_prekey(&self, key: &SignedPreKey) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_signed_prekey(key).await?;
        self.persist(guard).await
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        self.memory.load_signed_prekey(id).await
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.remove_signed_prekey(id).await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl SessionStore for FileStore {
    async fn load_sessions(
        &self,
        addresses: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.memory.load_sessions(addresses).await
    }

    async fn store_sessions(&self, records: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_sessions(records).await?;
        self.persist(guard).await
    }

    async fn delete_session(&self, address: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.delete_session(address).await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl SenderKeyStore for FileStore {
    async fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.memory.load_sender_key(group, sender).await
    }

    async fn store_sender_key(
        &self,
        group: &str,
        sender: &str,
        record: &[u8],
    ) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_sender_key(group, sender, record).await?;
        self.persist(guard).await
    }

    async fn delete_sender_key(&self, group: &str, sender: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.delete_sender_key(group, sender).await?;
        self.persist(guard).await
    }

    async fn sender_key_holders(&self, group: &str) -> Result<Vec<String>, StoreError> {
        self.memory.sender_key_holders(group).await
    }

    async fn add_sender_key_holders(
        &self,
        group: &str,
        devices: &[String],
    ) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.add_sender_key_holders(group, devices).await?;
        self.persist(guard).await
    }

    async fn clear_sender_key_holders(&self, group: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.clear_sender_key_holders(group).await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl DeviceListStore for FileStore {
    async fn load_devices(&self, user: &str) -> Result<Option<CachedDevices>, StoreError> {
        self.memory.load_devices(user).await
    }

    async fn store_devices(&self, user: &str, devices: &CachedDevices) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_devices(user, devices).await?;
        self.persist(guard).await
    }

    async fn delete_devices(&self, user: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.delete_devices(user).await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl LidStore for FileStore {
    async fn store_lid_mapping(&self, pn: &str, lid: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_lid_mapping(pn, lid).await?;
        self.persist(guard).await
    }

    async fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, StoreError> {
        self.memory.lid_for_pn(pn).await
    }

    async fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, StoreError> {
        self.memory.pn_for_lid(lid).await
    }
}

#[async_trait]
impl PrivacyTokenStore for FileStore {
    async fn store_privacy_token(
        &self,
        user: &str,
        token: &[u8],
        timestamp: u64,
    ) -> Result<bool, StoreError> {
        let guard = self.begin().await;
        let stored = self
            .memory
            .store_privacy_token(user, token, timestamp)
            .await?;
        if stored {
            self.persist(guard).await?;
        }
        Ok(stored)
    }

    async fn privacy_token(&self, user: &str) -> Result<Option<PrivacyToken>, StoreError> {
        self.memory.privacy_token(user).await
    }

    async fn token_issued_at(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.memory.token_issued_at(user).await
    }

    async fn set_token_issued_at(&self, user: &str, at: u64) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.set_token_issued_at(user, at).await?;
        self.persist(guard).await
    }

    async fn prune_privacy_tokens(&self, before: u64) -> Result<usize, StoreError> {
        let guard = self.begin().await;
        let pruned = self.memory.prune_privacy_tokens(before).await?;
        if pruned > 0 {
            self.persist(guard).await?;
        }
        Ok(pruned)
    }
}

#[async_trait]
impl MessageSecretStore for FileStore {
    async fn store_message_secrets(&self, secrets: &[MessageSecret]) -> Result<(), StoreError> {
        if secrets.is_empty() {
            return Ok(());
        }
        let guard = self.begin().await;
        self.memory.store_message_secrets(secrets).await?;
        self.persist(guard).await
    }

    async fn message_secret(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.memory.message_secret(chat, sender, id).await
    }

    async fn prune_message_secrets(&self, before: u64) -> Result<usize, StoreError> {
        let guard = self.begin().await;
        let pruned = self.memory.prune_message_secrets(before).await?;
        if pruned > 0 {
            self.persist(guard).await?;
        }
        Ok(pruned)
    }
}

#[async_trait]
impl DedupeStore for FileStore {
    async fn mark_message_seen(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        at: u64,
    ) -> Result<bool, StoreError> {
        let guard = self.begin().await;
        let new = self.memory.mark_message_seen(chat, sender, id, at).await?;
        if new {
            self.persist(guard).await?;
        }
        Ok(new)
    }

    async fn prune_seen(&self, before: u64) -> Result<usize, StoreError> {
        let guard = self.begin().await;
        let pruned = self.memory.prune_seen(before).await?;
        if pruned > 0 {
            self.persist(guard).await?;
        }
        Ok(pruned)
    }

    async fn keep_unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        plaintext: &[u8],
        at: u64,
    ) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory
            .keep_unacked(chat, sender, id, plaintext, at)
            .await?;
        self.persist(guard).await
    }

    async fn unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.memory.unacked(chat, sender, id).await
    }

    async fn drop_unacked(&self, chat: &str, sender: &str, id: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        if self.memory.unacked(chat, sender, id).await?.is_none() {
            return Ok(());
        }
        self.memory.drop_unacked(chat, sender, id).await?;
        self.persist(guard).await
    }
}

#[async_trait]
impl AppStateStore for FileStore {
    async fn store_app_state_keys(&self, keys: &[AppStateKey]) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_app_state_keys(keys).await?;
        self.persist(guard).await
    }

    async fn app_state_key(&self, id: &[u8]) -> Result<Option<AppStateKey>, StoreError> {
        self.memory.app_state_key(id).await
    }

    async fn latest_app_state_key(&self) -> Result<Option<AppStateKey>, StoreError> {
        self.memory.latest_app_state_key().await
    }

    async fn app_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.memory.app_state(name).await
    }

    async fn store_app_state(&self, name: &str, state: &[u8]) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.store_app_state(name, state).await?;
        self.persist(guard).await
    }

    async fn delete_app_state(&self, name: &str) -> Result<(), StoreError> {
        let guard = self.begin().await;
        self.memory.delete_app_state(name).await?;
        self.persist(guard).await
    }
}

#[cfg(test)]
mod tests;
