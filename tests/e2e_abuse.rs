//! Nobody else drives a user's bridge, and one event the bridge cannot use
//! holds up nobody (issue 18, defects 2, 5 and 7): a real Synapse, wa-sim
//! and the bridge in this process, with Alice logged in, Bob (allowed to
//! use the bridge, but not Alice) and Mallory (not allowed at all).
//!
//! - Mallory's invite of the bot is refused: the bot never joins.
//! - A room Alice shares with Bob, the bot invited into it as a direct
//!   chat, is no management room; `login` and `ping` (which shows a phone
//!   number) are refused there, whoever sends them, and no QR code appears.
//! - Once a third person is in Alice's management room, it takes no more
//!   account commands until that person is gone.
//! - Bob invites the bot, as a direct chat, into a room the database still
//!   holds as Alice's management room: before, that hit the unique index,
//!   the transaction failed, and the homeserver retried it forever while
//!   every later event waited. Now it is refused on its own and Alice's
//!   next events go through.
//! - A login Bob starts stops once someone else joins his management room:
//!   its next QR code is not shown and the one shown is redacted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::login::{Startup, start_logged_in_on};
use support::matrix::{MatrixUser, body};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557820001";

fn permit_bob(config: &mut wabridge::config::Config) {
    // QR codes rotate fast, so a login Bob starts shows its next code soon.
    config.network.first_qr_seconds = 2;
    config.network.later_qr_seconds = 2;
    let bob = format!("@bob:{}", support::synapse::SERVER_NAME);
    config
        .bridge
        .permissions
        .insert(bob, wabridge::config::Level::User);
}

/// Waits until the bot's membership in `room`, as `user` sees it, is
/// `membership`.
async fn bot_membership(user: &MatrixUser, room: &str, bot: &str, membership: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = user.get_state(room, "m.room.member", bot).await;
        if state.as_ref().and_then(|s| s["membership"].as_str()) == Some(membership) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the bot's membership in {room} is {state:?}, not {membership}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the bot's notice in `room` (as `user` syncs) containing `part`.
async fn notice_with(user: &MatrixUser, room: &str, bot: &str, part: &str) -> String {
    let (_, e) = user
        .sync_until(WAIT, |r, e| {
            r == room && e["sender"] == bot && body(e).contains(part)
        })
        .await;
    body(&e).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_else_drives_a_users_bridge_and_one_bad_event_stalls_nobody() {
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let startup = Startup {
        configure: Some(permit_bob),
        ..Startup::default()
    };
    let li = start_logged_in_on(&sim, &phone, ALICE_PN, "wabridge-abuse", startup, WAIT).await;
    let (alice, bot) = (&li.alice, li.bot.as_str());
    let bob = li.synapse.register_user("bob", "secret-pw", false).await;
    let mallory = li
        .synapse
        .register_user("mallory", "secret-pw", false)
        .await;

    // Mallory may not use the bridge: her invite is declined.
    let refused = mallory.create_dm(bot).await;
    bot_membership(&mallory, &refused, bot, "leave").await;

    // A direct chat with the bot that Bob is in too is no management room,
    // and account commands are refused there.
    let shared = alice
        .create_room(&json!({
            "is_direct": true,
            "invite": [bot, bob.user_id],
            "preset": "private_chat",
        }))
        .await;
    bob.join(&shared).await;
    let text = notice_with(alice, &shared, bot, "other members").await;
    assert!(text.contains("direct chat"), "{text}");
    bob.send_text(&shared, "!wa login").await;
    let text = notice_with(alice, &shared, bot, "`login`").await;
    assert!(text.contains("management room"), "{text}");
    alice.send_text(&shared, "!wa ping").await;
    let text = notice_with(alice, &shared, bot, "`ping`").await;
    assert!(text.contains("management room"), "{text}");
    assert!(!text.contains(ALICE_PN), "no phone number in a shared room");
    let images = alice
        .room_messages(&shared)
        .await
        .into_iter()
        .filter(|e| e["content"]["msgtype"] == "m.image")
        .count();
    assert_eq!(images, 0, "no QR code in a shared room");

    // Alice opens a management room where the bot has no power (so she
    // can remove it later), and lets Bob in: it takes no account commands
    // while he is there.
    let management = alice
        .create_room(&json!({
            "is_direct": true,
            "invite": [bot],
            "preset": "private_chat",
        }))
        .await;
    notice_with(alice, &management, bot, "management room").await;
    alice.invite(&management, &bob.user_id).await;
    bob.join(&management).await;
    alice.send_text(&management, "ping").await;
    notice_with(alice, &management, bot, "other members").await;

    // Alice removes the bot; Bob, now in the room, invites it back as a
    // direct chat (a member event he writes himself). The database still
    // holds the room as Alice's management room.
    let kick = format!(
        "/_matrix/client/v3/rooms/{}/kick",
        support::matrix::enc(&management)
    );
    alice.post(&kick, &json!({"user_id": bot})).await;
    bot_membership(alice, &management, bot, "leave").await;
    bob.send_state(
        &management,
        "m.room.member",
        bot,
        &json!({"membership": "invite", "is_direct": true}),
    )
    .await;
    notice_with(alice, &management, bot, "other members").await;

    // Nothing is held up: Alice opens a new management room and is
    // answered there.
    let fresh = support::login::open_management_room(alice, bot, WAIT).await;
    alice.send_text(&fresh, "ping").await;
    let text = notice_with(alice, &fresh, bot, "Logged in as").await;
    assert!(text.contains(ALICE_PN), "{text}");

    // Alice invites a ghost nobody used yet; the homeserver asks the
    // bridge whether it exists before it passes the invite on: it is
    // registered before the bridge says yes, so its profile is there.
    let ghost = format!("@whatsapp_15557829999:{}", support::synapse::SERVER_NAME);
    alice.invite(&fresh, &ghost).await;
    let path = format!(
        "/_matrix/client/v3/profile/{}",
        support::matrix::enc(&ghost)
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = alice.try_request(reqwest::Method::GET, &path, None).await;
        if status.is_success() {
            break;
        }
        assert!(Instant::now() < deadline, "{status}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Bob starts a login in his own management room; once someone else is
    // in it, the next QR code is not shown: the login stops, it says why,
    // and the code already shown is taken away.
    let bobs = support::login::open_management_room(&bob, bot, WAIT).await;
    // A login Bob cancels takes its code away too.
    bob.send_text(&bobs, "login").await;
    let (_, image) = bob
        .sync_until(WAIT, |r, e| {
            r == bobs && e["content"]["msgtype"] == "m.image"
        })
        .await;
    let cancelled_id = image["event_id"].as_str().unwrap().to_owned();
    bob.send_text(&bobs, "cancel").await;
    notice_with(&bob, &bobs, bot, "Login cancelled.").await;
    let events = bob.room_messages(&bobs).await;
    assert!(
        events.iter().any(|e| e["type"] == "m.room.redaction"
            && (e["redacts"] == cancelled_id.as_str()
                || e["content"]["redacts"] == cancelled_id.as_str())),
        "the cancelled login's QR code is redacted"
    );
    bob.send_text(&bobs, "login").await;
    let (_, image) = bob
        .sync_until(WAIT, |r, e| {
            r == bobs && e["content"]["msgtype"] == "m.image"
        })
        .await;
    let image_id = image["event_id"].as_str().unwrap().to_owned();
    bob.invite(&bobs, &mallory.user_id).await;
    mallory.join(&bobs).await;
    let text = notice_with(&bob, &bobs, bot, "Login cancelled").await;
    assert!(text.contains("someone else is in this room now"), "{text}");
    let events = bob.room_messages(&bobs).await;
    assert!(
        events.iter().any(|e| e["type"] == "m.room.redaction"
            && (e["redacts"] == image_id.as_str() || e["content"]["redacts"] == image_id.as_str())),
        "the QR code shown is redacted"
    );
    let images = events
        .iter()
        .filter(|e| e["content"]["msgtype"] == "m.image")
        .count();
    assert_eq!(images, 0, "no QR code is left in the room: {events:?}");
    li.bridge.stop().await;
}
