//! Retry receipts: a device that cannot decrypt a message asks its sender to
//! encrypt it again, and the scripted phone does both sides.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use prost::Message as _;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::Message;
use wa_core::retry::{RetryKeys, RetryRequest};
use wa_core::signal::{self, EncType, MemoryStore, PreKey, PreKeyBundle, SignalAddress};

use support::{next_node, online, start_sim};

fn pn_device(pn: &str, device: u16) -> Jid {
    Jid::with_device(pn.to_owned(), device, wa_core::jid::Server::User)
}

/// How many `<enc>` the server routed to that device.
fn routed_to(sim: &wa_sim::Sim, pn: &str, device: u16) -> usize {
    let to = pn_device(pn, device);
    sim.routed().iter().filter(|r| r.to == to).count()
}

async fn exactly_one(phone: &wa_sim::Phone, text: &str) {
    let got = phone.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text.as_deref(), Some(text));
    // Nothing else follows.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(phone.received().len(), 1);
}

#[tokio::test]
async fn a_phone_asks_again_and_gets_the_message_once() {
    let sim = start_sim().await;
    let (a_pn, b_pn) = ("15556660001", "15556660002");
    let a = sim.account(a_pn);
    let b = sim.account(b_pn);
    sim.corrupt_next(b_pn, 0, 1);
    let id = a.send_text(b_pn, "second time lucky").await.unwrap();
    exactly_one(&b, "second time lucky").await;
    assert_eq!(b.received()[0].id, id);
    assert_eq!(routed_to(&sim, b_pn, 0), 2, "the original and one resend");
}

#[tokio::test]
async fn a_second_failure_brings_keys_and_a_new_session() {
    let sim = start_sim().await;
    let (a_pn, b_pn) = ("15556660003", "15556660004");
    let a = sim.account(a_pn);
    let b = sim.account(b_pn);
    sim.corrupt_next(b_pn, 0, 2);
    a.send_text(b_pn, "third time").await.unwrap();
    exactly_one(&b, "third time").await;
    assert_eq!(routed_to(&sim, b_pn, 0), 3);
    // The sessions work on afterwards, both ways.
    a.send_text(b_pn, "and on").await.unwrap();
    let got = b.wait_received(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].text.as_deref(), Some("and on"));
    b.send_text(a_pn, "back").await.unwrap();
    let got = a.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].text.as_deref(), Some("back"));
}

#[tokio::test]
async fn a_phone_answers_a_companions_retry_receipt() {
    let sim = start_sim().await;
    let (a_pn, c_pn) = ("15556660005", "15556660006");
    let a = sim.account(a_pn);
    let (conn, mut events, device) = online(&sim, c_pn).await;
    let mut store = MemoryStore::new(&device.identity, device.registration_id).unwrap();
    store
        .signed_prekeys
        .insert(&device.signed_prekey, 0)
        .unwrap();

    let id = a.send_text(c_pn, "say again?").await.unwrap();
    let first = loop {
        let n = next_node(&mut events).await;
        if n.tag == "message" {
            break n;
        }
    };
    assert_eq!(first.attr_str("id"), Some(id.as_str()));

    // Pretend it could not be decrypted: ask with a bundle of our own, as a
    // second request does.
    let prekey = PreKey::generate(5, &mut rand::rng()).unwrap();
    store.prekeys.insert(&prekey).unwrap();
    let keys = RetryKeys {
        bundle: PreKeyBundle::from_keys(
            device.registration_id,
            device.identity.public(),
            &device.signed_prekey,
            Some(&prekey),
        )
        .unwrap(),
        device_identity: Some(vec![0x0a, 0x00]),
    };
    let request = RetryRequest::for_message(&first, 2, device.registration_id, Some(keys)).unwrap();
    conn.send(&request.to_node()).await.unwrap();

    let resend = loop {
        let n = next_node(&mut events).await;
        if n.tag == "message" {
            break n;
        }
    };
    assert_eq!(resend.attr_str("id"), Some(id.as_str()));
    let enc = resend.child("enc").expect("enc directly under the message");
    assert_eq!(enc.attr_str("count"), Some("2"));
    assert_eq!(enc.attr_str("type"), Some("pkmsg"));
    // Built from our keys: it uses the one-time prekey we sent.
    let a_lid = SignalAddress::from_jid(&a.lid().unwrap()).unwrap();
    let padded = signal::decrypt(
        &mut store,
        &a_lid,
        EncType::Pkmsg,
        enc.content_bytes().unwrap(),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    assert!(!store.prekeys.contains(5), "the retry prekey was used");
    let message = Message::decode(signal::unpad(&padded).unwrap()).unwrap();
    assert_eq!(message.conversation.as_deref(), Some("say again?"));
    drop(conn);
}

#[tokio::test]
async fn a_retry_for_an_unknown_message_is_ignored() {
    let sim = start_sim().await;
    let (a_pn, c_pn) = ("15556660007", "15556660008");
    let _a = sim.account(a_pn);
    let (conn, mut events, device) = online(&sim, c_pn).await;
    let fake = Node::new("message")
        .attr("from", Jid::user_jid(a_pn))
        .attr("id", "3EB0NEVERSENT")
        .attr("t", "1700000000");
    let request = RetryRequest::for_message(&fake, 1, device.registration_id, None).unwrap();
    conn.send(&request.to_node()).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if next_node(&mut events).await.tag == "message" {
                break;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "no resend for a message never sent");
}
