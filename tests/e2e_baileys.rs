//! Baileys (rc14, from npm) as the other party of a bridged user: a real
//! Synapse, wa-sim and the bridge in this process; Alice logs in to the
//! bridge with her scripted phone, Bob's account is driven by Baileys
//! (scripts/baileys/peer.mjs, linked as a companion of Bob's phone). In
//! their 1:1 chat and in a group with Carol (a scripted phone), Baileys
//! sends an image, a voice note, a document, a sticker, a reply, a
//! reaction (added, changed, removed), an edit and a revoke, and each
//! arrives in Matrix as the right event with the right content and
//! relation, its file byte for byte from Synapse's media repository. Alice
//! sends the same kinds from Matrix and Baileys decodes each: its
//! `downloadMediaMessage` returns the uploaded bytes, and replies,
//! reactions, edits and revokes point at the WhatsApp id of the right
//! message. Polls go both ways: Baileys' poll shows as a list, and Alice's
//! Matrix poll and vote reach Baileys, which opens the vote itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::baileys::baileys_dir;
use support::files::{ogg_opus_like, png, varied_bytes, webp_like};
use support::login::{LoggedIn, start_logged_in};
use support::matrix::{MatrixUser, body, redacts};
use support::peer::Peer;
use support::synapse;

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557810001";
const BOB_PN: &str = "15557810002";
const CAROL_PN: &str = "15557810003";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One chat as both ends name it.
struct Chat {
    /// The JID Baileys sends to: Alice's, or the group's.
    jid: String,
    /// The portal, once it exists.
    room: String,
    /// Whether it is a group (Alice's messages then need her JID as the
    /// participant of their key).
    group: bool,
    /// Bob's ghost.
    bob_ghost: String,
}

impl Chat {
    /// Whether Baileys' event `e` is in this chat: Alice's 1:1 messages
    /// come LID-addressed (as whatsmeow sends them), the chat's phone
    /// number beside it.
    fn holds(&self, e: &Value) -> bool {
        e["chat"] == self.jid.as_str() || e["chatAlt"] == self.jid.as_str()
    }

    /// The key of a message Alice sent, as Baileys names it.
    fn alice_key(&self, id: &str) -> Value {
        let mut key = json!({"id": id, "fromMe": false});
        if self.group {
            key["participant"] = json!(format!("{ALICE_PN}@s.whatsapp.net"));
        }
        key
    }

    /// The next event from Bob's ghost in the portal for which `want`
    /// holds (events before it are passed over).
    async fn bob_event(&self, alice: &MatrixUser, want: impl Fn(&Value) -> bool) -> Value {
        alice
            .sync_until(WAIT, |room, e| {
                room == self.room && e["sender"] == self.bob_ghost.as_str() && want(e)
            })
            .await
            .1
    }

    /// Events from Bob's ghost in the portal, one for each of `wants`, in
    /// whatever order they come; returned in the order of `wants`.
    async fn bob_events(
        &self,
        alice: &MatrixUser,
        wants: &[&dyn Fn(&Value) -> bool],
    ) -> Vec<Value> {
        let mut found: Vec<Option<Value>> = vec![None; wants.len()];
        alice
            .sync_until(WAIT, |room, e| {
                if room != self.room || e["sender"] != self.bob_ghost.as_str() {
                    return false;
                }
                if let Some(i) = (0..wants.len()).find(|&i| found[i].is_none() && wants[i](e)) {
                    found[i] = Some(e.clone());
                }
                found.iter().all(Option::is_some)
            })
            .await;
        found.into_iter().map(Option::unwrap).collect()
    }

    /// Bob (Baileys) runs the sending command `cmd` in this chat; returns
    /// the WhatsApp id.
    async fn bob_sends(&self, peer: &mut Peer, mut cmd: Value) -> String {
        cmd["to"] = json!(self.jid);
        peer.send(cmd).await
    }

    /// Bob (Baileys) sends a text in this chat; returns the WhatsApp id.
    async fn bob_text(&self, peer: &mut Peer, text: &str) -> String {
        if self.group {
            peer.send_group_text(&self.jid, text).await
        } else {
            peer.send_text(&self.jid, text).await
        }
    }
}

/// What an attachment is on both ends.
struct File {
    bytes: Vec<u8>,
    mimetype: &'static str,
}

impl File {
    fn base64(&self) -> String {
        STANDARD.encode(&self.bytes)
    }
}

/// Baileys sends an image, a voice note, a document and a sticker; each
/// arrives as the right Matrix event with the file byte for byte.
async fn baileys_media_to_matrix(alice: &MatrixUser, peer: &mut Peer, chat: &Chat) {
    let image = File {
        bytes: png(64, 32),
        mimetype: "image/png",
    };
    chat.bob_sends(
        peer,
        json!({"cmd": "send-media", "kind": "image", "data": image.base64(),
               "mimetype": image.mimetype, "caption": "the view", "width": 64, "height": 32}),
    )
    .await;
    let e = chat
        .bob_event(alice, |e| e["type"] == "m.room.message")
        .await;
    let c = &e["content"];
    assert_eq!(c["msgtype"], "m.image", "{e}");
    assert_eq!(c["body"], "the view", "{e}");
    assert_eq!(c["info"]["mimetype"], image.mimetype, "{e}");
    assert_eq!(c["info"]["size"], image.bytes.len(), "{e}");
    assert_eq!(
        (c["info"]["w"].as_u64(), c["info"]["h"].as_u64()),
        (Some(64), Some(32))
    );
    let got = alice.download_media(c["url"].as_str().unwrap()).await;
    assert!(got == image.bytes, "the image arrives byte for byte");

    let voice = File {
        bytes: ogg_opus_like(6000),
        mimetype: "audio/ogg; codecs=opus",
    };
    chat.bob_sends(
        peer,
        json!({"cmd": "send-media", "kind": "ptt", "data": voice.base64(),
               "mimetype": voice.mimetype, "seconds": 3}),
    )
    .await;
    let e = chat
        .bob_event(alice, |e| e["type"] == "m.room.message")
        .await;
    let c = &e["content"];
    assert_eq!(c["msgtype"], "m.audio", "{e}");
    assert_eq!(c["org.matrix.msc3245.voice"], json!({}), "{e}");
    assert_eq!(c["info"]["duration"], 3000, "{e}");
    assert_eq!(c["info"]["mimetype"], voice.mimetype, "{e}");
    assert_eq!(c["info"]["size"], voice.bytes.len(), "{e}");
    let got = alice.download_media(c["url"].as_str().unwrap()).await;
    assert!(got == voice.bytes, "the voice note arrives byte for byte");

    let doc = File {
        bytes: varied_bytes(300_007, 0x2545_f491),
        mimetype: "application/pdf",
    };
    chat.bob_sends(
        peer,
        json!({"cmd": "send-media", "kind": "document", "data": doc.base64(),
               "mimetype": doc.mimetype, "fileName": "report 2026.pdf"}),
    )
    .await;
    let e = chat
        .bob_event(alice, |e| e["type"] == "m.room.message")
        .await;
    let c = &e["content"];
    assert_eq!(c["msgtype"], "m.file", "{e}");
    assert_eq!(c["body"], "report 2026.pdf", "{e}");
    assert_eq!(c["filename"], "report 2026.pdf", "{e}");
    assert_eq!(c["info"]["mimetype"], doc.mimetype, "{e}");
    assert_eq!(c["info"]["size"], doc.bytes.len(), "{e}");
    let got = alice.download_media(c["url"].as_str().unwrap()).await;
    assert!(got == doc.bytes, "the document arrives byte for byte");

    let sticker = File {
        bytes: webp_like(2000),
        mimetype: "image/webp",
    };
    chat.bob_sends(
        peer,
        json!({"cmd": "send-media", "kind": "sticker", "data": sticker.base64(),
               "width": 96, "height": 96}),
    )
    .await;
    let e = chat.bob_event(alice, |e| e["type"] == "m.sticker").await;
    let c = &e["content"];
    assert_eq!(c["info"]["mimetype"], sticker.mimetype, "{e}");
    assert_eq!(c["info"]["size"], sticker.bytes.len(), "{e}");
    assert_eq!(
        (c["info"]["w"].as_u64(), c["info"]["h"].as_u64()),
        (Some(96), Some(96))
    );
    let got = alice.download_media(c["url"].as_str().unwrap()).await;
    assert!(got == sticker.bytes, "the sticker arrives byte for byte");
}

/// Baileys replies to Alice's message `mine` (Matrix `mine_event`), reacts
/// to it (adds, changes, removes), edits its own `hello` (`hello_event`)
/// and revokes a message: each is the right Matrix relation or redaction.
async fn baileys_relations_to_matrix(
    alice: &MatrixUser,
    peer: &mut Peer,
    chat: &Chat,
    (mine, mine_event): (&str, &str),
    (hello, hello_event): (&str, &str),
) {
    let mut quoted = chat.alice_key(mine);
    quoted["text"] = json!("hi bob");
    chat.bob_sends(
        peer,
        json!({"cmd": "send-reply", "text": "answering you", "quoted": quoted}),
    )
    .await;
    let e = chat.bob_event(alice, |e| body(e) == "answering you").await;
    assert_eq!(
        e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], mine_event,
        "the reply points at Alice's event: {e}"
    );

    let react =
        |text: &str| json!({"cmd": "send-reaction", "key": chat.alice_key(mine), "text": text});
    chat.bob_sends(peer, react("👍")).await;
    let thumbs = chat.bob_event(alice, |e| e["type"] == "m.reaction").await;
    assert_eq!(
        thumbs["content"]["m.relates_to"],
        json!({"rel_type": "m.annotation", "event_id": mine_event, "key": "👍"})
    );
    let thumbs_event = thumbs["event_id"].as_str().unwrap().to_owned();
    chat.bob_sends(peer, react("❤️")).await;
    let got = chat
        .bob_events(
            alice,
            &[
                &|e: &Value| e["type"] == "m.room.redaction" && redacts(e) == thumbs_event,
                &|e: &Value| e["type"] == "m.reaction",
            ],
        )
        .await;
    assert_eq!(
        got[1]["content"]["m.relates_to"],
        json!({"rel_type": "m.annotation", "event_id": mine_event, "key": "❤️"})
    );
    let heart_event = got[1]["event_id"].as_str().unwrap().to_owned();
    chat.bob_sends(peer, react("")).await;
    chat.bob_event(alice, |e| {
        e["type"] == "m.room.redaction" && redacts(e) == heart_event
    })
    .await;

    chat.bob_sends(
        peer,
        json!({"cmd": "send-edit", "key": {"id": hello, "fromMe": true}, "text": "hello, edited"}),
    )
    .await;
    let e = chat
        .bob_event(alice, |e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
        })
        .await;
    assert_eq!(e["content"]["m.relates_to"]["event_id"], hello_event, "{e}");
    assert_eq!(
        e["content"]["m.new_content"]["body"], "hello, edited",
        "{e}"
    );
    assert_eq!(e["content"]["m.new_content"]["msgtype"], "m.text", "{e}");

    let oops = chat.bob_text(peer, "oops").await;
    let e = chat.bob_event(alice, |e| body(e) == "oops").await;
    let oops_event = e["event_id"].as_str().unwrap().to_owned();
    chat.bob_sends(
        peer,
        json!({"cmd": "send-revoke", "key": {"id": oops, "fromMe": true}}),
    )
    .await;
    chat.bob_event(alice, |e| {
        e["type"] == "m.room.redaction" && redacts(e) == oops_event
    })
    .await;
}

/// Alice sends `content` as an event of `event_type`; Baileys downloads
/// the attachment and reports `file`'s bytes. Returns Baileys' event.
async fn alice_sends_media(
    alice: &MatrixUser,
    peer: &mut Peer,
    chat: &Chat,
    event_type: &str,
    file: &File,
    mut content: Value,
) -> Value {
    let mxc = alice.upload_media(file.mimetype, file.bytes.clone()).await;
    content["url"] = json!(mxc);
    content["info"]["mimetype"] = json!(file.mimetype);
    content["info"]["size"] = json!(file.bytes.len());
    alice.send_event(&chat.room, event_type, &content).await;
    let sha256 = sha256_hex(&file.bytes);
    let got = peer
        .wait("Alice's attachment", |e| {
            (e["event"] == "media" || e["event"] == "media-error") && chat.holds(e)
        })
        .await;
    assert_eq!(got["event"], "media", "Baileys downloads it: {got}");
    assert_eq!(got["length"], file.bytes.len(), "{got}");
    assert_eq!(
        got["sha256"],
        sha256.as_str(),
        "downloadMediaMessage returns the bytes: {got}"
    );
    if chat.group {
        assert_eq!(
            got["participant"],
            format!("{ALICE_PN}@s.whatsapp.net"),
            "{got}"
        );
    }
    got
}

/// Alice sends an image, a voice note, a file and a sticker from Matrix;
/// Baileys downloads each and gets the same bytes and metadata.
async fn matrix_media_to_baileys(alice: &MatrixUser, peer: &mut Peer, chat: &Chat) {
    let image = File {
        bytes: png(120, 80),
        mimetype: "image/png",
    };
    let got = alice_sends_media(
        alice,
        peer,
        chat,
        "m.room.message",
        &image,
        json!({"msgtype": "m.image", "body": "sunset", "filename": "sunset.png",
               "info": {"w": 120, "h": 80}}),
    )
    .await;
    assert_eq!(got["kind"], "image", "{got}");
    assert_eq!(got["mimetype"], image.mimetype, "{got}");
    assert_eq!(got["caption"], "sunset", "{got}");
    assert_eq!(
        (got["width"].as_u64(), got["height"].as_u64()),
        (Some(120), Some(80))
    );

    let voice = File {
        bytes: ogg_opus_like(4000),
        mimetype: "audio/ogg",
    };
    let got = alice_sends_media(
        alice,
        peer,
        chat,
        "m.room.message",
        &voice,
        json!({"msgtype": "m.audio", "body": "voice.ogg", "info": {"duration": 2500},
               "org.matrix.msc3245.voice": {}, "org.matrix.msc1767.audio": {"duration": 2500}}),
    )
    .await;
    assert_eq!(got["kind"], "audio", "{got}");
    assert_eq!(got["ptt"], true, "a voice note arrives as ptt: {got}");
    assert_eq!(got["seconds"], 3, "{got}");
    assert_eq!(got["mimetype"], "audio/ogg; codecs=opus", "{got}");

    let doc = File {
        bytes: varied_bytes(200_003, 0x1234_5678),
        mimetype: "application/pdf",
    };
    let got = alice_sends_media(
        alice,
        peer,
        chat,
        "m.room.message",
        &doc,
        json!({"msgtype": "m.file", "body": "minutes.pdf", "filename": "minutes.pdf"}),
    )
    .await;
    assert_eq!(got["kind"], "document", "{got}");
    assert_eq!(got["fileName"], "minutes.pdf", "{got}");
    assert_eq!(got["mimetype"], doc.mimetype, "{got}");

    let sticker = File {
        bytes: webp_like(1500),
        mimetype: "image/webp",
    };
    let got = alice_sends_media(
        alice,
        peer,
        chat,
        "m.sticker",
        &sticker,
        json!({"body": "a sticker", "info": {"w": 128, "h": 128}}),
    )
    .await;
    assert_eq!(got["kind"], "sticker", "{got}");
    assert_eq!(got["mimetype"], sticker.mimetype, "{got}");
}

/// Alice replies to Bob's `hello`, reacts to it and takes the reaction
/// back, edits her `mine` and deletes it: Baileys decodes each as that
/// kind, aimed at the right WhatsApp id.
async fn matrix_relations_to_baileys(
    alice: &MatrixUser,
    peer: &mut Peer,
    chat: &Chat,
    (mine, mine_event): (&str, &str),
    (hello, hello_event): (&str, &str),
) {
    let in_chat = |e: &Value| chat.holds(e) && e["fromMe"] == false;
    alice
        .send_event(
            &chat.room,
            "m.room.message",
            &json!({"msgtype": "m.text", "body": "replying to you",
                    "m.relates_to": {"m.in_reply_to": {"event_id": hello_event}}}),
        )
        .await;
    let got = peer
        .event("message", |e| in_chat(e) && e["text"] == "replying to you")
        .await;
    assert_eq!(got["replyTo"], hello, "the quote is Bob's message: {got}");

    let reaction = alice
        .send_event(
            &chat.room,
            "m.reaction",
            &json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hello_event, "key": "😂"}}),
        )
        .await;
    let got = peer
        .event("reaction", |e| in_chat(e) && e["text"] != "")
        .await;
    assert_eq!(
        (got["target"].as_str(), got["text"].as_str()),
        (Some(hello), Some("😂")),
        "{got}"
    );
    alice.redact(&chat.room, &reaction, None).await;
    let got = peer
        .event("reaction", |e| in_chat(e) && e["text"] == "")
        .await;
    assert_eq!(
        got["target"], hello,
        "the removal is of that reaction: {got}"
    );

    alice
        .send_event(
            &chat.room,
            "m.room.message",
            &json!({"msgtype": "m.text", "body": "* hi bob, edited",
                    "m.new_content": {"msgtype": "m.text", "body": "hi bob, edited"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": mine_event}}),
        )
        .await;
    let got = peer.event("edit", in_chat).await;
    assert_eq!(
        (got["target"].as_str(), got["text"].as_str()),
        (Some(mine), Some("hi bob, edited")),
        "{got}"
    );

    alice.redact(&chat.room, mine_event, None).await;
    let got = peer.event("revoke", in_chat).await;
    assert_eq!(
        got["target"], mine,
        "the revoke is of Alice's message: {got}"
    );
}

/// Polls both ways: Baileys' single-choice poll shows in Matrix as a list;
/// Alice's Matrix poll reaches Baileys as a WhatsApp poll with a secret,
/// and Baileys' own `decryptPollVote` opens her vote to the right option.
async fn polls_both_ways(alice: &MatrixUser, peer: &mut Peer, chat: &Chat) {
    chat.bob_sends(
        peer,
        json!({"cmd": "send-poll", "name": "Dinner?", "values": ["Rice", "Noodles"],
               "selectableCount": 1}),
    )
    .await;
    let e = chat
        .bob_event(alice, |e| body(e).starts_with("Poll: Dinner?"))
        .await;
    assert_eq!(
        body(&e),
        "Poll: Dinner? (choose one option)\n1. Rice\n2. Noodles",
        "{e}"
    );

    let poll_event = alice
        .send_event(
            &chat.room,
            "org.matrix.msc3381.poll.start",
            &json!({
                "org.matrix.msc1767.text": "Tea or coffee?",
                "org.matrix.msc3381.poll.start": {
                    "question": {"org.matrix.msc1767.text": "Tea or coffee?"},
                    "kind": "org.matrix.msc3381.poll.disclosed",
                    "max_selections": 1,
                    "answers": [
                        {"id": "tea", "org.matrix.msc1767.text": "Tea"},
                        {"id": "coffee", "org.matrix.msc1767.text": "Coffee"},
                    ],
                },
            }),
        )
        .await;
    let in_chat = |e: &Value| chat.holds(e);
    let poll = peer.event("poll", in_chat).await;
    assert_eq!(poll["name"], "Tea or coffee?", "{poll}");
    assert_eq!(poll["options"], json!(["Tea", "Coffee"]), "{poll}");
    assert_eq!(poll["selectable"], 1, "{poll}");
    assert_eq!(
        poll["version"], "v3",
        "a single choice is a v3 poll: {poll}"
    );
    assert_eq!(poll["secretLength"], 32, "{poll}");
    alice
        .send_event(
            &chat.room,
            "org.matrix.msc3381.poll.response",
            &json!({
                "org.matrix.msc3381.poll.response": {"answers": ["coffee"]},
                "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event},
            }),
        )
        .await;
    let vote = peer
        .wait("Alice's vote", |e| {
            (e["event"] == "poll-vote" || e["event"] == "poll-vote-error") && in_chat(e)
        })
        .await;
    assert_eq!(vote["event"], "poll-vote", "Baileys opens the vote: {vote}");
    assert_eq!(vote["target"], poll["id"], "{vote}");
    assert_eq!(vote["options"], json!(["Coffee"]), "{vote}");
}

/// Today's message forms as Baileys sends them (an event, an album's head,
/// a pin, a text in a disappearing chat) each show readably.
async fn todays_forms_from_baileys(alice: &MatrixUser, peer: &mut Peer, chat: &Chat) {
    let pinned = chat.bob_text(peer, "pin me").await;
    chat.bob_event(alice, |e| body(e) == "pin me").await;
    for (cmd, shown) in [
        (
            json!({"cmd": "send-event", "name": "Picnic", "startTime": 1_796_580_000}),
            "Event: Picnic\nWhen: 2026-12-06 18:00 UTC",
        ),
        (
            json!({"cmd": "send-album", "images": 2}),
            "Sent an album of 2 photos:",
        ),
        (
            json!({"cmd": "send-pin", "key": {"id": pinned, "fromMe": true}}),
            "Pinned a message.",
        ),
        (
            json!({"cmd": "send-disappearing", "text": "gone tomorrow"}),
            "gone tomorrow",
        ),
    ] {
        chat.bob_sends(peer, cmd).await;
        chat.bob_event(alice, |e| body(e) == shown).await;
    }
}

/// Every kind both ways in `chat`, whose portal exists: starts with a text
/// each way that the relations then point at. Returns Alice's LID as Baileys
/// learned it from her message.
async fn every_kind_both_ways(alice: &MatrixUser, peer: &mut Peer, chat: &Chat) -> String {
    let hello = chat.bob_text(peer, "hello, it is bob").await;
    let e = chat
        .bob_event(alice, |e| body(e) == "hello, it is bob")
        .await;
    let hello_event = e["event_id"].as_str().unwrap().to_owned();
    let mine_event = alice.send_text(&chat.room, "hi bob").await;
    let got = peer
        .event("message", |e| chat.holds(e) && e["text"] == "hi bob")
        .await;
    let mine = got["id"].as_str().unwrap().to_owned();
    // In a 1:1 chat the bridge writes to Bob's LID (as whatsmeow does), so
    // Alice's LID is the chat there; in a group it is her `senderAlt`.
    let alice_lid = [&got["chat"], &got["senderAlt"]]
        .into_iter()
        .filter_map(Value::as_str)
        .find(|j| j.ends_with("@lid"))
        .unwrap_or_default()
        .to_owned();

    baileys_media_to_matrix(alice, peer, chat).await;
    baileys_relations_to_matrix(
        alice,
        peer,
        chat,
        (&mine, &mine_event),
        (&hello, &hello_event),
    )
    .await;
    matrix_media_to_baileys(alice, peer, chat).await;
    matrix_relations_to_baileys(
        alice,
        peer,
        chat,
        (&mine, &mine_event),
        (&hello, &hello_event),
    )
    .await;
    polls_both_ways(alice, peer, chat).await;
    assert_eq!(peer.unused("undecryptable"), Vec::<Value>::new());
    assert_eq!(peer.unused("media-error"), Vec::<Value>::new());
    alice_lid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_and_a_bridged_user_exchange_every_kind_one_to_one_and_in_a_group() {
    if synapse::venv().is_none() {
        return;
    }
    let Some(baileys) = baileys_dir() else { return };
    support::log::to_test_output("wabridge=info,wa_client=info");
    let sim = support::bridge::start_sim().await;
    let alice_phone = sim.account(ALICE_PN);
    // No history, but the keys (and so app state) at link time, as phones do.
    alice_phone.set_history(wa_sim::HistoryScript::new());
    let bob_phone = sim.account(BOB_PN);
    sim.account(CAROL_PN);
    let LoggedIn {
        synapse,
        bridge,
        alice,
        ..
    } = start_logged_in(
        &sim,
        &alice_phone,
        ALICE_PN,
        "wabridge-e2e-baileys",
        false,
        WAIT,
    )
    .await;
    let mut peer = Peer::start(&baileys, &sim);
    let open = peer.link(&bob_phone).await;
    assert_eq!(
        open["me"]["id"],
        format!("{BOB_PN}:1@s.whatsapp.net"),
        "{open}"
    );
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", synapse.server_name());

    // 1:1: Baileys' first text makes the portal.
    let mut dm = Chat {
        jid: format!("{ALICE_PN}@s.whatsapp.net"),
        room: String::new(),
        group: false,
        bob_ghost: bob_ghost.clone(),
    };
    dm.bob_text(&mut peer, "are you there?").await;
    dm.room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm.room).await;
    dm.bob_event(&alice, |e| body(e) == "are you there?").await;

    // Alice's WhatsApp name, set on her phone, names what she sends from
    // Matrix: the bridge learns it from app state and sends it with its
    // presence (the phone itself announces none here).
    alice_phone.set_push_name("Alice Example").await.unwrap();
    support::settings::eventually(WAIT, "the bridge announces the push name", || async {
        sim.push_name(ALICE_PN).as_deref() == Some("Alice Example")
    })
    .await;
    alice.send_text(&dm.room, "named").await;
    let got = peer
        .event("message", |e| e["fromMe"] == false && e["text"] == "named")
        .await;
    assert_eq!(got["pushName"], "Alice Example", "{got}");

    let alice_lid = every_kind_both_ways(&alice, &mut peer, &dm).await;
    todays_forms_from_baileys(&alice, &mut peer, &dm).await;

    // Baileys writing to Alice's LID, as clients do once they know it (the
    // stanza reaches the bridge LID-addressed, with sender_pn): the same
    // portal and ghost, and relations by LID find their events.
    assert!(
        alice_lid.ends_with("@lid"),
        "Baileys learned Alice's LID: {alice_lid}"
    );
    let by_lid = Chat {
        jid: alice_lid,
        room: dm.room.clone(),
        group: false,
        bob_ghost: bob_ghost.clone(),
    };
    let id = by_lid.bob_text(&mut peer, "written to your LID").await;
    let e = by_lid
        .bob_event(&alice, |e| body(e) == "written to your LID")
        .await;
    let event = e["event_id"].as_str().unwrap().to_owned();
    by_lid
        .bob_sends(
            &mut peer,
            json!({"cmd": "send-reaction", "key": {"id": id, "fromMe": true}, "text": "👀"}),
        )
        .await;
    let e = by_lid
        .bob_event(&alice, |e| e["type"] == "m.reaction")
        .await;
    assert_eq!(
        e["content"]["m.relates_to"],
        json!({"rel_type": "m.annotation", "event_id": event, "key": "👀"})
    );
    alice
        .send_event(
            &dm.room,
            "m.room.message",
            &json!({"msgtype": "m.text", "body": "got it by LID",
                    "m.relates_to": {"m.in_reply_to": {"event_id": event}}}),
        )
        .await;
    let got = peer
        .event("message", |e| {
            e["fromMe"] == false && e["text"] == "got it by LID"
        })
        .await;
    assert_eq!(got["replyTo"], id.as_str(), "{got}");
    assert_eq!(
        alice.invites().await,
        Vec::<String>::new(),
        "no second portal for the LID"
    );

    // A group of Bob, Alice and Carol.
    let gid = sim
        .create_group(
            BOB_PN,
            "Baileys and friends",
            &[ALICE_PN.to_owned(), CAROL_PN.to_owned()],
        )
        .expect("the group is made");
    let mut group = Chat {
        jid: gid.to_string(),
        room: String::new(),
        group: true,
        bob_ghost,
    };
    group.bob_text(&mut peer, "welcome to the group").await;
    group.room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&group.room).await;
    let name = alice.get_state(&group.room, "m.room.name", "").await;
    assert_eq!(
        name.map(|n| n["name"].clone()),
        Some(json!("Baileys and friends"))
    );
    group
        .bob_event(&alice, |e| body(e) == "welcome to the group")
        .await;
    every_kind_both_ways(&alice, &mut peer, &group).await;

    bridge.stop().await;
}
