//! The bridge end to end: a real Synapse, wa-sim with scripted phones, and
//! the bridge in this process. A Matrix user logs in by scanning the QR code
//! the bot posts (decoded from the PNG), then chats 1:1 and in a group both
//! ways; after a bridge restart both directions work without a new login.
//! Once on SQLite, once on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::bridge::{Bridge, start_synapse, tempdir};
use support::login::{Qr, login_by_qr, open_management_room};
use support::matrix::{MatrixUser, body};
use support::postgres::{on_postgres, on_sqlite};
use support::synapse;
use tokio::net::TcpListener;
use wa_sim::Sim;
use wabridge::config::{Config, generate_token};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557770001";
const BOB_PN: &str = "15557770002";
const CAROL_PN: &str = "15557770003";

fn config(sim: &Sim, port: u16, homeserver: &str, domain: &str, db: &str) -> Config {
    let yaml = format!(
        r#"
homeserver:
    address: {homeserver}
    domain: {domain}
appservice:
    address: http://127.0.0.1:{port}
    hostname: 127.0.0.1
    port: {port}
    id: whatsapp
    bot:
        username: whatsappbot
        displayname: WhatsApp bridge bot
    as_token: {as_token}
    hs_token: {hs_token}
    username_template: whatsapp_{{{{.}}}}
database:
    type: {kind}
    uri: "{db}"
bridge:
    command_prefix: "!wa"
    permissions:
        "@alice:{domain}": user
network:
    url: {url}
    root_key: {root}
    device_name: wabridge-test
    first_qr_seconds: 2
    later_qr_seconds: 4
logging:
    level: info
"#,
        as_token = generate_token(),
        hs_token = generate_token(),
        kind = if db.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        },
        url = sim.url(),
        root = hex::encode(sim.root_public_key()),
    );
    yaml.parse::<Config>().expect("test config is valid")
}

fn is_message(e: &Value) -> bool {
    e["type"] == "m.room.message"
}

/// Waits for a room not seen before: one the double puppet joined the user
/// to, or an invite, accepted.
async fn join_new_invite(user: &MatrixUser, known: &mut Vec<String>) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(room) = user
            .joined_rooms()
            .await
            .into_iter()
            .find(|r| !known.contains(r))
        {
            known.push(room.clone());
            return room;
        }
        let invites = user.invites().await;
        if let Some(room) = invites.into_iter().find(|r| !known.contains(r)) {
            user.accept_invite(&room).await;
            known.push(room.clone());
            return room;
        }
        assert!(Instant::now() < deadline, "no new invite in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scenario(db: &str) {
    support::log::to_test_output("wabridge=debug,wa_client=info");
    let started = Instant::now();
    let sim = support::bridge::start_sim().await;
    // Short-lived refs, as the bridge's config shows them, so the test
    // sees a QR code replaced.
    sim.set_ref_lifetimes(Duration::from_secs(2), Duration::from_secs(4));
    let alice_phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let carol = sim.account(CAROL_PN);

    // The bridge's port is fixed before Synapse learns it from the
    // registration.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempdir("wabridge-e2e");
    let mut config = config(&sim, port, "http://127.0.0.1:1", synapse::SERVER_NAME, db);
    // Double puppeting: an extra registration lends the bridge its token.
    let synapse = start_synapse(&mut config, &dir, true).await;

    let bridge = Bridge::start(&config, port).await;
    let alice = synapse.register_user("alice", "secret-pw", false).await;
    let bot = format!("@whatsappbot:{}", synapse.server_name());

    // A DM with the bot becomes the management room. Login: the QR image,
    // decoded from the PNG; when its ref expires the image is replaced by
    // an edit carrying the next one, and the phone scans that.
    let management = open_management_room(&alice, &bot, WAIT).await;
    let mut known = vec![management.clone()];
    login_by_qr(
        &alice,
        &management,
        &alice_phone,
        ALICE_PN,
        Qr::Replaced,
        WAIT,
    )
    .await;

    // Commands answer in the room.
    alice.send_text(&management, "ping").await;
    alice
        .sync_until(WAIT, |room, e| {
            room == management && body(e).contains("connected to WhatsApp")
        })
        .await;
    alice.send_text(&management, "frobnicate").await;
    alice
        .sync_until(WAIT, |room, e| {
            room == management && body(e).starts_with("Unknown command `frobnicate`")
        })
        .await;
    // Someone outside the permissions has their invite declined: the bot
    // never joins their room (issue 18).
    let mallory = synapse.register_user("mallory", "secret-pw", false).await;
    let refused = mallory.create_dm(&bot).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let bot_member = mallory.get_state(&refused, "m.room.member", &bot).await;
        if bot_member.as_ref().and_then(|m| m["membership"].as_str()) == Some("leave") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bot's membership: {bot_member:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A contact writes: a new portal room, the message from their ghost.
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", synapse.server_name());
    let first_id = bob.send_text(ALICE_PN, "hi *alice*").await.unwrap();
    let dm = join_new_invite(&alice, &mut known).await;
    let (_, m) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && is_message(e) && e["sender"] == bob_ghost.as_str()
        })
        .await;
    assert_eq!(body(&m), "hi *alice*");
    let first_event = m["event_id"].clone();
    assert_eq!(m["content"]["formatted_body"], "hi <strong>alice</strong>");
    let members = alice.joined_members(&dm).await;
    assert!(members.contains(&bob_ghost), "{members:?}");

    // Alice answers from Matrix; formatting becomes WhatsApp markup.
    let hello = alice
        .send_event(
            &dm,
            "m.room.message",
            &serde_json::json!({
                "msgtype": "m.text",
                "body": "hello bob",
                "format": "org.matrix.custom.html",
                "formatted_body": "hello <em>bob</em>",
            }),
        )
        .await;
    let got = bob.wait_received(1, WAIT).await;
    assert_eq!(got.last().unwrap().text.as_deref(), Some("hello _bob_"));

    // Bob reads it on his phone: his ghost's read receipt on Alice's event.
    let wa_id = got.last().unwrap().id.clone();
    assert_eq!(bob.mark_read(&[&wa_id]), 1, "one read receipt sent");
    alice
        .sync_until(WAIT, |room, e| {
            room == dm
                && e["type"] == "m.receipt"
                && e["content"][hello.as_str()]["m.read"][bob_ghost.as_str()].is_object()
        })
        .await;

    // Alice writes from her phone: with double puppeting it shows as Alice
    // herself, and its echo does not go back out to WhatsApp.
    let before = bob.received().len();
    alice_phone
        .send_text(BOB_PN, "typed on my phone")
        .await
        .unwrap();
    let (_, own) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && is_message(e) && body(e) == "typed on my phone"
        })
        .await;
    assert_eq!(own["sender"], alice.user_id.as_str(), "sent as Alice");
    assert_eq!(own["content"]["msgtype"], "m.text");
    let got = bob.wait_received(before + 1, WAIT).await;
    assert_eq!(got.len(), before + 1);
    assert!(
        alice
            .get_state(
                &dm,
                "m.bridge",
                &format!("{}/whatsapp", synapse.server_name())
            )
            .await
            .is_some(),
        "portal rooms carry m.bridge"
    );

    // What cannot be bridged yet gets a visible notice, not silence.
    let image = alice
        .send_event(
            &dm,
            "m.room.message",
            &serde_json::json!({"msgtype": "m.image", "body": "cat.png", "url": "mxc://x/y"}),
        )
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("⚠️ Your message was not bridged")
        })
        .await;
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        image.as_str()
    );

    // A group of three, both ways.
    let group = sim
        .create_group(BOB_PN, "Trio", &[ALICE_PN.to_owned(), CAROL_PN.to_owned()])
        .unwrap();
    bob.send_group_text(&group, "hello trio").await.unwrap();
    let group_room = join_new_invite(&alice, &mut known).await;
    let (_, m) = alice
        .sync_until(WAIT, |room, e| {
            room == group_room && is_message(e) && e["sender"] == bob_ghost.as_str()
        })
        .await;
    assert_eq!(body(&m), "hello trio");
    let name = alice
        .get_state(&group_room, "m.room.name", "")
        .await
        .expect("group room has a name");
    assert_eq!(name["name"], "Trio");
    alice.send_text(&group_room, "hi both").await;
    for phone in [&bob, &carol] {
        let deadline = Instant::now() + WAIT;
        loop {
            let texts: Vec<String> = phone
                .received()
                .into_iter()
                .filter_map(|r| r.text)
                .collect();
            if texts.iter().any(|t| t == "hi both") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not get it: {texts:?}",
                phone.pn()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // WhatsApp goes away (the socket cut, logins refused) and Alice writes
    // meanwhile: the bridge takes the event, but the server never acks it
    // before the bridge stops. It must not be lost: its record is kept
    // until the ack, and the next start sends it (issue 18).
    // First a reaction Alice takes back during the outage: its removal
    // must get there after the restart too.
    let bob_reactions = |removed: bool| {
        bob.received()
            .iter()
            .filter_map(|r| r.reaction())
            .filter(|(target, emoji)| *target == first_id && emoji.is_empty() == removed)
            .count()
    };
    let reaction = alice
        .send_event(
            &dm,
            "m.reaction",
            &serde_json::json!({"m.relates_to": {
                "rel_type": "m.annotation", "event_id": first_event, "key": "👍"}}),
        )
        .await;
    let deadline = Instant::now() + WAIT;
    while bob_reactions(false) == 0 {
        assert!(Instant::now() < deadline, "the reaction never reached Bob");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alice_device = alice_phone.linked_devices()[0];
    sim.refuse_logins(ALICE_PN, alice_device, Duration::from_secs(600));
    assert!(sim.cut(ALICE_PN, alice_device), "the bridge was connected");
    alice.redact(&dm, &reaction, None).await;
    let outage = alice.send_text(&dm, "sent during a WhatsApp outage").await;
    let store = wabridge::store::Database::connect(&config.database.uri)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let outage = ruma::OwnedEventId::try_from(outage).unwrap();
    while store.message_by_event(&outage).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the bridge never took it");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.close().await;

    // Restart: same database, no new login. An event the homeserver
    // handed over just before a crash is kept, and the next start sends it.
    bridge.stop().await;
    let kept = serde_json::json!({
        "type": "m.room.message", "room_id": dm, "sender": alice.user_id,
        "event_id": "$kept-before-a-crash", "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "kept before a crash"},
    });
    let store = wabridge::store::Database::connect(&config.database.uri)
        .await
        .unwrap();
    store
        .queue_outbound(
            &ruma::OwnedRoomId::try_from(dm.as_str()).unwrap(),
            ruma::event_id!("$kept-before-a-crash"),
            &kept.to_string(),
        )
        .await
        .unwrap();
    store.close().await;
    // And what Alice sends while the bridge is down waits in the
    // homeserver, which hands it over once the bridge is back (its ping
    // asks for that): it must reach WhatsApp once, not be refused
    // because the logins are not restored yet (issue 18).
    alice.send_text(&dm, "sent while the bridge was down").await;
    // WhatsApp answers the restored login only after a while, and then
    // refuses it for a while (503): the homeserver's backlog comes in
    // meanwhile, and the login keeps trying (issue 18).
    sim.hold_logins(ALICE_PN, alice_device, Duration::from_secs(2));
    sim.refuse_logins(ALICE_PN, alice_device, Duration::from_secs(4));
    let bridge = Bridge::start(&config, port).await;
    bob.send_text(ALICE_PN, "still there?").await.unwrap();
    let (_, m) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && is_message(e) && body(e) == "still there?"
        })
        .await;
    assert_eq!(m["sender"], bob_ghost.as_str());
    alice.send_text(&dm, "yes, after a restart").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let texts: Vec<String> = bob.received().into_iter().filter_map(|r| r.text).collect();
        if texts.iter().any(|t| t == "yes, after a restart") {
            break;
        }
        assert!(Instant::now() < deadline, "bob did not get it: {texts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + WAIT;
    while bob_reactions(true) == 0 {
        assert!(
            Instant::now() < deadline,
            "the reaction's removal was not sent after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + WAIT;
    while !bob
        .received()
        .iter()
        .any(|r| r.text.as_deref() == Some("kept before a crash"))
    {
        assert!(Instant::now() < deadline, "the kept event was not sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // How many times Bob's phone got `text`.
    let copies = |text: &str| {
        bob.received()
            .into_iter()
            .filter(|r| r.text.as_deref() == Some(text))
            .count()
    };
    assert_eq!(
        copies("typed on my phone"),
        1,
        "the puppet's echo never went back out"
    );
    assert_eq!(
        alice_phone.linked_devices().len(),
        1,
        "one linked device: the restart did not pair again"
    );
    bridge.stop().await;
    assert_eq!(
        copies("kept before a crash"),
        1,
        "the kept event went out once"
    );
    assert_eq!(bob_reactions(true), 1, "the removal went out once");
    assert_eq!(
        copies("sent while the bridge was down"),
        1,
        "the homeserver's backlog went out once"
    );
    assert_eq!(
        copies("sent during a WhatsApp outage"),
        1,
        "what waited for the server's ack went out once"
    );
    let store = wabridge::store::Database::connect(&config.database.uri)
        .await
        .unwrap();
    assert_eq!(
        store.pending_outbound().await.unwrap(),
        Vec::<(ruma::OwnedRoomId, String)>::new(),
        "nothing is left to send"
    );
    store.close().await;

    // Alice is taken out of the permissions: at the next start her login
    // is not restored (no login reaches WhatsApp), though the bot still
    // answers her `help` (issue 18).
    config.bridge.permissions.clear();
    let logins_before = sim.client_payloads().len();
    let bridge = Bridge::start(&config, port).await;
    alice.send_text(&management, "help").await;
    alice
        .sync_until(WAIT, |room, e| {
            room == management && body(e).starts_with("Commands")
        })
        .await;
    assert_eq!(
        sim.client_payloads().len(),
        logins_before,
        "the login of a user without permission is not restored"
    );
    bridge.stop().await;
    eprintln!(
        "e2e on {} took {:?}",
        db.split(':').next().unwrap_or(db),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_qr_and_chat_both_ways_on_sqlite() {
    on_sqlite("wabridge-e2e", |db| async move { scenario(&db).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_qr_and_chat_both_ways_on_postgres() {
    on_postgres("wabridge_e2e", |db| async move { scenario(&db).await }).await;
}
