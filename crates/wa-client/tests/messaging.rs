//! 1:1 texts between our linked companion and a scripted phone: fan-out,
//! pkmsg then msg, decrypting the phone's answer, receipts both ways, and no
//! ciphertext for a device the account never signed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wa_client::{
    ConnectOptions, Connection, DeviceState, Event, LoginOptions, MemoryDeviceStore, Messenger,
    PairEvent, PairOptions, login, pair,
};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_sim::{Phone, Sim};

async fn sim() -> Sim {
    Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap()
}

fn connect_options(sim: &Sim) -> ConnectOptions {
    ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        iq_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

/// Pairs a fresh companion to `phone`'s account and logs it in.
async fn online(sim: &Sim, phone: &Phone) -> (DeviceState, Connection, mpsc::Receiver<Event>) {
    let mut state = DeviceState::new(&mut rand::rng());
    let store = MemoryDeviceStore::new();
    let opts = PairOptions {
        connect: connect_options(sim),
        ..PairOptions::default()
    };
    let mut pairing = pair(&opts, &mut state).await.unwrap();
    let PairEvent::Qr(qr) = pairing.next().await.unwrap() else {
        panic!("expected a QR code");
    };
    let scan = {
        let phone = phone.clone();
        tokio::spawn(async move { phone.scan(&qr).await })
    };
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match pairing.next().await.unwrap() {
                PairEvent::Qr(_) => {}
                paired => break paired,
            }
        }
    })
    .await
    .unwrap();
    scan.await.unwrap().unwrap();
    assert!(matches!(event, PairEvent::Paired { .. }), "{event:?}");
    drop(pairing);
    let login_opts = LoginOptions {
        connect: connect_options(sim),
        ..LoginOptions::default()
    };
    let live = login(&login_opts, &mut state, &store).await.unwrap();
    (state, live.conn, live.events)
}

async fn next_node(events: &mut mpsc::Receiver<Event>) -> Node {
    match tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a node in time")
        .expect("stream open")
    {
        Event::Node(n) => n,
        Event::Disconnected(e) => panic!("disconnected: {e}"),
    }
}

/// Reads nodes until one matches `want`.
async fn wait_for(events: &mut mpsc::Receiver<Event>, want: impl Fn(&Node) -> bool) -> Node {
    loop {
        let node = next_node(events).await;
        if want(&node) {
            return node;
        }
    }
}

fn enc_types_to(sim: &Sim, to: &str) -> Vec<String> {
    sim.routed()
        .into_iter()
        .filter(|r| r.to.to_string() == to)
        .map(|r| r.enc_type)
        .collect()
}

#[tokio::test]
async fn texts_both_ways_with_receipts() {
    let sim = sim().await;
    let mine = sim.account("15553330000");
    let bob = sim.account("15553330001");
    let (state, conn, mut events) = online(&sim, &mine).await;
    let mut messenger = Messenger::new(&state).unwrap();
    let bob_pn = Jid::user_jid("15553330001");

    // First message: a pkmsg to Bob's phone, a copy to our own phone.
    let id = messenger
        .send_text(&conn, &bob_pn, "hello bob")
        .await
        .unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].text.as_deref(), Some("hello bob"));
    assert_eq!(
        got[0].from.to_string(),
        state.jid.as_ref().unwrap().to_string()
    );
    let own = mine.wait_received(1, Duration::from_secs(10)).await;
    assert!(own[0].from_me);
    assert_eq!(own[0].chat, bob_pn);
    assert_eq!(own[0].text.as_deref(), Some("hello bob"));
    assert_eq!(enc_types_to(&sim, "15553330001@s.whatsapp.net"), ["pkmsg"]);
    // Our own device never gets a copy.
    assert!(enc_types_to(&sim, &state.jid.as_ref().unwrap().to_string()).is_empty());
    assert!(messenger.lid_of("15553330001").is_some());

    // The server acks it and Bob's phone sends a delivery receipt.
    let ack = wait_for(&mut events, |n| n.tag == "ack").await;
    assert_eq!(ack.attr_str("id"), Some(id.as_str()));
    let receipt = wait_for(&mut events, |n| n.tag == "receipt").await;
    assert_eq!(receipt.attr_str("id"), Some(id.as_str()));
    assert_eq!(receipt.attr_str("type"), None);

    // Bob answers; we decrypt it and confirm delivery.
    let answer_id = bob.send_text("15553330000", "hi there").await.unwrap();
    let message = wait_for(&mut events, |n| n.tag == "message").await;
    let received = messenger.handle(&conn, &message).await.unwrap().unwrap();
    assert_eq!(received.id, answer_id);
    assert_eq!(received.text.as_deref(), Some("hi there"));
    assert_eq!(received.chat, bob_pn);
    assert!(!received.from_me);
    // Non-message nodes are not ours to read.
    assert!(
        messenger
            .handle(&conn, &Node::new("ib"))
            .await
            .unwrap()
            .is_none()
    );

    // Bob has answered, so the session is established: a plain msg now.
    let second = messenger.send_text(&conn, &bob_pn, "again").await.unwrap();
    let got = bob.wait_received(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].id, second);
    assert_eq!(got[1].text.as_deref(), Some("again"));
    assert_eq!(
        enc_types_to(&sim, "15553330001@s.whatsapp.net"),
        ["pkmsg", "msg"]
    );
    conn.close();
}

#[tokio::test]
async fn a_device_the_account_never_signed_gets_no_ciphertext() {
    let sim = sim().await;
    let mine = sim.account("15553330010");
    let bob = sim.account("15553330011");
    let (state, conn, _events) = online(&sim, &mine).await;
    let mut messenger = Messenger::new(&state).unwrap();
    assert!(sim.inject_unsigned_device("15553330011", 7));

    messenger
        .send_text(&conn, &Jid::user_jid("15553330011"), "only for bob")
        .await
        .unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].text.as_deref(), Some("only for bob"));
    assert_eq!(sim.queued("15553330011", 7), 0);
    assert!(enc_types_to(&sim, "15553330011:7@s.whatsapp.net").is_empty());
    conn.close();
}
