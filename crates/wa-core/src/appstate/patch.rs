//! Decoding and encoding patches and snapshots.
//!
//! Decoding checks, in order and per mutation: the record's fields, its key,
//! the value MAC (in constant time), the decryption, the SyncActionData
//! encoding and the index MAC; then, for a patch, the patch MAC and last the
//! snapshot MAC against the LTHash the patch leads to. So a corrupted record
//! shows as its own error, a tampered patch as [`AppStateError::PatchMac`],
//! and a well-formed patch applied to the wrong state (a missed or replayed
//! patch) as [`AppStateError::SnapshotMac`].

use std::collections::BTreeMap;

use prost::Message as _;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::crypto::{MAC_LEN, MutationKeys, macs_equal};
use super::{AppStateError, Collection, CollectionState, hex};
use crate::proto::syncd_mutation::SyncdOperation;
use crate::proto::{
    SyncActionData, SyncActionValue, SyncdIndex, SyncdKeyId, SyncdMutation, SyncdMutations,
    SyncdPatch, SyncdRecord, SyncdSnapshot, SyncdValue, SyncdVersion,
};

/// What a mutation does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Creates or overwrites the record.
    Set,
    /// Deletes the record.
    Remove,
}

impl Operation {
    /// The wire value (`SyncdOperation`), or `None` for an unknown one. An
    /// absent operation is SET, proto2's default.
    fn from_wire(value: Option<i32>) -> Option<Operation> {
        match value.map(SyncdOperation::try_from) {
            None | Some(Ok(SyncdOperation::Set)) => Some(Operation::Set),
            Some(Ok(SyncdOperation::Remove)) => Some(Operation::Remove),
            Some(Err(_)) => None,
        }
    }

    fn to_wire(self) -> SyncdOperation {
        match self {
            Operation::Set => SyncdOperation::Set,
            Operation::Remove => SyncdOperation::Remove,
        }
    }
}

/// One decoded (verified and decrypted) mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// SET or REMOVE.
    pub operation: Operation,
    /// The JSON index, e.g. `["mute", "123@s.whatsapp.net"]`.
    pub index: Vec<String>,
    /// The value; absent if the sender left it out.
    pub value: Option<SyncActionValue>,
    /// `SyncActionData.version`: the schema version of this action.
    pub version: i32,
    /// The record's index MAC (its key in [`CollectionState::value_macs`]).
    pub index_mac: Vec<u8>,
    /// The record's value MAC.
    pub value_mac: Vec<u8>,
}

/// A mutation to encrypt into a patch (or, as a SET, into a snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMutation {
    /// SET or REMOVE.
    pub operation: Operation,
    /// The JSON index.
    pub index: Vec<String>,
    /// The value (a REMOVE carries one too).
    pub value: SyncActionValue,
    /// `SyncActionData.version` of this kind of action.
    pub version: i32,
}

/// Looks up the 32 bytes of key data of an app-state sync key by key id.
pub type KeyLookup<'a> = &'a dyn Fn(&[u8]) -> Option<[u8; 32]>;

/// Decodes `patch` onto `state` (the state of `collection` before it),
/// returning the state after it and its mutations in order.
///
/// If the patch refers to external mutations, the caller downloads and
/// decodes that blob and passes it as `external`; its mutations then stand
/// in for the inline ones (as in whatsmeow). On any error the caller keeps
/// `state`: nothing is changed in place.
pub fn decode_patch(
    collection: Collection,
    state: &CollectionState,
    patch: &SyncdPatch,
    external: Option<&SyncdMutations>,
    keys: KeyLookup<'_>,
) -> Result<(CollectionState, Vec<Mutation>), AppStateError> {
    let version = patch
        .version
        .as_ref()
        .and_then(|v| v.version)
        .ok_or(AppStateError::MissingField("patch version"))?;
    let key_id = key_id(patch.key_id.as_ref()).ok_or(AppStateError::MissingField("patch keyId"))?;
    let wire_mutations = match external {
        Some(external) => &external.mutations,
        None if patch.external_mutations.is_some() => {
            return Err(AppStateError::MissingField("downloaded external mutations"));
        }
        None => &patch.mutations,
    };
    let snapshot_mac =
        nonempty(&patch.snapshot_mac).ok_or(AppStateError::MissingField("snapshotMac"))?;
    let patch_mac = nonempty(&patch.patch_mac).ok_or(AppStateError::MissingField("patchMac"))?;

    let mut cache = KeyCache::new(keys);
    let mut next = state.clone();
    next.version = version;
    let mut mutations = Vec::with_capacity(wire_mutations.len());
    for (position, wire) in wire_mutations.iter().enumerate() {
        let operation =
            Operation::from_wire(wire.operation).ok_or_else(|| AppStateError::Decode {
                mutation: position,
                detail: format!("unknown operation {:?}", wire.operation),
            })?;
        let record = wire
            .record
            .as_ref()
            .ok_or(AppStateError::MissingField("mutation record"))?;
        let mutation = decode_record(position, operation, record, &mut cache)?;
        next.apply(
            operation == Operation::Set,
            &mutation.index_mac,
            &mutation.value_mac,
        );
        mutations.push(mutation);
    }

    let patch_keys = cache.get(key_id)?;
    let value_macs = mutations.iter().map(|m| m.value_mac.as_slice());
    let want_patch_mac = patch_keys.patch_mac(snapshot_mac, value_macs, version, collection);
    if !macs_equal(&want_patch_mac, patch_mac) {
        return Err(AppStateError::PatchMac);
    }
    let want_snapshot_mac = patch_keys.snapshot_mac(&next.hash, version, collection);
    if !macs_equal(&want_snapshot_mac, snapshot_mac) {
        return Err(AppStateError::SnapshotMac);
    }
    Ok((next, mutations))
}

/// Decodes a full snapshot of `collection`: every record is a SET, and the
/// result replaces whatever state the caller had.
pub fn decode_snapshot(
    collection: Collection,
    snapshot: &SyncdSnapshot,
    keys: KeyLookup<'_>,
) -> Result<(CollectionState, Vec<Mutation>), AppStateError> {
    let version = snapshot
        .version
        .as_ref()
        .and_then(|v| v.version)
        .ok_or(AppStateError::MissingField("snapshot version"))?;
    let key_id =
        key_id(snapshot.key_id.as_ref()).ok_or(AppStateError::MissingField("snapshot keyId"))?;
    let mac = nonempty(&snapshot.mac).ok_or(AppStateError::MissingField("snapshot mac"))?;

    let mut cache = KeyCache::new(keys);
    let mut state = CollectionState {
        version,
        ..CollectionState::default()
    };
    let mut mutations = Vec::with_capacity(snapshot.records.len());
    for (position, record) in snapshot.records.iter().enumerate() {
        let mutation = decode_record(position, Operation::Set, record, &mut cache)?;
        state.apply(true, &mutation.index_mac, &mutation.value_mac);
        mutations.push(mutation);
    }

    let want = cache
        .get(key_id)?
        .snapshot_mac(&state.hash, version, collection);
    if !macs_equal(&want, mac) {
        return Err(AppStateError::SnapshotMac);
    }
    Ok((state, mutations))
}

/// Encrypts `mutations` into the patch that takes `state` (of `collection`)
/// to version `state.version + 1`, under the key `key_id` / `key_data`.
/// Returns the patch and the state after it.
pub fn encode_patch<R: CryptoRng + ?Sized>(
    collection: Collection,
    state: &CollectionState,
    key_id: &[u8],
    key_data: &[u8; 32],
    mutations: &[NewMutation],
    rng: &mut R,
) -> (SyncdPatch, CollectionState) {
    let keys = MutationKeys::derive(key_data);
    let version = state.version.saturating_add(1);
    let mut next = state.clone();
    next.version = version;
    let mut wire = Vec::with_capacity(mutations.len());
    let mut value_macs = Vec::with_capacity(mutations.len());
    for mutation in mutations {
        let (record, index_mac, value_mac) = seal_record(&keys, key_id, mutation, rng);
        next.apply(mutation.operation == Operation::Set, &index_mac, &value_mac);
        value_macs.push(value_mac);
        wire.push(SyncdMutation {
            operation: Some(mutation.operation.to_wire() as i32),
            record: Some(record),
        });
    }
    let snapshot_mac = keys.snapshot_mac(&next.hash, version, collection);
    let patch_mac = keys.patch_mac(
        &snapshot_mac,
        value_macs.iter().map(|m| m.as_slice()),
        version,
        collection,
    );
    let patch = SyncdPatch {
        version: Some(SyncdVersion {
            version: Some(version),
        }),
        mutations: wire,
        snapshot_mac: Some(snapshot_mac.to_vec()),
        patch_mac: Some(patch_mac.to_vec()),
        key_id: Some(SyncdKeyId {
            id: Some(key_id.to_vec()),
        }),
        ..SyncdPatch::default()
    };
    (patch, next)
}

/// Encrypts `records` into a snapshot of `collection` at `version`, as a
/// phone does for a new device. Every record is stored as a SET (their
/// `operation` is ignored); a later one with the same index replaces an
/// earlier one.
pub fn encode_snapshot<R: CryptoRng + ?Sized>(
    collection: Collection,
    version: u64,
    key_id: &[u8],
    key_data: &[u8; 32],
    records: &[NewMutation],
    rng: &mut R,
) -> (SyncdSnapshot, CollectionState) {
    let keys = MutationKeys::derive(key_data);
    let mut state = CollectionState {
        version,
        ..CollectionState::default()
    };
    let mut sealed = Vec::with_capacity(records.len());
    for record in records {
        let set = NewMutation {
            operation: Operation::Set,
            ..record.clone()
        };
        let (record, index_mac, value_mac) = seal_record(&keys, key_id, &set, rng);
        state.apply(true, &index_mac, &value_mac);
        sealed.push(record);
    }
    let snapshot = snapshot_of(collection, key_id, &keys, &state, sealed);
    (snapshot, state)
}

/// Wraps records that were already encrypted (the live records of earlier
/// patches, as a test server keeps them) into a snapshot of `collection` at
/// `version`, MACed under `key_id` / `key_data`. Its LTHash equals that of
/// the patches the records came from. Records are not decrypted; one
/// without an index or value blob is refused.
pub fn seal_snapshot(
    collection: Collection,
    version: u64,
    key_id: &[u8],
    key_data: &[u8; 32],
    records: Vec<SyncdRecord>,
) -> Result<(SyncdSnapshot, CollectionState), AppStateError> {
    let mut state = CollectionState {
        version,
        ..CollectionState::default()
    };
    for record in &records {
        let index_mac = record
            .index
            .as_ref()
            .and_then(|i| i.blob.as_deref())
            .ok_or(AppStateError::MissingField("record index"))?;
        let value_mac = record
            .value
            .as_ref()
            .and_then(|v| v.blob.as_deref())
            .and_then(|blob| blob.len().checked_sub(MAC_LEN).map(|at| &blob[at..]))
            .ok_or(AppStateError::MissingField("record value"))?;
        state.apply(true, index_mac, value_mac);
    }
    let keys = MutationKeys::derive(key_data);
    let snapshot = snapshot_of(collection, key_id, &keys, &state, records);
    Ok((snapshot, state))
}

/// The snapshot of `records`, whose state is `state`.
fn snapshot_of(
    collection: Collection,
    key_id: &[u8],
    keys: &MutationKeys,
    state: &CollectionState,
    records: Vec<SyncdRecord>,
) -> SyncdSnapshot {
    let mac = keys.snapshot_mac(&state.hash, state.version, collection);
    SyncdSnapshot {
        version: Some(SyncdVersion {
            version: Some(state.version),
        }),
        records,
        mac: Some(mac.to_vec()),
        key_id: Some(SyncdKeyId {
            id: Some(key_id.to_vec()),
        }),
    }
}

/// Encrypts one mutation into a record; also returns its index and value
/// MACs.
fn seal_record<R: CryptoRng + ?Sized>(
    keys: &MutationKeys,
    key_id: &[u8],
    mutation: &NewMutation,
    rng: &mut R,
) -> (SyncdRecord, Vec<u8>, Vec<u8>) {
    // Serializing a list of strings cannot fail.
    let index_json = serde_json::to_vec(&mutation.index).unwrap_or_default();
    let index_mac = keys.index_mac(&index_json).to_vec();
    let data = SyncActionData {
        index: Some(index_json),
        value: Some(mutation.value.clone()),
        padding: Some(Vec::new()),
        version: Some(mutation.version),
    };
    let plaintext = Zeroizing::new(data.encode_to_vec());
    let mut blob = keys.encrypt_value(&plaintext, rng);
    let value_mac = keys.value_mac(mutation.operation, key_id, &blob).to_vec();
    blob.extend_from_slice(&value_mac);
    let record = SyncdRecord {
        index: Some(SyncdIndex {
            blob: Some(index_mac.clone()),
        }),
        value: Some(SyncdValue { blob: Some(blob) }),
        key_id: Some(SyncdKeyId {
            id: Some(key_id.to_vec()),
        }),
    };
    (record, index_mac, value_mac)
}

/// Verifies, decrypts and decodes one record.
fn decode_record(
    position: usize,
    operation: Operation,
    record: &SyncdRecord,
    cache: &mut KeyCache<'_>,
) -> Result<Mutation, AppStateError> {
    let key_id =
        key_id(record.key_id.as_ref()).ok_or(AppStateError::MissingField("record keyId"))?;
    let index_mac = record
        .index
        .as_ref()
        .and_then(|i| i.blob.as_deref())
        .ok_or(AppStateError::MissingField("record index"))?;
    let blob = record
        .value
        .as_ref()
        .and_then(|v| v.blob.as_deref())
        .ok_or(AppStateError::MissingField("record value"))?;
    let keys = cache.get(key_id)?;

    let (enc, value_mac) = blob
        .len()
        .checked_sub(MAC_LEN)
        .map(|at| blob.split_at(at))
        .ok_or(AppStateError::ValueMac { mutation: position })?;
    if !macs_equal(&keys.value_mac(operation, key_id, enc), value_mac) {
        return Err(AppStateError::ValueMac { mutation: position });
    }
    let plaintext = Zeroizing::new(
        keys.decrypt_value(enc)
            .ok_or(AppStateError::Decrypt { mutation: position })?,
    );
    let data = SyncActionData::decode(plaintext.as_slice()).map_err(|e| AppStateError::Decode {
        mutation: position,
        detail: e.to_string(),
    })?;
    let index_json = data.index.as_deref().ok_or_else(|| AppStateError::Decode {
        mutation: position,
        detail: "SyncActionData has no index".to_owned(),
    })?;
    if !macs_equal(&keys.index_mac(index_json), index_mac) {
        return Err(AppStateError::IndexMac { mutation: position });
    }
    let index: Vec<String> =
        serde_json::from_slice(index_json).map_err(|e| AppStateError::Decode {
            mutation: position,
            detail: format!("index is not a JSON array of strings: {e}"),
        })?;
    Ok(Mutation {
        operation,
        index,
        value: data.value,
        version: data.version.unwrap_or(0),
        index_mac: index_mac.to_vec(),
        value_mac: value_mac.to_vec(),
    })
}

/// The id of a `SyncdKeyId`, if present and not empty.
fn key_id(key_id: Option<&SyncdKeyId>) -> Option<&[u8]> {
    key_id.and_then(|k| nonempty(&k.id))
}

fn nonempty(bytes: &Option<Vec<u8>>) -> Option<&[u8]> {
    bytes.as_deref().filter(|b| !b.is_empty())
}

/// Expanded keys by key id, derived once per decode.
struct KeyCache<'a> {
    lookup: KeyLookup<'a>,
    keys: BTreeMap<Vec<u8>, MutationKeys>,
}

impl<'a> KeyCache<'a> {
    fn new(lookup: KeyLookup<'a>) -> KeyCache<'a> {
        KeyCache {
            lookup,
            keys: BTreeMap::new(),
        }
    }

    fn get(&mut self, key_id: &[u8]) -> Result<&MutationKeys, AppStateError> {
        if !self.keys.contains_key(key_id) {
            let data = Zeroizing::new(
                (self.lookup)(key_id).ok_or_else(|| AppStateError::UnknownKey(hex(key_id)))?,
            );
            self.keys
                .insert(key_id.to_vec(), MutationKeys::derive(data.as_slice()));
        }
        self.keys
            .get(key_id)
            .ok_or_else(|| AppStateError::UnknownKey(hex(key_id)))
    }
}
