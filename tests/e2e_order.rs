//! One chat the homeserver cannot take messages for holds up that chat
//! only (issue 18, defect 9): its messages wait, in order, and come through
//! once the homeserver takes them again, while the other chats go on.
//!
//! The bridge binary talks to Synapse through a proxy that answers 503 to
//! every send into one portal for a while.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::history::BinaryRun;
use support::login::alice_logs_in;
use support::matrix::{MatrixUser, body};
use support::synapse;

const WAIT: Duration = Duration::from_secs(60);

/// Waits for `text` in `room` from anyone; returns its event id.
async fn shown(alice: &MatrixUser, room: &str, text: &str) -> String {
    let (_, e) = alice
        .sync_until(WAIT, |r, e| r == room && body(e) == text)
        .await;
    e["event_id"].as_str().unwrap_or_default().to_owned()
}

/// Bob's messages in `room`, oldest first.
async fn bobs(alice: &MatrixUser, room: &str) -> Vec<String> {
    alice
        .room_messages(room)
        .await
        .iter()
        .map(|e| body(e).to_owned())
        .filter(|b| b.starts_with('b'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_portal_holds_up_only_its_own_chat() {
    if synapse::venv().is_none() {
        return;
    }
    let (alice_pn, bob_pn, carol_pn) = ("15557795001", "15557795002", "15557795003");
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(alice_pn);
    let bob = sim.account(bob_pn);
    let carol = sim.account(carol_pn);
    let mut run =
        BinaryRun::prepare(&sim, "wabridge-e2e-order", env!("CARGO_BIN_EXE_wabridge")).await;
    let (proxy, faults) = support::proxy::start_with_faults(run.synapse.base_url()).await;
    run.setup.point_at_url(&proxy);
    let mut bridge = run.spawn();
    let (alice, _, _) = alice_logs_in(&run.synapse, &phone, alice_pn, WAIT).await;

    // A portal each for Bob and Carol.
    bob.send_text(alice_pn, "b1").await.unwrap();
    let bob_room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&bob_room).await;
    shown(&alice, &bob_room, "b1").await;
    carol.send_text(alice_pn, "c1").await.unwrap();
    let carol_room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&carol_room).await;
    shown(&alice, &carol_room, "c1").await;

    // Sends into Bob's room fail for a while (the room id's local part, as
    // it stands percent-encoded in the path).
    let local = bob_room
        .trim_start_matches('!')
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    faults.fail(&local, Duration::from_secs(6));
    bob.send_text(alice_pn, "b2").await.unwrap();
    bob.send_text(alice_pn, "b3").await.unwrap();
    carol.send_text(alice_pn, "c2").await.unwrap();

    // Carol's message is not held up by Bob's chat: it is in Matrix while
    // Bob's are still waiting (before the fix it came after them, some
    // seconds later).
    shown(&alice, &carol_room, "c2").await;
    let bob_now = bobs(&alice, &bob_room).await;
    assert_eq!(bob_now, ["b1"], "Bob's chat is held while Carol's goes on");

    // Then Bob's come through, once each and in order.
    shown(&alice, &bob_room, "b3").await;
    let bob_then = bobs(&alice, &bob_room).await;
    assert_eq!(bob_then, ["b1", "b2", "b3"]);
    bridge.assert_running();
    let log = std::fs::read_to_string(&run.log).unwrap();
    assert!(
        log.contains("its chat waits, the others go on"),
        "{}",
        support::process::tail(&run.log, 40)
    );
    bridge.kill9();
}
