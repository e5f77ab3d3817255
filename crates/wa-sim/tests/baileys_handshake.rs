//! Baileys rc14, an independent client, against the simulator: it completes
//! the Noise handshake (trusting our root), sends its registration payload,
//! decodes our `pair-device` IQ and shows a QR code made of our first ref and
//! the keys we saw on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use support::baileys::baileys_dir;
use tokio::net::TcpListener;
use wa_sim::Sim;

#[tokio::test]
async fn baileys_completes_the_handshake_and_shows_our_ref() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg("pair.mjs")
            .arg(sim.url())
            .arg(hex::encode(sim.root_public_key()))
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output(),
    )
    .await
    .expect("baileys finished in time")
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(line["event"], "qr", "{line}");
    assert!(out.status.success());

    let regs = sim.wait_registrations(1, Duration::from_secs(5)).await;
    assert_eq!(regs.len(), 1);
    let reg = &regs[0];
    let qr = line["qr"].as_str().unwrap();
    let data = qr
        .strip_prefix("https://wa.me/settings/linked_devices#")
        .unwrap_or(qr);
    let parts: Vec<&str> = data.split(',').collect();
    assert!(parts.len() >= 4, "{qr}");
    assert_eq!(parts[0], reg.refs[0], "first ref is ours");
    assert_eq!(
        STANDARD.decode(parts[1]).unwrap(),
        reg.noise_key,
        "noise key from the handshake"
    );
    assert_eq!(
        STANDARD.decode(parts[2]).unwrap(),
        reg.identity_key,
        "identity from devicePairingData"
    );
    assert_eq!(STANDARD.decode(parts[3]).unwrap().len(), 32, "adv secret");
}

#[tokio::test]
async fn login_of_an_unknown_device_is_refused_with_401() {
    use prost::Message as _;
    use wa_client::{AuthError, ConnectOptions, Error, Event};
    use wa_core::keys::KeyPair;
    use wa_core::payload::Agent;

    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let opts = ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        ..ConnectOptions::default()
    };
    let login = Agent::default().login(15_550_001_234, 3);
    let key = KeyPair::generate(&mut rand::rng());
    let (_conn, mut events) = wa_client::connect(&opts, &key, &login.encode_to_vec())
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            event,
            Event::Disconnected(Error::Auth(AuthError::LoggedOut))
        ),
        "{event:?}"
    );
    assert!(sim.registrations().is_empty());
}
