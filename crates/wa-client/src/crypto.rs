//! Signal operations over a [`Store`]: each operation loads the records it
//! needs into a scratch in-memory store, runs the library there, and writes
//! the changed records back before its result is used. So a ciphertext never
//! leaves before the session it came from is stored, and records are waived
//! from the library's counter lease (see `wa_core::signal`). Receiving is
//! the exception: an [`Opening`] writes only once the caller has kept what
//! it read.
//!
//! Pairwise encryption for many devices runs on blocking threads, one chunk
//! per core: a first message to a large group means thousands of X3DH
//! agreements. One lock serializes operations on the store, so a send and a
//! receive never race on the same session record.

use std::sync::Arc;

use tokio::sync::Mutex;
use wa_core::jid::Jid;
use wa_core::keys::KeyPair;
use wa_core::signal::libsignal::{
    self as lib, SenderKeyRecord, SenderKeyStore as _, SessionRecord, SessionStore as _,
};
use wa_core::signal::{self, EncType, PreKeyBundle, SignalAddress, SignalError};

use crate::store::{Store, StoreError};

mod opening;
pub(crate) use opening::Opening;

/// Why a Signal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The Signal library refused (bad MAC, unknown prekey, duplicate, ...).
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker thread failed.
    #[error("signal worker: {0}")]
    Worker(String),
}

impl From<lib::SignalProtocolError> for CryptoError {
    fn from(e: lib::SignalProtocolError) -> Self {
        CryptoError::Signal(e.into())
    }
}

/// One device to encrypt for.
#[derive(Debug)]
pub(crate) struct PairwiseJob {
    /// The device (`user:device@server`).
    pub(crate) device: Jid,
    /// A bundle to build a fresh session from first (no session yet, or a
    /// retry asked for a new one).
    pub(crate) bundle: Option<PreKeyBundle>,
    /// Padded plaintext.
    pub(crate) plaintext: Arc<Vec<u8>>,
}

/// The ciphertext for one device, or why there is none.
#[derive(Debug)]
pub(crate) struct PairwiseOut {
    pub(crate) device: Jid,
    pub(crate) result: Result<(EncType, Vec<u8>), SignalError>,
}

/// A decrypted pairwise message.
#[derive(Debug)]
pub(crate) struct Decrypted {
    pub(crate) plaintext: Vec<u8>,
    /// The sender's identity key differs from the one we knew.
    pub(crate) identity_changed: bool,
}

/// Signal state of one device, kept in a [`Store`].
#[derive(Clone)]
pub(crate) struct Crypto {
    store: Arc<dyn Store>,
    identity: KeyPair,
    registration_id: u32,
    lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

fn address(jid: &Jid) -> Result<SignalAddress, SignalError> {
    SignalAddress::from_jid(jid)
}

fn scratch(identity: &KeyPair, registration_id: u32) -> Result<signal::MemoryStore, SignalError> {
    signal::MemoryStore::new(identity, registration_id)
}

fn load_record(bytes: &[u8]) -> Result<SessionRecord, SignalError> {
    let mut record = SessionRecord::deserialize(bytes)?;
    record.waive_counter_lease();
    Ok(record)
}

impl Crypto {
    pub(crate) fn new(store: Arc<dyn Store>, identity: KeyPair, registration_id: u32) -> Crypto {
        Crypto {
            store,
            identity,
            registration_id,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// Which of `devices` have a session.
    pub(crate) async fn have_sessions(&self, devices: &[Jid]) -> Result<Vec<bool>, CryptoError> {
        let names = devices
            .iter()
            .map(|d| Ok(address(d)?.to_string()))
            .collect::<Result<Vec<_>, SignalError>>()?;
        Ok(self
            .store
            .load_sessions(&names)
            .await?
            .iter()
            .map(Option::is_some)
            .collect())
    }

    /// The identity key device `jid` last presented (from a session or a
    /// bundle).
    pub(crate) async fn identity_of(&self, jid: &Jid) -> Result<Option<[u8; 32]>, CryptoError> {
        Ok(self.store.load_identity(&address(jid)?.to_string()).await?)
    }

    /// Forgets the session with `jid` (a retry asked for a new one).
    pub(crate) async fn delete_session(&self, jid: &Jid) -> Result<(), CryptoError> {
        let _guard = self.lock.lock().await;
        Ok(self
            .store
            .delete_session(&address(jid)?.to_string())
            .await?)
    }

    /// Encrypts each job's plaintext for its device, building sessions from
    /// bundles first, in parallel. Sessions (and the identities of new
    /// ones) are stored before this returns; devices that fail are reported
    /// in their [`PairwiseOut`], the others still get their ciphertext.
    /// Returns the outputs and the devices whose identity key changed.
    pub(crate) async fn encrypt_pairwise(
        &self,
        jobs: Vec<PairwiseJob>,
    ) -> Result<(Vec<PairwiseOut>, Vec<Jid>), CryptoError> {
        if jobs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let _guard = self.lock.lock().await;
        let mut names = Vec::with_capacity(jobs.len());
        let mut bad = Vec::new();
        let mut good = Vec::with_capacity(jobs.len());
        for job in jobs {
            match address(&job.device) {
                Ok(a) => {
                    names.push(a.to_string());
                    good.push((job, a));
                }
                Err(e) => bad.push(PairwiseOut {
                    device: job.device,
                    result: Err(e),
                }),
            }
        }
        let records = self.store.load_sessions(&names).await?;
        let mut work: Vec<Work> = good
            .into_iter()
            .zip(records)
            .map(|((job, address), record)| Work {
                job,
                address,
                record,
            })
            .collect();

        let workers = std::thread::available_parallelism()
            .map(std::num::NonZero::get)
            .unwrap_or(1)
            .clamp(1, 8);
        // Small sends stay on this thread: a worker costs more than one
        // ratchet step.
        let chunk = if work.len() < 16 {
            work.len()
        } else {
            work.len().div_ceil(workers)
        };
        let mut handles = Vec::new();
        while !work.is_empty() {
            let rest = work.split_off(chunk.min(work.len()));
            let part = std::mem::replace(&mut work, rest);
            let identity = self.identity.clone();
            let registration_id = self.registration_id;
            handles.push(tokio::task::spawn_blocking(move || {
                encrypt_chunk(part, &identity, registration_id)
            }));
        }
        let mut outs = bad;
        let mut sessions = Vec::new();
        let mut identities = Vec::new();
        for h in handles {
            let done = h.await.map_err(|e| CryptoError::Worker(e.to_string()))??;
            for d in done {
                if let Some(record) = d.record {
                    sessions.push((d.name.clone(), record));
                }
                if let Some(key) = d.identity {
                    identities.push((d.name, key, d.out.device.clone()));
                }
                outs.push(d.out);
            }
        }
        let batch: Vec<(String, [u8; 32])> =
            identities.iter().map(|(n, k, _)| (n.clone(), *k)).collect();
        let changed = self.store.save_identities(&batch).await?;
        self.store.store_sessions(&sessions).await?;
        let changed = identities
            .into_iter()
            .zip(changed)
            .filter(|(_, c)| *c)
            .map(|((_, _, jid), _)| jid)
            .collect();
        Ok((outs, changed))
    }

    /// Our sender key for `group` (created if there is none): the
    /// distribution message to send members that lack it, and `plaintext`
    /// encrypted as an `skmsg`.
    pub(crate) async fn group_encrypt(
        &self,
        group: &Jid,
        own: &Jid,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let _guard = self.lock.lock().await;
        let own = address(own)?;
        let gname = group.to_string();
        let sender = own.to_string();
        let mut store = scratch(&self.identity, self.registration_id)?;
        self.load_sender_key(&mut store, group, &own).await?;
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let skdm =
            signal::create_sender_key_distribution(&mut store, group, &own, &mut rng).await?;
        let skmsg = signal::group_encrypt(&mut store, group, &own, plaintext, &mut rng).await?;
        self.save_sender_key(&store, group, &own, &gname, &sender)
            .await?;
        Ok((skdm, skmsg))
    }

    /// The distribution message of our current sender key for `group`
    /// (created if there is none).
    pub(crate) async fn sender_key_distribution(
        &self,
        group: &Jid,
        own: &Jid,
    ) -> Result<Vec<u8>, CryptoError> {
        let _guard = self.lock.lock().await;
        let own = address(own)?;
        let mut store = scratch(&self.identity, self.registration_id)?;
        self.load_sender_key(&mut store, group, &own).await?;
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let skdm =
            signal::create_sender_key_distribution(&mut store, group, &own, &mut rng).await?;
        self.save_sender_key(&store, group, &own, &group.to_string(), &own.to_string())
            .await?;
        Ok(skdm)
    }

    /// Drops our sender key for `group` and who holds it: the next message
    /// starts a new key (a member left and must not read on).
    pub(crate) async fn rotate_sender_key(
        &self,
        group: &Jid,
        own: &Jid,
    ) -> Result<(), CryptoError> {
        let _guard = self.lock.lock().await;
        let own = address(own)?;
        let g = group.to_string();
        self.store.delete_sender_key(&g, &own.to_string()).await?;
        self.store.clear_sender_key_holders(&g).await?;
        Ok(())
    }

    async fn load_sender_key(
        &self,
        store: &mut signal::MemoryStore,
        group: &Jid,
        sender: &SignalAddress,
    ) -> Result<(), CryptoError> {
        if let Some(bytes) = self
            .store
            .load_sender_key(&group.to_string(), &sender.to_string())
            .await?
        {
            put_sender_key(store, group, sender, &bytes).await?;
        }
        Ok(())
    }

    async fn save_sender_key(
        &self,
        store: &signal::MemoryStore,
        group: &Jid,
        sender: &SignalAddress,
        gname: &str,
        sname: &str,
    ) -> Result<(), CryptoError> {
        let name = signal::sender_key_name(group, sender);
        if let Some(record) = store.sender_keys.load_sender_key(&name).await? {
            self.store
                .store_sender_key(gname, sname, &record.serialize()?)
                .await?;
        }
        Ok(())
    }
}

/// Puts a stored sender-key record into a scratch store, waived from the
/// counter lease.
async fn put_sender_key(
    scratch: &mut signal::MemoryStore,
    group: &Jid,
    sender: &SignalAddress,
    bytes: &[u8],
) -> Result<(), CryptoError> {
    let mut record = SenderKeyRecord::deserialize(bytes)?;
    record.waive_counter_lease()?;
    let name = signal::sender_key_name(group, sender);
    scratch.sender_keys.store_sender_key(&name, record).await?;
    Ok(())
}

fn identity_key(raw: &[u8; 32]) -> Result<lib::IdentityKey, SignalError> {
    let mut prefixed = [0u8; 33];
    prefixed[0] = signal::KEY_TYPE_DJB;
    prefixed[1..].copy_from_slice(raw);
    Ok(lib::IdentityKey::decode(&prefixed)?)
}

struct Work {
    job: PairwiseJob,
    address: SignalAddress,
    record: Option<Vec<u8>>,
}

struct Done {
    name: String,
    out: PairwiseOut,
    /// The new serialized session, when the encryption succeeded.
    record: Option<Vec<u8>>,
    /// The identity of a session built from a bundle.
    identity: Option<[u8; 32]>,
}

/// Runs on a blocking thread: the library's futures need no runtime.
fn encrypt_chunk(
    work: Vec<Work>,
    identity: &KeyPair,
    registration_id: u32,
) -> Result<Vec<Done>, CryptoError> {
    let mut store = scratch(identity, registration_id)?;
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let handle = tokio::runtime::Handle::current();
    let mut out = Vec::with_capacity(work.len());
    for w in work {
        let name = w.address.to_string();
        let result = handle.block_on(encrypt_one(&mut store, &w, &mut rng));
        let (result, record, identity) = match result {
            Ok((ct, record, identity)) => (Ok(ct), Some(record), identity),
            Err(e) => (Err(e), None, None),
        };
        out.push(Done {
            name,
            out: PairwiseOut {
                device: w.job.device,
                result,
            },
            record,
            identity,
        });
    }
    Ok(out)
}

type EncryptedOne = ((EncType, Vec<u8>), Vec<u8>, Option<[u8; 32]>);

async fn encrypt_one(
    store: &mut signal::MemoryStore,
    w: &Work,
    rng: &mut rand::rngs::StdRng,
) -> Result<EncryptedOne, SignalError> {
    let remote = w.address.protocol_address();
    if let Some(bytes) = &w.record {
        store
            .sessions
            .store_session(remote, load_record(bytes)?)
            .await?;
    }
    let mut identity = None;
    if let Some(bundle) = &w.job.bundle {
        signal::process_prekey_bundle(store, &w.address, bundle, rng).await?;
        identity = store.identity.identity_of(&w.address);
    }
    let ct = signal::encrypt(store, &w.address, &w.job.plaintext).await?;
    let record = store
        .sessions
        .load_session(remote)
        .await?
        .ok_or(SignalError::NoSession)?
        .serialize()?;
    store.sessions.remove(&w.address);
    Ok((ct, record, identity))
}
