//! Calls are not silent (issue 21, point 1), against a real Synapse and
//! wa-sim: Bob's video call rings as a notice from his ghost in the chat
//! (the chat's room made by the call), edited when Alice takes it on her
//! phone and again when it is over; one she declines says so (and stays
//! so when it ends); a voice call that rings out is edited to missed; a
//! group call rings in the group's room.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::login::start_logged_in;
use support::matrix::{MatrixUser, body};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557870001";
const BOB_PN: &str = "15557870002";

/// The notice `text` from `sender` in `room`; its event id.
async fn notice(alice: &MatrixUser, room: &str, sender: &str, text: &str) -> String {
    let (_, e) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["sender"] == sender
                && e["content"]["msgtype"] == "m.notice"
                && body(e) == text
        })
        .await;
    e["event_id"].as_str().unwrap().to_owned()
}

/// Waits for `sender`'s edit of `target` in `room` to `text`.
async fn edited(alice: &MatrixUser, room: &str, (sender, target): (&str, &str), text: &str) {
    let is_edit = |e: &Value| {
        e["sender"] == sender
            && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == target
            && e["content"]["m.new_content"]["body"] == text
    };
    alice.sync_until(WAIT, |r, e| r == room && is_edit(e)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_ring_in_the_chat_and_say_how_they_ended() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let logged_in = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-calls", false, WAIT).await;
    let alice = &logged_in.alice;
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", logged_in.synapse.server_name());
    let bob_says = |room: &str, text: &str| {
        let (room, text) = (room.to_owned(), text.to_owned());
        let bob_ghost = bob_ghost.clone();
        async move { notice(alice, &room, &bob_ghost, &text).await }
    };

    // A video call rings: the chat's room is made for it.
    let ringing = bob.call(ALICE_PN, true);
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    let rang = bob_says(&room, "Incoming video call: answer it on your phone.").await;
    // Alice takes it on her phone; Bob hangs up later.
    phone.answer_call(&ringing);
    let taken = "Incoming video call, taken on another device.";
    edited(alice, &room, (&bob_ghost, &rang), taken).await;
    bob.end_call(&ringing, None);
    edited(alice, &room, (&bob_ghost, &rang), "The video call is over.").await;

    // A call Alice declines on her phone.
    let ringing = bob.call(ALICE_PN, false);
    let rang = bob_says(&room, "Incoming voice call: answer it on your phone.").await;
    phone.decline_call(&ringing);
    let declined = "Incoming voice call, declined on another device.";
    edited(alice, &room, (&bob_ghost, &rang), declined).await;
    bob.end_call(&ringing, None);

    // A voice call nobody takes.
    let ringing = bob.call(ALICE_PN, false);
    let rang = bob_says(&room, "Incoming voice call: answer it on your phone.").await;
    bob.end_call(&ringing, Some("timeout"));
    edited(alice, &room, (&bob_ghost, &rang), "Missed voice call.").await;

    // A group call rings in the group's room.
    let gid = sim
        .create_group(BOB_PN, "Callers", &[ALICE_PN.to_owned()])
        .unwrap();
    bob.send_group_text(&gid, "calling you all").await.unwrap();
    let group_room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&group_room).await;
    alice
        .sync_until(WAIT, |r, e| r == group_room && body(e) == "calling you all")
        .await;
    bob.call_group(&gid, true);
    bob_says(
        &group_room,
        "Incoming group video call: answer it on your phone.",
    )
    .await;
    logged_in.bridge.stop().await;
}
