//! App-state storage on the server: patches pushed and fetched by version,
//! 409 for a device that is behind, paging, `server_sync` to the other
//! devices (patches are opaque bytes there). Then the scripted phone's app
//! state, checked with `wa_core::appstate` and the keys a companion was
//! shared: the script's seed, one patch per phone action, patches of other
//! devices in the phone's view, key rotation, spoiled patches, snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use wa_client::{Connection, Event};
use wa_core::appstate::{Action, AppStateError, Collection};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_sim::{AppStateView, HistoryScript, PatchFault, ScriptChat, Sim};

use support::appstate::{
    Follower, actions, collection, companion_with_keys, fetch, fetch_snapshot, key_id,
    next_key_share, patches, push, push_as_companion, snapshot, sync_iq, user,
};
use support::{Device, link, login, next_node, start_sim};

/// A companion of `pn` (linked now), logged in and past its offline marker.
async fn device_of(sim: &Sim, pn: &str) -> (Connection, mpsc::Receiver<Event>) {
    let phone = sim.account(pn);
    let mut device = Device::new();
    link(sim, &phone, &mut device).await.unwrap();
    let (conn, mut events, _) = login(sim, &device).await;
    assert_eq!(next_node(&mut events).await.tag, "ib");
    (conn, events)
}

/// A patch as the server hands it out: as pushed, then `version{version}`.
fn served(patch: &[u8], version: u8) -> Vec<u8> {
    let mut out = patch.to_vec();
    out.extend_from_slice(&[0x0a, 0x02, 0x08, version]);
    out
}

/// Some bytes shaped like a patch: a snapshot MAC (field 4).
fn opaque(n: u8) -> Vec<u8> {
    let mut p = vec![0x22, 0x20];
    p.extend_from_slice(&[n; 32]);
    p
}

#[tokio::test]
async fn pushed_patches_come_back_numbered() {
    let sim = start_sim().await;
    let pn = "15557770001";
    let (conn, _events) = device_of(&sim, pn).await;
    let answer = conn.iq(push("regular_low", 0, &opaque(1))).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("name"), Some("regular_low"));
    assert_eq!(c.attr_str("version"), Some("1"));
    assert_eq!(c.attr_str("type"), None);
    let answer = conn.iq(push("regular_low", 1, &opaque(2))).await.unwrap();
    assert_eq!(collection(&answer).attr_str("version"), Some("2"));
    assert_eq!(sim.app_state_version(pn, "regular_low"), 2);
    assert_eq!(sim.app_state_version(pn, "regular_high"), 0);

    let answer = conn.iq(fetch("regular_low", 0)).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("version"), Some("2"));
    assert_eq!(c.attr_str("has_more_patches"), Some("false"));
    assert_eq!(
        patches(c),
        vec![served(&opaque(1), 1), served(&opaque(2), 2)]
    );
    assert!(c.child("snapshot").is_none());
    let answer = conn.iq(fetch("regular_low", 1)).await.unwrap();
    assert_eq!(patches(collection(&answer)), vec![served(&opaque(2), 2)]);
    // Up to date: nothing, and no error.
    let answer = conn.iq(fetch("regular_low", 2)).await.unwrap();
    assert!(patches(collection(&answer)).is_empty());
    // An empty collection answers version 0.
    let answer = conn.iq(fetch("critical_block", 0)).await.unwrap();
    assert_eq!(collection(&answer).attr_str("version"), Some("0"));
}

#[tokio::test]
async fn several_collections_in_one_request() {
    let sim = start_sim().await;
    let pn = "15557770002";
    let (conn, _events) = device_of(&sim, pn).await;
    conn.iq(push("regular_high", 0, &opaque(7))).await.unwrap();
    let request = sync_iq(
        ["regular_high", "regular_low", "nonsense"]
            .iter()
            .map(|n| {
                Node::new("collection")
                    .attr("name", *n)
                    .attr("version", "0")
                    .attr("return_snapshot", "false")
            })
            .collect(),
    );
    let answer = conn.iq(request).await.unwrap();
    let cs: Vec<&Node> = answer
        .child("sync")
        .unwrap()
        .children_by_tag("collection")
        .collect();
    assert_eq!(cs.len(), 3);
    assert_eq!(patches(cs[0]), vec![served(&opaque(7), 1)]);
    assert!(patches(cs[1]).is_empty());
    assert_eq!(cs[2].attr_str("type"), Some("error"));
    assert_eq!(cs[2].child("error").unwrap().attr_str("code"), Some("400"));
}

#[tokio::test]
async fn a_push_on_an_old_version_gets_409_and_the_winners() {
    let sim = start_sim().await;
    let pn = "15557770003";
    let (a, _ea) = device_of(&sim, pn).await;
    let (b, _eb) = device_of(&sim, pn).await;
    a.iq(push("regular_low", 0, &opaque(1))).await.unwrap();
    a.iq(push("regular_low", 1, &opaque(2))).await.unwrap();
    // B still thinks the collection is empty.
    let answer = b.iq(push("regular_low", 0, &opaque(3))).await.unwrap();
    assert_eq!(answer.attr_str("type"), Some("result"));
    let c = collection(&answer);
    assert_eq!(c.attr_str("type"), Some("error"));
    let error = c.child("error").unwrap();
    assert_eq!(error.attr_str("code"), Some("409"));
    assert_eq!(error.attr_str("text"), Some("conflict"));
    assert_eq!(c.attr_str("has_more_patches"), Some("false"));
    assert_eq!(
        patches(c),
        vec![served(&opaque(1), 1), served(&opaque(2), 2)]
    );
    assert_eq!(sim.app_state_version(pn, "regular_low"), 2);
    // Rebased on the winners, it lands.
    let answer = b.iq(push("regular_low", 2, &opaque(3))).await.unwrap();
    assert_eq!(collection(&answer).attr_str("version"), Some("3"));
}

#[tokio::test]
async fn the_other_devices_hear_of_a_new_patch() {
    let sim = start_sim().await;
    let pn = "15557770004";
    let (a, mut ea) = device_of(&sim, pn).await;
    let (_b, mut eb) = device_of(&sim, pn).await;
    a.iq(push("critical_unblock_low", 0, &opaque(1)))
        .await
        .unwrap();
    let note = loop {
        let n = next_node(&mut eb).await;
        if n.tag == "notification" {
            break n;
        }
    };
    assert_eq!(note.attr_str("type"), Some("server_sync"));
    assert_eq!(note.attr_jid("from"), Some(&Jid::user_jid(pn)));
    assert!(note.attr_str("id").is_some() && note.attr_str("t").is_some());
    let c = note.child("collection").unwrap();
    assert_eq!(c.attr_str("name"), Some("critical_unblock_low"));
    assert_eq!(c.attr_str("version"), Some("1"));
    // The pusher is not told.
    let quiet = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if next_node(&mut ea).await.tag == "notification" {
                break;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the pushing device got a server_sync");
}

#[tokio::test]
async fn a_long_collection_comes_in_pages() {
    let sim = start_sim().await;
    let pn = "15557770005";
    let (conn, _events) = device_of(&sim, pn).await;
    for v in 0..60u8 {
        sim.push_app_state_patch(pn, 0, "regular", u64::from(v), opaque(v));
    }
    let answer = conn.iq(fetch("regular", 0)).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("has_more_patches"), Some("true"));
    assert_eq!(c.attr_str("version"), Some("50"));
    assert_eq!(patches(c).len(), wa_sim::server::appstate::PAGE);
    let answer = conn.iq(fetch("regular", 50)).await.unwrap();
    let c = collection(&answer);
    assert_eq!(c.attr_str("has_more_patches"), Some("false"));
    assert_eq!(c.attr_str("version"), Some("60"));
    assert_eq!(patches(c).len(), 10);
    assert_eq!(patches(c)[9], served(&opaque(59), 60));
}

#[tokio::test]
async fn the_script_is_in_app_state_before_any_companion_links() {
    let sim = start_sim().await;
    let pn = "15557771201";
    let phone = sim.account(pn);
    sim.account("15557771202");
    phone.set_history(
        HistoryScript::new().chat(
            ScriptChat::direct("15557771202")
                .name("Bob")
                .archived()
                .muted_until(-1),
        ),
    );
    // The phone's state from before: on the server with no companion yet,
    // so a companion's first sync finds it (no server_sync that would come
    // before the key share).
    let versions: Vec<u64> = Collection::ALL
        .iter()
        .map(|c| sim.app_state_version(pn, c.name()))
        .collect();
    assert_eq!(versions, [0, 1, 1, 0, 1], "{:?}", Collection::ALL);
    assert!(phone.linked_devices().is_empty());
    // Setting it again changes nothing.
    phone.set_history(HistoryScript::new().chat(ScriptChat::direct("15557771202").pinned()));
    let again: Vec<u64> = Collection::ALL
        .iter()
        .map(|c| sim.app_state_version(pn, c.name()))
        .collect();
    assert_eq!(again, versions);
}

#[tokio::test]
async fn the_script_is_seeded_as_patches_that_decode_to_it() {
    let sim = start_sim().await;
    let pn = "15557771101";
    let phone = sim.account(pn);
    for other in ["15557771102", "15557771103", "15557771104"] {
        sim.account(other);
    }
    let group = sim
        .create_group(pn, "Team", &["15557771102".into(), "15557771103".into()])
        .unwrap();
    let script = HistoryScript::new()
        .chat(
            ScriptChat::direct("15557771102")
                .name("Bob Builder")
                .pinned()
                .muted_until(1_900_000_000_000),
        )
        .chat(
            ScriptChat::direct("15557771103")
                .name("Carol")
                .archived()
                .muted_until(-1),
        )
        .chat(ScriptChat::group(&group).name("Team").pinned())
        .chat(ScriptChat::direct("15557771104"))
        .push_name("15557771102", "bobby");
    let (_c, keys) = companion_with_keys(&sim, &phone, Some(script)).await;
    let key = keys.0.keys().next().unwrap().clone();
    let (bob, carol) = (user("15557771102"), user("15557771103"));

    let mut follower = Follower::new(pn, keys);
    let (patch, m) = follower.read(&sim, Collection::CriticalUnblockLow);
    assert_eq!(key_id(&patch), key);
    assert_eq!(
        actions(&m),
        vec![
            Action::Contact {
                jid: bob.clone(),
                full_name: Some("Bob Builder".into()),
                first_name: Some("Bob".into()),
            },
            Action::Contact {
                jid: carol.clone(),
                full_name: Some("Carol".into()),
                first_name: Some("Carol".into()),
            },
        ]
    );
    let (_, m) = follower.read(&sim, Collection::RegularLow);
    assert_eq!(
        actions(&m),
        vec![
            Action::Pin {
                chat: bob.clone(),
                pinned: true
            },
            Action::Archive {
                chat: carol.clone(),
                archived: true
            },
            Action::Pin {
                chat: group.clone(),
                pinned: true
            },
        ]
    );
    let (_, m) = follower.read(&sim, Collection::RegularHigh);
    assert_eq!(
        actions(&m),
        vec![
            Action::Mute {
                chat: bob.clone(),
                muted: true,
                until_ms: Some(1_900_000_000_000)
            },
            Action::Mute {
                chat: carol.clone(),
                muted: true,
                until_ms: None
            },
        ]
    );
    // One patch each; push names are not app state.
    for c in Collection::ALL {
        assert!(follower.next_patch(&sim, c).is_none(), "{c}");
    }
    assert_eq!(sim.app_state_version(pn, "critical_block"), 0);
    assert_eq!(sim.app_state_version(pn, "regular"), 0);

    // The seed was there before the companion linked (see
    // the_script_is_in_app_state_before_any_companion_links): no
    // server_sync announced it.

    let view = phone.app_state_view().await;
    let want = AppStateView {
        versions: Collection::ALL
            .iter()
            .map(|c| {
                (
                    c.name().to_owned(),
                    u64::from(!matches!(
                        c,
                        Collection::CriticalBlock | Collection::Regular
                    )),
                )
            })
            .collect(),
        contacts: BTreeMap::from([
            (bob.to_string(), "Bob Builder".into()),
            (carol.to_string(), "Carol".into()),
        ]),
        archived: BTreeSet::from([carol.to_string()]),
        pinned: BTreeSet::from([bob.to_string(), group.to_string()]),
        muted: BTreeMap::from([
            (bob.to_string(), 1_900_000_000_000),
            (carol.to_string(), -1),
        ]),
        ..AppStateView::default()
    };
    assert_eq!(view, want);

    // Seeding is once per phone, not per companion.
    let (_c2, _) = companion_with_keys(&sim, &phone, None).await;
    assert_eq!(sim.app_state_version(pn, "regular_low"), 1);
}

#[tokio::test]
async fn each_phone_action_is_one_patch_of_its_action() {
    let sim = start_sim().await;
    let pn = "15557771201";
    let phone = sim.account(pn);
    let (mut c, keys) = companion_with_keys(&sim, &phone, None).await;
    let mut follower = Follower::new(pn, keys);
    let bob = user("15557771202");
    let mute = |muted, until_ms| Action::Mute {
        chat: bob.clone(),
        muted,
        until_ms,
    };

    let steps: Vec<(u64, Collection, Action)> = vec![
        (
            phone
                .rename_contact("15557771203", "Dora Explorer")
                .await
                .unwrap(),
            Collection::CriticalUnblockLow,
            Action::Contact {
                jid: user("15557771203"),
                full_name: Some("Dora Explorer".into()),
                first_name: Some("Dora".into()),
            },
        ),
        (
            phone.archive_chat(&bob, true).await.unwrap(),
            Collection::RegularLow,
            Action::Archive {
                chat: bob.clone(),
                archived: true,
            },
        ),
        (
            phone
                .mute_chat(&bob, Some(1_900_000_000_000))
                .await
                .unwrap(),
            Collection::RegularHigh,
            mute(true, Some(1_900_000_000_000)),
        ),
        (
            phone.mute_chat(&bob, Some(-1)).await.unwrap(),
            Collection::RegularHigh,
            mute(true, None),
        ),
        (
            phone.mute_chat(&bob, None).await.unwrap(),
            Collection::RegularHigh,
            mute(false, None),
        ),
        (
            phone.pin_chat(&bob, true).await.unwrap(),
            Collection::RegularLow,
            Action::Pin {
                chat: bob.clone(),
                pinned: true,
            },
        ),
        (
            phone.mark_chat_read(&bob, false).await.unwrap(),
            Collection::RegularLow,
            Action::MarkRead {
                chat: bob.clone(),
                read: false,
            },
        ),
        (
            phone.star_message(&bob, "M1", true, true).await.unwrap(),
            Collection::RegularHigh,
            Action::Star {
                chat: bob.clone(),
                message_id: "M1".into(),
                from_me: true,
                participant: None,
                starred: true,
            },
        ),
    ];
    for (version, collection, want) in steps {
        let (patch, m) = follower.read(&sim, collection);
        assert_eq!(patch.version.unwrap().version, Some(version));
        assert_eq!(actions(&m), vec![want]);
        let note = c.next_server_sync().await;
        let col = note.child("collection").unwrap();
        assert_eq!(col.attr_str("name"), Some(collection.name()));
        assert_eq!(col.attr_str("version"), Some(version.to_string().as_str()));
    }
    for c in Collection::ALL {
        assert!(follower.next_patch(&sim, c).is_none(), "{c}");
    }

    let view = phone.app_state_view().await;
    assert_eq!(
        view.contacts,
        BTreeMap::from([(user("15557771203").to_string(), "Dora Explorer".into())])
    );
    assert_eq!(view.archived, BTreeSet::from([bob.to_string()]));
    assert_eq!(view.pinned, BTreeSet::from([bob.to_string()]));
    assert!(view.muted.is_empty());
    assert_eq!(view.read, BTreeMap::from([(bob.to_string(), false)]));
    assert_eq!(
        view.starred,
        BTreeSet::from([(bob.to_string(), "M1".to_owned(), true)])
    );
    assert_eq!(view.versions["regular_high"], 4);
}

#[tokio::test]
async fn patches_of_other_devices_show_in_the_view() {
    let sim = start_sim().await;
    let pn = "15557771301";
    let phone = sim.account(pn);
    let (c, keys) = companion_with_keys(&sim, &phone, None).await;
    let key = keys.0.keys().next().unwrap().clone();
    let mut follower = Follower::new(pn, keys);
    let (bob, carol, eve) = (
        user("15557771302"),
        user("15557771303"),
        user("15557771304"),
    );
    phone.pin_chat(&bob, true).await.unwrap();
    follower.read(&sim, Collection::RegularLow);

    // Baileys-style: a star, a contact and an unpin, all in regular_low.
    push_as_companion(
        &sim,
        &c,
        &mut follower,
        Collection::RegularLow,
        &key,
        &[
            Action::Star {
                chat: carol.clone(),
                message_id: "C1".into(),
                from_me: false,
                participant: None,
                starred: true,
            },
            Action::Contact {
                jid: eve.clone(),
                full_name: Some("Eve Online".into()),
                first_name: None,
            },
            Action::Pin {
                chat: bob.clone(),
                pinned: false,
            },
        ],
    )
    .await;
    let view = phone.app_state_view().await;
    assert_eq!(
        view.starred,
        BTreeSet::from([(carol.to_string(), "C1".to_owned(), false)])
    );
    assert_eq!(
        view.contacts,
        BTreeMap::from([(eve.to_string(), "Eve Online".into())])
    );
    assert!(view.pinned.is_empty());
    assert_eq!(view.versions["regular_low"], 2);

    // Another device pushes while the phone is behind: the phone's push
    // conflicts, it reads the winner and lands on top.
    push_as_companion(
        &sim,
        &c,
        &mut follower,
        Collection::RegularLow,
        &key,
        &[Action::MarkRead {
            chat: carol.clone(),
            read: true,
        }],
    )
    .await;
    assert_eq!(phone.archive_chat(&carol, true).await.unwrap(), 4);
    let (_, m) = follower.read(&sim, Collection::RegularLow);
    assert_eq!(
        actions(&m),
        vec![Action::Archive {
            chat: carol.clone(),
            archived: true
        }]
    );
    let view = phone.app_state_view().await;
    assert_eq!(view.read, BTreeMap::from([(carol.to_string(), true)]));
    assert_eq!(view.archived, BTreeSet::from([carol.to_string()]));
}

#[tokio::test]
async fn a_rotated_key_is_shared_and_used() {
    let sim = start_sim().await;
    let pn = "15557771401";
    let phone = sim.account(pn);
    let (mut c, keys) = companion_with_keys(&sim, &phone, None).await;
    let first = keys.0.keys().next().unwrap().clone();
    let mut follower = Follower::new(pn, keys);
    let bob = user("15557771402");
    phone.mute_chat(&bob, Some(-1)).await.unwrap();
    let (patch, _) = follower.read(&sim, Collection::RegularHigh);
    assert_eq!(key_id(&patch), first);

    let second = phone.rotate_app_state_key().await.unwrap();
    assert_ne!(second, first);
    phone.mute_chat(&bob, None).await.unwrap();
    let patch = follower.next_patch(&sim, Collection::RegularHigh).unwrap();
    assert_eq!(key_id(&patch), second);
    // Without the new key the patch does not open; with it, it does.
    assert!(matches!(
        follower.decode(Collection::RegularHigh, &patch),
        Err(AppStateError::UnknownKey(_))
    ));
    let share = next_key_share(&mut c).await;
    assert_eq!(follower.keys.add_share(&share), vec![second.clone()]);
    let (_, m) = follower.read(&sim, Collection::RegularHigh);
    assert_eq!(
        actions(&m),
        vec![Action::Mute {
            chat: bob.clone(),
            muted: false,
            until_ms: None
        }]
    );
    // A companion linked now gets both keys (old patches use the old one).
    let (_c2, keys2) = companion_with_keys(&sim, &phone, None).await;
    assert_eq!(
        keys2.0.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([first, second])
    );
}

#[tokio::test]
async fn spoiled_patches_are_refused_and_the_next_one_applies() {
    let sim = start_sim().await;
    let pn = "15557771501";
    let phone = sim.account(pn);
    let (c, keys) = companion_with_keys(&sim, &phone, None).await;
    let mut follower = Follower::new(pn, keys.clone());
    let bob = user("15557771502");
    let low = Collection::RegularLow;
    phone.pin_chat(&bob, true).await.unwrap();
    follower.read(&sim, low);

    let refused = |fault, e: &AppStateError| match fault {
        PatchFault::WrongValueMac => *e == AppStateError::ValueMac { mutation: 0 },
        PatchFault::WrongLtHash => *e == AppStateError::SnapshotMac,
        PatchFault::UnknownKeyId => matches!(e, AppStateError::UnknownKey(_)),
    };
    for fault in [
        PatchFault::WrongValueMac,
        PatchFault::WrongLtHash,
        PatchFault::UnknownKeyId,
    ] {
        phone.corrupt_next_patch(fault).await.unwrap();
        phone.archive_chat(&bob, true).await.unwrap();
        let spoiled = follower.next_patch(&sim, low).unwrap();
        let e = follower.decode(low, &spoiled).unwrap_err();
        assert!(refused(fault, &e), "{fault:?}: {e:?}");
        follower.skip(low);
        // The next patch verifies on the state before the spoiled one.
        phone.mark_chat_read(&bob, true).await.unwrap();
        let (_, m) = follower.read(&sim, low);
        assert_eq!(
            actions(&m),
            vec![Action::MarkRead {
                chat: bob.clone(),
                read: true
            }]
        );
    }
    assert_eq!(sim.app_state_version(pn, low.name()), 7);
    // The phone's state leaves the spoiled patches out too.
    let view = phone.app_state_view().await;
    assert!(view.archived.is_empty());
    assert_eq!(view.pinned, BTreeSet::from([bob.to_string()]));

    // A snapshot the phone seals verifies, and holds the same records.
    assert_eq!(phone.compact_app_state(low).await.unwrap(), 7);
    let answer = c.conn.iq(fetch(low.name(), 0)).await.unwrap();
    let col = collection(&answer);
    assert!(patches(col).is_empty());
    let reference = col.child("snapshot").unwrap().content_bytes().unwrap();
    let (state, m) = snapshot(&sim, reference, low, &keys).await.unwrap();
    assert_eq!(state, follower.states[&low].0);
    let records: BTreeMap<Vec<u8>, _> = m.into_iter().map(|m| (m.index_mac.clone(), m)).collect();
    assert_eq!(records, follower.live[&low]);
}

#[tokio::test]
async fn after_expiry_a_snapshot_decodes_to_the_same_state() {
    let sim = start_sim().await;
    let pn = "15557771601";
    let phone = sim.account(pn);
    let (bob, carol) = (user("15557771602"), user("15557771603"));
    let script = HistoryScript::new()
        .chat(ScriptChat::direct("15557771602").name("Bob").pinned())
        .chat(
            ScriptChat::direct("15557771603")
                .name("Carol")
                .archived()
                .muted_until(-1),
        );
    let (c, keys) = companion_with_keys(&sim, &phone, Some(script)).await;
    let key = keys.0.keys().next().unwrap().clone();
    let mut follower = Follower::new(pn, keys.clone());
    follower.read_all(&sim);
    phone.star_message(&bob, "B1", false, true).await.unwrap();
    phone.archive_chat(&carol, false).await.unwrap();
    phone.rename_contact("15557771602", "Robert").await.unwrap();
    push_as_companion(
        &sim,
        &c,
        &mut follower,
        Collection::RegularHigh,
        &key,
        &[Action::Mute {
            chat: bob.clone(),
            muted: true,
            until_ms: Some(1_900_000_000_000),
        }],
    )
    .await;
    follower.read_all(&sim);
    let before = phone.app_state_view().await;
    assert_eq!(before.contacts[&bob.to_string()], "Robert");
    assert!(before.archived.is_empty());

    // The server's own snapshot at the last version.
    for col in Collection::ALL {
        let version = sim.app_state_version(pn, col.name());
        if version == 0 {
            continue;
        }
        sim.expire_app_state_patches(pn, col.name(), version);
        let (state, records) = fetch_snapshot(&sim, &c, col, &keys).await;
        assert_eq!(state, follower.states[&col].0, "{col}");
        assert_eq!(records, follower.live[&col], "{col}");
    }

    // The phone behind the expired patches takes the snapshot too.
    let version = push_as_companion(
        &sim,
        &c,
        &mut follower,
        Collection::RegularLow,
        &key,
        &[Action::Pin {
            chat: carol.clone(),
            pinned: true,
        }],
    )
    .await;
    sim.expire_app_state_patches(pn, "regular_low", version);
    let after = phone.app_state_view().await;
    assert_eq!(
        after.pinned,
        BTreeSet::from([bob.to_string(), carol.to_string()])
    );
    assert_eq!(
        AppStateView {
            pinned: before.pinned.clone(),
            versions: before.versions.clone(),
            ..after.clone()
        },
        before
    );

    // And a snapshot the phone seals holds the same.
    assert_eq!(
        phone
            .compact_app_state(Collection::RegularLow)
            .await
            .unwrap(),
        version
    );
    let (state, records) = fetch_snapshot(&sim, &c, Collection::RegularLow, &keys).await;
    assert_eq!(state, follower.states[&Collection::RegularLow].0);
    assert_eq!(records, follower.live[&Collection::RegularLow]);
}
