use std::collections::BTreeMap;

use proptest::prelude::*;
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::jid::Jid;
use crate::proto::sync_action_value::{ContactAction, MuteAction, PinAction};
use crate::proto::{
    ExternalBlobReference, SyncActionValue, SyncdIndex, SyncdKeyId, SyncdMutation, SyncdMutations,
    SyncdPatch, SyncdRecord, SyncdValue, SyncdVersion,
};

const KEY_ID: &[u8] = &[0x00, 0x01, 0x00, 0x00, 0x42, 0x42];
const KEY_DATA: [u8; 32] = [7; 32];

fn lookup(id: &[u8]) -> Option<[u8; 32]> {
    (id == KEY_ID).then_some(KEY_DATA)
}

fn no_keys(_: &[u8]) -> Option<[u8; 32]> {
    None
}

fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

fn set(index: &[&str], value: SyncActionValue) -> NewMutation {
    NewMutation {
        operation: Operation::Set,
        index: index.iter().map(|s| s.to_string()).collect(),
        value,
        version: 2,
    }
}

fn remove(index: &[&str]) -> NewMutation {
    NewMutation {
        operation: Operation::Remove,
        ..set(index, SyncActionValue::default())
    }
}

fn pin(pinned: bool, ts: i64) -> SyncActionValue {
    SyncActionValue {
        timestamp: Some(ts),
        pin_action: Some(PinAction {
            pinned: Some(pinned),
        }),
        ..SyncActionValue::default()
    }
}

fn encode(state: &CollectionState, mutations: &[NewMutation]) -> (SyncdPatch, CollectionState) {
    encode_patch(
        Collection::RegularLow,
        state,
        KEY_ID,
        &KEY_DATA,
        mutations,
        &mut rand::rng(),
    )
}

fn decode(
    state: &CollectionState,
    patch: &SyncdPatch,
) -> Result<(CollectionState, Vec<Mutation>), AppStateError> {
    decode_patch(Collection::RegularLow, state, patch, None, &lookup)
}

/// Decoded mutations as the encoder's inputs, to compare the two.
fn as_new(mutations: &[Mutation]) -> Vec<NewMutation> {
    mutations
        .iter()
        .map(|m| NewMutation {
            operation: m.operation,
            index: m.index.clone(),
            value: m.value.clone().unwrap(),
            version: m.version,
        })
        .collect()
}

fn record_mut(patch: &mut SyncdPatch, i: usize) -> &mut SyncdRecord {
    patch.mutations[i].record.as_mut().unwrap()
}

fn value_blob(patch: &mut SyncdPatch, i: usize) -> &mut Vec<u8> {
    record_mut(patch, i)
        .value
        .as_mut()
        .unwrap()
        .blob
        .as_mut()
        .unwrap()
}

// Known answers computed independently, once, with Python 3's hashlib and
// hmac (HKDF-SHA256 written out as RFC 5869 extract-then-expand; LTHash as
// 64 little-endian u16 words with `& 0xffff`; JSON index from
// `json.dumps(..., separators=(",", ":"))`).

#[test]
fn known_answer_key_expansion() {
    let keys = MutationKeys::derive(&[1u8; 32]);
    let got = [
        keys.index_key(),
        keys.value_encryption_key(),
        keys.value_mac_key(),
        keys.snapshot_mac_key(),
        keys.patch_mac_key(),
    ]
    .map(|k| hex::encode(&k[..8]));
    assert_eq!(
        got,
        [
            "cf5843111e02668a",
            "df562a2f01462897",
            "2becbac4c8cfc922",
            "64ca9f24f2f9db72",
            "d7fb7d55086ae9bb",
        ]
    );
}

/// LTHash of all-0xff bytes plus the MAC 00 01 .. 1f (every word wraps).
fn known_lt_hash() -> LtHash {
    let mut hash = LtHash([0xff; 128]);
    hash.add(&(0u8..32).collect::<Vec<_>>());
    hash
}

#[test]
fn known_answer_lt_hash() {
    let hash = known_lt_hash();
    assert_eq!(
        hex::encode(&hash.0[..16]),
        "f929a13a1ddb960a8cb0b76d19e94c44"
    );
    assert_eq!(
        hex::encode(Sha256::digest(hash.0)),
        "754d68fb6a18aef856855427f3510993e21d04c66d6406304ce0cff7f86a219c"
    );
}

#[test]
fn known_answer_macs() {
    let keys = MutationKeys::derive(&[1u8; 32]);
    let index = serde_json::to_vec(&["archive", "123@s.whatsapp.net"]).unwrap();
    assert_eq!(index, br#"["archive","123@s.whatsapp.net"]"#);
    assert_eq!(
        hex::encode(keys.index_mac(&index)),
        "47e35b950da0e561ede349e5bc9633041c5265f2a4612e7983d6000ea3fb105e"
    );
    let enc: Vec<u8> = (0u8..48).collect();
    let value_mac = keys.value_mac(Operation::Set, &[0, 1, 2, 3, 4, 5], &enc);
    assert_eq!(
        hex::encode(value_mac),
        "5e15461a3593fca9ba501b54f29544ccdfd5845eb61d874a1c8e83302424ecf3"
    );
    let snapshot_mac = keys.snapshot_mac(&known_lt_hash(), 7, Collection::RegularLow);
    assert_eq!(
        hex::encode(snapshot_mac),
        "56e7201d6d630a1b1d4e6b9daf48b03014ba43685d3f81096f841fb964ba1cc5"
    );
    let patch_mac = keys.patch_mac(&snapshot_mac, [&value_mac[..]], 7, Collection::RegularLow);
    assert_eq!(
        hex::encode(patch_mac),
        "a4c5cebde1ec9c0e716f051cfb180a77e01f65ec7b8acb25911676c8e8cbeb12"
    );
}

#[test]
fn lt_hash_add_then_subtract_is_zero() {
    let mut hash = LtHash::ZERO;
    hash.add(b"first mac");
    hash.add(b"second mac");
    assert_ne!(hash, LtHash::ZERO);
    hash.subtract(b"first mac");
    hash.subtract(b"second mac");
    assert_eq!(hash, LtHash::ZERO);
}

#[test]
fn lt_hash_adds_commute() {
    let macs: [&[u8]; 3] = [b"a", b"b", b"c"];
    let mut forward = LtHash::ZERO;
    macs.iter().for_each(|m| forward.add(m));
    let mut backward = LtHash::ZERO;
    macs.iter().rev().for_each(|m| backward.add(m));
    assert_eq!(forward, backward);
}

#[test]
fn collection_names_round_trip() {
    for c in Collection::ALL {
        assert_eq!(c.name().parse::<Collection>(), Ok(c));
    }
    assert_eq!(
        "regular_medium".parse::<Collection>(),
        Err(AppStateError::UnknownCollection("regular_medium".into()))
    );
}

#[test]
fn debug_hides_keys() {
    assert_eq!(
        format!("{:?}", MutationKeys::derive(&KEY_DATA)),
        "MutationKeys { .. }"
    );
}

#[test]
fn patch_round_trip() {
    let mutations = vec![
        set(&["pin_v1", "1@s.whatsapp.net"], pin(true, 1000)),
        set(&["pin_v1", "2@s.whatsapp.net"], pin(false, 2000)),
    ];
    let start = CollectionState::new();
    let (patch, encoded_state) = encode(&start, &mutations);
    assert_eq!(encoded_state.version, 1);
    // Through the wire encoding, as a client receives it.
    let patch = SyncdPatch::decode(patch.encode_to_vec().as_slice()).unwrap();
    let (state, decoded) = decode(&start, &patch).unwrap();
    assert_eq!(state, encoded_state);
    assert_eq!(as_new(&decoded), mutations);
    assert_eq!(state.value_macs.len(), 2);
}

/// Three patches: two SETs; an overwrite and a REMOVE; a REMOVE of an index
/// that never existed. Returns the patches, the encoder's states, and the
/// live records a server would keep.
fn sequence() -> (Vec<SyncdPatch>, Vec<CollectionState>, Vec<SyncdRecord>) {
    let steps = vec![
        vec![
            set(&["pin_v1", "a@s.whatsapp.net"], pin(true, 1)),
            set(&["pin_v1", "b@s.whatsapp.net"], pin(true, 2)),
        ],
        vec![
            set(&["pin_v1", "a@s.whatsapp.net"], pin(false, 3)),
            remove(&["pin_v1", "b@s.whatsapp.net"]),
        ],
        vec![
            remove(&["pin_v1", "never@s.whatsapp.net"]),
            set(&["pin_v1", "c@s.whatsapp.net"], pin(true, 4)),
        ],
    ];
    let mut state = CollectionState::new();
    let (mut patches, mut states) = (Vec::new(), Vec::new());
    let mut live: BTreeMap<Vec<u8>, SyncdRecord> = BTreeMap::new();
    for step in &steps {
        let (patch, next) = encode(&state, step);
        for m in &patch.mutations {
            let record = m.record.clone().unwrap();
            let index_mac = record.index.clone().unwrap().blob.unwrap();
            if m.operation == Some(0) {
                live.insert(index_mac, record);
            } else {
                live.remove(&index_mac);
            }
        }
        patches.push(patch);
        states.push(next.clone());
        state = next;
    }
    (patches, states, live.into_values().collect())
}

#[test]
fn patch_sequence_with_overwrite_and_remove() {
    let (patches, states, _) = sequence();
    let mut state = CollectionState::new();
    for (patch, want) in patches.iter().zip(&states) {
        let (next, _) = decode(&state, patch).unwrap();
        assert_eq!(&next, want);
        state = next;
    }
    assert_eq!(state.version, 3);
    // Left: a (overwritten) and c.
    assert_eq!(state.value_macs.len(), 2);
    let mut expected = LtHash::ZERO;
    state.value_macs.values().for_each(|m| expected.add(m));
    assert_eq!(state.hash, expected);
}

#[test]
fn snapshot_of_live_records_matches_patches() {
    let (_, states, live) = sequence();
    let last = states.last().unwrap();
    let (snapshot, sealed_state) =
        seal_snapshot(Collection::RegularLow, 3, KEY_ID, &KEY_DATA, live).unwrap();
    assert_eq!(&sealed_state, last);
    let (state, mutations) = decode_snapshot(Collection::RegularLow, &snapshot, &lookup).unwrap();
    assert_eq!(&state, last);
    assert!(mutations.iter().all(|m| m.operation == Operation::Set));
    assert_eq!(mutations.len(), 2);
    // Patches continue from a snapshot.
    let (patch, want) = encode(&state, &[remove(&["pin_v1", "c@s.whatsapp.net"])]);
    assert_eq!(decode(&state, &patch).unwrap().0, want);
}

#[test]
fn encode_snapshot_round_trip() {
    let records = vec![
        set(&["pin_v1", "a@s.whatsapp.net"], pin(true, 1)),
        set(&["pin_v1", "b@s.whatsapp.net"], pin(false, 2)),
    ];
    let (snapshot, encoded) = encode_snapshot(
        Collection::Regular,
        9,
        KEY_ID,
        &KEY_DATA,
        &records,
        &mut rand::rng(),
    );
    let (state, mutations) = decode_snapshot(Collection::Regular, &snapshot, &lookup).unwrap();
    assert_eq!(state, encoded);
    assert_eq!(state.version, 9);
    assert_eq!(as_new(&mutations), records);
    // The MAC binds the collection name.
    assert_eq!(
        decode_snapshot(Collection::RegularLow, &snapshot, &lookup),
        Err(AppStateError::SnapshotMac)
    );
}

#[test]
fn state_bytes_round_trip() {
    let (_, states, _) = sequence();
    for state in states.iter().chain([&CollectionState::new()]) {
        assert_eq!(
            &CollectionState::from_bytes(&state.to_bytes()).unwrap(),
            state
        );
    }
}

#[test]
fn state_bytes_refuse_garbage() {
    let bytes = sequence().1[0].to_bytes();
    for cut in [0, 3, 5, 100, bytes.len() - 1] {
        assert!(matches!(
            CollectionState::from_bytes(&bytes[..cut]),
            Err(AppStateError::BadState(_))
        ));
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        CollectionState::from_bytes(&trailing),
        Err(AppStateError::BadState("trailing bytes"))
    );
    let mut future = bytes.clone();
    future[4] = 2;
    assert_eq!(
        CollectionState::from_bytes(&future),
        Err(AppStateError::BadState("unsupported format version"))
    );
    assert_eq!(
        CollectionState::from_bytes(b"not a state at all"),
        Err(AppStateError::BadState(
            "not a collection state (bad magic)"
        ))
    );
}

fn one_patch() -> SyncdPatch {
    let mutations = [
        set(&["pin_v1", "a@s.whatsapp.net"], pin(true, 1)),
        set(&["pin_v1", "b@s.whatsapp.net"], pin(true, 2)),
    ];
    encode(&CollectionState::new(), &mutations).0
}

#[test]
fn tampered_value_mac_is_refused() {
    let mut patch = one_patch();
    let blob = value_blob(&mut patch, 1);
    *blob.last_mut().unwrap() ^= 1;
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::ValueMac { mutation: 1 })
    );
    // So is a flipped ciphertext byte, and a REMOVE relabelled as SET.
    let mut patch = one_patch();
    value_blob(&mut patch, 0)[20] ^= 1;
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::ValueMac { mutation: 0 })
    );
    let mut patch = one_patch();
    patch.mutations[0].operation = Some(1);
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::ValueMac { mutation: 0 })
    );
}

#[test]
fn wrong_state_shows_as_snapshot_mac() {
    let (patches, states, _) = sequence();
    // Patch 3 applied without patch 2: its MACs verify, the LTHash does not
    // (record b is still there, a has its old value).
    assert_eq!(
        decode(&states[0], &patches[2]),
        Err(AppStateError::SnapshotMac)
    );
    assert_eq!(
        decode(&CollectionState::new(), &patches[2]),
        Err(AppStateError::SnapshotMac)
    );
    // Patch 2 happens to need no earlier state: it overwrites a and removes
    // b, so from nothing it also leads to {a}. The LTHash checks the set of
    // live records, not the path to it.
    assert_eq!(
        decode(&CollectionState::new(), &patches[1]).unwrap().0.hash,
        states[1].hash
    );
}

#[test]
fn tampered_patch_macs_are_refused() {
    let mut patch = one_patch();
    patch.patch_mac.as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::PatchMac)
    );
    // The patch MAC covers the snapshot MAC field, the order of mutations
    // and the version.
    let mut patch = one_patch();
    patch.snapshot_mac.as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::PatchMac)
    );
    let mut patch = one_patch();
    patch.mutations.swap(0, 1);
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::PatchMac)
    );
    let mut patch = one_patch();
    patch.version = Some(SyncdVersion { version: Some(2) });
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::PatchMac)
    );
    let mut patch = one_patch();
    patch.mutations.pop();
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::PatchMac)
    );
}

#[test]
fn unknown_key_is_named() {
    let patch = one_patch();
    let got = decode_patch(
        Collection::RegularLow,
        &CollectionState::new(),
        &patch,
        None,
        &no_keys,
    );
    assert_eq!(got, Err(AppStateError::UnknownKey("000100004242".into())));
    assert_eq!(
        got.unwrap_err().to_string(),
        "no app-state sync key with id 000100004242"
    );
}

#[test]
fn mismatched_index_is_refused() {
    let mut patch = one_patch();
    // Record 1 claims record 0's index MAC: its value decrypts to another
    // index.
    let other = record_mut(&mut patch, 0).index.clone();
    record_mut(&mut patch, 1).index = other;
    assert_eq!(
        decode(&CollectionState::new(), &patch),
        Err(AppStateError::IndexMac { mutation: 1 })
    );
}

/// A record whose value MAC is valid over `enc` (garbage the key holder
/// could send).
fn record_over(enc: &[u8]) -> SyncdRecord {
    let keys = MutationKeys::derive(&KEY_DATA);
    let mut blob = enc.to_vec();
    blob.extend_from_slice(&keys.value_mac(Operation::Set, KEY_ID, enc));
    SyncdRecord {
        index: Some(SyncdIndex {
            blob: Some(vec![0; 32]),
        }),
        value: Some(SyncdValue { blob: Some(blob) }),
        key_id: Some(SyncdKeyId {
            id: Some(KEY_ID.to_vec()),
        }),
    }
}

fn patch_of(record: SyncdRecord) -> SyncdPatch {
    let mut patch = one_patch();
    patch.mutations = vec![SyncdMutation {
        operation: Some(0),
        record: Some(record),
    }];
    patch
}

#[test]
fn garbage_values_are_errors() {
    let state = CollectionState::new();
    // Too short to hold a MAC, or exactly a MAC and nothing else.
    for len in [0, 10, 31, 32] {
        let mut patch = one_patch();
        value_blob(&mut patch, 0).truncate(len);
        assert_eq!(
            decode(&state, &patch),
            Err(AppStateError::ValueMac { mutation: 0 })
        );
    }
    // Authentic but not whole blocks, or bad padding.
    for enc in [&[0u8; 17][..], &[0u8; 16], &[0u8; 40], &[0u8; 48]] {
        assert_eq!(
            decode(&state, &patch_of(record_over(enc))),
            Err(AppStateError::Decrypt { mutation: 0 })
        );
    }
    // Authentic, decrypts, but is not a SyncActionData.
    let keys = MutationKeys::derive(&KEY_DATA);
    let enc = keys.encrypt_value(&[0xff; 7], &mut rand::rng());
    assert!(matches!(
        decode(&state, &patch_of(record_over(&enc))),
        Err(AppStateError::Decode { mutation: 0, .. })
    ));
    let mut patch = one_patch();
    record_mut(&mut patch, 0).value = None;
    assert_eq!(
        decode(&state, &patch),
        Err(AppStateError::MissingField("record value"))
    );
    let mut patch = one_patch();
    patch.mutations[0].operation = Some(7);
    assert!(matches!(
        decode(&state, &patch),
        Err(AppStateError::Decode { mutation: 0, .. })
    ));
    let mut patch = one_patch();
    patch.key_id = None;
    assert_eq!(
        decode(&state, &patch),
        Err(AppStateError::MissingField("patch keyId"))
    );
}

#[test]
fn external_mutations() {
    let mut patch = one_patch();
    let external = SyncdMutations {
        mutations: std::mem::take(&mut patch.mutations),
    };
    patch.external_mutations = Some(ExternalBlobReference::default());
    let state = CollectionState::new();
    assert_eq!(
        decode(&state, &patch),
        Err(AppStateError::MissingField("downloaded external mutations"))
    );
    let got = decode_patch(
        Collection::RegularLow,
        &state,
        &patch,
        Some(&external),
        &lookup,
    );
    assert_eq!(got.unwrap().1.len(), 2);
}

#[test]
fn actions_round_trip() {
    let chat = jid("123@s.whatsapp.net");
    let group = jid("120363000000000000@g.us");
    let actions = [
        Action::Contact {
            jid: chat.clone(),
            full_name: Some("Ada Lovelace".into()),
            first_name: Some("Ada".into()),
        },
        Action::Archive {
            chat: chat.clone(),
            archived: true,
        },
        Action::Mute {
            chat: chat.clone(),
            muted: true,
            until_ms: None,
        },
        Action::Mute {
            chat: chat.clone(),
            muted: true,
            until_ms: Some(1_700_000_000_000),
        },
        Action::Mute {
            chat: chat.clone(),
            muted: false,
            until_ms: None,
        },
        Action::Pin {
            chat: chat.clone(),
            pinned: true,
        },
        Action::MarkRead {
            chat: group.clone(),
            read: false,
        },
        Action::Star {
            chat: group.clone(),
            message_id: "3EB0ABCDEF".into(),
            from_me: false,
            participant: Some(jid("456@s.whatsapp.net")),
            starred: true,
        },
        Action::Star {
            chat: chat.clone(),
            message_id: "3EB0FEDCBA".into(),
            from_me: true,
            participant: None,
            starred: false,
        },
        Action::PushName {
            name: "Alice Example".into(),
        },
        Action::NctSalt {
            salt: Some(vec![7; 32]),
        },
    ];
    for action in actions {
        let (collection, new) = action.to_new_mutation(1_700_000_000_123).unwrap();
        let want = match &action {
            Action::Contact { .. } => (Collection::CriticalUnblockLow, "contact", 2),
            Action::Archive { .. } => (Collection::RegularLow, "archive", 3),
            Action::Mute { .. } => (Collection::RegularHigh, "mute", 2),
            Action::Pin { .. } => (Collection::RegularLow, "pin_v1", 5),
            Action::MarkRead { .. } => (Collection::RegularLow, "markChatAsRead", 3),
            Action::Star { .. } => (Collection::RegularHigh, "star", 2),
            Action::PushName { .. } => (Collection::CriticalBlock, "setting_pushName", 1),
            Action::NctSalt { .. } => (Collection::CriticalBlock, "nct_salt_sync", 1),
            Action::Other { .. } => unreachable!(),
        };
        assert_eq!((collection, new.index[0].as_str(), new.version), want);
        let (patch, _) = encode_patch(
            collection,
            &CollectionState::new(),
            KEY_ID,
            &KEY_DATA,
            std::slice::from_ref(&new),
            &mut rand::rng(),
        );
        let (_, decoded) =
            decode_patch(collection, &CollectionState::new(), &patch, None, &lookup).unwrap();
        assert_eq!(Action::from_mutation(&decoded[0]), Some(action));
    }
    let other = Action::Other {
        index: vec!["setting_locale".into()],
    };
    assert_eq!(other.to_new_mutation(0), None);
}

#[test]
fn action_from_odd_mutations() {
    let mutation = |operation, index: &[&str], value: Option<SyncActionValue>| Mutation {
        operation,
        index: index.iter().map(|s| s.to_string()).collect(),
        value,
        version: 2,
        index_mac: Vec::new(),
        value_mac: Vec::new(),
    };
    let mute = SyncActionValue {
        mute_action: Some(MuteAction {
            muted: Some(true),
            mute_end_timestamp: Some(-1),
            ..MuteAction::default()
        }),
        ..SyncActionValue::default()
    };
    let chat = ["mute", "1@s.whatsapp.net"];
    assert_eq!(
        Action::from_mutation(&mutation(Operation::Remove, &chat, Some(mute.clone()))),
        None
    );
    assert_eq!(
        Action::from_mutation(&mutation(Operation::Set, &chat, None)),
        None
    );
    // Removing the cstoken salt clears it (whatsmeow `appstate.go`).
    assert_eq!(
        Action::from_mutation(&mutation(Operation::Remove, &["nct_salt_sync"], None)),
        Some(Action::NctSalt { salt: None })
    );
    assert_eq!(
        Action::NctSalt { salt: None }.to_new_mutation(0),
        None,
        "a removal is not sent as a SET"
    );
    assert_eq!(
        Action::from_mutation(&mutation(Operation::Set, &chat, Some(mute.clone()))),
        Some(Action::Mute {
            chat: jid("1@s.whatsapp.net"),
            muted: true,
            until_ms: None
        })
    );
    // A known index with the wrong value, a bad JID, or a wrong arity.
    let contact = SyncActionValue {
        contact_action: Some(ContactAction::default()),
        ..SyncActionValue::default()
    };
    for (index, value) in [
        (&["mute", "1@s.whatsapp.net"][..], contact.clone()),
        (&["contact", "no-at-sign"][..], contact.clone()),
        (&["mute", "1@s.whatsapp.net", "extra"][..], mute.clone()),
        (&["star", "1@s.whatsapp.net", "id", "2", "0"][..], mute),
        (&["setting_pushName"][..], contact),
    ] {
        let got = Action::from_mutation(&mutation(Operation::Set, index, Some(value)));
        assert!(matches!(got, Some(Action::Other { .. })), "{index:?}");
    }
}

/// Arbitrary patches whose records carry the real key id, so decoding gets
/// past the key lookup to the MAC checks.
fn arb_patch() -> impl Strategy<Value = SyncdPatch> {
    let blob = || prop::option::of(prop::collection::vec(any::<u8>(), 0..80));
    let record = (blob(), blob(), any::<bool>()).prop_map(|(index, value, real_key)| SyncdRecord {
        index: Some(SyncdIndex { blob: index }),
        value: Some(SyncdValue { blob: value }),
        key_id: Some(SyncdKeyId {
            id: Some(if real_key { KEY_ID.to_vec() } else { vec![9] }),
        }),
    });
    let mutation = (prop::option::of(-1i32..3), prop::option::of(record))
        .prop_map(|(operation, record)| SyncdMutation { operation, record });
    (
        prop::collection::vec(mutation, 0..4),
        blob(),
        blob(),
        any::<u64>(),
    )
        .prop_map(|(mutations, snapshot_mac, patch_mac, version)| SyncdPatch {
            version: Some(SyncdVersion {
                version: Some(version),
            }),
            mutations,
            snapshot_mac,
            patch_mac,
            key_id: Some(SyncdKeyId {
                id: Some(KEY_ID.to_vec()),
            }),
            ..SyncdPatch::default()
        })
}

proptest! {
    #[test]
    fn random_bytes_as_patch_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(patch) = SyncdPatch::decode(bytes.as_slice()) {
            let _ = decode(&CollectionState::new(), &patch);
        }
        if let Ok(snapshot) = crate::proto::SyncdSnapshot::decode(bytes.as_slice()) {
            let _ = decode_snapshot(Collection::Regular, &snapshot, &lookup);
        }
        let _ = CollectionState::from_bytes(&bytes);
    }

    #[test]
    fn arbitrary_patches_are_refused(patch in arb_patch()) {
        prop_assert!(decode(&CollectionState::new(), &patch).is_err());
    }

    #[test]
    fn flipped_byte_never_panics(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = one_patch().encode_to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(patch) = SyncdPatch::decode(bytes.as_slice()) {
            let _ = decode(&CollectionState::new(), &patch);
        }
    }
}
