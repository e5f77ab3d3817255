//! The phone as an app-state device: it fetches a collection from the
//! server's storage through the same answer a companion's
//! `w:sync:app:state` fetch gets (patches from its version on, or a
//! snapshot), verifies everything with `wa_core::appstate`, and pushes its
//! own patches through the same path as a device push (so companions get
//! `server_sync`), rebasing on a conflict.
//!
//! A patch the phone cannot verify is handled as a careful client does:
//! it asks for a snapshot once; if that does not verify either, it skips
//! the patch (keeps its state, takes the version) and says so in the log.
//! A patch the phone spoils on purpose ([`PatchFault`]) takes a version but
//! changes nothing in the phone's own state, so the next patch verifies on
//! top of the state before the spoiled one.

use std::collections::BTreeMap;

use prost::Message as _;
use tracing::warn;
use wa_core::appstate::{
    Collection, CollectionState, Mutation, NewMutation, Operation, decode_patch, decode_snapshot,
    encode_patch, seal_snapshot,
};
use wa_core::binary::Node;
use wa_core::proto::{
    ExternalBlobReference, SyncdMutations, SyncdPatch, SyncdRecord, SyncdSnapshot,
};

use super::{PatchFault, SyncKey};
use crate::phone::device::PhoneError;
use crate::server::Shared;
use crate::server::appstate::{self as storage, PushOutcome};

/// How often a push is rebased on what landed before the phone gives up.
const REBASES: usize = 8;

/// One live record: as sealed (for a snapshot) and as decoded.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub(crate) record: SyncdRecord,
    pub(crate) mutation: Mutation,
}

/// One collection as the phone last synced it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Synced {
    pub(crate) state: CollectionState,
    /// Live records by index MAC.
    pub(crate) live: BTreeMap<Vec<u8>, Live>,
}

impl Synced {
    /// Takes the state a verified patch leads to, and its records.
    fn apply_patch(
        &mut self,
        state: CollectionState,
        records: Vec<Option<SyncdRecord>>,
        mutations: Vec<Mutation>,
    ) {
        for (record, mutation) in records.into_iter().zip(mutations) {
            match (mutation.operation, record) {
                (Operation::Set, Some(record)) => {
                    self.live
                        .insert(mutation.index_mac.clone(), Live { record, mutation });
                }
                _ => {
                    self.live.remove(&mutation.index_mac);
                }
            }
        }
        self.state = state;
    }

    /// Replaces everything with a verified snapshot.
    fn apply_snapshot(
        &mut self,
        state: CollectionState,
        records: Vec<SyncdRecord>,
        mutations: Vec<Mutation>,
    ) {
        self.live = records
            .into_iter()
            .zip(mutations)
            .map(|(record, mutation)| (mutation.index_mac.clone(), Live { record, mutation }))
            .collect();
        self.state = state;
    }
}

/// Who is syncing: the phone of `pn`, with every key it made.
#[derive(Clone, Copy)]
pub(crate) struct Device<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) pn: &'a str,
    pub(crate) keys: &'a [SyncKey],
}

impl Device<'_> {
    /// The key data of key `id`.
    fn key(&self, id: &[u8]) -> Option<[u8; 32]> {
        self.keys.iter().find(|k| k.id == id).map(|k| k.data)
    }
}

/// A fetch answer, read as a client reads it.
struct Fetched {
    /// The version the answer brings the device to.
    version: u64,
    more: bool,
    snapshot: Option<ExternalBlobReference>,
    patches: Vec<SyncdPatch>,
}

fn fetch(shared: &Shared, pn: &str, c: Collection, version: u64, snapshot: bool) -> Fetched {
    let answer: Node = storage::fetch(shared, pn, c.name(), version, snapshot);
    let patches = answer
        .child("patches")
        .map(|p| {
            p.children_by_tag("patch")
                .filter_map(|p| p.content_bytes())
                .filter_map(|bytes| SyncdPatch::decode(bytes).ok())
                .collect()
        })
        .unwrap_or_default();
    Fetched {
        version: answer
            .attr_str("version")
            .and_then(|v| v.parse().ok())
            .unwrap_or(version),
        more: answer.attr_str("has_more_patches") == Some("true"),
        snapshot: answer
            .child("snapshot")
            .and_then(Node::content_bytes)
            .and_then(|b| ExternalBlobReference::decode(b).ok()),
        patches,
    }
}

/// Downloads and verifies the snapshot `reference` points at.
fn take_snapshot(
    d: Device<'_>,
    synced: &mut Synced,
    c: Collection,
    reference: &ExternalBlobReference,
) -> Result<(), String> {
    let plain = storage::download(d.shared, reference).ok_or("snapshot blob is not there")?;
    let snapshot = SyncdSnapshot::decode(plain.as_slice()).map_err(|e| e.to_string())?;
    let (state, mutations) =
        decode_snapshot(c, &snapshot, &|id| d.key(id)).map_err(|e| e.to_string())?;
    synced.apply_snapshot(state, snapshot.records, mutations);
    Ok(())
}

/// Verifies one patch on top of `synced`.
fn take_patch(
    d: Device<'_>,
    synced: &mut Synced,
    c: Collection,
    patch: &SyncdPatch,
) -> Result<(), String> {
    let external = match &patch.external_mutations {
        Some(reference) => {
            let plain =
                storage::download(d.shared, reference).ok_or("mutations blob is not there")?;
            Some(SyncdMutations::decode(plain.as_slice()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let (state, mutations) =
        decode_patch(c, &synced.state, patch, external.as_ref(), &|id| d.key(id))
            .map_err(|e| e.to_string())?;
    let wire = external.map_or_else(|| patch.mutations.clone(), |e| e.mutations);
    let records = wire.into_iter().map(|m| m.record).collect();
    synced.apply_patch(state, records, mutations);
    Ok(())
}

/// Brings `synced` up to the server's version of `c`.
pub(crate) fn sync(d: Device<'_>, synced: &mut Synced, c: Collection) {
    let pn = d.pn;
    let mut tried_snapshot = false;
    'fetch: loop {
        let fetched = fetch(d.shared, pn, c, synced.state.version, false);
        if let Some(reference) = &fetched.snapshot
            && let Err(e) = take_snapshot(d, synced, c, reference)
        {
            warn!(%pn, collection = %c, error = %e, "phone could not verify an app-state snapshot");
            // The patches before it are gone: go on from the ones after.
            synced.state.version = fetched.version.saturating_sub(fetched.patches.len() as u64);
        }
        for patch in &fetched.patches {
            let Some(version) = version_of(patch) else {
                continue;
            };
            if version <= synced.state.version {
                continue;
            }
            let Err(e) = take_patch(d, synced, c, patch) else {
                continue;
            };
            if !tried_snapshot {
                tried_snapshot = true;
                let whole = fetch(d.shared, pn, c, synced.state.version, true);
                if let Some(reference) = &whole.snapshot
                    && take_snapshot(d, synced, c, reference).is_ok()
                {
                    continue 'fetch;
                }
            }
            warn!(%pn, collection = %c, version, error = %e, "phone skips an app-state patch it cannot verify");
            synced.state.version = version;
        }
        if !fetched.more {
            return;
        }
    }
}

fn version_of(patch: &SyncdPatch) -> Option<u64> {
    patch.version.as_ref().and_then(|v| v.version)
}

/// Encodes `mutations` as the next patch of `c` (spoiled by `fault`) under
/// `key`, pushes it as device 0 of `pn`, and rebases on a conflict. The
/// version it landed as.
pub(crate) fn push(
    d: Device<'_>,
    key: &SyncKey,
    synced: &mut Synced,
    c: Collection,
    mutations: &[NewMutation],
    fault: Option<PatchFault>,
) -> Result<u64, PhoneError> {
    let me = (d.pn.to_owned(), 0);
    for _ in 0..REBASES {
        let mut rng = rand::rng();
        let (patch, next) = match fault {
            None | Some(PatchFault::UnknownKeyId) => {
                encode_patch(c, &synced.state, &key.id, &key.data, mutations, &mut rng)
            }
            Some(PatchFault::WrongLtHash) => {
                let mut wrong = synced.state.clone();
                wrong.hash.add(&rand::random::<[u8; 32]>());
                encode_patch(c, &wrong, &key.id, &key.data, mutations, &mut rng)
            }
            Some(PatchFault::WrongValueMac) => {
                // Sealed as if under another key id: every value MAC (and so
                // the LTHash and the patch MAC) covers that id, the records
                // name the real one.
                let mut other = key.id.clone();
                other.push(0);
                let (mut patch, next) =
                    encode_patch(c, &synced.state, &other, &key.data, mutations, &mut rng);
                rename_key(&mut patch, &key.id);
                (patch, next)
            }
        };
        let decoded = match fault {
            None => Some(decode_patch(c, &synced.state, &patch, None, &|id| {
                d.key(id)
            })?),
            Some(_) => None,
        };
        let records = patch.mutations.iter().map(|m| m.record.clone()).collect();
        // Clients leave the version out; the server adds it.
        let mut wire = patch;
        wire.version = None;
        let base = synced.state.version;
        match storage::push(d.shared, &me, c.name(), base, wire.encode_to_vec()) {
            PushOutcome::Stored(version) => {
                match decoded {
                    Some((state, mutations)) => synced.apply_patch(state, records, mutations),
                    None => synced.state.version = version,
                }
                debug_assert_eq!(version, next.version);
                return Ok(version);
            }
            PushOutcome::Conflict(_) => sync(d, synced, c),
            PushOutcome::UnknownCollection => {
                return Err(PhoneError::Malformed("unknown app-state collection"));
            }
        }
    }
    Err(PhoneError::AppStateConflict(c.name()))
}

/// Names `id` as the key of `patch` and of all its records.
fn rename_key(patch: &mut SyncdPatch, id: &[u8]) {
    let records = patch.mutations.iter_mut().filter_map(|m| m.record.as_mut());
    for key_id in records
        .filter_map(|r| r.key_id.as_mut())
        .chain(patch.key_id.as_mut())
    {
        key_id.id = Some(id.to_vec());
    }
}

/// Seals the live records of `synced` (brought up to date first) into a
/// snapshot under `key`, uploads it and has the server hand it out instead
/// of the patches up to its version. The version it was made at.
pub(crate) fn compact(
    d: Device<'_>,
    key: &SyncKey,
    synced: &mut Synced,
    c: Collection,
) -> Result<u64, PhoneError> {
    for _ in 0..REBASES {
        sync(d, synced, c);
        let version = synced.state.version;
        let records = synced.live.values().map(|l| l.record.clone()).collect();
        let (snapshot, state) = seal_snapshot(c, version, &key.id, &key.data, records)?;
        if state.hash != synced.state.hash {
            return Err(wa_core::appstate::AppStateError::SnapshotMac.into());
        }
        let reference = storage::upload(d.shared, &snapshot.encode_to_vec()).ok_or(
            PhoneError::Malformed("media host refused the app-state snapshot"),
        )?;
        if storage::install_snapshot(d.shared, d.pn, c.name(), version, &reference) {
            return Ok(version);
        }
    }
    Err(PhoneError::AppStateConflict(c.name()))
}
