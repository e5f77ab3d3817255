//! The companion client against wa-sim: pairing then restarts from the
//! store, 1:1 texts both ways with receipts, ADV-checked fan-out, groups with
//! sender keys and their rotation, retry receipts both ways, and an offline
//! queue drained in order after a reconnect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use wa_client::store::{DeviceStore, SenderKeyStore, Store};
use wa_client::{Client, ClientEvent, ClientOptions, DeviceState, MemoryStore, ReceiptKind};
use wa_core::jid::Jid;
use wa_sim::Sim;

#[path = "support/companion.rs"]
mod companion;
use companion::{named, next, next_message, options, paired, sim, start, stop, wait_for};
#[path = "support/logs.rs"]
mod logs;
use logs::Logs;

fn enc_types_to(sim: &Sim, to: &str) -> Vec<String> {
    sim.routed()
        .into_iter()
        .filter(|r| r.to.to_string() == to)
        .map(|r| r.enc_type)
        .collect()
}

#[tokio::test]
async fn texts_both_ways_then_again_after_a_restart_from_the_store() {
    let sim = sim().await;
    let mine = sim.account("15554440000");
    let bob = sim.account("15554440001");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let bob_pn = Jid::user_jid("15554440001");

    // First message: a pkmsg to Bob's phone, a copy to our own phone.
    let sent = client.send_text(&bob_pn, "hello bob").await.unwrap();
    assert!(sent.timestamp.is_some(), "the server acked with its time");
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, sent.id);
    assert_eq!(got[0].text.as_deref(), Some("hello bob"));
    assert_eq!(got[0].from, *client.jid());
    let own = mine.wait_received(1, Duration::from_secs(10)).await;
    assert!(own[0].from_me);
    assert_eq!(own[0].chat, bob_pn);
    assert_eq!(enc_types_to(&sim, "15554440001@s.whatsapp.net"), ["pkmsg"]);
    assert!(enc_types_to(&sim, &client.jid().to_string()).is_empty());

    // Bob's phone confirms delivery.
    let receipt = wait_for(&mut events, |e| match e {
        ClientEvent::Receipt(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(receipt.ids.as_slice(), std::slice::from_ref(&sent.id));
    assert_eq!(receipt.kind, ReceiptKind::Delivered);

    // Bob answers.
    let answer = bob.send_text("15554440000", "hi there").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(m.id, answer);
    assert_eq!(m.text(), Some("hi there"));
    assert_eq!(m.chat, bob_pn);
    assert!(!m.from_me);

    // A restart: the same device from the store, no pairing, the sessions
    // kept (a plain msg now, Bob has answered).
    client.stop();
    drop(client);
    let (client, mut events) = start(&sim, &store).await;
    let again = client.send_text(&bob_pn, "after restart").await.unwrap();
    let got = bob.wait_received(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].id, again.id);
    assert_eq!(got[1].text.as_deref(), Some("after restart"));
    assert_eq!(
        enc_types_to(&sim, "15554440001@s.whatsapp.net"),
        ["pkmsg", "msg"]
    );
    let answer = bob.send_text("15554440000", "welcome back").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.id.as_str(), m.text()),
        (answer.as_str(), Some("welcome back"))
    );
}

#[tokio::test]
async fn a_device_the_account_never_signed_gets_no_ciphertext() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let sim = sim().await;
    let mine = sim.account("15554440010");
    let bob = sim.account("15554440011");
    let store = paired(&sim, &mine).await;
    let (client, _events) = start(&sim, &store).await;
    assert!(sim.inject_unsigned_device("15554440011", 7));

    client
        .send_text(&Jid::user_jid("15554440011"), "only for bob")
        .await
        .unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].text.as_deref(), Some("only for bob"));
    assert_eq!(sim.queued("15554440011", 7), 0);
    assert!(enc_types_to(&sim, "15554440011:7@s.whatsapp.net").is_empty());
    let devices = client.devices(&Jid::user_jid("15554440011")).await.unwrap();
    assert_eq!(devices.len(), 1, "only the phone: {devices:?}");
    assert_eq!(devices[0].device(), 0);
    let logs = logs.text();
    assert!(
        logs.contains("WARN")
            && logs.contains("not in the signed key-index list")
            && logs.contains("device=7"),
        "a warning names the device: {logs}"
    );
}

#[tokio::test]
async fn group_of_three_both_ways_and_a_new_sender_key_after_a_removal() {
    let sim = sim().await;
    let mine = sim.account("15554440020");
    let bob = sim.account("15554440021");
    let carol = sim.account("15554440022");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let bob_pn = Jid::user_jid("15554440021");
    let carol_pn = Jid::user_jid("15554440022");

    let group = client
        .create_group("three", &[bob_pn.clone(), carol_pn.clone()])
        .await
        .unwrap();
    assert_eq!(group.subject, "three");
    assert_eq!(group.participants.len(), 3);

    let first = client.send_text(&group.jid, "hello group").await.unwrap();
    for phone in [&bob, &carol] {
        let got = phone.wait_received(1, Duration::from_secs(10)).await;
        assert_eq!(got[0].id, first.id);
        assert_eq!(got[0].chat, group.jid);
        assert_eq!(got[0].text.as_deref(), Some("hello group"));
    }
    let holders = store
        .sender_key_holders(&group.jid.to_string())
        .await
        .unwrap();
    assert!(
        holders.len() >= 3,
        "bob, carol and our phone hold our key: {holders:?}"
    );

    // Members write back: their sender keys reach us pairwise.
    let from_bob = bob.send_group_text(&group.jid, "bob here").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.id.as_str(), m.text()),
        (from_bob.as_str(), Some("bob here"))
    );
    assert_eq!(m.chat, group.jid);
    assert_eq!(m.sender.user(), "15554440021");
    let from_carol = carol
        .send_group_text(&group.jid, "carol too")
        .await
        .unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.id.as_str(), m.text()),
        (from_carol.as_str(), Some("carol too"))
    );

    // A second message reuses the key: no pairwise distribution.
    let before = sim.routed().len();
    client.send_text(&group.jid, "same key").await.unwrap();
    // Bob has: ours, carol's, ours.
    bob.wait_received(3, Duration::from_secs(10)).await;
    let kinds: Vec<String> = sim.routed()[before..]
        .iter()
        .map(|r| r.enc_type.clone())
        .collect();
    assert!(kinds.iter().all(|k| k == "skmsg"), "{kinds:?}");

    // Carol is removed: our key is dropped at once, and the next message
    // distributes a new one to those who remain.
    let old_key = store
        .load_sender_key(
            &group.jid.to_string(),
            &format!("{}_1.{}", client.lid().user(), client.lid().device()),
        )
        .await
        .unwrap()
        .expect("our sender key is stored");
    client
        .remove_participants(&group.jid, std::slice::from_ref(&carol_pn))
        .await
        .unwrap();
    assert!(
        store
            .sender_key_holders(&group.jid.to_string())
            .await
            .unwrap()
            .is_empty(),
        "nobody holds the new key yet"
    );
    let before = sim.routed().len();
    let after = client.send_text(&group.jid, "without carol").await.unwrap();
    let got = bob.wait_received(4, Duration::from_secs(10)).await;
    assert_eq!(got[3].id, after.id);
    assert_eq!(got[3].text.as_deref(), Some("without carol"));
    let routed = sim.routed()[before..].to_vec();
    assert!(
        routed
            .iter()
            .any(|r| r.to.user() == "15554440021" && r.enc_type != "skmsg"),
        "bob gets the new key pairwise: {routed:?}"
    );
    assert!(
        routed.iter().all(|r| r.to.user() != "15554440022"),
        "nothing for carol: {routed:?}"
    );
    let new_key = store
        .load_sender_key(
            &group.jid.to_string(),
            &format!("{}_1.{}", client.lid().user(), client.lid().device()),
        )
        .await
        .unwrap()
        .expect("a new sender key");
    assert_ne!(old_key, new_key);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ours: Vec<String> = carol
        .received()
        .into_iter()
        .filter(|r| r.from == *client.jid())
        .filter_map(|r| r.text)
        .collect();
    assert_eq!(
        ours,
        ["hello group", "same key"],
        "carol only got what we sent before her removal"
    );
}

#[tokio::test]
async fn messages_queued_while_offline_arrive_once_in_order_after_reconnect() {
    let sim = sim().await;
    let mine = sim.account("15554440030");
    let bob = sim.account("15554440031");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    let bob_pn = Jid::user_jid("15554440031");
    client.send_text(&bob_pn, "warm up").await.unwrap();
    bob.wait_received(1, Duration::from_secs(10)).await;

    // Offline: the socket is cut and logins refused for a while.
    let device = client.jid().device();
    sim.refuse_logins("15554440030", device, Duration::from_secs(2));
    assert!(sim.cut("15554440030", device));
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { .. }).then_some(())
    })
    .await;
    assert!(!client.is_online());

    let mut pending = Vec::new();
    for i in 0..200 {
        pending.push(
            client
                .queue_message(&bob_pn, text(&format!("offline {i}")))
                .unwrap(),
        );
    }
    assert_eq!(client.queued(), 200);

    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connected).then_some(())
    })
    .await;
    let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
    for p in pending {
        p.wait().await.unwrap();
    }
    let got = bob.wait_received(201, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 201);
    let texts: Vec<String> = got[1..].iter().map(|r| r.text.clone().unwrap()).collect();
    let want: Vec<String> = (0..200).map(|i| format!("offline {i}")).collect();
    assert_eq!(texts, want, "all of them, once, in order");
    let got_ids: Vec<String> = got[1..].iter().map(|r| r.id.clone()).collect();
    assert_eq!(got_ids, ids);
    assert_eq!(client.queued(), 0);
}

#[tokio::test]
async fn a_first_login_that_fails_is_tried_again_when_asked_and_final_otherwise() {
    let sim = sim().await;
    let mine = sim.account("15554440032");
    let bob = sim.account("15554440033");
    let store = paired(&sim, &mine).await;
    let device = store.load().await.unwrap().unwrap().jid.unwrap().device();
    let dyn_store: Arc<dyn Store> = store.clone();

    // Without the option the refusal is the caller's to handle.
    sim.refuse_logins("15554440032", device, Duration::from_secs(60));
    let refused = Client::start(options(&sim), dyn_store.clone()).await;
    assert!(
        matches!(refused, Err(wa_client::ClientError::Login(_))),
        "a plain start fails: {:?}",
        refused.err()
    );

    // With it: a client that is offline, takes messages, and comes up
    // once the server lets it in.
    sim.refuse_logins("15554440032", device, Duration::from_secs(2));
    let opts = ClientOptions {
        retry_first_login: true,
        ..options(&sim)
    };
    let (client, mut events) = Client::start(opts, dyn_store).await.unwrap();
    assert!(!client.is_online());
    assert!(matches!(
        next(&mut events).await,
        ClientEvent::Disconnected { .. }
    ));
    let bob_pn = Jid::user_jid("15554440033");
    let pending = client
        .queue_message(&bob_pn, text("sent before the first login"))
        .unwrap();
    // What needs the connection can wait for it.
    let waiter = tokio::spawn({
        let client = client.clone();
        async move { client.online().await }
    });
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connected).then_some(())
    })
    .await;
    let online = tokio::time::timeout(Duration::from_secs(10), waiter).await;
    assert!(matches!(online, Ok(Ok(true))), "online() once logged in");
    pending.wait().await.unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].text.as_deref(), Some("sent before the first login"));

    // A final verdict still fails at once, option or not.
    let stopped = client.clone();
    stop(client, events).await;
    assert!(!stopped.online().await, "a stopped client is never online");
    assert!(mine.remove_device(device).await);
    let opts = ClientOptions {
        retry_first_login: true,
        ..options(&sim)
    };
    let dyn_store: Arc<dyn Store> = store.clone();
    let unlinked = Client::start(opts, dyn_store).await;
    assert!(
        matches!(
            unlinked,
            Err(wa_client::ClientError::Login(wa_client::LoginError::Auth(
                wa_client::AuthError::LoggedOut
            )))
        ),
        "an unlinked device is not retried: {:?}",
        unlinked.err()
    );
}

#[tokio::test]
async fn unlinked_by_the_phone_the_client_stops_and_forgets_the_device() {
    let sim = sim().await;
    let mine = sim.account("15554440040");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;
    assert!(mine.remove_device(client.jid().device()).await);
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::LoggedOut(_)).then_some(())
    })
    .await;
    assert!(
        store.load().await.unwrap().is_none(),
        "the store was cleared"
    );
    assert!(matches!(
        client.send_text(&Jid::user_jid("15554440041"), "x").await,
        Err(wa_client::SendError::Stopped)
    ));
}

fn text(t: &str) -> wa_core::proto::Message {
    wa_core::proto::Message {
        conversation: Some(t.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_old_signed_prekey_is_rotated_at_login_and_peers_use_the_new_one() {
    use wa_client::store::SignedPreKeyStore;
    let sim = sim().await;
    let mine = sim.account("15554440050");
    let bob = sim.account("15554440051");
    let store = paired(&sim, &mine).await;
    let mut state = store.load().await.unwrap().unwrap();
    assert_eq!(state.signed_prekey.id(), 1);
    state.signed_prekey_created -= wa_client::login::SIGNED_PREKEY_MAX_AGE + 60;
    store.save(&state).await.unwrap();

    let (_client, mut events) = start(&sim, &store).await;
    let rotated = store.load().await.unwrap().unwrap();
    assert_eq!(rotated.signed_prekey.id(), 2);
    assert!(rotated.signed_prekey_created > state.signed_prekey_created);
    assert!(
        store.load_signed_prekey(1).await.unwrap().is_some(),
        "the old key stays for sessions started from older bundles"
    );

    // Bob starts a session from a bundle fetched now: the new key.
    let id = bob.send_text("15554440050", "new key").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((m.id.as_str(), m.text()), (id.as_str(), Some("new key")));
}

#[tokio::test]
async fn a_message_we_cannot_decrypt_is_recovered_by_a_retry_receipt() {
    let sim = sim().await;
    let mine = sim.account("15554440060");
    let bob = sim.account("15554440061");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;

    // Bob's first message reaches us damaged.
    sim.corrupt_next("15554440060", client.jid().device(), 1);
    let id = bob.send_text("15554440060", "second try").await.unwrap();
    let failed = wait_for(&mut events, |e| match e {
        ClientEvent::Undecryptable { id, gave_up, .. } => {
            assert!(!gave_up, "the first failure is asked for again");
            Some(id.clone())
        }
        ClientEvent::Message(m) => panic!("a damaged message decrypted: {m:?}"),
        _ => None,
    })
    .await;
    assert_eq!(failed, id);
    // Our retry receipt makes Bob's phone send it again, on a fresh session.
    let m = next_message(&mut events).await;
    assert_eq!((m.id.as_str(), m.text()), (id.as_str(), Some("second try")));

    // And the conversation goes on.
    let next = bob.send_text("15554440060", "and on").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((m.id.as_str(), m.text()), (next.as_str(), Some("and on")));
}

#[tokio::test]
async fn a_retry_receipt_from_the_recipient_gets_a_resend_on_a_fresh_session() {
    let sim = sim().await;
    let mine = sim.account("15554440070");
    let bob = sim.account("15554440071");
    let store = paired(&sim, &mine).await;
    let (client, _events) = start(&sim, &store).await;
    let bob_pn = Jid::user_jid("15554440071");

    sim.corrupt_next("15554440071", 0, 1);
    let sent = client.send_text(&bob_pn, "please resend").await.unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, sent.id);
    assert_eq!(got[0].text.as_deref(), Some("please resend"));
    let to_bob = enc_types_to(&sim, "15554440071@s.whatsapp.net");
    assert_eq!(to_bob, ["pkmsg", "pkmsg"], "the original and the resend");
    // Exactly once, even after a while.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bob.received().len(), 1);

    let after = client.send_text(&bob_pn, "all good").await.unwrap();
    let got = bob.wait_received(2, Duration::from_secs(10)).await;
    assert_eq!(
        (got[1].id.as_str(), got[1].text.as_deref()),
        (after.id.as_str(), Some("all good"))
    );
}

#[tokio::test]
async fn a_retry_receipt_from_a_device_the_message_never_went_to_gets_nothing() {
    let sim = sim().await;
    let mine = sim.account("15554440072");
    let bob = sim.account("15554440073");
    let mallory = sim.account("15554440074");
    let store = paired(&sim, &mine).await;
    let (client, _events) = start(&sim, &store).await;
    let bob_pn = Jid::user_jid("15554440073");
    // Mallory is a contact too (we know her devices and her LID).
    client
        .send_text(&Jid::user_jid("15554440074"), "hi mallory")
        .await
        .unwrap();
    mallory.wait_received(1, Duration::from_secs(10)).await;
    let sent = client.send_text(&bob_pn, "for bob only").await.unwrap();
    bob.wait_received(1, Duration::from_secs(10)).await;
    // Mallory knows the id and asks our device for the message again.
    mallory.ask_again(&sent.id, client.jid()).await.unwrap();
    // Bob asking again is answered: the answer shows the asking was
    // handled, and Mallory's (asked first) would have come before it.
    bob.ask_again(&sent.id, client.jid()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while enc_types_to(&sim, "15554440073@s.whatsapp.net").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "Bob's retry answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        enc_types_to(&sim, "15554440074@s.whatsapp.net").len(),
        1,
        "no ciphertext of Bob's message went to Mallory, only her own"
    );
    let texts: Vec<_> = mallory
        .received()
        .into_iter()
        .filter_map(|r| r.text)
        .collect();
    assert_eq!(texts, ["hi mallory"]);
}

/// A copy of the sender key record of `sender` in `group` that `holder`
/// keeps.
async fn sender_key_copy(holder: &MemoryStore, group: &Jid, sender: &Jid) -> Vec<u8> {
    let addr = wa_core::signal::SignalAddress::from_jid(sender).unwrap();
    holder
        .load_sender_key(&group.to_string(), &addr.to_string())
        .await
        .unwrap()
        .expect("the member holds the sender's key")
}

/// Decrypts an `skmsg` from `sender` in `group` with a copy of a member's
/// sender key record: what that member could read if a server handed it
/// the ciphertext.
async fn decrypt_with_copy(
    bytes: &[u8],
    holder_state: &DeviceState,
    group: &Jid,
    sender: &Jid,
    skmsg: &[u8],
) -> Result<String, String> {
    use wa_core::signal::libsignal::{SenderKeyRecord, SenderKeyStore as _};
    use wa_core::signal::{self, SignalAddress};
    let addr = SignalAddress::from_jid(sender).unwrap();
    let mut scratch =
        signal::MemoryStore::new(&holder_state.identity, holder_state.registration_id).unwrap();
    let record = SenderKeyRecord::deserialize(bytes).unwrap();
    scratch
        .sender_keys
        .store_sender_key(&signal::sender_key_name(group, &addr), record)
        .await
        .unwrap();
    let padded = signal::group_decrypt(&mut scratch, group, &addr, skmsg)
        .await
        .map_err(|e| e.to_string())?;
    let plain = signal::unpad(&padded).map_err(|e| e.to_string())?;
    let m =
        <wa_core::proto::Message as prost::Message>::decode(plain).map_err(|e| e.to_string())?;
    Ok(m.conversation.unwrap_or_default())
}

#[tokio::test]
async fn a_removed_member_cannot_decrypt_the_next_group_message() {
    let sim = sim().await;
    let mine = sim.account("15554440080");
    let _bob = sim.account("15554440081");
    let carol_phone = sim.account("15554440082");
    let store = paired(&sim, &mine).await;
    let (client, _events) = start(&sim, &store).await;
    // Carol reads with a companion of her own: her sender keys are ours to
    // inspect.
    let carol_store = paired(&sim, &carol_phone).await;
    let (carol, mut carol_events) = start(&sim, &carol_store).await;
    let carol_state = carol_store.load().await.unwrap().unwrap();
    let skmsg_to = |from: &Jid, user: &str| {
        sim.routed()
            .into_iter()
            .rev()
            .find(|r| r.from == *from && r.to.user() == user && r.enc_type == "skmsg")
            .map(|r| r.ciphertext)
    };

    let group = client
        .create_group(
            "four",
            &[Jid::user_jid("15554440081"), Jid::user_jid("15554440082")],
        )
        .await
        .unwrap();
    client.send_text(&group.jid, "before").await.unwrap();
    let m = next_message(&mut carol_events).await;
    assert_eq!(m.text(), Some("before"));

    // The harness can read what Carol may read: a copy of her key, taken
    // now, opens the next message of the same chain.
    let copy = sender_key_copy(&carol_store, &group.jid, client.lid()).await;
    client.send_text(&group.jid, "same key").await.unwrap();
    let same_key = skmsg_to(client.jid(), "15554440082").expect("an skmsg for carol");
    assert_eq!(
        decrypt_with_copy(&copy, &carol_state, &group.jid, client.lid(), &same_key).await,
        Ok("same key".to_owned())
    );
    let m = next_message(&mut carol_events).await;
    assert_eq!(m.text(), Some("same key"));

    // Removed: the next message is under a new key Carol never got.
    client
        .remove_participants(&group.jid, &[Jid::user_jid("15554440082")])
        .await
        .unwrap();
    let before = sim.routed().len();
    client.send_text(&group.jid, "after").await.unwrap();
    assert!(
        sim.routed()[before..]
            .iter()
            .all(|r| r.to.user() != "15554440082"),
        "nothing routed to carol"
    );
    let after = skmsg_to(client.jid(), "15554440081").expect("an skmsg for bob");
    let copy = sender_key_copy(&carol_store, &group.jid, client.lid()).await;
    let attempt = decrypt_with_copy(&copy, &carol_state, &group.jid, client.lid(), &after).await;
    assert!(attempt.is_err(), "carol read it: {attempt:?}");
    carol.stop();
}

/// With `auto_ack` off, a message whose receipt never went out comes again
/// at the next login (the server keeps it), and is passed on again from the
/// copy kept at decryption: the ratchet has moved on, so decrypting the same
/// ciphertext again would fail. Once acknowledged, it is gone for good.
#[tokio::test]
async fn a_message_never_acknowledged_comes_again_after_a_restart() {
    let sim = sim().await;
    let mine = sim.account("15554440090");
    let bob = sim.account("15554440091");
    let carol = sim.account("15554440092");
    let store = paired(&sim, &mine).await;
    let manual = |sim: &Sim| ClientOptions {
        auto_ack: false,
        ..options(sim)
    };
    let start_manual = |store: &Arc<MemoryStore>| {
        let store: Arc<dyn Store> = store.clone();
        let opts = manual(&sim);
        async move {
            let (client, mut events) = Client::start(opts, store).await.unwrap();
            assert!(matches!(next(&mut events).await, ClientEvent::Connected));
            (client, events)
        }
    };
    let bob_pn = Jid::user_jid("15554440091");
    let (client, mut events) = start_manual(&store).await;
    let group = client
        .create_group("kept", &[bob_pn.clone(), Jid::user_jid("15554440092")])
        .await
        .unwrap();
    drop(carol);

    let one = bob.send_text("15554440090", "not acked yet").await.unwrap();
    let first = next_message(&mut events).await;
    assert_eq!(
        (first.id.as_str(), first.text()),
        (one.as_str(), Some("not acked yet"))
    );
    let two = bob
        .send_group_text(&group.jid, "in the group")
        .await
        .unwrap();
    let second = next_message(&mut events).await;
    assert_eq!(
        (second.id.as_str(), second.text()),
        (two.as_str(), Some("in the group"))
    );
    stop(client, events).await;

    // Delivered again, read from the kept copies, same ids and timestamps.
    let (client, mut events) = start_manual(&store).await;
    let again = next_message(&mut events).await;
    assert_eq!(
        (again.id.as_str(), again.text()),
        (one.as_str(), Some("not acked yet"))
    );
    assert_eq!(again.timestamp, first.timestamp);
    assert_eq!(again.chat, first.chat);
    let again_group = next_message(&mut events).await;
    assert_eq!(
        (again_group.id.as_str(), again_group.text()),
        (two.as_str(), Some("in the group"))
    );
    assert_eq!(again_group.chat, group.jid);
    assert_eq!(again_group.sender.user(), "15554440091");
    client.ack(&again.ack).await.unwrap();
    client.ack(&again_group.ack).await.unwrap();
    stop(client, events).await;

    // Acknowledged: neither comes back, and the copies are gone.
    let (client, mut events) = start_manual(&store).await;
    let three = bob.send_text("15554440090", "after the ack").await.unwrap();
    let next_one = next_message(&mut events).await;
    assert_eq!(
        (next_one.id.as_str(), next_one.text()),
        (three.as_str(), Some("after the ack")),
        "nothing acknowledged came back first"
    );
    client.ack(&next_one.ack).await.unwrap();
    use wa_client::store::DedupeStore as _;
    assert_eq!(
        store.prune_seen(u64::MAX).await.unwrap(),
        3,
        "three seen, none kept"
    );
}

/// Presence both ways: a subscribed contact going online and offline comes
/// as events (with the last-seen time when offline); our own presence
/// reaches the server.
#[tokio::test]
async fn presence_of_a_subscribed_contact_and_our_own() {
    let sim = sim().await;
    let mine = sim.account("15554440100");
    let bob = sim.account("15554440101");
    let store = paired(&sim, &mine).await;
    named(&store, "Mine").await;
    let (client, mut events) = start(&sim, &store).await;
    let presence = |e: &ClientEvent| match e {
        ClientEvent::Presence {
            from,
            available,
            last_seen,
        } => Some((from.clone(), *available, *last_seen)),
        _ => None,
    };

    client
        .subscribe_presence(&Jid::user_jid("15554440101"))
        .await
        .unwrap();
    bob.set_presence(true);
    let (from, available, _) = wait_for(&mut events, presence).await;
    assert_eq!((from.user(), available), ("15554440101", true));
    bob.set_presence(false);
    let (_, available, last_seen) = wait_for(&mut events, presence).await;
    assert!(!available);
    assert!(
        last_seen.is_some_and(|t| t > 1_700_000_000),
        "{last_seen:?}"
    );

    // Only our name so far (with "unavailable", at login).
    assert_ne!(sim.presence("15554440100"), Some(true));
    client.send_presence(true).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.presence("15554440100") != Some(true) {
        assert!(tokio::time::Instant::now() < deadline, "presence not seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.send_presence(false).await.unwrap();
    while sim.presence("15554440100") != Some(false) {
        assert!(tokio::time::Instant::now() < deadline, "presence not seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
