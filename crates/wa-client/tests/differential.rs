//! Our client and Baileys rc14 through the same simulator, compared on the
//! wire: the stanzas each sends to start its session (before any
//! message), and those of pairing and of the same operations done by both (presence,
//! typing, texts, media, reactions, edits, revokes, polls, receipts, a
//! group, an app-state patch), by shape (tag, `type`/`xmlns`, attribute
//! names, child tags). Every difference must be listed, with its reason, in
//! docs/PROTOCOL-NOTES.md "Intended differences from Baileys"; a new one,
//! or a listed one that went away, fails. (The ClientPayload comparison is
//! in crates/wa-sim/tests/differential.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../wa-sim/tests/support/baileys.rs"]
#[allow(dead_code)]
mod baileys;
#[path = "support/companion.rs"]
mod companion;

use std::collections::BTreeSet;
use std::time::Duration;

use companion::{paired, sim, start, stop};
use serde_json::json;
use tokio::sync::mpsc;
use wa_client::{ChatState, Client, ClientEvent, IncomingMessage, MediaKind, MemberChange};
use wa_core::jid::{Jid, Server};
use wa_core::msgsecret::{VoteContext, seal_vote};
use wa_core::proto::message::poll_creation_message::Option as PollOption;
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::message::{
    ImageMessage, PollCreationMessage, PollUpdateMessage, PollVoteMessage, ProtocolMessage,
    ReactionMessage,
};
use wa_core::proto::{Message, MessageContextInfo, MessageKey};
use wa_sim::HistoryScript;

/// Session-start stanza shapes only one side sends, and why (the table in
/// PROTOCOL-NOTES.md): `(shape, who)`.
const INTENDED: [(&str, &str); 1] = [
    // Baileys sends the unified session as it opens; we send it with our
    // first available presence, which the bridge sends only while the user
    // is active (so the phone keeps its notifications).
    ("ib type=- xmlns=- [] > unified_session", "baileys"),
];

#[tokio::test]
async fn session_start_matches_baileys_but_for_the_listed_differences() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = sim().await;
    sim.record_stanzas();

    let phone = sim.account("15550009101");
    let mut peer = baileys::Baileys::start(&dir, &sim);
    let qr = peer.next(&[]).await;
    assert_eq!(qr["event"], "qr", "{qr}");
    phone.scan(qr["qr"].as_str().unwrap()).await.unwrap();
    let open = peer.next(&["qr", "restart"]).await;
    assert_eq!(open["event"], "open", "{open}");

    let mine = sim.account("15550009102");
    let store = paired(&sim, &mine).await;
    let (client, events) = start(&sim, &store).await;
    let device = client.jid().device();

    // What each sends on its own once online: Baileys' init queries run
    // right after "open" (privacy is among the last); a little more time
    // for anything that follows them.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !sim
        .stanza_shapes("15550009101", 1)
        .iter()
        .any(|s| s.contains("xmlns=privacy"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "Baileys' init queries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Pairing is compared with the operations (both send the unified
    // session after it): here, what each sends once logged in.
    let theirs: BTreeSet<String> = sim
        .stanza_shapes_since_login("15550009101", 1)
        .into_iter()
        .collect();
    let ours: BTreeSet<String> = sim
        .stanza_shapes_since_login("15550009102", device)
        .into_iter()
        .collect();
    assert!(
        theirs.iter().any(|s| s.contains("xmlns=passive")),
        "Baileys went active: {theirs:#?}"
    );
    compare("session-start", &ours, &theirs, &INTENDED);
    stop(client, events).await;
}

/// What only one side sends doing the same operations, and why (the
/// table in PROTOCOL-NOTES.md): `(line, who)`.
const OPS_INTENDED: &[(&str, &str)] = &[
    // Baileys names itself in chat states; whatsmeow (`SendChatPresence`)
    // sends `to` only, as we do.
    ("chatstate type=- xmlns=- @from", "baileys"),
    // 1:1 messages go to the LID with the phone number beside it, as
    // whatsmeow sends since July 2026; Baileys sends to the JID it is given.
    ("message type=media xmlns=- @peer_recipient_pn", "ours"),
    ("message type=poll xmlns=- @peer_recipient_pn", "ours"),
    ("message type=reaction xmlns=- @peer_recipient_pn", "ours"),
    ("message type=text xmlns=- @peer_recipient_pn", "ours"),
    // Reporting tokens: always ours (whatsmeow's computation); Baileys'
    // lines are left out of the comparison (see `baileys_reporting`).
    ("message type=media xmlns=- > reporting", "ours"),
    ("message type=poll xmlns=- > reporting", "ours"),
    ("message type=text xmlns=- > reporting", "ours"),
    ("message/reporting type=- xmlns=-", "ours"),
    ("message/reporting type=- xmlns=- > reporting_token", "ours"),
    ("message/reporting/reporting_token type=- xmlns=-", "ours"),
    (
        "message/reporting/reporting_token type=- xmlns=- @v",
        "ours",
    ),
    // Baileys marks every group message `addressing_mode`; whatsmeow only
    // LID-addressed groups (ours here are phone-number groups).
    ("message type=text xmlns=- @addressing_mode", "baileys"),
    // Baileys gives presence subscriptions an id; whatsmeow does not.
    ("presence type=subscribe xmlns=- @id", "baileys"),
];

/// Baileys computes its reporting token over the padded message and
/// attaches it only when that parses, in about 2 messages of 16: whether
/// its stanzas carry one is chance, so its reporting lines are not compared.
fn baileys_reporting(line: &str) -> bool {
    line.contains("reporting")
}

/// Keepalive pings, sent on a timer, not by an operation.
fn timer_driven(shape: &str) -> bool {
    shape.starts_with("iq type=get xmlns=w:p") || shape.starts_with("iq/ping ")
}

#[tokio::test]
async fn operations_match_baileys_but_for_the_listed_differences() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = sim().await;
    sim.record_stanzas();
    let (theirs_pn, ours_pn) = ("15550009201", "15550009202");
    let mut peer = baileys::Baileys::start(&dir, &sim);
    // Both phones share their app-state keys (with an empty history) once
    // their companion is active, so both can push a patch.
    let (their_phone, our_phone) = (sim.account(theirs_pn), sim.account(ours_pn));
    their_phone.set_history(HistoryScript::new());
    our_phone.set_history(HistoryScript::new());
    peer.link(&their_phone).await;
    let store = paired(&sim, &our_phone).await;
    let (client, events) = start(&sim, &store).await;
    let device = client.jid().device();
    let mut incoming = forward_messages(events);
    // Contacts: a 1:1 peer and a second group member for each side.
    let (their_peer, their_other) = (sim.account("15550009211"), sim.account("15550009213"));
    let (our_peer, our_other) = (sim.account("15550009212"), sim.account("15550009214"));
    // Push names through app state: without one neither goes online.
    their_phone.set_push_name("Them").await.unwrap();
    our_phone.set_push_name("Us").await.unwrap();
    // Let both finish starting their sessions and sync app state. What
    // they send from login on is compared as a whole: when each fetches
    // media hosts or app state differs, what it sends does not.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let their_chat = format!("{}@s.whatsapp.net", their_peer.pn());
    // Each operation names the 1:1 chat; `extra` adds its arguments.
    let to = |extra: serde_json::Value| {
        let mut cmd = json!({"cmd": "op", "to": their_chat});
        for (k, v) in extra.as_object().unwrap() {
            cmd[k] = v.clone();
        }
        cmd
    };
    op(&mut peer, to(json!({"op": "presence"}))).await;
    op(&mut peer, to(json!({"op": "typing"}))).await;
    let id = op(&mut peer, to(json!({"op": "text", "text": "hello"})))
        .await
        .unwrap();
    op(
        &mut peer,
        to(json!({"op": "react", "id": id, "text": "👍"})),
    )
    .await;
    op(
        &mut peer,
        to(json!({"op": "edit", "id": id, "text": "hello again"})),
    )
    .await;
    op(&mut peer, to(json!({"op": "revoke", "id": id}))).await;
    op(&mut peer, to(json!({"op": "image", "data": JPEG_B64}))).await;
    op(
        &mut peer,
        to(json!({"op": "poll", "text": "lunch?", "values": ["yes", "no"]})),
    )
    .await;
    let heard = their_peer.send_text(theirs_pn, "read me").await.unwrap();
    assert_eq!(peer.incoming().await["id"], heard.as_str());
    op(&mut peer, to(json!({"op": "read", "id": heard}))).await;
    op(&mut peer, to(json!({"op": "mute"}))).await;
    peer.command(json!({
        "cmd": "group-create", "subject": "compared", "participants": [their_chat],
    }))
    .await;
    let group = peer.expect("group", &["message", "sent"]).await;
    let gid = group["id"].as_str().unwrap().to_owned();
    peer.command(json!({
        "cmd": "group-participants", "id": gid, "action": "add",
        "participants": [format!("{}@s.whatsapp.net", their_other.pn())],
    }))
    .await;
    let added = peer.expect("participants", &["message", "sent"]).await;
    assert_eq!(added["results"][0]["status"], "200", "{added}");
    peer.send(&gid, "hello group").await;

    // The same through our client.
    let chat = Jid::new(our_peer.pn(), Server::User);
    client.send_presence(true).await.unwrap();
    client.subscribe_presence(&chat).await.unwrap();
    client
        .send_chat_state(&chat, ChatState::Composing)
        .await
        .unwrap();
    client
        .send_chat_state(&chat, ChatState::Paused)
        .await
        .unwrap();
    let id = client.send_text(&chat, "hello").await.unwrap().id;
    let key = MessageKey {
        remote_jid: Some(chat.to_string()),
        from_me: Some(true),
        id: Some(id.clone()),
        participant: None,
    };
    send(&client, &chat, reaction(&key)).await;
    send(&client, &chat, edit(&key)).await;
    send(&client, &chat, revoke(&key)).await;
    send(&client, &chat, image(&client).await).await;
    let (poll, secret) = poll();
    let poll_id = send(&client, &chat, poll).await;
    send(&client, &chat, vote(&client, &chat, &poll_id, &secret)).await;
    let heard = our_peer.send_text(ours_pn, "read me").await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let m = incoming.recv().await.expect("client running");
            if m.id == heard {
                break m;
            }
        }
    })
    .await
    .expect("the peer's text arrives");
    client
        .mark_read(&m.chat, Some(&m.sender), std::slice::from_ref(&m.id))
        .await
        .unwrap();
    client
        .mute_chat(&chat, true, Some(now_ms() + 8 * 3_600_000))
        .await
        .unwrap();
    let other = Jid::new(our_other.pn(), Server::User);
    let info = client
        .create_group("compared", std::slice::from_ref(&chat))
        .await
        .unwrap();
    let added = client
        .change_members(&info.jid, MemberChange::Add, &[other])
        .await
        .unwrap();
    assert_eq!(added[0].error, None, "{added:?}");
    client.send_text(&info.jid, "hello group").await.unwrap();

    // Trailing stanzas (receipts, acks of what the peers answered).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pick = |pn: &str, dev: u16| -> BTreeSet<String> {
        sim.stanza_deep_shapes(pn, dev, 0)
            .into_iter()
            .filter(|s| !timer_driven(s))
            .collect()
    };
    let mut theirs = pick(theirs_pn, 1);
    theirs.retain(|l| !baileys_reporting(l));
    let ours = pick(ours_pn, device);
    // Pairing is compared too: what each answered while being linked.
    for side in [&ours, &theirs] {
        assert!(
            side.iter().any(|l| l.starts_with("iq/pair-device-sign")),
            "pairing recorded: {side:#?}"
        );
    }
    compare("operation", &ours, &theirs, OPS_INTENDED);
    client.stop();
}

/// Has Baileys perform `cmd` (see the operations block of link.mjs);
/// returns the id of the message it sent, if any.
async fn op(peer: &mut baileys::Baileys, cmd: serde_json::Value) -> Option<String> {
    let name = cmd["op"].clone();
    peer.command(cmd).await;
    let done = peer.expect("done", &["message", "sent"]).await;
    assert_eq!(done["op"], name, "{done}");
    done["id"].as_str().map(str::to_owned)
}

/// Asserts that `ours` and `theirs` differ exactly by `intended`, and
/// prints the count by stanza kind.
fn compare(
    what: &str,
    ours: &BTreeSet<String>,
    theirs: &BTreeSet<String>,
    intended: &[(&str, &str)],
) {
    let found: BTreeSet<(String, &str)> = ours
        .difference(theirs)
        .map(|s| (s.clone(), "ours"))
        .chain(theirs.difference(ours).map(|s| (s.clone(), "baileys")))
        .collect();
    let intended: BTreeSet<(String, &str)> = intended
        .iter()
        .map(|(s, who)| ((*s).to_owned(), *who))
        .collect();
    let kinds: BTreeSet<&str> = ours
        .iter()
        .chain(theirs)
        .filter_map(|s| s.split([' ', '/']).next())
        .collect();
    println!(
        "{what} differences from Baileys: {} ({} intended), over stanza kinds {kinds:?}",
        found.len(),
        intended.len()
    );
    let shown: Vec<String> = found.iter().map(|(s, who)| format!("{who}: {s}")).collect();
    assert_eq!(
        found, intended,
        "unexplained (or no longer present) differences; list each in \
         docs/PROTOCOL-NOTES.md with its reason.\nfound: {shown:#?}"
    );
}

/// Incoming messages, while every other event is drained so the client
/// never waits on its event channel.
fn forward_messages(
    mut events: mpsc::Receiver<ClientEvent>,
) -> mpsc::UnboundedReceiver<IncomingMessage> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let ClientEvent::Message(m) = e {
                let _ = tx.send(*m);
            }
        }
    });
    rx
}

async fn send(client: &Client, to: &Jid, message: Message) -> String {
    client.send_message(to, message).await.unwrap().id
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn reaction(key: &MessageKey) -> Message {
    Message {
        reaction_message: Some(ReactionMessage {
            key: Some(key.clone()),
            text: Some("👍".to_owned()),
            sender_timestamp_ms: Some(now_ms()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn protocol(key: &MessageKey, kind: ProtocolType, edited: Option<Message>) -> Message {
    Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(key.clone()),
            r#type: Some(kind as i32),
            edited_message: edited.map(Box::new),
            timestamp_ms: Some(now_ms()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn edit(key: &MessageKey) -> Message {
    let text = Message {
        conversation: Some("hello again".to_owned()),
        ..Default::default()
    };
    protocol(key, ProtocolType::MessageEdit, Some(text))
}

fn revoke(key: &MessageKey) -> Message {
    protocol(key, ProtocolType::Revoke, None)
}

/// A 1x1 JPEG.
const JPEG_B64: &str = "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k=";

async fn image(client: &Client) -> Message {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(JPEG_B64)
        .unwrap();
    let up = client.upload(MediaKind::Image, &data).await.unwrap();
    Message {
        image_message: Some(Box::new(ImageMessage {
            url: Some(up.url),
            direct_path: Some(up.direct_path),
            media_key: Some(up.media_key.to_vec()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            file_length: Some(up.file_length),
            mimetype: Some("image/jpeg".to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn poll() -> (Message, Vec<u8>) {
    let secret = vec![7; 32];
    let message = Message {
        poll_creation_message_v3: Some(Box::new(PollCreationMessage {
            name: Some("lunch?".to_owned()),
            options: ["yes", "no"]
                .map(|o| PollOption {
                    option_name: Some(o.to_owned()),
                    ..Default::default()
                })
                .to_vec(),
            selectable_options_count: Some(1),
            ..Default::default()
        })),
        message_context_info: Some(MessageContextInfo {
            message_secret: Some(secret.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    (message, secret)
}

fn vote(client: &Client, chat: &Jid, poll_id: &str, secret: &[u8]) -> Message {
    let own = client.jid().to_non_ad().to_string();
    let ctx = VoteContext {
        poll_id,
        poll_sender: &own,
        voter: &own,
    };
    let choice = PollVoteMessage {
        selected_options: vec![wa_core::msgsecret::option_hash("yes").to_vec()],
    };
    Message {
        poll_update_message: Some(PollUpdateMessage {
            poll_creation_message_key: Some(MessageKey {
                remote_jid: Some(chat.to_string()),
                from_me: Some(true),
                id: Some(poll_id.to_owned()),
                participant: None,
            }),
            vote: Some(seal_vote(secret, ctx, &choice, [3; 12])),
            sender_timestamp_ms: Some(now_ms()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
