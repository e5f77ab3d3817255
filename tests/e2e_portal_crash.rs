//! A portal's room is made once, even when the bridge dies in between
//! making it and recording it.
//!
//! The bridge binary runs as a child process behind a proxy to Synapse
//! that withholds the answer to the first createRoom; the test kills the
//! bridge with SIGKILL then, so the room exists and nothing recorded it,
//! and the next run must adopt that room rather than make a second one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use support::history::{BinaryRun, portals, shown_messages, sqlite_count, wait_backfill_notice};
use support::login::alice_logs_in;
use support::matrix::MatrixUser;
use support::process::tail;
use support::synapse;
use wa_sim::{HistoryScript, Phone, ScriptChat, Sender, Sim};

const WAIT: Duration = Duration::from_secs(60);

/// The bridge binary killed right after Synapse made a portal's room (a
/// proxy in front of Synapse withholds the answer to that createRoom, so
/// the bridge cannot have recorded the room): the next run adopts that
/// room, every chat has one room with its messages, and no empty second
/// room is left (`portals` panics on any).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_making_a_room_and_recording_it_adopts_the_room() {
    if synapse::venv().is_none() {
        return;
    }
    const CHATS: usize = 3;
    const MESSAGES: usize = 4;
    let alice_pn = "15557794001";
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(alice_pn);
    phone.set_history(HistoryScript::synthetic(
        CHATS,
        MESSAGES,
        15_557_794_100,
        1_660_000_000,
    ));
    adopts_after_a_kill(
        &sim,
        &phone,
        alice_pn,
        "wabridge-e2e-kill-room",
        (CHATS, MESSAGES),
    )
    .await;
}

/// The same for a group's room: adopted with its name and its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_making_a_group_room_and_recording_it_adopts_the_room() {
    if synapse::venv().is_none() {
        return;
    }
    let (alice_pn, bob, carol) = ("15557794201", "15557794202", "15557794203");
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(alice_pn);
    sim.account(bob);
    sim.account(carol);
    let gid = sim
        .create_group(alice_pn, "Crash group", &[bob.to_owned(), carol.to_owned()])
        .expect("the group is made");
    let t = 1_660_000_000;
    phone.set_history(
        HistoryScript::new().chat(
            ScriptChat::group(&gid)
                .name("Crash group")
                .text(Sender::Pn(bob.to_owned()), "one", t)
                .text(Sender::Pn(carol.to_owned()), "two", t + 60)
                .text(Sender::Me, "three", t + 120),
        ),
    );
    let (_run, alice, rooms) =
        adopts_after_a_kill(&sim, &phone, alice_pn, "wabridge-e2e-kill-group", (1, 3)).await;
    let room = &rooms[&gid.to_string()];
    let name = alice.get_state(room, "m.room.name", "").await;
    assert_eq!(name.map(|n| n["name"].clone()), Some(json!("Crash group")));
}

/// Logs in with `phone`'s history, kills the bridge when Synapse made the
/// first portal's room, restarts it, and checks that room is adopted and
/// each of the `chats` portals shows `messages` messages. Returns the run
/// (Synapse still up), the user and the portals.
async fn adopts_after_a_kill(
    sim: &Sim,
    phone: &Phone,
    alice_pn: &str,
    prefix: &str,
    (chats, messages): (usize, usize),
) -> (BinaryRun, MatrixUser, BTreeMap<String, String>) {
    let mut run = BinaryRun::prepare(sim, prefix, env!("CARGO_BIN_EXE_wabridge")).await;
    let (proxy, held) = support::proxy::start(run.synapse.base_url(), "/createRoom").await;
    run.setup.point_at_url(&proxy);
    let mut bridge = run.spawn();
    let (alice, _, management) = alice_logs_in(&run.synapse, phone, alice_pn, WAIT).await;
    let (db_path, log) = (&run.db_path, &run.log);

    // The first portal's room is made; the bridge never hears of it.
    let made = tokio::time::timeout(WAIT, held)
        .await
        .expect("the bridge makes a room in time")
        .unwrap();
    let room = made["room_id"]
        .as_str()
        .unwrap_or_else(|| panic!("Synapse made a room: {made}"))
        .to_owned();
    bridge.assert_running();
    bridge.kill9();
    let recorded = format!("SELECT COUNT(*) FROM portals WHERE room_id = '{room}'");
    assert_eq!(
        sqlite_count(db_path, &recorded).await,
        0,
        "killed before recording"
    );
    assert_eq!(
        sqlite_count(db_path, "SELECT COUNT(*) FROM portal_creations").await,
        1,
        "the creation is on record"
    );

    // WhatsApp refuses the restored login for a while (503): the backfill
    // that resumes at start must wait for it, not give up on the chats
    // whose portal needs WhatsApp (a group's name and members). Before the
    // fix the group's pass failed "not connected" and never ran again.
    let device = phone.linked_devices()[0];
    sim.refuse_logins(alice_pn, device, Duration::from_secs(3));
    let mut bridge = run.spawn();
    wait_backfill_notice(&alice, &management, WAIT, |t| {
        t.starts_with(&format!("History bridged: {chats} of {chats} chats"))
    })
    .await;
    bridge.assert_running();
    let rooms = portals(&alice).await;
    assert_eq!(rooms.len(), chats, "{rooms:?}");
    let chat = rooms
        .iter()
        .find_map(|(chat, r)| (*r == room).then_some(chat))
        .unwrap_or_else(|| panic!("the room made before the kill is a portal: {rooms:?}"));
    for (c, r) in &rooms {
        assert_eq!(
            shown_messages(&alice, r).await.len(),
            messages,
            "{c}'s messages in its room"
        );
    }
    assert_eq!(sqlite_count(db_path, &recorded).await, 1, "{chat}: adopted");
    assert_eq!(
        sqlite_count(db_path, "SELECT COUNT(*) FROM portal_creations").await,
        0,
        "every creation ended"
    );
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("adopting the room an interrupted run made"),
        "{}",
        tail(log, 40)
    );
    assert!(!text.contains("panicked"), "{}", tail(log, 40));
    bridge.kill9();
    (run, alice, rooms)
}
