//! App state through the bridge against an independent implementation: a
//! real Synapse, wa-sim and the bridge with double puppeting; Baileys rc14
//! links as a second companion of the bridged user's account.
//!
//! - Baileys archives, pins, mutes and marks read with its own app-state
//!   code; the bridge's client verifies those patches (MACs, LTHash) and
//!   the user's rooms show them: `m.lowpriority`, `m.favourite`, a room
//!   push rule that does not notify, the read marker and receipt on the
//!   newest message. Nothing of it goes back to WhatsApp as a change.
//! - The user's tags and mutes in Matrix reach Baileys as `chats.update`
//!   with the right values, and only for the chats changed.
//! - Baileys logs no failed app-state check; the bridge refuses no app
//!   state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::history::{poll, portals};
use support::login::{LoggedIn, start_logged_in};
use support::matrix::MatrixUser;
use support::peer::Peer;
use support::settings::{eventually, muted, room_data, rule_path, set_tag, tags};
use support::synapse;
use tokio::net::TcpListener;
use wa_core::jid::Jid;
use wa_sim::{HistoryScript, ScriptChat, Sender, Sim};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557830001";
/// Baileys archives Bob's chat, pins Carol's, mutes Dave's and marks
/// Erin's (unread) read.
const BOB_PN: &str = "15557830002";
const CAROL_PN: &str = "15557830003";
const DAVE_PN: &str = "15557830004";
const ERIN_PN: &str = "15557830005";
/// A base time for the script (seconds).
const T: u64 = 1_790_000_000;

fn chat(pn: &str) -> String {
    Jid::user_jid(pn.to_owned()).to_string()
}

/// The newest `m.room.message` of `room`, as `user` sees it.
async fn newest_message(user: &MatrixUser, room: &str) -> Option<String> {
    user.room_messages(room)
        .await
        .into_iter()
        .rev()
        .find(|e| e["type"] == "m.room.message")
        .and_then(|e| e["event_id"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_app_state_shows_in_matrix_and_the_users_settings_reach_baileys() {
    if synapse::venv().is_none() {
        return;
    }
    let Some(baileys) = support::baileys::baileys_dir() else {
        return;
    };
    support::log::capture();
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(ALICE_PN);
    for pn in [BOB_PN, CAROL_PN, DAVE_PN, ERIN_PN] {
        sim.account(pn);
    }
    let them = |pn: &str| Sender::Pn(pn.to_owned());
    phone.set_history(
        HistoryScript::new()
            .chat(
                ScriptChat::direct(BOB_PN)
                    .name("Bob")
                    .text(them(BOB_PN), "hi alice", T)
                    .text(Sender::Me, "hi bob", T + 60),
            )
            .chat(ScriptChat::direct(CAROL_PN).name("Carol").text(
                them(CAROL_PN),
                "from carol",
                T + 120,
            ))
            .chat(ScriptChat::direct(DAVE_PN).name("Dave").text(
                them(DAVE_PN),
                "from dave",
                T + 180,
            ))
            .chat(
                ScriptChat::direct(ERIN_PN)
                    .name("Erin")
                    .text(Sender::Me, "ping", T + 240)
                    .text(them(ERIN_PN), "pong", T + 300)
                    .text(them(ERIN_PN), "still there?", T + 360)
                    .unread(2),
            ),
    );

    // Synapse is kept (bound) until the end.
    let LoggedIn {
        synapse: _synapse,
        bridge,
        alice,
        ..
    } = start_logged_in(
        &sim,
        &phone,
        ALICE_PN,
        "wabridge-e2e-baileys-appstate",
        true,
        WAIT,
    )
    .await;

    let rooms = poll(WAIT, "four portals", || async {
        let rooms = portals(&alice).await;
        (rooms.len() == 4).then_some(rooms)
    })
    .await;
    let room_of = |pn: &str| {
        rooms
            .get(&chat(pn))
            .cloned()
            .unwrap_or_else(|| panic!("no portal for {pn} in {rooms:?}"))
    };
    let (bob_room, carol_room, dave_room, erin_room) = (
        room_of(BOB_PN),
        room_of(CAROL_PN),
        room_of(DAVE_PN),
        room_of(ERIN_PN),
    );
    // Erin's history is in, and her chat is unread: the marker is not on
    // her newest message.
    let erin_newest = poll(WAIT, "Erin's history in her room", || async {
        let newest = newest_message(&alice, &erin_room).await?;
        let events = alice.room_messages(&erin_room).await;
        events
            .iter()
            .any(|e| e["content"]["body"] == "still there?" && e["event_id"] == newest.as_str())
            .then_some(newest)
    })
    .await;
    let marker = room_data(&alice, &erin_room, "m.fully_read").await;
    assert!(
        marker
            .as_ref()
            .is_none_or(|m| m["event_id"] != erin_newest.as_str()),
        "an unread chat starts unread: {marker:?}"
    );
    for room in [&bob_room, &carol_room, &dave_room] {
        assert!(tags(&alice, room).await.is_empty(), "{room} untagged");
        assert!(!muted(&alice, room).await, "{room} not muted");
    }

    // Baileys links as another companion of Alice's account and gets the
    // app-state key from her phone.
    let mut peer = Peer::start(&baileys, &sim);
    let open = peer.link(&phone).await;
    let me = open["me"]["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        me.starts_with(&format!("{ALICE_PN}:")),
        "Baileys is a companion of Alice's account: {open}"
    );
    peer.event("app-state-key", |_| true).await;

    // (1) Baileys' own patches show in Matrix.
    let mute_until: i64 = 1_950_000_000_000;
    peer.chat_modify(&chat(BOB_PN), json!({"archive": true, "lastMessages": []}))
        .await;
    peer.chat_modify(&chat(CAROL_PN), json!({"pin": true}))
        .await;
    peer.chat_modify(&chat(DAVE_PN), json!({"mute": mute_until}))
        .await;
    peer.chat_modify(
        &chat(ERIN_PN),
        json!({"markRead": true, "lastMessages": []}),
    )
    .await;
    eventually(WAIT, "Baileys' archive -> low priority", || async {
        tags(&alice, &bob_room).await == ["m.lowpriority"]
    })
    .await;
    eventually(WAIT, "Baileys' pin -> favourite", || async {
        tags(&alice, &carol_room).await == ["m.favourite"]
    })
    .await;
    eventually(
        WAIT,
        "Baileys' mute -> a room rule that does not notify",
        || async { muted(&alice, &dave_room).await },
    )
    .await;
    eventually(
        WAIT,
        "Baileys' mark read -> read marker on the newest",
        || async {
            room_data(&alice, &erin_room, "m.fully_read")
                .await
                .is_some_and(|m| m["event_id"] == erin_newest.as_str())
        },
    )
    .await;
    let (_, receipt) = alice
        .sync_until(WAIT, |room, e| {
            room == erin_room
                && e["type"] == "m.receipt"
                && e["content"][erin_newest.as_str()]["m.read"][alice.user_id.as_str()].is_object()
        })
        .await;
    eprintln!("Alice's receipt on Erin's newest message: {receipt}");
    // Only what Baileys changed.
    assert!(tags(&alice, &dave_room).await.is_empty());
    assert!(tags(&alice, &erin_room).await.is_empty());
    for room in [&bob_room, &carol_room, &erin_room] {
        assert!(!muted(&alice, room).await, "{room} not muted");
    }
    // Baileys reports its own changes (after they went out); they are
    // taken here so the next step sees only the bridge's.
    let own: BTreeMap<String, Vec<&str>> = [
        (chat(BOB_PN), vec!["archived"]),
        (chat(CAROL_PN), vec!["pinned"]),
        (chat(DAVE_PN), vec!["muteEndTime"]),
        (chat(ERIN_PN), vec!["unreadCount"]),
    ]
    .into_iter()
    .collect();
    let echoes = peer.chat_updates(&own).await;
    assert_eq!(
        echoes[&chat(DAVE_PN)]["muteEndTime"],
        mute_until,
        "{echoes:?}"
    );

    // What the bridge did in Matrix does not go back to WhatsApp.
    let versions = phone.app_state_view().await.versions;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        phone.app_state_view().await.versions,
        versions,
        "the bridge echoed Baileys' changes back to WhatsApp"
    );

    // (2) Alice's changes in Matrix reach Baileys.
    set_tag(&alice, &erin_room, "m.favourite", true).await;
    set_tag(&alice, &bob_room, "m.lowpriority", false).await;
    alice
        .put(&rule_path(&carol_room), &json!({"actions": []}))
        .await;
    alice
        .request(reqwest::Method::DELETE, &rule_path(&dave_room), None)
        .await;
    let before_ms = now_ms();
    let want: BTreeMap<String, Vec<&str>> = [
        (chat(ERIN_PN), vec!["pinned"]),
        (chat(BOB_PN), vec!["archived"]),
        (chat(CAROL_PN), vec!["muteEndTime"]),
        (chat(DAVE_PN), vec!["muteEndTime"]),
    ]
    .into_iter()
    .collect();
    let updates = peer.chat_updates(&want).await;
    let pinned = updates[&chat(ERIN_PN)]["pinned"].as_i64();
    assert!(
        pinned.is_some_and(|p| p > 0 && p <= now_ms() && p >= before_ms - 60_000),
        "favourite -> pinned at the time of the change: {updates:?}"
    );
    assert_eq!(updates[&chat(BOB_PN)]["archived"], false, "{updates:?}");
    assert_eq!(
        updates[&chat(CAROL_PN)]["muteEndTime"],
        -1,
        "a room rule mutes for good: {updates:?}"
    );
    assert_eq!(
        updates[&chat(DAVE_PN)]["muteEndTime"],
        Value::Null,
        "rule removed -> unmuted: {updates:?}"
    );
    assert_eq!(
        updates.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "Baileys saw changes to other chats too: {updates:?}"
    );

    // No failed check on either side.
    assert_eq!(peer.take_all("app-state-problem"), Vec::<Value>::new());
    let log = support::log::text();
    for bad in ["app state refused", "was not applied in Matrix"] {
        assert!(!log.contains(bad), "the bridge logged {bad:?}:\n{log}");
    }
    assert!(
        log.contains("room setting sent to WhatsApp"),
        "the log is captured"
    );
    bridge.stop().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
