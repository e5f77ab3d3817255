//! Polls both ways, end to end: a real Synapse, wa-sim's scripted phones
//! and the bridge with double puppeting.
//!
//! From WhatsApp: a poll shows as a readable list, and each vote as a
//! notice from the voter in reply to it (one sealed with another secret
//! says it cannot be read). From Matrix: an MSC3381 poll (unstable and
//! stable) reaches the contact's phone as a WhatsApp poll with a secret;
//! the contact's sealed votes come back as `poll.response` events Matrix
//! clients count, and the user's own vote on the phone as the user's
//! response (not echoed back); the user's votes from Matrix reach the
//! phone sealed so that it opens them; polls WhatsApp cannot show, and
//! ending a poll, are refused with a reason. With `bridge.polls_as_events`,
//! a WhatsApp poll is a Matrix poll the user votes on from Matrix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::login::{LoggedIn, Startup, start_logged_in, start_logged_in_on};
use support::matrix::MatrixUser;
use support::synapse;
use wa_core::msgsecret::{VoteContext, open_vote, option_hash, seal_vote};
use wa_core::proto::Message;
use wa_core::proto::message::{
    PollCreationMessage, PollUpdateMessage, PollVoteMessage, poll_creation_message,
};
use wa_sim::{Phone, Received};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557790001";
const BOB_PN: &str = "15557790002";

fn jid(pn: &str) -> String {
    format!("{pn}@s.whatsapp.net")
}

/// Bob's vote for `chosen` on poll `poll_id` of `poll_sender`, sealed with
/// `secret`.
fn bob_votes(secret: &[u8], poll_id: &str, poll_sender: &str, chosen: &[&str]) -> Message {
    vote_of(&jid(BOB_PN), secret, poll_id, poll_sender, chosen)
}

/// The vote of `voter` (a bare JID, as the voter's client writes it) for
/// `chosen`.
fn vote_of(
    voter: &str,
    secret: &[u8],
    poll_id: &str,
    poll_sender: &str,
    chosen: &[&str],
) -> Message {
    let ctx = VoteContext {
        poll_id,
        poll_sender,
        voter,
    };
    let choice = PollVoteMessage {
        selected_options: chosen.iter().map(|o| option_hash(o).to_vec()).collect(),
    };
    Message {
        poll_update_message: Some(PollUpdateMessage {
            poll_creation_message_key: Some(wa_core::proto::MessageKey {
                remote_jid: Some(jid(if voter == jid(ALICE_PN) {
                    BOB_PN
                } else {
                    ALICE_PN
                })),
                from_me: Some(poll_sender == voter),
                id: Some(poll_id.to_owned()),
                ..Default::default()
            }),
            vote: Some(seal_vote(secret, ctx, &choice, rand::random())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A WhatsApp poll (any number of choices) sealed with `secret`.
fn whatsapp_poll(question: &str, options: &[&str], secret: &[u8]) -> Message {
    Message {
        poll_creation_message: Some(Box::new(PollCreationMessage {
            name: Some(question.into()),
            options: options
                .iter()
                .map(|o| poll_creation_message::Option {
                    option_name: Some((*o).into()),
                    ..Default::default()
                })
                .collect(),
            selectable_options_count: Some(0),
            ..Default::default()
        })),
        message_context_info: Some(wa_core::proto::MessageContextInfo {
            message_secret: Some(secret.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Alice's unstable MSC3381 vote for `answers` on `poll` (an event id) in
/// `room`; returns its event id.
async fn alice_responds(alice: &MatrixUser, room: &str, poll: &Value, answers: Value) -> String {
    alice
        .send_event(
            room,
            "org.matrix.msc3381.poll.response",
            &json!({
                "org.matrix.msc3381.poll.response": {"answers": answers},
                "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
            }),
        )
        .await
}

/// The strings of the JSON array `list`, as a set.
fn set_of(list: &Value) -> BTreeSet<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Waits for the status of `event` in `room`.
async fn status_of(alice: &MatrixUser, room: &str, event: &str) -> Value {
    let (_, status) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == event
        })
        .await;
    status["content"].clone()
}

/// Waits until one of the messages Bob's phone received after the first
/// `from` matches `pick`, and returns what it picked.
async fn bob_gets<T>(
    bob: &Phone,
    from: usize,
    what: &str,
    pick: impl Fn(&Received) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = bob.received().iter().skip(from).find_map(&pick) {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The options Alice's vote on her poll `poll_id` (sealed with `secret`)
/// chose, as Bob's phone opens it; `None` until such a vote arrives. The
/// 1:1 chat is LID-addressed from Alice's side (as whatsmeow sends), so
/// her LID (`alice_lid`) names both the poll's sender and the voter.
fn alice_vote(m: &Message, secret: &[u8], poll_id: &str, alice_lid: &str) -> Option<Vec<Vec<u8>>> {
    alice_vote_on(m, secret, poll_id, alice_lid, alice_lid)
}

/// [`alice_vote`] on a poll `poll_sender` sent, Alice named as `voter`.
fn alice_vote_on(
    m: &Message,
    secret: &[u8],
    poll_id: &str,
    poll_sender: &str,
    voter: &str,
) -> Option<Vec<Vec<u8>>> {
    let update = m.poll_update_message.as_ref()?;
    let key = update.poll_creation_message_key.as_ref()?;
    if key.id.as_deref() != Some(poll_id) {
        return None;
    }
    let ctx = VoteContext {
        poll_id,
        poll_sender,
        voter,
    };
    let vote = open_vote(secret, ctx, update.vote.as_ref()?).expect("Bob's phone opens the vote");
    Some(vote.selected_options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_both_ways_with_votes() {
    if synapse::venv().is_none() {
        return;
    }
    support::log::to_test_output("wabridge=debug,wa_client=info");
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let LoggedIn {
        synapse,
        bridge,
        alice,
        ..
    } = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-e2e-polls", true, WAIT).await;
    let ghost = format!("@whatsapp_{BOB_PN}:{}", synapse.server_name());

    bob.send_text(ALICE_PN, "a poll follows").await.unwrap();
    let (room, _) = alice
        .sync_until(WAIT, |_, e| e["content"]["body"] == "a poll follows")
        .await;
    let room = room.as_str();

    // From WhatsApp: the poll as a list, each vote as a notice.
    let secret: [u8; 32] = rand::random();
    let mut poll = whatsapp_poll("When?", &["Tuesday", "Friday", "Never"], &secret);
    poll.poll_creation_message_v3 = poll.poll_creation_message.take();
    let poll_id = bob.send_message(ALICE_PN, poll).await.unwrap();
    let (_, shown_poll) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("Poll: When?"))
        })
        .await;
    let bob_jid = jid(BOB_PN);
    for (message, want) in [
        (
            bob_votes(&secret, &poll_id, &bob_jid, &["Friday", "Tuesday"]),
            "🗳️ voted for: Friday, Tuesday",
        ),
        (
            bob_votes(&[9; 32], &poll_id, &bob_jid, &["Never"]),
            "🗳️ voted, but the vote could not be read",
        ),
        (
            bob_votes(&secret, &poll_id, &bob_jid, &[]),
            "🗳️ withdrew their vote",
        ),
    ] {
        bob.send_message(ALICE_PN, message).await.unwrap();
        let (_, shown) = alice
            .sync_until(WAIT, |r, e| r == room && e["content"]["body"] == want)
            .await;
        assert_eq!(shown["sender"], ghost.as_str());
        assert_eq!(
            shown["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], shown_poll["event_id"],
            "{want}: in reply to the poll"
        );
    }

    // From Matrix (unstable MSC3381, as Element sends it): a single-choice
    // poll reaches Bob's phone with its options and a fresh secret.
    let lunch = alice
        .send_event(
            room,
            "org.matrix.msc3381.poll.start",
            &json!({
                "org.matrix.msc1767.text": "Lunch?\n1. Pizza\n2. Soup",
                "org.matrix.msc3381.poll.start": {
                    "question": {"org.matrix.msc1767.text": "Lunch?", "body": "Lunch?"},
                    "kind": "org.matrix.msc3381.poll.disclosed",
                    "max_selections": 1,
                    "answers": [
                        {"id": "p-id", "org.matrix.msc1767.text": "Pizza"},
                        {"id": "s-id", "org.matrix.msc1767.text": "Soup"},
                        {"id": "n-id", "org.matrix.msc1767.text": "Nothing"},
                    ],
                },
            }),
        )
        .await;
    assert_eq!(status_of(&alice, room, &lunch).await["status"], "SUCCESS");
    let (lunch_id, lunch_secret) = bob_gets(&bob, 0, "the poll", |r| {
        let m = &r.message;
        let p = m.poll_creation_message_v3.as_deref()?;
        let names: Vec<&str> = p
            .options
            .iter()
            .filter_map(|o| o.option_name.as_deref())
            .collect();
        (p.name.as_deref() == Some("Lunch?")).then_some(())?;
        assert_eq!(names, ["Pizza", "Soup", "Nothing"]);
        assert_eq!(p.selectable_options_count, Some(1));
        let secret = m.message_context_info.as_ref()?.message_secret.clone()?;
        assert_eq!(secret.len(), 32);
        Some((r.id.clone(), secret))
    })
    .await;

    // Bob's vote comes back as a response Matrix clients count.
    bob.send_message(
        ALICE_PN,
        bob_votes(&lunch_secret, &lunch_id, &jid(ALICE_PN), &["Soup"]),
    )
    .await
    .unwrap();
    let (_, response) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "org.matrix.msc3381.poll.response"
                && e["sender"] == ghost.as_str()
        })
        .await;
    assert_eq!(
        response["content"]["org.matrix.msc3381.poll.response"]["answers"],
        json!(["s-id"])
    );
    assert_eq!(
        response["content"]["m.relates_to"],
        json!({"rel_type": "m.reference", "event_id": lunch})
    );
    let first_response = response["event_id"].clone();

    // The same chat addressed by LID: Bob's client seals with LIDs, and the
    // bridge (which keeps chats by number) still opens it.
    let lid = |p: &Phone| p.lid().unwrap().to_non_ad().to_string();
    bob.send_message_by_lid(
        ALICE_PN,
        vote_of(
            &lid(&bob),
            &lunch_secret,
            &lunch_id,
            &lid(&phone),
            &["Pizza"],
        ),
    )
    .await
    .unwrap();
    let (_, response) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "org.matrix.msc3381.poll.response"
                && e["sender"] == ghost.as_str()
                && e["event_id"] != first_response
        })
        .await;
    assert_eq!(
        response["content"]["org.matrix.msc3381.poll.response"]["answers"],
        json!(["p-id"]),
        "{response}"
    );

    // Alice votes on her phone: her own response in Matrix (double
    // puppeted, marked so its echo does not go back to WhatsApp).
    let before = bob.received().len();
    phone
        .send_message(
            BOB_PN,
            vote_of(
                &jid(ALICE_PN),
                &lunch_secret,
                &lunch_id,
                &jid(ALICE_PN),
                &["Nothing"],
            ),
        )
        .await
        .unwrap();
    let (_, own) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "org.matrix.msc3381.poll.response"
                && e["sender"] == alice.user_id.as_str()
        })
        .await;
    assert_eq!(
        own["content"]["org.matrix.msc3381.poll.response"]["answers"],
        json!(["n-id"])
    );
    assert_eq!(own["content"]["fi.mau.double_puppet_source"], "wabridge");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let votes_at_bob = bob.received()[before..]
        .iter()
        .filter(|r| r.message.poll_update_message.is_some())
        .count();
    assert_eq!(votes_at_bob, 1, "the phone's vote only, no echo");

    // Alice's votes reach Bob's phone, sealed so that it opens them; on this
    // single-choice poll only the first answer counts; no answer withdraws
    // the vote.
    for (answers, want) in [
        (json!(["p-id", "s-id"]), vec![option_hash("Pizza").to_vec()]),
        (json!([]), vec![]),
    ] {
        let before = bob.received().len();
        let vote = alice_responds(&alice, room, &json!(lunch), answers.clone()).await;
        assert_eq!(status_of(&alice, room, &vote).await["status"], "SUCCESS");
        let chosen = bob_gets(&bob, before, "Alice's vote", |r| {
            alice_vote(&r.message, &lunch_secret, &lunch_id, &lid(&phone))
        })
        .await;
        assert_eq!(chosen, want, "the vote for {answers}");
    }

    // Stable MSC3381 (m.poll.*), any number of choices.
    let trip = alice
        .send_event(
            room,
            "m.poll.start",
            &json!({
                "m.text": [{"body": "Where?"}],
                "m.poll": {
                    "question": {"m.text": [{"body": "Where?"}]},
                    "kind": "m.poll.undisclosed",
                    "max_selections": 3,
                    "answers": [
                        {"m.id": "park", "m.text": [{"body": "Park"}]},
                        {"m.id": "beach", "m.text": [{"body": "Beach"}]},
                        {"m.id": "home", "m.text": [{"body": "Home"}]},
                    ],
                },
            }),
        )
        .await;
    assert_eq!(status_of(&alice, room, &trip).await["status"], "SUCCESS");
    let (trip_id, trip_secret) = bob_gets(&bob, 0, "the stable poll", |r| {
        let p = r.message.poll_creation_message.as_deref()?;
        (p.name.as_deref() == Some("Where?")).then_some(())?;
        assert_eq!(p.selectable_options_count, Some(0), "any number");
        let secret = r
            .message
            .message_context_info
            .as_ref()?
            .message_secret
            .clone()?;
        Some((r.id.clone(), secret))
    })
    .await;
    bob.send_message(
        ALICE_PN,
        bob_votes(&trip_secret, &trip_id, &jid(ALICE_PN), &["Home", "Park"]),
    )
    .await
    .unwrap();
    let (_, response) = alice
        .sync_until(WAIT, |r, e| {
            r == room && e["type"] == "m.poll.response" && e["sender"] == ghost.as_str()
        })
        .await;
    assert_eq!(
        set_of(&response["content"]["m.selections"]),
        BTreeSet::from(["home", "park"])
    );
    assert_eq!(
        response["content"]["m.relates_to"]["event_id"],
        trip.as_str()
    );

    // What WhatsApp cannot show is refused with a reason, and nothing
    // reaches the phone.
    let before = bob.received().len();
    let single = alice
        .send_event(
            room,
            "org.matrix.msc3381.poll.start",
            &json!({"org.matrix.msc3381.poll.start": {
                "question": {"org.matrix.msc1767.text": "Only one?"},
                "answers": [{"id": "y", "org.matrix.msc1767.text": "Yes"}],
            }}),
        )
        .await;
    let refused = status_of(&alice, room, &single).await;
    assert_eq!(refused["status"], "FAIL_PERMANENT", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 to 12 options")),
        "{refused}"
    );
    let end = alice
        .send_event(
            room,
            "org.matrix.msc3381.poll.end",
            &json!({
                "org.matrix.msc1767.text": "Ended",
                "m.relates_to": {"rel_type": "m.reference", "event_id": lunch},
            }),
        )
        .await;
    let refused = status_of(&alice, room, &end).await;
    assert_eq!(refused["reason"], "m_unsupported", "{refused}");
    let stray = alice_responds(&alice, room, &shown_poll["event_id"], json!(["x"])).await;
    let refused = status_of(&alice, room, &stray).await;
    assert_eq!(refused["status"], "FAIL_PERMANENT", "{refused}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bob.received().len(), before, "nothing refused was sent");

    bridge.stop().await;
}

/// With `bridge.polls_as_events`, a WhatsApp poll is an MSC3381 poll whose
/// answer ids are the options' hashes: the contact's vote comes as a
/// response Matrix clients count, and the user votes on it from Matrix
/// (Bob's phone opens the vote).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_polls_as_poll_events_take_votes_from_matrix() {
    if synapse::venv().is_none() {
        return;
    }
    support::log::to_test_output("wabridge=debug,wa_client=info");
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let alice_lid = phone.lid().unwrap().to_non_ad().to_string();
    let startup = Startup {
        double_puppet: true,
        configure: Some(|c| c.bridge.polls_as_events = true),
        ..Startup::default()
    };
    let LoggedIn {
        synapse,
        bridge,
        alice,
        ..
    } = start_logged_in_on(
        &sim,
        &phone,
        ALICE_PN,
        "wabridge-e2e-poll-events",
        startup,
        WAIT,
    )
    .await;
    let ghost = format!("@whatsapp_{BOB_PN}:{}", synapse.server_name());
    let id_of = |name: &str| hex::encode(option_hash(name));

    let secret: [u8; 32] = rand::random();
    let poll = whatsapp_poll("Drinks?", &["Tea", "Coffee", "Water"], &secret);
    let poll_id = bob.send_message(ALICE_PN, poll).await.unwrap();
    let (room, start) = alice
        .sync_until(WAIT, |_, e| {
            e["type"] == "org.matrix.msc3381.poll.start" && e["sender"] == ghost.as_str()
        })
        .await;
    let room = room.as_str();
    let c = &start["content"];
    let p = &c["org.matrix.msc3381.poll.start"];
    assert_eq!(
        p["question"]["org.matrix.msc1767.text"], "Drinks?",
        "{start}"
    );
    assert_eq!(p["max_selections"], 3, "any number: {start}");
    assert_eq!(
        p["answers"],
        json!([
            {"id": id_of("Tea"), "org.matrix.msc1767.text": "Tea"},
            {"id": id_of("Coffee"), "org.matrix.msc1767.text": "Coffee"},
            {"id": id_of("Water"), "org.matrix.msc1767.text": "Water"},
        ])
    );
    assert!(
        c["org.matrix.msc1767.text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Poll: Drinks?")),
        "a text fallback: {start}"
    );
    let start_id = start["event_id"].as_str().unwrap().to_owned();

    // Bob's vote counts in Matrix.
    bob.send_message(
        ALICE_PN,
        bob_votes(&secret, &poll_id, &jid(BOB_PN), &["Water", "Tea"]),
    )
    .await
    .unwrap();
    let (_, response) = alice
        .sync_until(WAIT, |r, e| {
            r == room
                && e["type"] == "org.matrix.msc3381.poll.response"
                && e["sender"] == ghost.as_str()
        })
        .await;
    assert_eq!(
        set_of(&response["content"]["org.matrix.msc3381.poll.response"]["answers"]),
        BTreeSet::from([id_of("Tea").as_str(), id_of("Water").as_str()])
    );
    assert_eq!(
        response["content"]["m.relates_to"]["event_id"],
        start_id.as_str()
    );

    // Alice votes from Matrix; Bob's phone opens it.
    let before = bob.received().len();
    let vote = alice_responds(&alice, room, &json!(start_id), json!([id_of("Coffee")])).await;
    assert_eq!(status_of(&alice, room, &vote).await["status"], "SUCCESS");
    let chosen = bob_gets(&bob, before, "Alice's vote", |r| {
        alice_vote_on(&r.message, &secret, &poll_id, &jid(BOB_PN), &alice_lid)
    })
    .await;
    assert_eq!(chosen, vec![option_hash("Coffee").to_vec()]);

    bridge.stop().await;
}
