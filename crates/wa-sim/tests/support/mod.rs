//! The companion side of linking and login, from wa-core pieces over a
//! wa-client connection: enough to drive the simulator from Rust tests
//! without Baileys. (The full client comes with wa-client's pairing.)
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod appstate;
pub mod baileys;
pub mod https;
pub mod peer;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use tokio::sync::mpsc;
use wa_client::{ConnectOptions, Connection, Error, Event};
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::keys::KeyPair;
use wa_core::payload::{Agent, RegistrationKeys};
use wa_core::signal::{self, SignedPreKey};
use wa_sim::{Phone, Sim};

/// A companion's keys.
pub struct Device {
    pub noise: KeyPair,
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
    pub adv_secret: [u8; 32],
    pub jid: Option<Jid>,
}

impl Device {
    pub fn new() -> Device {
        let mut rng = rand::rng();
        let identity = KeyPair::generate(&mut rng);
        Device {
            noise: KeyPair::generate(&mut rng),
            signed_prekey: SignedPreKey::generate(&identity, 1, &mut rng).unwrap(),
            identity,
            registration_id: signal::generate_registration_id(&mut rng),
            adv_secret: rand::random(),
            jid: None,
        }
    }

    pub fn registration_keys(&self) -> RegistrationKeys {
        RegistrationKeys {
            registration_id: signal::encode_registration_id(self.registration_id),
            identity: *self.identity.public(),
            signed_prekey_id: signal::encode_key_id(self.signed_prekey.id()).unwrap(),
            signed_prekey: *self.signed_prekey.public(),
            signed_prekey_signature: *self.signed_prekey.signature(),
        }
    }

    pub fn registration_payload(&self) -> Vec<u8> {
        Agent::default()
            .registration(&self.registration_keys())
            .encode_to_vec()
    }

    pub fn login_payload(&self) -> Vec<u8> {
        let jid = self.jid.as_ref().expect("linked");
        Agent::default()
            .login(jid.user().parse().unwrap(), u32::from(jid.device()))
            .encode_to_vec()
    }
}

pub fn options(sim: &Sim) -> ConnectOptions {
    ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        iq_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

pub async fn next_node(events: &mut mpsc::Receiver<Event>) -> Node {
    match tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("events open")
    {
        Event::Node(n) => n,
        Event::Disconnected(e) => panic!("disconnected: {e}"),
    }
}

pub async fn next_end(events: &mut mpsc::Receiver<Event>) -> Error {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event in time")
            .expect("events open")
        {
            Event::Node(_) => {}
            Event::Disconnected(e) => return e,
        }
    }
}

/// Registers `device`, lets `phone` scan its first QR, countersigns, and
/// waits for the 515. Returns the scan result.
pub async fn link(sim: &Sim, phone: &Phone, device: &mut Device) -> Result<Jid, wa_sim::ScanError> {
    let (conn, mut events) =
        wa_client::connect(&options(sim), &device.noise, &device.registration_payload())
            .await
            .unwrap();
    let pair_device = next_node(&mut events).await;
    assert!(pair_device.child("pair-device").is_some(), "{pair_device}");
    let answer = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "result")
        .attr("id", pair_device.attr_str("id").unwrap().to_owned());
    conn.send(&answer).await.unwrap();
    let first_ref = pair_device
        .child("pair-device")
        .unwrap()
        .child("ref")
        .unwrap();
    let qr = format!(
        "{},{},{},{}",
        String::from_utf8(first_ref.content_bytes().unwrap().to_vec()).unwrap(),
        STANDARD.encode(device.noise.public()),
        STANDARD.encode(device.identity.public()),
        STANDARD.encode(device.adv_secret),
    );
    let mut scanning = {
        let phone = phone.clone();
        tokio::spawn(async move { phone.scan(&qr).await })
    };
    let success = tokio::select! {
        node = next_node(&mut events) => node,
        // The phone refused before any pair-success was sent.
        refused = &mut scanning => return refused.unwrap(),
    };
    let pair = success.child("pair-success").expect("pair-success");
    let verified = adv::verify_pairing(
        pair.child("device-identity")
            .unwrap()
            .content_bytes()
            .unwrap(),
        &device.adv_secret,
        device.identity.public(),
    )
    .unwrap();
    let (_full, for_server) =
        adv::countersign(&verified, &device.identity, &mut rand::rng()).unwrap();
    let jid = pair
        .child("device")
        .unwrap()
        .attr_jid("jid")
        .unwrap()
        .clone();
    let sign = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "result")
        .attr("id", success.attr_str("id").unwrap().to_owned())
        .children(vec![Node::new("pair-device-sign").children(vec![
            Node::new("device-identity")
                .attr("key-index", verified.details.key_index.unwrap_or(0).to_string())
                .bytes(for_server),
        ])]);
    conn.send(&sign).await.unwrap();
    let result = scanning.await.unwrap();
    if result.is_ok() {
        let end = next_end(&mut events).await;
        assert!(
            matches!(end, Error::Auth(wa_client::AuthError::RestartRequired)),
            "{end:?}"
        );
        device.jid = Some(jid);
    }
    result
}

/// Logs a linked device in; returns the connection once `<success>` came.
pub async fn login(sim: &Sim, device: &Device) -> (Connection, mpsc::Receiver<Event>, Node) {
    let (conn, mut events) =
        wa_client::connect(&options(sim), &device.noise, &device.login_payload())
            .await
            .unwrap();
    let success = next_node(&mut events).await;
    assert_eq!(success.tag, "success", "{success}");
    (conn, events, success)
}

/// A simulator on 127.0.0.1:0.
pub async fn start_sim() -> Sim {
    Sim::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap()
}

/// A linked companion of a fresh account `pn`, logged in and past its
/// offline marker. The event stream must be kept alive.
pub async fn online(sim: &Sim, pn: &str) -> (Connection, mpsc::Receiver<Event>, Device) {
    let phone = sim.account(pn);
    let mut device = Device::new();
    link(sim, &phone, &mut device).await.unwrap();
    let (conn, mut events, _) = login(sim, &device).await;
    let ib = next_node(&mut events).await;
    assert_eq!(ib.tag, "ib");
    (conn, events, device)
}
