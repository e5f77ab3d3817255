//! A companion client against wa-sim, as the client tests drive it: a
//! simulator, a paired device in a memory store, started and stopped, and
//! its events awaited.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wa_client::store::{DeviceStore, Store};
use wa_client::{
    Backoff, Client, ClientEvent, ClientOptions, ConnectOptions, DeviceState, IncomingMessage,
    MemoryStore, PairEvent, PairOptions, pair,
};
use wa_sim::{Phone, Sim};

pub async fn sim() -> Sim {
    Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap()
}

pub fn connect_options(sim: &Sim) -> ConnectOptions {
    ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        iq_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

pub fn options(sim: &Sim) -> ClientOptions {
    ClientOptions {
        connect: connect_options(sim),
        media_ca: Some(sim.media_ca_pem_path().to_owned()),
        reconnect: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            ..Backoff::default()
        },
        ..ClientOptions::default()
    }
}

/// Pairs a fresh companion to `phone`'s account; its state is in the store.
pub async fn paired(sim: &Sim, phone: &Phone) -> Arc<MemoryStore> {
    let mut state = DeviceState::new(&mut rand::rng());
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
    let store = Arc::new(MemoryStore::new());
    store.save(&state).await.unwrap();
    store
}

/// Gives the paired device in `store` a push name, as app state would:
/// without one the client sends no presence (as whatsmeow and Baileys).
pub async fn named(store: &Arc<MemoryStore>, name: &str) {
    let mut state = store.load().await.unwrap().expect("a paired device");
    state.push_name = Some(name.to_owned());
    store.save(&state).await.unwrap();
}

pub async fn start(sim: &Sim, store: &Arc<MemoryStore>) -> (Client, mpsc::Receiver<ClientEvent>) {
    let store: Arc<dyn Store> = store.clone();
    let (client, mut events) = Client::start(options(sim), store).await.unwrap();
    assert!(matches!(next(&mut events).await, ClientEvent::Connected));
    (client, events)
}

/// Stops `client` and waits until its socket is closed, as a restart does.
pub async fn stop(client: Client, events: mpsc::Receiver<ClientEvent>) {
    client.stop();
    tokio::time::timeout(Duration::from_secs(5), client.stopped())
        .await
        .expect("the client stops");
    drop(events);
}

pub async fn next(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .expect("an event in time")
        .expect("client running")
}

/// Skips events until `want` matches one.
pub async fn wait_for<T>(
    events: &mut mpsc::Receiver<ClientEvent>,
    want: impl Fn(&ClientEvent) -> Option<T>,
) -> T {
    loop {
        let e = next(events).await;
        if let Some(t) = want(&e) {
            return t;
        }
    }
}

pub async fn next_message(events: &mut mpsc::Receiver<ClientEvent>) -> IncomingMessage {
    wait_for(events, |e| match e {
        ClientEvent::Message(m) => Some((**m).clone()),
        _ => None,
    })
    .await
}
