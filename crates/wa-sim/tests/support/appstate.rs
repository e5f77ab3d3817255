//! A test's own app-state side: `w:sync:app:state` IQs, the keys a
//! companion was shared, a follower that decodes an account's stored
//! patches with `wa_core::appstate` as a companion would, and a companion
//! that pushes patches of its own.

use std::collections::BTreeMap;

use prost::Message as _;
use wa_core::appstate::{
    Action, AppStateError, Collection, CollectionState, Mutation, NewMutation, Operation,
    decode_patch, decode_snapshot, encode_patch,
};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::media::{self, MediaKind};
use wa_core::proto::message::ProtocolMessage;
use wa_core::proto::message::protocol_message::Type;
use wa_core::proto::{ExternalBlobReference, SyncdPatch, SyncdSnapshot};
use wa_sim::{HistoryScript, Phone, Sim};

use super::peer::Companion;

/// App-state sync keys by key id.
#[derive(Default, Clone)]
pub struct Keys(pub BTreeMap<Vec<u8>, [u8; 32]>);

impl Keys {
    /// Adds the keys of an APP_STATE_SYNC_KEY_SHARE; returns their ids.
    pub fn add_share(&mut self, p: &ProtocolMessage) -> Vec<Vec<u8>> {
        assert_eq!(p.r#type, Some(Type::AppStateSyncKeyShare as i32));
        let share = p.app_state_sync_key_share.as_ref().expect("a key share");
        let mut ids = Vec::new();
        for k in &share.keys {
            let id = k.key_id.clone().unwrap().key_id.unwrap();
            let data = k.key_data.clone().unwrap().key_data.unwrap();
            self.0.insert(id.clone(), data.try_into().unwrap());
            ids.push(id);
        }
        ids
    }

    pub fn get(&self, id: &[u8]) -> Option<[u8; 32]> {
        self.0.get(id).copied()
    }
}

/// The actions of the SET mutations of a decoded patch or snapshot.
pub fn actions(mutations: &[Mutation]) -> Vec<Action> {
    mutations.iter().filter_map(Action::from_mutation).collect()
}

/// The key id a patch is MACed under.
pub fn key_id(patch: &SyncdPatch) -> Vec<u8> {
    patch.key_id.clone().unwrap().id.unwrap()
}

/// Follows the stored patches of one account like a companion.
pub struct Follower {
    pub pn: String,
    pub keys: Keys,
    /// Per collection: the state and how many stored patches were read.
    pub states: BTreeMap<Collection, (CollectionState, usize)>,
    /// Per collection: the live records' mutations, by index MAC.
    pub live: BTreeMap<Collection, BTreeMap<Vec<u8>, Mutation>>,
}

impl Follower {
    pub fn new(pn: &str, keys: Keys) -> Follower {
        Follower {
            pn: pn.to_owned(),
            keys,
            states: BTreeMap::new(),
            live: BTreeMap::new(),
        }
    }

    /// The next stored patch of `c` not read yet.
    pub fn next_patch(&self, sim: &Sim, c: Collection) -> Option<SyncdPatch> {
        let read = self.states.get(&c).map_or(0, |s| s.1);
        let stored = sim.app_state_patches(&self.pn, c.name());
        stored
            .get(read)
            .map(|bytes| SyncdPatch::decode(bytes.as_slice()).unwrap())
    }

    /// Decodes `patch` on the current state of `c`, changing nothing.
    pub fn decode(
        &self,
        c: Collection,
        patch: &SyncdPatch,
    ) -> Result<(CollectionState, Vec<Mutation>), AppStateError> {
        let state = self.states.get(&c).map(|s| s.0.clone()).unwrap_or_default();
        decode_patch(c, &state, patch, None, &|id| self.keys.get(id))
    }

    /// Reads the next stored patch of `c`; panics if it does not verify.
    pub fn read(&mut self, sim: &Sim, c: Collection) -> (SyncdPatch, Vec<Mutation>) {
        let patch = self.next_patch(sim, c).expect("another patch");
        let (state, mutations) = self
            .decode(c, &patch)
            .unwrap_or_else(|e| panic!("{c} patch does not verify: {e}"));
        let entry = self.states.entry(c).or_default();
        entry.0 = state;
        entry.1 += 1;
        let live = self.live.entry(c).or_default();
        for m in &mutations {
            match m.operation {
                Operation::Set => live.insert(m.index_mac.clone(), m.clone()),
                Operation::Remove => live.remove(&m.index_mac),
            };
        }
        (patch, mutations)
    }

    /// Passes over the next stored patch of `c` without applying it.
    pub fn skip(&mut self, c: Collection) {
        self.states.entry(c).or_default().1 += 1;
    }

    /// Reads every stored patch of every collection; the actions, in order.
    pub fn read_all(&mut self, sim: &Sim) -> Vec<Action> {
        let mut out = Vec::new();
        for c in Collection::ALL {
            while self.next_patch(sim, c).is_some() {
                out.extend(actions(&self.read(sim, c).1));
            }
        }
        out
    }
}

/// Downloads and decrypts the snapshot a fetch answer's `<snapshot>`
/// names, and decodes it.
pub async fn snapshot(
    sim: &Sim,
    reference: &[u8],
    c: Collection,
    keys: &Keys,
) -> Result<(CollectionState, Vec<Mutation>), AppStateError> {
    let reference = ExternalBlobReference::decode(reference).unwrap();
    let (status, blob) = super::https::get(sim, reference.direct_path.as_deref().unwrap()).await;
    assert_eq!(status, 200);
    let plain = media::decrypt(
        MediaKind::AppState,
        reference.media_key.as_deref().unwrap(),
        &blob,
        reference.file_enc_sha256.as_deref(),
        reference.file_sha256.as_deref(),
    )
    .unwrap();
    let snapshot = SyncdSnapshot::decode(plain.as_slice()).unwrap();
    decode_snapshot(c, &snapshot, &|id| keys.get(id))
}

// IQs a companion sends.

pub fn sync_iq(collections: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "set")
        .attr("xmlns", "w:sync:app:state")
        .children(vec![Node::new("sync").children(collections)])
}

pub fn push(name: &str, version: u64, patch: &[u8]) -> Node {
    sync_iq(vec![
        Node::new("collection")
            .attr("name", name.to_owned())
            .attr("version", version.to_string())
            .attr("return_snapshot", "false")
            .children(vec![Node::new("patch").bytes(patch.to_vec())]),
    ])
}

pub fn fetch(name: &str, version: u64) -> Node {
    sync_iq(vec![
        Node::new("collection")
            .attr("name", name.to_owned())
            .attr("version", version.to_string())
            .attr("return_snapshot", "false"),
    ])
}

pub fn collection(answer: &Node) -> &Node {
    answer
        .child("sync")
        .and_then(|s| s.child("collection"))
        .unwrap_or_else(|| panic!("no sync/collection in {answer}"))
}

pub fn patches(c: &Node) -> Vec<Vec<u8>> {
    c.child("patches")
        .map(|p| {
            p.children_by_tag("patch")
                .map(|p| p.content_bytes().unwrap().to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// A companion of `phone` (which sends it keys once it is active: the phone
/// gets an empty script if it has none), and the keys it was shared.
pub async fn companion_with_keys(
    sim: &Sim,
    phone: &Phone,
    script: Option<HistoryScript>,
) -> (Companion, Keys) {
    phone.set_history(script.unwrap_or_default());
    let mut c = Companion::link(sim, phone, true).await;
    let mut keys = Keys::default();
    keys.add_share(&next_key_share(&mut c).await);
    (c, keys)
}

/// The next key share the companion gets (history notifications skipped).
pub async fn next_key_share(c: &mut Companion) -> ProtocolMessage {
    loop {
        let (_, p) = c.next_protocol().await;
        if p.r#type == Some(Type::AppStateSyncKeyShare as i32) {
            return p;
        }
    }
}

pub fn user(pn: &str) -> Jid {
    Jid::user_jid(pn)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `actions` as SET mutations stamped now, whatever their usual collection.
pub fn mutations(actions: &[Action]) -> Vec<NewMutation> {
    actions
        .iter()
        .map(|a| a.to_new_mutation(now_ms()).unwrap().1)
        .collect()
}

/// Encodes `actions` into the next patch of `c` as another device would
/// (on the follower's state, caught up first, under `key`), pushes it over the
/// companion's connection and lets the follower read it back.
pub async fn push_as_companion(
    sim: &Sim,
    companion: &Companion,
    follower: &mut Follower,
    c: Collection,
    key: &[u8],
    actions: &[Action],
) -> u64 {
    while follower.next_patch(sim, c).is_some() {
        follower.read(sim, c);
    }
    let state = follower
        .states
        .get(&c)
        .map(|s| s.0.clone())
        .unwrap_or_default();
    let data = follower.keys.get(key).unwrap();
    let (mut patch, _) = encode_patch(c, &state, key, &data, &mutations(actions), &mut rand::rng());
    patch.version = None;
    let answer = companion
        .conn
        .iq(push(c.name(), state.version, &patch.encode_to_vec()))
        .await
        .unwrap();
    let version: u64 = collection(&answer)
        .attr_str("version")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(version, state.version + 1, "{answer}");
    follower.read(sim, c);
    version
}

/// The snapshot a companion fetching `c` from version 0 gets, decoded: its
/// state and its records' mutations by index MAC.
pub async fn fetch_snapshot(
    sim: &Sim,
    companion: &Companion,
    c: Collection,
    keys: &Keys,
) -> (
    wa_core::appstate::CollectionState,
    BTreeMap<Vec<u8>, wa_core::appstate::Mutation>,
) {
    let answer = companion.conn.iq(fetch(c.name(), 0)).await.unwrap();
    let col = collection(&answer);
    assert!(patches(col).is_empty(), "{answer}");
    let reference = col
        .child("snapshot")
        .expect("a snapshot")
        .content_bytes()
        .unwrap();
    let (state, m) = snapshot(sim, reference, c, keys).await.unwrap();
    (
        state,
        m.into_iter().map(|m| (m.index_mac.clone(), m)).collect(),
    )
}
