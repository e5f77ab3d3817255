//! Contact cards both ways (issue 21, point 6), against a real Synapse and
//! wa-sim: Bob's shared contact shows as its vCard file (`NAME.vcf`) with
//! the readable card as the caption; a `.vcf` file Alice sends from Matrix
//! reaches Bob as a contact card, named as the vCard names itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::login::start_logged_in;
use support::matrix::body;
use wa_core::proto::Message;
use wa_core::proto::message::ContactMessage;

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557880001";
const BOB_PN: &str = "15557880002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_cards_go_both_ways_as_vcards() {
    if support::synapse::venv().is_none() {
        return;
    }
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let logged_in = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-cards", false, WAIT).await;
    let alice = &logged_in.alice;

    let ann = "BEGIN:VCARD\nVERSION:3.0\nFN:Ann Lee\nTEL;type=CELL:+1 555 0100\nEND:VCARD";
    let card = Message {
        contact_message: Some(Box::new(ContactMessage {
            display_name: Some("Ann Lee".to_owned()),
            vcard: Some(ann.to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    };
    bob.send_message(ALICE_PN, card).await.unwrap();
    let room = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&room).await;
    let (_, shown) = alice
        .sync_until(WAIT, |r, e| {
            r == room && e["content"]["msgtype"] == "m.file"
        })
        .await;
    let content = &shown["content"];
    assert_eq!(content["filename"], "Ann Lee.vcf", "{shown}");
    assert_eq!(content["info"]["mimetype"], "text/vcard");
    assert!(body(&shown).contains("Contact: Ann Lee"), "{shown}");
    assert!(body(&shown).contains("+1 555 0100"), "{shown}");
    let file = alice.download_media(content["url"].as_str().unwrap()).await;
    assert_eq!(file, ann.as_bytes(), "the vCard itself");

    // A .vcf from Matrix is a contact card on WhatsApp.
    let jane = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nTEL:+1 555 0199\r\nEND:VCARD\r\n";
    let mxc = alice
        .upload_media("text/vcard", jane.as_bytes().to_vec())
        .await;
    alice
        .send_event(
            &room,
            "m.room.message",
            &json!({
                "msgtype": "m.file",
                "body": "jane.vcf",
                "url": mxc,
                "info": {"mimetype": "text/vcard", "size": jane.len()},
            }),
        )
        .await;
    let got = bob.wait_received(1, WAIT).await;
    let sent = got[0]
        .message
        .contact_message
        .as_ref()
        .expect("a contact card");
    assert_eq!(sent.display_name.as_deref(), Some("Jane Doe"));
    assert_eq!(sent.vcard.as_deref(), Some(jane));
    logged_in.bridge.stop().await;
}
