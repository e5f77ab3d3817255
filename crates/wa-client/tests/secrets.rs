//! Message secrets against wa-sim: a bot's reply (`<enc type="msmsg">`)
//! opened with the secret of our message it answers, a reply to a message
//! whose secret we lack refused with nack 495, and encrypted edits of a
//! message and of an event (`secretEncryptedMessage`) opened into plain
//! edits, while one sealed with another secret stays as it came.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use wa_core::jid::Jid;
use wa_core::msgsecret::{self, AddOn, UseCase};
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::message::secret_encrypted_message::SecretEncType;
use wa_core::proto::message::{EventMessage, SecretEncryptedMessage};
use wa_core::proto::{Message, MessageContextInfo, MessageKey};

#[path = "support/companion.rs"]
mod companion;
use companion::{next_message, paired, sim, start};

fn text(t: &str) -> Message {
    Message {
        conversation: Some(t.to_owned()),
        ..Message::default()
    }
}

#[tokio::test]
async fn a_bots_reply_opens_with_the_secret_of_our_message() {
    let sim = sim().await;
    let mine = sim.account("15554440200");
    let bot = sim.account("13135550002");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let bot_jid = Jid::user_jid("13135550002");

    // A message to a bot carries a secret and names the bot's persona, as
    // whatsmeow's does.
    client.send_text(&bot_jid, "what is 2+2?").await.unwrap();
    let asked = bot.wait_received(1, Duration::from_secs(10)).await;
    let context = asked[0].message.message_context_info.as_ref();
    assert!(
        context
            .and_then(|c| c.message_secret.as_ref())
            .is_some_and(|s| s.len() == 32),
        "a 32-byte secret goes to the bot"
    );
    assert_eq!(
        context
            .and_then(|c| c.bot_metadata.as_ref())
            .and_then(|b| b.persona_id.as_deref()),
        Some("867051314767696$760019659443059")
    );
    // Bots get no trusted-contact token (whatsmeow
    // `shouldSendTCTokenInChatAction`), though the chat is named by LID.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!sim.has_issued_token("15554440200", "13135550002"));

    // A reply to a message we never sent: no secret, nack 495, no event.
    sim.record_stanzas();
    let mut stranger = asked[0].clone();
    stranger.id = "3EB0000000000000000000".to_owned();
    let refused = bot.send_bot_reply(&stranger, &text("not for you")).unwrap();
    // The reply to our message: opened and passed on as a message from the
    // bot; it arrives after the refused one, so no event came of that.
    let answer = bot.send_bot_reply(&asked[0], &text("4")).unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(m.id, answer, "the refused reply made no message");
    assert_eq!(m.text(), Some("4"));
    assert_eq!(m.chat, bot_jid);
    assert!(!m.from_me);
    let device = client.jid().device();
    // The server reads the nack in its own time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let nacks = loop {
        let nacks: Vec<_> = sim
            .stanzas_sent("15554440200", device)
            .into_iter()
            .filter(|n| n.tag == "ack" && n.attr_str("id") == Some(refused.as_str()))
            .collect();
        if !nacks.is_empty() || tokio::time::Instant::now() > deadline {
            break nacks;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(nacks.len(), 1, "{nacks:?}");
    assert_eq!(nacks[0].attr_str("error"), Some("495"));
    assert_eq!(nacks[0].attr_str("class"), Some("message"));
}

/// `bob`'s secret-encrypted edit of his message `target`, sealed with
/// `secret` as `use_case`.
fn sealed_edit(
    secret: &[u8],
    use_case: UseCase,
    kind: SecretEncType,
    (target, bob): (&str, &str),
    edit: &Message,
) -> Message {
    let iv = [5u8; 12];
    let ctx = AddOn {
        target_id: target,
        target_sender: bob,
        author: bob,
    };
    let payload = msgsecret::seal(
        secret,
        use_case,
        ctx,
        &prost::Message::encode_to_vec(edit),
        iv,
    );
    Message {
        secret_encrypted_message: Some(SecretEncryptedMessage {
            target_message_key: Some(MessageKey {
                remote_jid: Some("15554440300@s.whatsapp.net".to_owned()),
                from_me: Some(true),
                id: Some(target.to_owned()),
                participant: None,
            }),
            enc_payload: Some(payload),
            enc_iv: Some(iv.to_vec()),
            secret_enc_type: Some(kind as i32),
            remote_key_id: None,
        }),
        ..Message::default()
    }
}

#[tokio::test]
async fn encrypted_edits_open_into_plain_edits() {
    let sim = sim().await;
    let mine = sim.account("15554440300");
    let bob = sim.account("15554440301");
    let store = paired(&sim, &mine).await;
    let (_client, mut events) = start(&sim, &store).await;
    let bob_s = "15554440301@s.whatsapp.net";
    let secret = [7u8; 32];
    let with_secret = |mut m: Message| {
        m.message_context_info = Some(MessageContextInfo {
            message_secret: Some(secret.to_vec()),
            ..MessageContextInfo::default()
        });
        m
    };

    let original = bob
        .send_message("15554440300", with_secret(text("teh original")))
        .await
        .unwrap();
    assert_eq!(next_message(&mut events).await.id, original);
    let edit = sealed_edit(
        &secret,
        UseCase::MessageEdit,
        SecretEncType::MessageEdit,
        (&original, bob_s),
        &text("the original"),
    );
    bob.send_message("15554440300", edit).await.unwrap();
    let m = next_message(&mut events).await;
    let pm = m.message.protocol_message.as_ref().expect("a plain edit");
    assert_eq!(pm.r#type(), ProtocolType::MessageEdit);
    assert_eq!(
        pm.key.as_ref().and_then(|k| k.id.as_deref()),
        Some(original.as_str())
    );
    assert_eq!(
        pm.edited_message
            .as_ref()
            .and_then(|e| e.conversation.as_deref()),
        Some("the original")
    );
    assert!(m.message.secret_encrypted_message.is_none());

    // An event's edit: the new event, as an edit of the old one.
    let event = |name: &str| Message {
        event_message: Some(Box::new(EventMessage {
            name: Some(name.to_owned()),
            ..EventMessage::default()
        })),
        ..Message::default()
    };
    let party = bob
        .send_message("15554440300", with_secret(event("Party")))
        .await
        .unwrap();
    assert_eq!(next_message(&mut events).await.id, party);
    let edit = sealed_edit(
        &secret,
        UseCase::EventEdit,
        SecretEncType::EventEdit,
        (&party, bob_s),
        &event("Party at eight"),
    );
    bob.send_message("15554440300", edit).await.unwrap();
    let m = next_message(&mut events).await;
    let pm = m.message.protocol_message.as_ref().expect("a plain edit");
    assert_eq!(
        pm.key.as_ref().and_then(|k| k.id.as_deref()),
        Some(party.as_str())
    );
    let name = pm
        .edited_message
        .as_ref()
        .and_then(|e| e.event_message.as_ref())
        .and_then(|e| e.name.as_deref());
    assert_eq!(name, Some("Party at eight"));

    // Sealed with another secret (or the edit of a message we never saw):
    // left as it came, for the caller's notice.
    let forged = sealed_edit(
        &[8u8; 32],
        UseCase::MessageEdit,
        SecretEncType::MessageEdit,
        (&original, bob_s),
        &text("forged"),
    );
    bob.send_message("15554440300", forged).await.unwrap();
    let m = next_message(&mut events).await;
    assert!(m.message.protocol_message.is_none());
    assert!(m.message.secret_encrypted_message.is_some());
}
