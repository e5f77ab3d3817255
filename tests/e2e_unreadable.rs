//! Nothing silent when a message cannot be decrypted (issue 21, point 2),
//! against a real Synapse and wa-sim: a message damaged on its way to the
//! bridge shows at once as a placeholder from its sender's ghost; the
//! retry brings it, and it replaces the placeholder in place (an edit of
//! the same event, which then stands for the message: Bob's reaction to it
//! lands there). A damaged reaction's placeholder is taken away when the
//! reaction is read. A message damaged on every try ends as a notice
//! saying it could not be decrypted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::login::start_logged_in;
use support::matrix::{MatrixUser, body};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557860001";
const BOB_PN: &str = "15557860002";

/// Whether `e` is an edit of `target` whose new body is `text`.
fn edit_of(e: &Value, target: &str, text: &str) -> bool {
    e["content"]["m.relates_to"]["rel_type"] == "m.replace"
        && e["content"]["m.relates_to"]["event_id"] == target
        && e["content"]["m.new_content"]["body"] == text
}

/// The next placeholder in `room` from `sender`, as an event.
async fn placeholder(alice: &MatrixUser, room: &str, sender: &str) -> Value {
    let (_, e) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["sender"] == sender
                && e["content"]["msgtype"] == "m.notice"
                && body(e).starts_with("Waiting for this message")
        })
        .await;
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_not_decrypted_shows_a_placeholder_that_it_replaces() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let logged_in =
        start_logged_in(&sim, &phone, ALICE_PN, "wabridge-unreadable", false, WAIT).await;
    let alice = &logged_in.alice;
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", logged_in.synapse.server_name());
    let device = phone.linked_devices()[0];

    bob.send_text(ALICE_PN, "first").await.unwrap();
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    alice
        .sync_until(WAIT, |r, e| r == room && body(e) == "first")
        .await;

    // Damaged once: the placeholder, then the message in its place.
    sim.corrupt_next(ALICE_PN, device, 1);
    let id = bob.send_text(ALICE_PN, "second try").await.unwrap();
    let waiting = placeholder(alice, &room, &bob_ghost).await;
    let waiting_id = waiting["event_id"].as_str().unwrap().to_owned();
    let (_, edit) = alice
        .sync_until(WAIT, |r, e| {
            r == room && edit_of(e, &waiting_id, "second try")
        })
        .await;
    assert_eq!(edit["sender"], bob_ghost.as_str(), "{edit}");
    // The placeholder's event is the message's now: Bob's reaction lands
    // there, and the message came as the edit only, not again.
    bob.send_reaction(ALICE_PN, &id, true, "👍").await.unwrap();
    alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["event_id"] == waiting_id.as_str()
        })
        .await;
    let again = alice
        .room_messages(&room)
        .await
        .into_iter()
        .filter(|e| body(e) == "second try" && e["content"]["m.relates_to"].is_null());
    assert_eq!(again.count(), 0, "the message came once, as the edit");

    // A reaction damaged once: its placeholder goes when it is read.
    sim.corrupt_next(ALICE_PN, device, 1);
    bob.send_reaction(ALICE_PN, &id, true, "❤").await.unwrap();
    let waiting = placeholder(alice, &room, &bob_ghost).await;
    let waiting_id = waiting["event_id"].as_str().unwrap().to_owned();
    let (mut gone, mut reacted) = (false, false);
    alice
        .sync_until(WAIT, |r, e| {
            gone |=
                r == room && e["type"] == "m.room.redaction" && e["redacts"] == waiting_id.as_str();
            reacted |= r == room
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["key"] == "❤";
            gone && reacted
        })
        .await;

    // Damaged on every try: the placeholder says the message was lost.
    sim.corrupt_next(ALICE_PN, device, 1 + wa_core::retry::MAX_COUNT as usize);
    bob.send_text(ALICE_PN, "never read").await.unwrap();
    let waiting = placeholder(alice, &room, &bob_ghost).await;
    let waiting_id = waiting["event_id"].as_str().unwrap().to_owned();
    let lost = "This message could not be decrypted. Open WhatsApp on your phone to read it.";
    alice
        .sync_until(WAIT, |r, e| r == room && edit_of(e, &waiting_id, lost))
        .await;
    logged_in.bridge.stop().await;
}
