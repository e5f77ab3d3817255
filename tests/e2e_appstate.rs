//! App state both ways, end to end: a real Synapse, wa-sim's scripted
//! phone and the bridge with double puppeting. What the phone's app state
//! says at login (contact names, archive, pin, mute) shows on the user's
//! rooms; the phone's later changes (rename, archive, pin, mute, mark
//! read/unread, star) follow; and the user's tags, mutes and reads in
//! Matrix reach the phone's app state, decoded from the server's patches.
//! Spoiled patches (wrong value MAC, wrong LTHash, unknown key) change
//! nothing, and the next good patch applies. Last, the user's read
//! receipt and typing reach the contact's phone, and each message the
//! user sends gets a `com.beeper.message_send_status`; a location from
//! the contact arrives as `m.location` (polls: `e2e_polls.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;
use support::history::portals;
use support::login::{LoggedIn, start_logged_in};
use support::matrix::{MatrixUser, enc};
use support::settings::{self, muted, room_data, rule_path, set_tag, tags};
use support::synapse;
use wa_core::jid::Jid;
use wa_sim::{HistoryScript, PatchFault, ScriptChat, ScriptMessage, Sender};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557780001";
const BOB_PN: &str = "15557780002";
const CAROL_PN: &str = "15557780003";
const DAVE_PN: &str = "15557780004";
/// The message of Bob's that the phone stars.
const STARRED_ID: &str = "3EB0A11CE5TAR001";

/// Polls `check` until it holds; panics naming `what` after [`WAIT`].
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    settings::eventually(WAIT, what, check).await;
}

fn user_jid(pn: &str) -> Jid {
    Jid::user_jid(pn.to_owned())
}

async fn displayname(user: &MatrixUser, who: &str) -> Option<String> {
    let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(who));
    let (status, v) = user.try_request(reqwest::Method::GET, &path, None).await;
    if !status.is_success() {
        return None;
    }
    v["displayname"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_state_both_ways_then_receipts_typing_status_and_kinds() {
    if synapse::venv().is_none() {
        return;
    }
    support::log::to_test_output("wabridge=debug,wa_client=info");
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    for pn in [BOB_PN, CAROL_PN, DAVE_PN] {
        sim.account(pn);
    }
    let t0 = 1_790_000_000u64;
    let week_ms = i64::try_from(
        (std::time::SystemTime::now() + Duration::from_secs(7 * 24 * 3600))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    phone.set_history(
        HistoryScript::new()
            .chat(
                ScriptChat::direct(BOB_PN)
                    .name("Bob Contact")
                    .message(ScriptMessage::new(
                        STARRED_ID,
                        Sender::Pn(BOB_PN.into()),
                        "hi alice",
                        t0,
                    ))
                    .text(Sender::Me, "hi bob", t0 + 60),
            )
            .chat(ScriptChat::direct(CAROL_PN).archived().text(
                Sender::Pn(CAROL_PN.into()),
                "from carol",
                t0 + 120,
            ))
            .chat(
                ScriptChat::direct(DAVE_PN)
                    .pinned()
                    .muted_until(week_ms)
                    .text(Sender::Pn(DAVE_PN.into()), "from dave", t0 + 180),
            ),
    );

    let LoggedIn {
        synapse,
        bridge,
        alice,
        ..
    } = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-e2e-appstate", true, WAIT).await;
    // Every phone has a push name; without one no presence is sent (as
    // whatsmeow and Baileys).
    phone.set_push_name("Alice").await.unwrap();
    let ghost = |pn: &str| format!("@whatsapp_{pn}:{}", synapse.server_name());

    // The history's chats become rooms the user is in.
    let deadline = Instant::now() + WAIT;
    let rooms = loop {
        let rooms = portals(&alice).await;
        if rooms.len() == 3 {
            break rooms;
        }
        assert!(
            Instant::now() < deadline,
            "three portals in time: {rooms:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let room_of = |pn: &str| {
        let chat = user_jid(pn).to_string();
        rooms
            .get(&chat)
            .cloned()
            .unwrap_or_else(|| panic!("no portal for {chat} in {rooms:?}"))
    };
    let (bob_room, carol_room, dave_room) = (room_of(BOB_PN), room_of(CAROL_PN), room_of(DAVE_PN));

    // What app state said at login.
    // The name is Alice's, from her address book: Bob's ghost carries it
    // in her room with him only; his profile, which every user of the
    // bridge sees, does not (issue 18).
    eventually(
        "Bob's ghost has his contact name in Alice's room",
        || async {
            let member = alice
                .get_state(&bob_room, "m.room.member", &ghost(BOB_PN))
                .await;
            member.is_some_and(|m| m["displayname"] == "Bob Contact")
        },
    )
    .await;
    let global = displayname(&alice, &ghost(BOB_PN)).await;
    assert_ne!(
        global.as_deref(),
        Some("Bob Contact"),
        "a contact name is not the ghost's global name"
    );
    eventually("Carol's archived chat is low priority", || async {
        tags(&alice, &carol_room).await == ["m.lowpriority"]
    })
    .await;
    eventually("Dave's pinned chat is a favourite", || async {
        tags(&alice, &dave_room).await == ["m.favourite"]
    })
    .await;
    assert!(
        muted(&alice, &dave_room).await,
        "Dave's muted chat is muted"
    );
    assert!(tags(&alice, &bob_room).await.is_empty());
    assert!(!muted(&alice, &bob_room).await);
    let starred_event = {
        let deadline = Instant::now() + WAIT;
        let event = loop {
            if let Some(e) = alice
                .room_messages(&bob_room)
                .await
                .into_iter()
                .find(|e| e["content"]["body"] == "hi alice")
            {
                break e;
            }
            assert!(
                Instant::now() < deadline,
                "Bob's history in his room in time"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(event["sender"], ghost(BOB_PN).as_str());
        assert_eq!(event["origin_server_ts"], t0 * 1000, "original time");
        event["event_id"].as_str().unwrap().to_owned()
    };

    // The phone's changes.
    phone.rename_contact(BOB_PN, "Bobby").await.unwrap();
    eventually("the rename reaches the ghost in Alice's room", || async {
        let member = alice
            .get_state(&bob_room, "m.room.member", &ghost(BOB_PN))
            .await;
        member.is_some_and(|m| m["displayname"] == "Bobby")
    })
    .await;
    assert_ne!(
        displayname(&alice, &ghost(BOB_PN)).await.as_deref(),
        Some("Bobby"),
        "and not its global name"
    );
    eventually("the rename reaches the room name", || async {
        alice
            .get_state(&bob_room, "m.room.name", "")
            .await
            .is_some_and(|n| n["name"] == "Bobby")
    })
    .await;
    // Bob renames himself: his ghost's own name follows, which makes the
    // homeserver rewrite its member events everywhere; Alice's name for
    // him comes back in her room (issue 18; before, it was lost until her
    // next rename).
    sim.set_push_name(BOB_PN, "Robert");
    let bob = sim.account(BOB_PN);
    bob.send_text(ALICE_PN, "a new name").await.unwrap();
    eventually("Bob's own new name is his ghost's", || async {
        displayname(&alice, &ghost(BOB_PN)).await.as_deref() == Some("Robert")
    })
    .await;
    eventually("and Alice's name for him stays in her room", || async {
        let member = alice
            .get_state(&bob_room, "m.room.member", &ghost(BOB_PN))
            .await;
        member.is_some_and(|m| m["displayname"] == "Bobby")
    })
    .await;
    phone.archive_chat(&user_jid(BOB_PN), true).await.unwrap();
    eventually("archive -> low priority", || async {
        tags(&alice, &bob_room).await == ["m.lowpriority"]
    })
    .await;
    phone.pin_chat(&user_jid(CAROL_PN), true).await.unwrap();
    eventually("pin -> favourite", || async {
        let mut t = tags(&alice, &carol_room).await;
        t.sort();
        t == ["m.favourite", "m.lowpriority"]
    })
    .await;
    phone
        .mute_chat(&user_jid(BOB_PN), Some(week_ms))
        .await
        .unwrap();
    eventually("mute -> push rule", || async {
        muted(&alice, &bob_room).await
    })
    .await;
    phone
        .mark_chat_read(&user_jid(CAROL_PN), false)
        .await
        .unwrap();
    eventually("marked unread", || async {
        room_data(&alice, &carol_room, "m.marked_unread")
            .await
            .is_some_and(|v| v["unread"] == true)
    })
    .await;
    phone
        .mark_chat_read(&user_jid(CAROL_PN), true)
        .await
        .unwrap();
    let carol_newest = alice
        .room_messages(&carol_room)
        .await
        .into_iter()
        .rev()
        .find(|e| e["content"]["body"] == "from carol")
        .expect("Carol's history")["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("read -> read marker on the newest message", || async {
        room_data(&alice, &carol_room, "m.fully_read")
            .await
            .is_some_and(|v| v["event_id"] == carol_newest.as_str())
            && room_data(&alice, &carol_room, "m.marked_unread")
                .await
                .is_some_and(|v| v["unread"] == false)
    })
    .await;
    phone
        .star_message(&user_jid(BOB_PN), STARRED_ID, false, true)
        .await
        .unwrap();
    let (_, star) = alice
        .sync_until(WAIT, |room, e| {
            room == bob_room
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["key"] == "⭐"
        })
        .await;
    assert_eq!(
        star["content"]["m.relates_to"]["event_id"],
        starred_event.as_str()
    );
    assert_eq!(
        star["sender"],
        alice.user_id.as_str(),
        "starred by the user"
    );
    phone
        .star_message(&user_jid(BOB_PN), STARRED_ID, false, false)
        .await
        .unwrap();
    let star_id = star["event_id"].as_str().unwrap().to_owned();
    alice
        .sync_until(WAIT, |room, e| {
            room == bob_room && e["type"] == "m.room.redaction" && e["redacts"] == star_id.as_str()
        })
        .await;

    // Nothing the bridge did in Matrix went back to WhatsApp as a change.
    let versions = phone.app_state_view().await.versions;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        phone.app_state_view().await.versions,
        versions,
        "the bridge's own settings were not echoed"
    );

    // The user's changes in Matrix.
    let bob_jid = user_jid(BOB_PN).to_string();
    let carol_jid = user_jid(CAROL_PN).to_string();
    let dave_jid = user_jid(DAVE_PN).to_string();
    set_tag(&alice, &bob_room, "m.favourite", true).await;
    eventually("favourite -> pinned", || async {
        phone.app_state_view().await.pinned.contains(&bob_jid)
    })
    .await;
    set_tag(&alice, &carol_room, "m.lowpriority", false).await;
    eventually("low priority removed -> unarchived", || async {
        !phone.app_state_view().await.archived.contains(&carol_jid)
    })
    .await;
    set_tag(&alice, &dave_room, "m.lowpriority", true).await;
    eventually("low priority -> archived", || async {
        phone.app_state_view().await.archived.contains(&dave_jid)
    })
    .await;
    alice
        .put(&rule_path(&carol_room), &json!({"actions": []}))
        .await;
    eventually("room rule -> muted", || async {
        phone.app_state_view().await.muted.contains_key(&carol_jid)
    })
    .await;
    alice
        .request(reqwest::Method::DELETE, &rule_path(&dave_room), None)
        .await;
    eventually("rule removed -> unmuted", || async {
        !phone.app_state_view().await.muted.contains_key(&dave_jid)
    })
    .await;
    phone
        .mark_chat_read(&user_jid(BOB_PN), false)
        .await
        .unwrap();
    eventually("marked unread again", || async {
        room_data(&alice, &bob_room, "m.marked_unread")
            .await
            .is_some_and(|v| v["unread"] == true)
    })
    .await;
    let bob_newest = alice
        .room_messages(&bob_room)
        .await
        .into_iter()
        .rev()
        .find(|e| e["type"] == "m.room.message")
        .unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Opening the room, a client clears the mark and moves the markers.
    alice
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/rooms/{}/account_data/m.marked_unread",
                enc(&alice.user_id),
                enc(&bob_room)
            ),
            &json!({"unread": false}),
        )
        .await;
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{}/read_markers", enc(&bob_room)),
            &json!({"m.fully_read": bob_newest, "m.read": bob_newest}),
        )
        .await;
    eventually("read in Matrix -> read on the phone", || async {
        phone.app_state_view().await.read.get(&bob_jid) == Some(&true)
    })
    .await;
    let view = phone.app_state_view().await;
    assert!(view.pinned.contains(&carol_jid), "the phone's pin stays");
    assert_eq!(
        view.contacts.get(&bob_jid).map(String::as_str),
        Some("Bobby")
    );

    // Spoiled patches are refused whole, and the next good one applies.
    for (fault, pin) in [
        (PatchFault::WrongValueMac, false),
        (PatchFault::WrongLtHash, true),
        (PatchFault::UnknownKeyId, false),
    ] {
        phone.corrupt_next_patch(fault).await.unwrap();
        phone.archive_chat(&user_jid(CAROL_PN), true).await.unwrap();
        phone.pin_chat(&user_jid(BOB_PN), pin).await.unwrap();
        eventually(&format!("the patch after a {fault:?} applies"), || async {
            tags(&alice, &bob_room)
                .await
                .contains(&"m.favourite".to_owned())
                == pin
        })
        .await;
        assert!(
            !tags(&alice, &carol_room)
                .await
                .contains(&"m.lowpriority".to_owned()),
            "{fault:?}: the spoiled archive was not applied"
        );
    }

    // The user's read receipt and typing reach the contact's phone.
    let bob = sim.account(BOB_PN);
    let live_id = bob.send_text(ALICE_PN, "are you there?").await.unwrap();
    let (_, live) = alice
        .sync_until(WAIT, |room, e| {
            room == bob_room && e["content"]["body"] == "are you there?"
        })
        .await;
    alice
        .read_receipt(&bob_room, live["event_id"].as_str().unwrap())
        .await;
    eventually("Alice's read receipt reaches Bob's phone", || async {
        bob.read_receipts().iter().any(|r| r.ids.contains(&live_id))
    })
    .await;
    let read: Vec<String> = bob
        .read_receipts()
        .into_iter()
        .filter(|r| r.chat == user_jid(ALICE_PN))
        .flat_map(|r| r.ids)
        .collect();
    assert!(
        read.contains(&STARRED_ID.to_owned()),
        "every message up to the receipt is read: {read:?}"
    );
    alice.typing(&bob_room, true).await;
    eventually("typing reaches Bob's phone", || async {
        bob.chat_states()
            .iter()
            .any(|c| c.from.user() == ALICE_PN && c.state == "composing")
    })
    .await;
    alice.typing(&bob_room, false).await;
    eventually("stopping reaches Bob's phone", || async {
        bob.chat_states()
            .last()
            .is_some_and(|c| c.from.user() == ALICE_PN && c.state == "paused")
    })
    .await;

    // Presence: active in Matrix, the user shows online on WhatsApp, and
    // offline again once idle; Bob's phone going online and offline shows
    // on his ghost.
    eventually("Alice shows online on WhatsApp while active", || async {
        sim.presence(ALICE_PN) == Some(true)
    })
    .await;
    eventually("and offline once idle", || async {
        sim.presence(ALICE_PN) == Some(false)
    })
    .await;
    assert!(
        sim.presence_subscribers(BOB_PN)
            .iter()
            .any(|(pn, _)| pn == ALICE_PN),
        "the bridge follows Bob's presence"
    );
    let bob_presence = format!("/_matrix/client/v3/presence/{}/status", enc(&ghost(BOB_PN)));
    bob.set_presence(true);
    eventually("Bob's ghost shows online", || async {
        alice.get(&bob_presence).await["presence"] == "online"
    })
    .await;
    bob.set_presence(false);
    eventually("Bob's ghost shows offline", || async {
        alice.get(&bob_presence).await["presence"] == "offline"
    })
    .await;

    // Bob types on his phone, then stops: his ghost types in his room.
    let bob_ghost = ghost(BOB_PN);
    let typing_users = |e: &serde_json::Value| -> Vec<String> {
        e["content"]["user_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    bob.set_typing(&user_jid(ALICE_PN), true);
    alice
        .sync_until(WAIT, |room, e| {
            room == bob_room && e["type"] == "m.typing" && typing_users(e).contains(&bob_ghost)
        })
        .await;
    bob.set_typing(&user_jid(ALICE_PN), false);
    alice
        .sync_until(WAIT, |room, e| {
            room == bob_room && e["type"] == "m.typing" && !typing_users(e).contains(&bob_ghost)
        })
        .await;

    // Every message gets a status: delivered, or refused with a reason.
    let sent = alice.send_text(&bob_room, "status please").await;
    let (_, ok) = alice
        .sync_until(WAIT, |room, e| {
            room == bob_room
                && e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == sent.as_str()
        })
        .await;
    assert_eq!(ok["content"]["status"], "SUCCESS");
    assert_eq!(ok["content"]["m.relates_to"]["rel_type"], "m.reference");
    let place = alice
        .send_event(
            &bob_room,
            "m.room.message",
            &json!({"msgtype": "org.example.hologram", "body": "here"}),
        )
        .await;
    let (_, failed) = alice
        .sync_until(WAIT, |room, e| {
            room == bob_room
                && e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == place.as_str()
        })
        .await;
    assert_eq!(failed["content"]["status"], "FAIL_PERMANENT");
    assert_eq!(failed["content"]["reason"], "m_unsupported");
    assert!(
        failed["content"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("org.example.hologram")),
        "{failed}"
    );

    // A location from Matrix reaches the phone as a WhatsApp location.
    alice
        .send_event(
            &bob_room,
            "m.room.message",
            &json!({"msgtype": "m.location", "body": "Meet here", "geo_uri": "geo:1.5,2.25;u=10"}),
        )
        .await;
    eventually("the location reaches Bob's phone", || async {
        bob.received().iter().any(|r| {
            r.message.location_message.as_ref().is_some_and(|l| {
                (l.degrees_latitude, l.degrees_longitude, l.name.as_deref())
                    == (Some(1.5), Some(2.25), Some("Meet here"))
            })
        })
    })
    .await;

    // Kinds without text or attachment are shown readably.
    let location = wa_core::proto::Message {
        location_message: Some(Box::new(wa_core::proto::message::LocationMessage {
            degrees_latitude: Some(48.25),
            degrees_longitude: Some(16.5),
            name: Some("Station".into()),
            ..Default::default()
        })),
        ..Default::default()
    };
    bob.send_message(ALICE_PN, location).await.unwrap();
    let (_, loc) = alice
        .sync_until(WAIT, |room, e| {
            room == bob_room
                && e["content"]["msgtype"] == "m.location"
                && e["sender"] == ghost(BOB_PN).as_str()
        })
        .await;
    assert_eq!(loc["content"]["geo_uri"], "geo:48.25,16.5");
    assert_eq!(loc["sender"], ghost(BOB_PN).as_str());

    bridge.stop().await;
}
