//! Media transfer against wa-sim's HTTPS media host: `media_conn`, upload
//! and download of encrypted blobs, each integrity check failing as named,
//! and history-sync chunks inline and downloaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use wa_client::store::{DeviceStore, Store};
use wa_client::{
    Client, ClientEvent, ClientOptions, ConnectOptions, DeviceState, MediaError, MediaKind,
    MemoryStore, PairEvent, PairOptions, pair,
};
use wa_core::history;
use wa_core::media::MediaError as Check;
use wa_core::proto::history_sync::HistorySyncType;
use wa_core::proto::message::HistorySyncNotification;
use wa_core::proto::{Conversation, HistorySync};
use wa_sim::Sim;

fn connect_options(sim: &Sim) -> ConnectOptions {
    ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        iq_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

/// A sim, and a client paired to a fresh account on it and online, trusting
/// the sim's media CA (or not).
async fn online(trust_media_ca: bool) -> (Sim, Client) {
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account("15557770000");
    let mut state = DeviceState::new(&mut rand::rng());
    let opts = PairOptions {
        connect: connect_options(&sim),
        ..PairOptions::default()
    };
    let mut pairing = pair(&opts, &mut state).await.unwrap();
    let PairEvent::Qr(qr) = pairing.next().await.unwrap() else {
        panic!("expected a QR code");
    };
    let scan = tokio::spawn(async move { phone.scan(&qr).await });
    let paired = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match pairing.next().await.unwrap() {
                PairEvent::Qr(_) => {}
                other => break other,
            }
        }
    })
    .await
    .unwrap();
    scan.await.unwrap().unwrap();
    assert!(matches!(paired, PairEvent::Paired { .. }), "{paired:?}");
    drop(pairing);
    let store = Arc::new(MemoryStore::new());
    store.save(&state).await.unwrap();
    let opts = ClientOptions {
        connect: connect_options(&sim),
        media_ca: trust_media_ca.then(|| sim.media_ca_pem_path().to_owned()),
        ..ClientOptions::default()
    };
    let store: Arc<dyn Store> = store;
    let (client, mut events) = Client::start(opts, store).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap();
    assert!(matches!(first, Some(ClientEvent::Connected)), "{first:?}");
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    (sim, client)
}

fn picture() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn an_upload_downloads_back_identical() {
    let (sim, client) = online(true).await;
    let mc = client.media_conn().await.unwrap();
    assert_eq!(mc.hosts(), [sim.media_host().to_owned()]);
    assert_eq!(client.media_conn().await.unwrap(), mc, "cached");

    let plain = picture();
    let up = client.upload(MediaKind::Image, &plain).await.unwrap();
    assert!(up.direct_path.starts_with("/v/t62.7118-24/"), "{up:?}");
    assert_eq!(
        up.url,
        format!("https://{}{}", sim.media_host(), up.direct_path)
    );
    assert_eq!(up.file_length, plain.len() as u64);
    let got = client
        .download(
            MediaKind::Image,
            &up.direct_path,
            &up.media_key,
            Some(&up.file_sha256),
            Some(&up.file_enc_sha256),
        )
        .await
        .unwrap();
    assert_eq!(got, plain);

    // With a limit: a file of exactly the limit comes, one byte over it
    // stops (a sender may lie about the size in the message).
    let paths = (up.direct_path.as_str(), up.media_key.as_slice());
    let hashes = (
        Some(up.file_sha256.as_slice()),
        Some(up.file_enc_sha256.as_slice()),
    );
    let exact = plain.len() as u64;
    let got = client
        .download_at_most(MediaKind::Image, paths, hashes, exact)
        .await
        .unwrap();
    assert_eq!(got, plain);
    let over = client
        .download_at_most(MediaKind::Image, paths, hashes, exact - 100)
        .await;
    assert!(
        matches!(over, Err(wa_client::MediaError::TooLarge { limit }) if limit < exact + 26),
        "{over:?}"
    );

    // Every kind wa-sim's host takes (not yet `thumbnail-link`).
    for kind in [
        MediaKind::Sticker,
        MediaKind::Video,
        MediaKind::Ptt,
        MediaKind::Document,
        MediaKind::History,
        MediaKind::AppState,
    ] {
        let up = client.upload(kind, b"small").await.unwrap();
        let got = client
            .download(kind, &up.direct_path, &up.media_key, None, None)
            .await
            .unwrap();
        assert_eq!(got, b"small", "{kind:?}");
    }
}

#[tokio::test]
async fn each_check_fails_as_named() {
    let (_sim, client) = online(true).await;
    let up = client
        .upload(MediaKind::Document, b"the quarterly report")
        .await
        .unwrap();
    let (sha, enc) = (Some(&up.file_sha256[..]), Some(&up.file_enc_sha256[..]));

    let mut wrong_key = up.media_key;
    wrong_key[0] ^= 1;
    let r = client
        .download(MediaKind::Document, &up.direct_path, &wrong_key, sha, enc)
        .await;
    assert!(
        matches!(r, Err(MediaError::Decrypt(Check::MacMismatch))),
        "{r:?}"
    );

    let mut tampered = up.file_enc_sha256;
    tampered[31] ^= 1;
    let r = client
        .download(
            MediaKind::Document,
            &up.direct_path,
            &up.media_key,
            sha,
            Some(&tampered),
        )
        .await;
    assert!(
        matches!(r, Err(MediaError::Decrypt(Check::EncHashMismatch))),
        "{r:?}"
    );

    let r = client
        .download(
            MediaKind::Document,
            &up.direct_path,
            &up.media_key,
            Some(&[0; 32]),
            enc,
        )
        .await;
    assert!(
        matches!(r, Err(MediaError::Decrypt(Check::HashMismatch))),
        "{r:?}"
    );

    let unknown = "/v/t62.7119-24/1_2_3_n.enc?ccb=11-4";
    let r = client
        .download(MediaKind::Document, unknown, &up.media_key, sha, enc)
        .await;
    assert!(
        matches!(r, Err(MediaError::Status { status: 404 })),
        "{r:?}"
    );
}

#[tokio::test]
async fn the_media_host_is_untrusted_without_its_ca() {
    let (_sim, client) = online(false).await;
    let r = client.upload(MediaKind::Image, b"x").await;
    match r {
        Err(MediaError::Transport(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn history_chunks_inline_and_downloaded() {
    let (_sim, client) = online(true).await;
    let chunk = HistorySync {
        sync_type: Some(HistorySyncType::Recent as i32),
        conversations: vec![Conversation {
            id: Some("15550001111@s.whatsapp.net".into()),
            unread_count: Some(3),
            ..Default::default()
        }],
        progress: Some(40),
        ..Default::default()
    };
    let compressed = history::encode_blob(&chunk);

    let inline = HistorySyncNotification {
        initial_hist_bootstrap_inline_payload: Some(compressed.clone()),
        ..Default::default()
    };
    assert_eq!(client.history_sync(&inline).await.unwrap(), chunk);

    let up = client
        .upload(MediaKind::History, &compressed)
        .await
        .unwrap();
    let mut notification = HistorySyncNotification {
        file_sha256: Some(up.file_sha256.to_vec()),
        file_length: Some(up.file_length),
        media_key: Some(up.media_key.to_vec()),
        file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
        direct_path: Some(up.direct_path.clone()),
        ..Default::default()
    };
    assert_eq!(client.history_sync(&notification).await.unwrap(), chunk);

    notification.media_key = None;
    let r = client.history_sync(&notification).await;
    assert!(matches!(r, Err(MediaError::History(_))), "{r:?}");
}
