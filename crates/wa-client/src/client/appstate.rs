//! App-state sync on a running client (PROTOCOL.md section 6): fetching
//! and verifying the five collections, pushing our own changes, and the
//! sync keys our phone shares (see [`keys`]).
//!
//! The codec is [`wa_core::appstate`]; this module does the I/O around it.
//! A collection is synced from the version stored for it (a snapshot when
//! there is none), page by page while the server has more. Every patch and
//! snapshot is verified before anything of it is stored or reported; one
//! that fails verification is not applied, and the collection is fetched
//! again as a fresh snapshot once. Syncs and pushes run one at a time.

mod keys;

pub(crate) use keys::{KeyState, handle_key_share, take_key_share};

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message as _;
use tracing::{debug, info, instrument, warn};
use wa_core::appstate::{
    Action, AppStateError, Collection, CollectionState, Operation, decode_patch, decode_snapshot,
    encode_patch,
};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::{ExternalBlobReference, SyncdMutations, SyncdPatch, SyncdSnapshot};

use super::event::{AppStateChange, ClientEvent};
use super::{Client, Shared};
use crate::error::Error;
use crate::media::{MediaError, MediaKind};
use crate::store::{AppStateKey, StoreError};

/// How often a push is tried again after a 409 (each time on top of the
/// patches that won).
const MAX_PUSH_ATTEMPTS: usize = 3;

/// The client's app-state side.
#[derive(Debug, Default)]
pub(crate) struct AppStateSide {
    /// Held by the sync or push under way.
    busy: tokio::sync::Mutex<()>,
    pub(crate) keys: KeyState,
}

/// After each login: if our phone shared keys already, sync all five
/// collections (only what is new since the stored versions is fetched).
pub(crate) async fn after_login(shared: &Arc<Shared>) {
    match shared.store.latest_app_state_key().await {
        Ok(Some(_)) => spawn_sync(shared, Collection::ALL.to_vec()),
        Ok(None) => debug!("no app-state sync key yet; waiting for our phone's share"),
        Err(e) => warn!(error = %e, "could not read app-state keys"),
    }
}

/// `<notification type="server_sync">`: sync the collections it names
/// (unless we are at that version already).
pub(crate) async fn server_sync(shared: &Arc<Shared>, node: &Node) {
    let mut due = Vec::new();
    for c in node.children_by_tag("collection") {
        let Some(collection) = c.attr_str("name").and_then(Collection::from_name) else {
            continue;
        };
        let announced = c.attr_str("version").and_then(|v| v.parse::<u64>().ok());
        let have = stored_state(shared, collection)
            .await
            .ok()
            .flatten()
            .map(|s| s.version);
        if let (Some(a), Some(h)) = (announced, have)
            && h >= a
        {
            continue;
        }
        if !due.contains(&collection) {
            due.push(collection);
        }
    }
    spawn_sync(shared, due);
}

/// Why an app-state sync or push failed.
#[derive(Debug, thiserror::Error)]
pub enum AppStateSyncError {
    /// The connection failed, or is closed.
    #[error("connection: {0}")]
    Connection(#[from] Error),
    /// The server answered a collection with an error.
    #[error("server refused {collection}: error {code}")]
    Refused {
        /// The collection.
        collection: Collection,
        /// The error code.
        code: String,
    },
    /// Another device kept winning: every push attempt was answered 409.
    #[error("{0}: conflicting changes kept arriving; not pushed")]
    Conflict(Collection),
    /// A snapshot or external mutations blob could not be downloaded.
    #[error("downloading app state: {0}")]
    Media(#[from] MediaError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The collection did not verify, not even as a fresh snapshot; the
    /// stored state was kept.
    #[error("{collection} does not verify: {error}")]
    Invalid {
        /// The collection.
        collection: Collection,
        /// What failed.
        error: AppStateError,
    },
    /// No sync key has arrived from our phone yet.
    #[error("no app-state sync key yet")]
    NoKey,
    /// The action has nothing to send ([`Action::Other`]).
    #[error("this action cannot be sent")]
    NotSendable,
    /// The server's answer is not shaped as expected.
    #[error("malformed app-state answer: {0}")]
    Malformed(&'static str),
}

impl From<crate::crypto::CryptoError> for AppStateSyncError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        AppStateSyncError::Malformed(match e {
            crate::crypto::CryptoError::Store(s) => return AppStateSyncError::Store(s),
            _ => "encryption failed",
        })
    }
}

impl Client {
    /// Brings `collections` up to date: fetches what is new since the
    /// stored version (or a snapshot), verifies it, stores it and reports
    /// it as [`ClientEvent::AppState`]. A collection that needs a key our
    /// phone has not shared yet waits for it (the key is requested) and is
    /// synced when it arrives; that is not an error.
    pub async fn sync_app_state(
        &self,
        collections: &[Collection],
    ) -> Result<(), AppStateSyncError> {
        sync(&self.shared, collections).await
    }

    /// Tells our other devices about `action` (archive, pin, mute, mark
    /// read, star, contact): encrypts it with the newest sync key as the
    /// next patch of its collection and pushes it. When another device
    /// pushed first (409), its patches are applied (and reported) and ours
    /// is made again on top, a few times at most.
    pub async fn send_app_state(&self, action: Action) -> Result<(), AppStateSyncError> {
        send(&self.shared, action).await
    }

    /// Archives or unarchives `chat` on every device.
    pub async fn archive_chat(&self, chat: &Jid, archived: bool) -> Result<(), AppStateSyncError> {
        self.send_app_state(Action::Archive {
            chat: chat.to_non_ad(),
            archived,
        })
        .await
    }

    /// Pins or unpins `chat` on every device.
    pub async fn pin_chat(&self, chat: &Jid, pinned: bool) -> Result<(), AppStateSyncError> {
        self.send_app_state(Action::Pin {
            chat: chat.to_non_ad(),
            pinned,
        })
        .await
    }

    /// Mutes `chat` until `until_ms` (ms since the epoch; `None`: forever),
    /// or unmutes it (`muted` false).
    pub async fn mute_chat(
        &self,
        chat: &Jid,
        muted: bool,
        until_ms: Option<i64>,
    ) -> Result<(), AppStateSyncError> {
        self.send_app_state(Action::Mute {
            chat: chat.to_non_ad(),
            muted,
            until_ms: until_ms.filter(|_| muted),
        })
        .await
    }

    /// Marks `chat` read or unread on every device.
    pub async fn mark_chat_read(&self, chat: &Jid, read: bool) -> Result<(), AppStateSyncError> {
        self.send_app_state(Action::MarkRead {
            chat: chat.to_non_ad(),
            read,
        })
        .await
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Syncs `collections`, one at a time.
pub(crate) async fn sync(
    shared: &Arc<Shared>,
    collections: &[Collection],
) -> Result<(), AppStateSyncError> {
    let _one_at_a_time = shared.app_state.busy.lock().await;
    let mut first_error = None;
    for &collection in collections {
        if let Err(e) = sync_locked(shared, collection).await {
            warn!(%collection, error = %e, "app-state sync failed");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs [`sync`] in a task of its own (from the connection task, which
/// must not wait for IQ answers and downloads).
pub(crate) fn spawn_sync(shared: &Arc<Shared>, collections: Vec<Collection>) {
    if collections.is_empty() {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let _ = sync(&shared, &collections).await;
    });
}

/// The stored state of `collection`, if any; one that cannot be read is
/// dropped (the next fetch asks for a snapshot).
async fn stored_state(
    shared: &Shared,
    collection: Collection,
) -> Result<Option<CollectionState>, AppStateSyncError> {
    let Some(bytes) = shared.store.app_state(collection.name()).await? else {
        return Ok(None);
    };
    match CollectionState::from_bytes(&bytes) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            warn!(%collection, error = %e, "stored app state unreadable; fetching a snapshot");
            Ok(None)
        }
    }
}

/// What became of one `<collection>` answer.
struct Applied {
    /// The state after every patch that verified.
    state: CollectionState,
    changes: Vec<AppStateChange>,
    has_more: bool,
    /// Why the rest of the answer was not applied.
    stop: Option<Stop>,
}

enum Stop {
    /// These keys are needed and unknown.
    MissingKeys(Vec<Vec<u8>>),
    /// Verification failed.
    Invalid(AppStateError),
}

#[instrument(skip_all, fields(%collection))]
async fn sync_locked(
    shared: &Arc<Shared>,
    collection: Collection,
) -> Result<(), AppStateSyncError> {
    let stored = stored_state(shared, collection).await?;
    let mut snapshot = stored.is_none();
    let mut state = stored.unwrap_or_default();
    let mut retried = false;
    loop {
        let answer = fetch(shared, collection, state.version, snapshot).await?;
        let applied = apply_answer(shared, collection, &state, &answer, snapshot).await?;
        let has_more = applied.has_more;
        let stop = commit(shared, collection, &mut state, applied).await?;
        match stop {
            None if has_more => snapshot = false,
            None => {
                shared.app_state.keys.resolved(collection);
                return Ok(());
            }
            Some(Stop::MissingKeys(ids)) => {
                keys::request(shared, &ids).await;
                if retried {
                    info!("app state waits for a sync key from our phone");
                    shared.app_state.keys.wait(collection);
                    return Ok(());
                }
                // A snapshot may not need the missing key.
                (retried, snapshot) = (true, true);
            }
            Some(Stop::Invalid(error)) => {
                warn!(
                    version = state.version,
                    %error,
                    "app-state data failed verification; not applied"
                );
                if retried {
                    shared
                        .emit(ClientEvent::AppStateInvalid {
                            collection,
                            reason: error.to_string(),
                        })
                        .await;
                    return Err(AppStateSyncError::Invalid { collection, error });
                }
                info!("fetching a fresh snapshot");
                (retried, snapshot) = (true, true);
            }
        }
    }
}

/// Stores what verified and reports it; returns why the rest was not.
async fn commit(
    shared: &Shared,
    collection: Collection,
    state: &mut CollectionState,
    applied: Applied,
) -> Result<Option<Stop>, AppStateSyncError> {
    let fetched_nothing_new = applied.state == *state && applied.changes.is_empty();
    let first = shared.store.app_state(collection.name()).await?.is_none();
    if !fetched_nothing_new || (first && applied.stop.is_none()) {
        shared
            .store
            .store_app_state(collection.name(), &applied.state.to_bytes())
            .await?;
        debug!(version = applied.state.version, "app state stored");
    }
    *state = applied.state;
    if !applied.changes.is_empty() {
        super::presence::learn_push_name(shared, &applied.changes).await;
        super::tokens::learn_salt(shared, &applied.changes).await;
        shared.emit(ClientEvent::AppState(applied.changes)).await;
    }
    Ok(applied.stop)
}

/// `<iq type="set" xmlns="w:sync:app:state"><sync>` with one collection.
fn sync_iq(collection: Node) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "set")
        .attr("xmlns", "w:sync:app:state")
        .children(vec![Node::new("sync").children(vec![collection])])
}

/// The `<collection>` of an answer, or the server's error for it.
fn answer_collection(answer: Node, collection: Collection) -> Result<Node, AppStateSyncError> {
    let node = answer
        .child("sync")
        .and_then(|s| {
            s.children_by_tag("collection")
                .find(|c| c.attr_str("name") == Some(collection.name()))
        })
        .cloned()
        .ok_or(AppStateSyncError::Malformed("no collection in the answer"))?;
    Ok(node)
}

/// The error code of a `<collection type="error">`.
fn error_code(node: &Node) -> Option<String> {
    (node.attr_str("type") == Some("error")).then(|| {
        node.child("error")
            .and_then(|e| e.attr_str("code"))
            .unwrap_or("unknown")
            .to_owned()
    })
}

async fn fetch(
    shared: &Shared,
    collection: Collection,
    version: u64,
    snapshot: bool,
) -> Result<Node, AppStateSyncError> {
    let mut c = Node::new("collection").attr("name", collection.name());
    if !snapshot {
        c = c.attr("version", version.to_string());
    }
    c = c.attr("return_snapshot", if snapshot { "true" } else { "false" });
    let conn = shared.connection()?;
    let node = answer_collection(conn.iq(sync_iq(c)).await?, collection)?;
    if let Some(code) = error_code(&node) {
        return Err(AppStateSyncError::Refused { collection, code });
    }
    Ok(node)
}

/// Downloads and decodes an app-state blob.
async fn download<T: prost::Message + Default>(
    shared: &Shared,
    reference: &ExternalBlobReference,
) -> Result<T, AppStateSyncError> {
    let (Some(path), Some(key)) = (
        reference.direct_path.as_deref(),
        reference.media_key.as_deref(),
    ) else {
        return Err(AppStateSyncError::Malformed(
            "blob reference without path or key",
        ));
    };
    let plain = shared
        .download(
            MediaKind::AppState,
            (path, key),
            (
                reference.file_sha256.as_deref(),
                reference.file_enc_sha256.as_deref(),
            ),
            crate::media::MAX_DOWNLOAD,
        )
        .await?;
    T::decode(plain.as_slice()).map_err(|_| AppStateSyncError::Malformed("undecodable blob"))
}

fn key_id(k: Option<&wa_core::proto::SyncdKeyId>) -> Option<Vec<u8>> {
    k.and_then(|k| k.id.clone()).filter(|id| !id.is_empty())
}

/// The stored keys with these ids; the ids not stored are returned apart.
async fn load_keys(
    shared: &Shared,
    ids: Vec<Vec<u8>>,
) -> Result<(HashMap<Vec<u8>, AppStateKey>, Vec<Vec<u8>>), AppStateSyncError> {
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for id in ids {
        if found.contains_key(&id) || missing.contains(&id) {
            continue;
        }
        match shared.store.app_state_key(&id).await? {
            Some(k) => {
                found.insert(id, k);
            }
            None => missing.push(id),
        }
    }
    Ok((found, missing))
}

/// Applies a fetch (or 409) answer on top of `state`: the snapshot if
/// there is one (then `state` is replaced), then each patch in order,
/// stopping at the first that cannot be verified.
async fn apply_answer(
    shared: &Shared,
    collection: Collection,
    state: &CollectionState,
    node: &Node,
    full_sync: bool,
) -> Result<Applied, AppStateSyncError> {
    let mut applied = Applied {
        state: state.clone(),
        changes: Vec::new(),
        has_more: node.attr_str("has_more_patches") == Some("true"),
        stop: None,
    };
    if let Some(bytes) = node.child("snapshot").and_then(Node::content_bytes) {
        apply_snapshot(shared, collection, &mut applied, bytes).await?;
        if applied.stop.is_some() {
            return Ok(applied);
        }
    }
    let patches = node
        .child("patches")
        .map(|p| p.children_by_tag("patch").cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    // A patch that cannot be verified is passed over, not applied: if a
    // later one verifies on the state before it (its LTHash and MACs say
    // the sender's state is ours), the bad one changed nothing that
    // counts, and the sync goes on from there.
    let mut failed: Option<(u64, Stop)> = None;
    for p in patches {
        let Some(bytes) = p.content_bytes() else {
            continue;
        };
        let patch = SyncdPatch::decode(bytes)
            .map_err(|_| AppStateSyncError::Malformed("undecodable patch"))?;
        let version = patch.version.as_ref().and_then(|v| v.version).unwrap_or(0);
        if version <= applied.state.version {
            continue;
        }
        let external: Option<SyncdMutations> = match &patch.external_mutations {
            Some(reference) => Some(download(shared, reference).await?),
            None => None,
        };
        let mut ids: Vec<Vec<u8>> = key_id(patch.key_id.as_ref()).into_iter().collect();
        for m in external.as_ref().map_or(&patch.mutations, |e| &e.mutations) {
            ids.extend(m.record.as_ref().and_then(|r| key_id(r.key_id.as_ref())));
        }
        let (keys, missing) = load_keys(shared, ids).await?;
        if !missing.is_empty() {
            failed.get_or_insert((version, Stop::MissingKeys(missing)));
            continue;
        }
        let lookup = |id: &[u8]| keys.get(id).map(|k| k.data);
        match decode_patch(
            collection,
            &applied.state,
            &patch,
            external.as_ref(),
            &lookup,
        ) {
            Ok((next, mutations)) => {
                if let Some((skipped, _)) = failed.take() {
                    warn!(
                        skipped,
                        version,
                        "an app-state patch that did not verify was passed over: \
                         the next one verifies without it"
                    );
                }
                applied
                    .changes
                    .extend(changes(collection, next.version, &mutations, full_sync));
                applied.state = next;
            }
            Err(e) => {
                failed.get_or_insert((version, Stop::Invalid(e)));
            }
        }
    }
    applied.stop = failed.map(|(_, stop)| stop);
    if applied.stop.is_none()
        && let Some(v) = node.attr_str("version").and_then(|v| v.parse::<u64>().ok())
        && v > applied.state.version
    {
        // The server says the collection is further along than the patches
        // we got; only a snapshot can tell what changed.
        applied.stop = Some(Stop::Invalid(AppStateError::MissingField(
            "patches up to version",
        )));
    }
    Ok(applied)
}

/// Applies the snapshot an answer refers to (`bytes`, its blob reference):
/// `applied` then starts from it. When its keys are missing or it does not
/// verify, `applied` stays as it was and `stop` says why.
async fn apply_snapshot(
    shared: &Shared,
    collection: Collection,
    applied: &mut Applied,
    bytes: &[u8],
) -> Result<(), AppStateSyncError> {
    let reference = ExternalBlobReference::decode(bytes)
        .map_err(|_| AppStateSyncError::Malformed("snapshot reference"))?;
    let snapshot: SyncdSnapshot = download(shared, &reference).await?;
    let ids: Vec<Vec<u8>> = key_id(snapshot.key_id.as_ref())
        .into_iter()
        .chain(
            snapshot
                .records
                .iter()
                .filter_map(|r| key_id(r.key_id.as_ref())),
        )
        .collect();
    let (keys, missing) = load_keys(shared, ids).await?;
    if !missing.is_empty() {
        applied.stop = Some(Stop::MissingKeys(missing));
        return Ok(());
    }
    let lookup = |id: &[u8]| keys.get(id).map(|k| k.data);
    match decode_snapshot(collection, &snapshot, &lookup) {
        Ok((next, mutations)) => {
            applied
                .changes
                .extend(changes(collection, next.version, &mutations, true));
            applied.state = next;
        }
        Err(e) => applied.stop = Some(Stop::Invalid(e)),
    }
    Ok(())
}

/// The typed changes of verified mutations (REMOVEs have no action).
fn changes(
    collection: Collection,
    version: u64,
    mutations: &[wa_core::appstate::Mutation],
    full_sync: bool,
) -> Vec<AppStateChange> {
    mutations
        .iter()
        .filter(|m| m.operation == Operation::Set)
        .filter_map(|m| {
            Some(AppStateChange {
                collection,
                version,
                action: Action::from_mutation(m)?,
                timestamp_ms: m.value.as_ref().and_then(|v| v.timestamp),
                full_sync,
            })
        })
        .collect()
}

#[instrument(skip_all)]
async fn send(shared: &Arc<Shared>, action: Action) -> Result<(), AppStateSyncError> {
    let (collection, mutation) = action
        .to_new_mutation(now_ms())
        .ok_or(AppStateSyncError::NotSendable)?;
    let key = shared
        .store
        .latest_app_state_key()
        .await?
        .ok_or(AppStateSyncError::NoKey)?;
    let _one_at_a_time = shared.app_state.busy.lock().await;
    let mut state = match stored_state(shared, collection).await? {
        Some(s) => s,
        None => {
            sync_locked(shared, collection).await?;
            stored_state(shared, collection)
                .await?
                .ok_or(AppStateSyncError::NoKey)?
        }
    };
    for _ in 0..MAX_PUSH_ATTEMPTS {
        let (patch, next) = encode_patch(
            collection,
            &state,
            &key.id,
            &key.data,
            std::slice::from_ref(&mutation),
            &mut rand::rng(),
        );
        let c = Node::new("collection")
            .attr("name", collection.name())
            .attr("version", state.version.to_string())
            .attr("return_snapshot", "false")
            .children(vec![Node::new("patch").bytes(patch.encode_to_vec())]);
        let conn = shared.connection()?;
        let node = answer_collection(conn.iq(sync_iq(c)).await?, collection)?;
        match error_code(&node).as_deref() {
            None => {
                shared
                    .store
                    .store_app_state(collection.name(), &next.to_bytes())
                    .await?;
                debug!(%collection, version = next.version, "app-state patch pushed");
                // Then the collection is fetched, as whatsmeow does after
                // a push: patches other devices made meanwhile are applied
                // and reported. The push itself has landed either way.
                if let Err(e) = sync_locked(shared, collection).await {
                    warn!(%collection, error = %e, "fetch after a push failed");
                }
                return Ok(());
            }
            Some("409") => {
                info!(%collection, "another device pushed first; applying its patches");
                let applied = apply_answer(shared, collection, &state, &node, false).await?;
                let has_more = applied.has_more;
                if commit(shared, collection, &mut state, applied)
                    .await?
                    .is_some()
                    || has_more
                {
                    sync_locked(shared, collection).await?;
                    state = stored_state(shared, collection)
                        .await?
                        .ok_or(AppStateSyncError::Malformed("state lost"))?;
                }
            }
            Some(code) => {
                return Err(AppStateSyncError::Refused {
                    collection,
                    code: code.to_owned(),
                });
            }
        }
    }
    Err(AppStateSyncError::Conflict(collection))
}
