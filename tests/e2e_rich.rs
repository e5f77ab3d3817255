//! Replies, mentions, edits, reactions and deletes end to end: a real
//! Synapse, wa-sim with scripted phones, and the bridge in this process.
//! Each kind goes both ways and is checked at the other end: a contact's
//! reaction shows, changes and disappears in Matrix; their edit replaces
//! the Matrix event; their revoke redacts it; their reply points at the
//! right event and their mention of the user is a pill. The user's
//! reaction, its removal, edit, reply with a pill and redaction reach the
//! contact's phone as WhatsApp reactions, edits, quotes, mentions and
//! revokes. Junk (a reaction without an annotation, a reaction to an
//! event WhatsApp never had, deleting someone else's message) gets a notice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::login::{LoggedIn, Startup, start_logged_in_on};
use support::matrix::{body, redacts};
use support::postgres::{on_postgres, on_sqlite};
use wa_core::jid::Jid;
use wa_core::media::MediaKind;
use wa_core::proto::message::DocumentMessage;
use wa_core::proto::{ContextInfo, Message as WaMessage};
use wa_sim::{Phone, Received};

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557790001";
const BOB_PN: &str = "15557790002";

/// Waits until `phone` received a message for which `pick` gives something.
async fn wait_for<T>(phone: &Phone, mut pick: impl FnMut(&Received) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = phone.received().iter().find_map(&mut pick) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not get it: {:?}",
            phone.pn(),
            phone.received()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scenario(db: &str) {
    support::log::to_test_output("wabridge=debug,wa_client=info");
    let sim = support::bridge::start_sim().await;
    let alice_phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let LoggedIn {
        synapse,
        bridge,
        alice,
        ..
    } = start_logged_in_on(
        &sim,
        &alice_phone,
        ALICE_PN,
        "wabridge-e2e-rich",
        Startup {
            db: Some(db),
            ..Startup::default()
        },
        WAIT,
    )
    .await;
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", synapse.server_name());
    let bob_jid = Jid::user_jid(BOB_PN);
    let alice_jid = Jid::user_jid(ALICE_PN);

    // A first message makes the portal.
    let hello = bob.send_text(ALICE_PN, "hello alice").await.unwrap();
    let dm = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm).await;
    let (_, e) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["sender"] == bob_ghost.as_str() && body(e) == "hello alice"
        })
        .await;
    let hello_event = e["event_id"].as_str().unwrap().to_owned();

    // WhatsApp -> Matrix: a reaction, changed, then removed.
    bob.send_reaction(ALICE_PN, &hello, true, "👍")
        .await
        .unwrap();
    let (_, thumbs) = alice
        .sync_until(WAIT, |room, e| room == dm && e["type"] == "m.reaction")
        .await;
    assert_eq!(thumbs["sender"], bob_ghost.as_str());
    assert_eq!(
        thumbs["content"]["m.relates_to"],
        json!({"rel_type": "m.annotation", "event_id": hello_event, "key": "👍"})
    );
    let thumbs_event = thumbs["event_id"].as_str().unwrap().to_owned();
    bob.send_reaction(ALICE_PN, &hello, true, "❤️")
        .await
        .unwrap();
    alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["type"] == "m.room.redaction" && redacts(e) == thumbs_event
        })
        .await;
    let (_, heart) = alice
        .sync_until(WAIT, |room, e| room == dm && e["type"] == "m.reaction")
        .await;
    assert_eq!(heart["content"]["m.relates_to"]["key"], "❤️");
    assert_eq!(
        heart["content"]["m.relates_to"]["event_id"],
        hello_event.as_str()
    );
    let heart_event = heart["event_id"].as_str().unwrap().to_owned();
    bob.send_reaction(ALICE_PN, &hello, true, "").await.unwrap();
    alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["type"] == "m.room.redaction" && redacts(e) == heart_event
        })
        .await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        support::matrix::enc(&dm),
        support::matrix::enc(&heart_event)
    );
    let gone = alice.get(&path).await;
    assert_eq!(
        gone["content"],
        json!({}),
        "the removed reaction is redacted"
    );

    // An edit replaces the Matrix event.
    bob.send_edit(ALICE_PN, &hello, "hello alice, edited")
        .await
        .unwrap();
    let (_, edit) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
        })
        .await;
    assert_eq!(edit["sender"], bob_ghost.as_str());
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        hello_event.as_str()
    );
    assert_eq!(body(&edit), "* hello alice, edited");
    assert_eq!(
        edit["content"]["m.new_content"],
        json!({"msgtype": "m.text", "body": "hello alice, edited"})
    );

    // A reply that mentions the user.
    let text = format!("@{ALICE_PN} see above");
    bob.send_rich_text(
        ALICE_PN,
        &text,
        Some((&hello, &bob_jid)),
        std::slice::from_ref(&alice_jid),
    )
    .await
    .unwrap();
    let (_, reply) = alice
        .sync_until(WAIT, |room, e| room == dm && body(e) == text)
        .await;
    let c = &reply["content"];
    assert_eq!(
        c["m.relates_to"]["m.in_reply_to"]["event_id"],
        hello_event.as_str(),
        "{reply}"
    );
    assert_eq!(c["m.mentions"]["user_ids"], json!([alice.user_id]));
    let pill = format!("<a href=\"https://matrix.to/#/{}\">", alice.user_id);
    assert!(
        c["formatted_body"].as_str().unwrap().starts_with(&pill),
        "{reply}"
    );

    // A document as a reply: media carry the quote too.
    let pdf: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let up = bob.upload_media(MediaKind::Document, &pdf).unwrap();
    let mut doc = WaMessage {
        document_message: Some(Box::new(DocumentMessage {
            url: Some(up.url.clone()),
            mimetype: Some("application/pdf".into()),
            file_name: Some("quote.pdf".into()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_length: Some(up.file_length),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            direct_path: Some(up.direct_path.clone()),
            ..Default::default()
        })),
        ..Default::default()
    };
    let quote = ContextInfo {
        stanza_id: Some(hello.clone()),
        participant: Some(bob_jid.to_string()),
        ..Default::default()
    };
    assert!(wa_core::content::set_context_info(&mut doc, quote));
    bob.send_message(ALICE_PN, doc).await.unwrap();
    let (_, e) = alice
        .sync_until(WAIT, |room, e| room == dm && body(e) == "quote.pdf")
        .await;
    assert_eq!(e["content"]["msgtype"], "m.file", "{e}");
    assert_eq!(
        e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        hello_event.as_str()
    );

    // A revoke redacts the Matrix event.
    let oops = bob.send_text(ALICE_PN, "oops").await.unwrap();
    let (_, e) = alice
        .sync_until(WAIT, |room, e| room == dm && body(e) == "oops")
        .await;
    let oops_event = e["event_id"].as_str().unwrap().to_owned();
    bob.send_revoke(ALICE_PN, &oops).await.unwrap();
    alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["type"] == "m.room.redaction" && redacts(e) == oops_event
        })
        .await;

    // Matrix -> WhatsApp: a reaction to the contact's message, then its
    // removal.
    let reaction = alice
        .send_event(
            &dm,
            "m.reaction",
            &json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hello_event, "key": "😂"}}),
        )
        .await;
    let got = wait_for(&bob, |r| r.reaction().filter(|(_, e)| !e.is_empty())).await;
    assert_eq!(got, (hello.clone(), "😂".to_owned()));
    alice.redact(&dm, &reaction, None).await;
    let got = wait_for(&bob, |r| r.reaction().filter(|(_, e)| e.is_empty())).await;
    assert_eq!(
        got,
        (hello.clone(), String::new()),
        "the reaction is removed"
    );

    // An edit of the user's own message.
    let mine = alice.send_text(&dm, "hi bob").await;
    let mine_id = wait_for(&bob, |r| {
        (r.text.as_deref() == Some("hi bob")).then(|| r.id.clone())
    })
    .await;
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({
                "msgtype": "m.text", "body": "* hi bob!",
                "m.new_content": {"msgtype": "m.text", "body": "hi bob!"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": mine},
            }),
        )
        .await;
    let got = wait_for(&bob, Received::edit).await;
    assert_eq!(got, (mine_id.clone(), "hi bob!".to_owned()));

    // A reply with a pill for the contact.
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({
                "msgtype": "m.text", "body": "Bob: agreed",
                "format": "org.matrix.custom.html",
                "formatted_body": format!("<a href=\"https://matrix.to/#/{bob_ghost}\">Bob</a>: agreed"),
                "m.mentions": {"user_ids": [bob_ghost]},
                "m.relates_to": {"m.in_reply_to": {"event_id": hello_event}},
            }),
        )
        .await;
    let got = wait_for(&bob, |r| r.reply_to().map(|q| (q, r.clone()))).await;
    assert_eq!(got.0, (hello.clone(), Some(bob_jid.to_string())));
    assert_eq!(
        got.1.text.as_deref(),
        Some(format!("@{BOB_PN}: agreed").as_str())
    );
    assert_eq!(got.1.mentions(), [bob_jid.to_string()]);

    // A file as a reply.
    let notes = b"some notes\n".repeat(100);
    let mxc = alice.upload_media("text/plain", notes.clone()).await;
    alice
        .send_event(
            &dm,
            "m.room.message",
            &json!({"msgtype": "m.file", "body": "notes.txt", "url": mxc,
                    "info": {"mimetype": "text/plain", "size": notes.len()},
                    "m.relates_to": {"m.in_reply_to": {"event_id": hello_event}}}),
        )
        .await;
    let got = wait_for(&bob, |r| {
        r.message.document_message.as_ref()?;
        r.reply_to()
    })
    .await;
    assert_eq!(got, (hello.clone(), Some(bob_jid.to_string())));

    // Bob may not delete Alice's message: a revoke naming it is ignored
    // (issue 18). The message after it shows the bridge handled it.
    let mut forged = wa_core::proto::message::ProtocolMessage {
        key: Some(wa_core::proto::MessageKey {
            remote_jid: Some(format!("{ALICE_PN}@s.whatsapp.net")),
            from_me: Some(false),
            id: Some(mine_id.clone()),
            participant: None,
        }),
        ..Default::default()
    };
    forged.set_type(wa_core::proto::message::protocol_message::Type::Revoke);
    let forged = WaMessage {
        protocol_message: Some(Box::new(forged)),
        ..WaMessage::default()
    };
    bob.send_message(ALICE_PN, forged).await.unwrap();
    bob.send_text(ALICE_PN, "after the forged deletion")
        .await
        .unwrap();
    alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e) == "after the forged deletion"
        })
        .await;
    let forged_redaction = alice
        .room_messages(&dm)
        .await
        .into_iter()
        .any(|e| e["type"] == "m.room.redaction" && redacts(&e) == mine);
    assert!(
        !forged_redaction,
        "a contact cannot delete the user's message"
    );

    // A redaction of the user's own message revokes it.
    alice.redact(&dm, &mine, None).await;
    let got = wait_for(&bob, Received::revoke).await;
    assert_eq!(got, mine_id);

    // Junk and what WhatsApp does not allow: notices, nothing sent.
    let sent_before = bob.received().len();
    let junk = alice
        .send_event(&dm, "m.reaction", &json!({"m.relates_to": "nonsense"}))
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("⚠️ Your reaction was not bridged")
        })
        .await;
    assert_eq!(
        body(&notice),
        "⚠️ Your reaction was not bridged: it is not a valid annotation"
    );
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        junk.as_str()
    );
    alice
        .send_event(
            &dm,
            "m.reaction",
            // The bot's notice: a Matrix event WhatsApp never had.
            &json!({"m.relates_to": {"rel_type": "m.annotation",
                                     "event_id": notice["event_id"], "key": "x"}}),
        )
        .await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("⚠️ Your reaction was not bridged")
        })
        .await;
    assert_eq!(
        body(&notice),
        "⚠️ Your reaction was not bridged: that message is not on WhatsApp"
    );
    // The portal is a trusted private chat, so Synapse lets the user
    // redact the contact's message; WhatsApp does not.
    let theirs = alice.redact(&dm, &hello_event, None).await;
    let (_, notice) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("⚠️ Your deletion was not bridged")
        })
        .await;
    assert_eq!(
        body(&notice),
        "⚠️ Your deletion was not bridged: WhatsApp only lets you delete your own messages"
    );
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        theirs.as_str()
    );
    alice.send_text(&dm, "still here").await;
    wait_for(&bob, |r| {
        (r.text.as_deref() == Some("still here")).then_some(())
    })
    .await;
    assert_eq!(
        bob.received().len(),
        sent_before + 1,
        "only the text went out"
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_messages_both_ways_on_sqlite() {
    on_sqlite("wabridge-e2e-rich", |db| async move { scenario(&db).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_messages_both_ways_on_postgres() {
    on_postgres("wabridge_rich", |db| async move { scenario(&db).await }).await;
}
