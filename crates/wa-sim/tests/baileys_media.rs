//! Baileys rc14 sending a document through the simulator's media host: the
//! sender asks `media_conn`, encrypts and uploads over HTTPS (trusting the
//! simulator's CA through `NODE_EXTRA_CA_CERTS`), sends the message; the
//! receiver downloads by the message's url and, redirected from
//! mmg.whatsapp.net, by direct path, and decrypts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use support::baileys::{Baileys, baileys_dir, short};
use tokio::net::TcpListener;
use wa_sim::Sim;

/// A few hundred KB that are not all alike (and not a multiple of 16).
fn document() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..300_007)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn baileys_sends_a_document_and_the_peer_downloads_and_decrypts_it() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let (alice_phone, bob_phone) = (sim.account("15550007777"), sim.account("15550008888"));
    let mut alice = Baileys::start(&dir, &sim);
    let mut bob = Baileys::start(&dir, &sim);
    alice.link(&alice_phone).await;
    bob.link(&bob_phone).await;

    let doc = document();
    let sha256 = hex::encode(Sha256::digest(&doc));
    alice
        .command(serde_json::json!({
            "cmd": "send-document",
            "to": "15550008888@s.whatsapp.net",
            "data": STANDARD.encode(&doc),
            "fileName": "report 2024.pdf",
            "mimetype": "application/pdf",
        }))
        .await;
    let sent = alice.expect("sent", &["document"]).await;

    let got = loop {
        let ev = bob.expect("document", &["message"]).await;
        if ev["fromMe"] == false {
            break ev;
        }
    };
    assert_eq!(got["id"], sent["id"]);
    assert_eq!(got["chat"], "15550007777@s.whatsapp.net");
    assert_eq!(got["fileName"], "report 2024.pdf");
    assert_eq!(got["mimetype"], "application/pdf");
    assert_eq!(got["fileLength"], doc.len());
    let direct_path = got["directPath"].as_str().unwrap();
    assert!(direct_path.starts_with("/v/t62.7119-24/"), "{got}");
    let media_origin = format!("https://{}/", sim.media_host());
    assert_eq!(
        got["url"].as_str().unwrap(),
        format!("https://{}{direct_path}", sim.media_host())
    );

    // By the message's url (what downloadMediaMessage does in rc14).
    bob.command(serde_json::json!({"cmd": "download", "id": got["id"]}))
        .await;
    let down = bob.expect("downloaded", &["document", "message"]).await;
    assert_eq!(down["length"], doc.len());
    assert_eq!(down["sha256"], sha256.as_str());
    assert_eq!(
        STANDARD.decode(down["data"].as_str().unwrap()).unwrap(),
        doc
    );
    assert!(
        down["fetched"][0]
            .as_str()
            .unwrap()
            .starts_with(&media_origin),
        "{}",
        short(&down)
    );

    // By direct path on the default host, which the harness redirects.
    bob.command(serde_json::json!({"cmd": "download", "id": got["id"], "viaDefaultHost": true}))
        .await;
    let down = bob.expect("downloaded", &["document", "message"]).await;
    assert_eq!(down["sha256"], sha256.as_str());
    assert_eq!(
        down["fetched"][0],
        format!("https://mmg.whatsapp.net{direct_path}"),
        "{}",
        short(&down)
    );
}
