//! What the bridge's companion tells WhatsApp about itself, and what the
//! user hears when WhatsApp refuses it: a real Synapse, wa-sim and the
//! bridge in this process. The phone lists the device by the configured
//! name; when the service starts refusing the bridge's WhatsApp Web
//! version (405), the management room says so and names the setting,
//! and so does the log. The message forms the service sends today
//! (disappearing chats, bot and album wrappers, events, pins, encrypted
//! add-ons, polls v6, ...) each show as something readable, and a send the
//! service refuses (463, no privacy token) fails with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::login::start_logged_in;
use support::matrix::body;
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::FutureProofMessage;

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557810001";
const BOB_PN: &str = "15557810002";

fn wrapped(m: WaMessage) -> Option<Box<FutureProofMessage>> {
    Some(Box::new(FutureProofMessage {
        message: Some(Box::new(m)),
    }))
}

fn text(t: &str) -> WaMessage {
    WaMessage {
        conversation: Some(t.to_owned()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_message_forms_each_show_readably() {
    use wa_core::proto::message::secret_encrypted_message::SecretEncType;
    use wa_core::proto::message::{
        AlbumMessage, EventMessage, PinInChatMessage, PollCreationMessage, SecretEncryptedMessage,
        poll_creation_message,
    };
    // One subscriber for the process: the other test reads the log.
    support::log::capture();
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let logged_in = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-forms", false, WAIT).await;
    let alice = &logged_in.alice;
    let bob_ghost = format!("@whatsapp_{BOB_PN}:{}", support::synapse::SERVER_NAME);

    let sent: Vec<(WaMessage, &str)> = vec![
        (
            WaMessage {
                ephemeral_message: wrapped(text("in a disappearing chat")),
                ..Default::default()
            },
            "in a disappearing chat",
        ),
        (
            WaMessage {
                bot_invoke_message: wrapped(text("from a bot")),
                ..Default::default()
            },
            "from a bot",
        ),
        (
            WaMessage {
                album_message: Some(Box::new(AlbumMessage {
                    expected_image_count: Some(2),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "Sent an album of 2 photos:",
        ),
        (
            WaMessage {
                associated_child_message: wrapped(text("an album item")),
                ..Default::default()
            },
            "an album item",
        ),
        (
            WaMessage {
                ephemeral_message: wrapped(WaMessage {
                    event_message: Some(Box::new(EventMessage {
                        name: Some("Picnic".to_owned()),
                        start_time: Some(1_796_580_000),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "Event: Picnic\nWhen: 2026-12-06 18:00 UTC",
        ),
        (
            WaMessage {
                pin_in_chat_message: Some(PinInChatMessage {
                    r#type: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "Pinned a message.",
        ),
        (
            WaMessage {
                secret_encrypted_message: Some(SecretEncryptedMessage {
                    secret_enc_type: Some(SecretEncType::PollEdit as i32),
                    enc_payload: Some(vec![1; 16]),
                    enc_iv: Some(vec![2; 12]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "Changed a poll (see the change on your phone).",
        ),
        (
            WaMessage {
                poll_creation_message_v6: Some(Box::new(PollCreationMessage {
                    name: Some("Lunch?".to_owned()),
                    options: vec![
                        poll_creation_message::Option {
                            option_name: Some("Yes".to_owned()),
                            ..Default::default()
                        },
                        poll_creation_message::Option {
                            option_name: Some("No".to_owned()),
                            ..Default::default()
                        },
                    ],
                    selectable_options_count: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "Poll: Lunch? (choose one option)\n1. Yes\n2. No",
        ),
        (
            WaMessage::default(),
            "A message the bridge cannot show yet: open WhatsApp on your phone to see it.",
        ),
    ];
    let first = bob.send_message(ALICE_PN, sent[0].0.clone()).await.unwrap();
    assert!(!first.is_empty());
    let dm = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm).await;
    for (message, _) in &sent[1..] {
        bob.send_message(ALICE_PN, message.clone()).await.unwrap();
    }
    for (_, shown) in &sent {
        alice
            .sync_until(WAIT, |room, e| {
                room == dm && e["sender"] == bob_ghost.as_str() && body(e) == *shown
            })
            .await;
    }
    for e in alice.room_messages(&dm).await {
        assert!(
            !body(&e).contains("unsupported"),
            "nothing is 'unsupported': {e}"
        );
    }

    // An edit sealed with its message's secret (the official app's newer
    // form) is an edit in Matrix, not a notice.
    let secret = [7u8; 32];
    let mut original = text("teh plan");
    original.message_context_info = Some(wa_core::proto::MessageContextInfo {
        message_secret: Some(secret.to_vec()),
        ..Default::default()
    });
    let target = bob.send_message(ALICE_PN, original).await.unwrap();
    let bob_s = format!("{BOB_PN}@s.whatsapp.net");
    let iv = [3u8; 12];
    let ctx = wa_core::msgsecret::AddOn {
        target_id: &target,
        target_sender: &bob_s,
        author: &bob_s,
    };
    let sealed = wa_core::msgsecret::seal(
        &secret,
        wa_core::msgsecret::UseCase::MessageEdit,
        ctx,
        &prost::Message::encode_to_vec(&text("the plan")),
        iv,
    );
    let edit = WaMessage {
        secret_encrypted_message: Some(SecretEncryptedMessage {
            target_message_key: Some(wa_core::proto::MessageKey {
                remote_jid: Some(format!("{ALICE_PN}@s.whatsapp.net")),
                from_me: Some(true),
                id: Some(target.clone()),
                participant: None,
            }),
            enc_payload: Some(sealed),
            enc_iv: Some(iv.to_vec()),
            secret_enc_type: Some(SecretEncType::MessageEdit as i32),
            ..Default::default()
        }),
        ..Default::default()
    };
    bob.send_message(ALICE_PN, edit.clone()).await.unwrap();
    let (_, original) = alice
        .sync_until(WAIT, |room, e| room == dm && body(e) == "teh plan")
        .await;
    let (_, edited) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
        })
        .await;
    assert_eq!(
        edited["content"]["m.new_content"]["body"], "the plan",
        "{edited}"
    );
    assert_eq!(
        edited["content"]["m.relates_to"]["event_id"], original["event_id"],
        "{edited}"
    );
    // An event's sealed edit: the event's new details, as an edit.
    let event = |name: &str| WaMessage {
        event_message: Some(Box::new(EventMessage {
            name: Some(name.to_owned()),
            start_time: Some(1_796_580_000),
            ..Default::default()
        })),
        message_context_info: Some(wa_core::proto::MessageContextInfo {
            message_secret: Some(secret.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let party = bob.send_message(ALICE_PN, event("Party")).await.unwrap();
    let mut new = event("Party at eight");
    new.message_context_info = None;
    let ctx = wa_core::msgsecret::AddOn {
        target_id: &party,
        ..ctx
    };
    let sealed = wa_core::msgsecret::seal(
        &secret,
        wa_core::msgsecret::UseCase::EventEdit,
        ctx,
        &prost::Message::encode_to_vec(&new),
        iv,
    );
    let mut edit = edit;
    if let Some(enc) = edit.secret_encrypted_message.as_mut() {
        enc.enc_payload = Some(sealed);
        enc.secret_enc_type = Some(SecretEncType::EventEdit as i32);
        if let Some(k) = enc.target_message_key.as_mut() {
            k.id = Some(party.clone());
        }
    }
    let (_, shown) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && body(e).starts_with("Event: Party\n")
        })
        .await;
    bob.send_message(ALICE_PN, edit).await.unwrap();
    let (_, edited) = alice
        .sync_until(WAIT, |room, e| {
            room == dm && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
        })
        .await;
    let new_body = edited["content"]["m.new_content"]["body"].as_str();
    assert!(
        new_body.is_some_and(|b| b.starts_with("Event: Party at eight\n")),
        "{edited}"
    );
    assert_eq!(
        edited["content"]["m.relates_to"]["event_id"], shown["event_id"],
        "{edited}"
    );

    // The service starts restricting Alice's account: a message to Bob
    // without his privacy token is refused (463), and Matrix says why.
    sim.restrict_reachout(ALICE_PN, true);
    let sent = alice.send_text(&dm, "are you there?").await;
    let (_, failed) = alice
        .sync_until(WAIT, |room, e| {
            room == dm
                && e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == sent.as_str()
        })
        .await;
    assert_eq!(failed["content"]["status"], "FAIL_PERMANENT", "{failed}");
    let why = failed["content"]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("463") && why.contains("privacy token"),
        "{failed}"
    );
    assert!(
        bob.received()
            .iter()
            .all(|r| r.text.as_deref() != Some("are you there?")),
        "the refused message never reached Bob"
    );
    logged_in.bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_version_is_told_in_the_management_room() {
    support::log::capture();
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let logged_in = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-wire", false, WAIT).await;

    // The phone's list of linked devices shows network.device_name.
    assert_eq!(
        phone.linked_device_names(),
        vec![(1, Some("wabridge-test".to_owned()))]
    );

    // The service moves its minimum past our version; the next login is
    // refused with 405.
    sim.set_min_version("2.3000.2000000000".parse().unwrap());
    assert!(sim.cut(ALICE_PN, 1), "the bridge was connected");
    let (_, notice) = logged_in
        .alice
        .sync_until(WAIT, |room, e| {
            room == logged_in.management && body(e).contains("outdated (405)")
        })
        .await;
    let text = body(&notice);
    assert!(text.contains("network.app_version"), "{text}");
    assert!(
        text.contains(&wa_core::payload::DEFAULT_WEB_VERSION.to_string()),
        "the notice names the version sent: {text}"
    );
    let log = support::log::text();
    assert!(
        log.lines()
            .any(|l| l.contains("(405)") && l.contains("network.app_version")),
        "the log names the setting"
    );
    // No reconnect loop: the refusal is final until the admin acts.
    assert_eq!(
        log.matches("refused the client as outdated").count(),
        1,
        "one refusal, not a loop"
    );

    // The service lets the version in again and Alice links anew: the
    // kept login is replaced, its device unlinked from the phone rather
    // than left behind (issue 18), and the new one bridges.
    sim.set_min_version(wa_core::payload::DEFAULT_WEB_VERSION);
    support::login::login_by_qr(
        &logged_in.alice,
        &logged_in.management,
        &phone,
        ALICE_PN,
        support::login::Qr::First,
        WAIT,
    )
    .await;
    assert_eq!(
        phone.linked_devices(),
        vec![2],
        "the old device was unlinked, the new one is the only one"
    );
    let bob = sim.account(BOB_PN);
    bob.send_text(ALICE_PN, "to the new device").await.unwrap();
    let dm = logged_in.alice.wait_for_invite(WAIT).await;
    logged_in.alice.accept_invite(&dm).await;
    logged_in
        .alice
        .sync_until(WAIT, |room, e| room == dm && body(e) == "to the new device")
        .await;
    logged_in.bridge.stop().await;
}
