//! App-state storage and `w:sync:app:state`: per account, five collections of
//! end-to-end encrypted patches the server cannot read, numbered 1, 2, ...
//! as they land. Devices fetch what they lack (or a snapshot), and push one
//! patch on top of the version they last saw; a push on an older version is
//! refused with 409 and the patches that won. Every landed patch is announced
//! to the account's other devices with a `server_sync` notification.
//!
//! Wire shapes (whatsmeow `appstate.go`, `appstate/decode.go`,
//! `notification.go`; Baileys `Socket/chats.ts`, `Utils/chat-utils.ts`):
//! - fetch: `<sync><collection name version? return_snapshot/>...</sync>` ->
//!   `<sync><collection name version has_more_patches><patches><patch>
//!   SyncdPatch</patch>...</patches>[<snapshot>ExternalBlobReference
//!   </snapshot>]</collection></sync>`;
//! - push: `<collection name version return_snapshot="false"><patch>` ->
//!   `<collection name version/>`, or on a stale version
//!   `<collection name type="error" has_more_patches><error code="409"
//!   text="conflict"/><patches>...</patches></collection>` inside a
//!   successful IQ;
//! - `<notification from=<own bare JID> type="server_sync" id t>
//!   <collection name version/></notification>`.
//!
//! Clients do not put a version into the patches they push (whatsmeow's
//! `EncodePatch` leaves it out; Baileys falls back to the collection's
//! version + 1 when it is missing), so the server appends
//! `version{version=N}` (field 1) to the bytes it keeps. Appending a field
//! leaves every other byte as pushed.
//!
//! The server reads no more of a patch than its version, its external
//! mutations reference and its records as opaque blobs (index MAC, sealed
//! value, key id): it holds no sync key and never decrypts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prost::Message as _;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::media::{self, MediaKind};
use wa_core::proto::syncd_mutation::SyncdOperation;
use wa_core::proto::{
    ExternalBlobReference, SyncdMutation, SyncdMutations, SyncdPatch, SyncdRecord, SyncdSnapshot,
    SyncdVersion,
};

use super::{Shared, Sim, unix_now};

/// The five collections, in the order whatsmeow lists them.
pub const COLLECTIONS: [&str; 5] = [
    "critical_block",
    "critical_unblock_low",
    "regular_high",
    "regular",
    "regular_low",
];

/// Patches per fetch answer; more are announced with `has_more_patches`.
pub const PAGE: usize = 50;

/// One collection of one account.
#[derive(Debug, Default)]
pub(crate) struct Collection {
    /// Patch `i` has version `i + 1`, kept as served (with the version).
    patches: Vec<Vec<u8>>,
    /// Patches up to this version are no longer handed out one by one: a
    /// device further behind gets a snapshot.
    expired_through: u64,
    /// The last snapshot uploaded: its version and `ExternalBlobReference`.
    snapshot: Option<(u64, Vec<u8>)>,
}

impl Collection {
    /// The current version (0 = empty).
    pub(crate) fn version(&self) -> u64 {
        self.patches.len() as u64
    }
}

/// The app state of every account, by phone number, then collection name.
pub(crate) type Store = HashMap<String, BTreeMap<String, Collection>>;

/// What became of a pushed patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored under this version.
    Stored(u64),
    /// The device was behind: the collection is at this version.
    Conflict(u64),
    /// Not one of the five collections.
    UnknownCollection,
}

/// Answers an app-state IQ from device `me`.
pub(crate) fn iq(shared: &Arc<Shared>, me: &(String, u16), id: &str, node: &Node) -> Node {
    let collections: Vec<Node> = node
        .child("sync")
        .map(|s| s.children_by_tag("collection").cloned().collect())
        .unwrap_or_default();
    let mut answers = Vec::with_capacity(collections.len());
    for c in &collections {
        answers.push(collection(shared, me, c));
    }
    Node::new("iq")
        .attr("from", Jid::server_jid())
        .attr("type", "result")
        .attr("id", id.to_owned())
        .children(vec![Node::new("sync").children(answers)])
}

/// One `<collection>` of a request: a push if it carries patches, else a fetch.
fn collection(shared: &Arc<Shared>, me: &(String, u16), c: &Node) -> Node {
    let name = c.attr_str("name").unwrap_or_default().to_owned();
    let version = c
        .attr_str("version")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let patches: Vec<Vec<u8>> = c
        .children_by_tag("patch")
        .filter_map(|p| p.content_bytes().map(<[u8]>::to_vec))
        .collect();
    if !COLLECTIONS.contains(&name.as_str()) {
        return error(&name, "400", "bad-request");
    }
    if patches.is_empty() {
        let snapshot = c.attr_str("return_snapshot") == Some("true");
        return fetch(shared, &me.0, &name, version, snapshot);
    }
    let mut stored = version;
    for patch in patches {
        match push(shared, me, &name, stored, patch) {
            PushOutcome::Stored(v) => stored = v,
            PushOutcome::Conflict(_) => {
                let answer = fetch(shared, &me.0, &name, stored, false);
                return conflict(answer);
            }
            PushOutcome::UnknownCollection => return error(&name, "400", "bad-request"),
        }
    }
    Node::new("collection")
        .attr("name", name)
        .attr("version", stored.to_string())
}

fn error(name: &str, code: &'static str, text: &'static str) -> Node {
    Node::new("collection")
        .attr("name", name.to_owned())
        .attr("type", "error")
        .children(vec![
            Node::new("error").attr("code", code).attr("text", text),
        ])
}

/// Turns a fetch answer into a 409 answer carrying the same patches.
fn conflict(fetched: Node) -> Node {
    let mut out = Node::new("collection")
        .attr(
            "name",
            fetched.attr_str("name").unwrap_or_default().to_owned(),
        )
        .attr("type", "error");
    if let Some(more) = fetched.attr_str("has_more_patches") {
        out = out.attr("has_more_patches", more.to_owned());
    }
    let mut children = vec![
        Node::new("error")
            .attr("code", "409")
            .attr("text", "conflict"),
    ];
    children.extend(fetched.child_nodes().iter().cloned());
    out.children(children)
}

/// The patches after `version` (at most [`PAGE`]), or a snapshot when asked
/// for or when the device is further behind than the patches kept.
pub(crate) fn fetch(shared: &Shared, pn: &str, name: &str, version: u64, snapshot: bool) -> Node {
    let mut state = shared.state();
    let c = state
        .app_state
        .entry(pn.to_owned())
        .or_default()
        .entry(name.to_owned())
        .or_default();
    let current = c.version();
    let mut children = Vec::new();
    let mut from = version.min(current);
    if current > 0 && (snapshot || from < c.expired_through) {
        let upto = if snapshot { current } else { c.expired_through };
        if let Some(reference) = snapshot_reference(shared, c, upto) {
            children.push(Node::new("snapshot").bytes(reference));
            from = upto;
        }
    }
    let end = current.min(from + PAGE as u64);
    let page: Vec<Node> = c.patches[from as usize..end as usize]
        .iter()
        .map(|p| Node::new("patch").bytes(p.clone()))
        .collect();
    if !page.is_empty() {
        children.insert(0, Node::new("patches").children(page));
    }
    let mut out = Node::new("collection")
        .attr("name", name.to_owned())
        .attr("version", end.to_string())
        .attr(
            "has_more_patches",
            if end < current { "true" } else { "false" },
        );
    if !children.is_empty() {
        out = out.children(children);
    }
    out
}

/// Stores `patch` as version `base + 1` of `name` if the collection is at
/// `base`, and tells the account's other devices.
pub(crate) fn push(
    shared: &Shared,
    me: &(String, u16),
    name: &str,
    base: u64,
    patch: Vec<u8>,
) -> PushOutcome {
    if !COLLECTIONS.contains(&name) {
        return PushOutcome::UnknownCollection;
    }
    let mut state = shared.state();
    let c = state
        .app_state
        .entry(me.0.clone())
        .or_default()
        .entry(name.to_owned())
        .or_default();
    if c.version() != base {
        return PushOutcome::Conflict(c.version());
    }
    let version = base + 1;
    c.patches.push(with_version(patch, version));
    let note = Node::new("notification")
        .attr("from", Jid::user_jid(me.0.clone()))
        .attr("type", "server_sync")
        .attr("id", format!("{}", rand::random::<u32>()))
        .attr("t", unix_now().to_string())
        .children(vec![
            Node::new("collection")
                .attr("name", name.to_owned())
                .attr("version", version.to_string()),
        ]);
    for device in state.devices_of(&me.0) {
        if device != me.1 {
            state.deliver(&(me.0.clone(), device), note.clone());
        }
    }
    PushOutcome::Stored(version)
}

/// `patch` with `version{version}` (field 1) appended.
fn with_version(mut patch: Vec<u8>, version: u64) -> Vec<u8> {
    let inner = SyncdVersion {
        version: Some(version),
    }
    .encode_to_vec();
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut patch);
    prost::encoding::encode_varint(inner.len() as u64, &mut patch);
    patch.extend_from_slice(&inner);
    patch
}

/// The snapshot of `c` at `version`, uploaded as an app-state blob: its
/// `ExternalBlobReference`. The records are the last SET of every index (in
/// the order indexes first appeared); the MAC and key id are those of the
/// patch that made `version`, whose snapshot MAC covers exactly that state.
fn snapshot_reference(shared: &Shared, c: &mut Collection, version: u64) -> Option<Vec<u8>> {
    if let Some((v, reference)) = &c.snapshot
        && *v == version
    {
        return Some(reference.clone());
    }
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut records: HashMap<Vec<u8>, SyncdRecord> = HashMap::new();
    let mut last = None;
    for bytes in &c.patches[..version as usize] {
        let patch = SyncdPatch::decode(bytes.as_slice()).ok()?;
        let mutations = match &patch.external_mutations {
            Some(external) => external_mutations(shared, external)?,
            None => patch.mutations.clone(),
        };
        for m in mutations {
            let Some(record) = m.record else { continue };
            let index = record.index.as_ref()?.blob.clone()?;
            if m.operation.unwrap_or(0) == SyncdOperation::Set as i32 {
                if !records.contains_key(&index) {
                    order.push(index.clone());
                }
                records.insert(index, record);
            } else {
                records.remove(&index);
                order.retain(|i| *i != index);
            }
        }
        last = Some(patch);
    }
    let last = last?;
    let snapshot = SyncdSnapshot {
        version: Some(SyncdVersion {
            version: Some(version),
        }),
        records: order.iter().filter_map(|i| records.remove(i)).collect(),
        mac: last.snapshot_mac,
        key_id: last.key_id,
    };
    let reference = upload(shared, &snapshot.encode_to_vec())?.encode_to_vec();
    c.snapshot = Some((version, reference.clone()));
    Some(reference)
}

/// Encrypts `plain` as app-state media and puts it on the media host: the
/// reference to it.
pub(crate) fn upload(shared: &Shared, plain: &[u8]) -> Option<ExternalBlobReference> {
    let sealed = media::encrypt(MediaKind::AppState, plain, &mut rand::rng());
    let direct_path = shared
        .media
        .put_blob(MediaKind::AppState.mms_type(), sealed.blob.clone())?;
    Some(ExternalBlobReference {
        media_key: Some(sealed.media_key.to_vec()),
        direct_path: Some(direct_path),
        handle: None,
        file_size_bytes: Some(sealed.file_length),
        file_sha256: Some(sealed.file_sha256.to_vec()),
        file_enc_sha256: Some(sealed.file_enc_sha256.to_vec()),
    })
}

/// The plaintext of the app-state blob `reference` points at, checked and
/// decrypted; `None` if it is absent or does not check.
pub(crate) fn download(shared: &Shared, reference: &ExternalBlobReference) -> Option<Vec<u8>> {
    let blob = shared.media.get_blob(reference.direct_path.as_deref()?)?;
    media::decrypt(
        MediaKind::AppState,
        reference.media_key.as_deref()?,
        &blob,
        reference.file_enc_sha256.as_deref(),
        reference.file_sha256.as_deref(),
    )
    .ok()
}

/// The mutations a pushed patch keeps on the media host.
fn external_mutations(
    shared: &Shared,
    external: &ExternalBlobReference,
) -> Option<Vec<SyncdMutation>> {
    let plain = download(shared, external)?;
    Some(SyncdMutations::decode(plain.as_slice()).ok()?.mutations)
}

/// Keeps `snapshot` (a device's, already uploaded) as the snapshot of
/// `name` at `version`, and stops handing out the patches up to it one by
/// one. False if the collection is no longer at `version`.
pub(crate) fn install_snapshot(
    shared: &Shared,
    pn: &str,
    name: &str,
    version: u64,
    snapshot: &ExternalBlobReference,
) -> bool {
    let mut state = shared.state();
    let c = state
        .app_state
        .entry(pn.to_owned())
        .or_default()
        .entry(name.to_owned())
        .or_default();
    if c.version() != version {
        return false;
    }
    c.snapshot = Some((version, snapshot.encode_to_vec()));
    c.expired_through = version;
    true
}

impl Sim {
    /// The version of app-state collection `name` of account `pn` (0 = empty).
    pub fn app_state_version(&self, pn: &str, name: &str) -> u64 {
        self.shared
            .state()
            .app_state
            .get(pn)
            .and_then(|a| a.get(name))
            .map_or(0, Collection::version)
    }

    /// The stored patches of a collection, oldest (version 1) first, as the
    /// server hands them out (with their version).
    pub fn app_state_patches(&self, pn: &str, name: &str) -> Vec<Vec<u8>> {
        self.shared
            .state()
            .app_state
            .get(pn)
            .and_then(|a| a.get(name))
            .map(|c| c.patches.clone())
            .unwrap_or_default()
    }

    /// Stores `patch` (encoded `SyncdPatch` bytes, taken as they are) as if
    /// device `device` of `pn` pushed it on top of version `base`; the other
    /// devices get `server_sync`. For injecting patches a client never made.
    pub fn push_app_state_patch(
        &self,
        pn: &str,
        device: u16,
        name: &str,
        base: u64,
        patch: Vec<u8>,
    ) -> PushOutcome {
        push(&self.shared, &(pn.to_owned(), device), name, base, patch)
    }

    /// Stops handing out patches up to version `through` one by one, as the
    /// real service does with old ones: a device behind that gets a snapshot.
    pub fn expire_app_state_patches(&self, pn: &str, name: &str, through: u64) {
        let mut state = self.shared.state();
        let c = state
            .app_state
            .entry(pn.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default();
        c.expired_through = through.min(c.version());
    }
}
