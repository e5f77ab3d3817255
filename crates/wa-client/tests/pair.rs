//! Pairing and login against the simulator: QR scan, 515, login with the
//! stored state, prekey upload, expiry of every ref, and unlinking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tokio::net::TcpListener;
use wa_client::store::{DeviceStore, PreKeyStore};
use wa_client::{
    AuthError, ConnectOptions, DeviceState, Event, LoginError, LoginOptions, MemoryStore,
    PairError, PairEvent, PairOptions, login, pair,
};
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

fn pair_options(sim: &Sim) -> PairOptions {
    PairOptions {
        connect: connect_options(sim),
        ..PairOptions::default()
    }
}

fn login_options(sim: &Sim) -> LoginOptions {
    LoginOptions {
        connect: connect_options(sim),
        ..LoginOptions::default()
    }
}

async fn next_qr(pairing: &mut wa_client::Pairing<'_>) -> String {
    match pairing.next().await.unwrap() {
        PairEvent::Qr(qr) => qr,
        other => panic!("expected a QR code, got {other:?}"),
    }
}

/// Pairs a fresh device by scanning its `nth` QR code (0-based); returns the
/// state, saved in a new memory store.
async fn paired(sim: &Sim, phone: &Phone, nth: usize) -> (DeviceState, MemoryStore) {
    let mut state = DeviceState::new(&mut rand::rng());
    let store = MemoryStore::new();
    let opts = PairOptions {
        // Rotate quickly when a later code is wanted; the sim allows 60 s.
        first_ref_ttl: if nth == 0 {
            Duration::from_secs(60)
        } else {
            Duration::from_millis(30)
        },
        later_ref_ttl: Duration::from_millis(300),
        ..pair_options(sim)
    };
    let mut pairing = pair(&opts, &mut state).await.unwrap();
    let mut qr = next_qr(&mut pairing).await;
    for _ in 0..nth {
        let next = next_qr(&mut pairing).await;
        assert_ne!(next, qr, "a new ref each time");
        qr = next;
    }
    let scan = {
        let phone = phone.clone();
        tokio::spawn(async move { phone.scan(&qr).await })
    };
    // Codes may keep rotating while the scan is under way.
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match pairing.next().await.unwrap() {
                PairEvent::Qr(_) => {}
                paired => break paired,
            }
        }
    })
    .await
    .expect("pairing ends in time");
    let scanned = scan.await.unwrap().unwrap();
    let PairEvent::Paired { jid, lid } = event else {
        panic!("expected Paired, got {event:?}");
    };
    assert_eq!(jid, scanned);
    assert_eq!(lid.unwrap().user(), phone.lid().unwrap().user());
    assert!(matches!(pairing.next().await, Err(PairError::Finished)));
    drop(pairing);
    assert_eq!(state.jid.as_ref(), Some(&jid));
    assert!(state.account.is_some());
    store.save(&state).await.unwrap();
    (state, store)
}

#[tokio::test]
async fn pair_login_upload_prekeys_then_log_in_again_from_the_store() {
    let sim = sim().await;
    sim.record_stanzas();
    let phone = sim.account("15552220000");
    let (mut state, store) = paired(&sim, &phone, 0).await;
    assert_eq!(
        state.jid.as_ref().unwrap().to_string(),
        "15552220000:1@s.whatsapp.net"
    );
    // After its answer to pair-success, the unified session (whatsmeow
    // and Baileys send it there too).
    let sent = sim.stanzas_sent("15552220000", 1);
    let answer = sent
        .iter()
        .position(|n| n.child("pair-device-sign").is_some())
        .expect("the pair-device-sign answer");
    let after: Vec<&str> = sent[answer + 1..]
        .iter()
        .filter_map(|n| n.child_nodes().first().map(|c| c.tag.as_ref()))
        .collect();
    assert_eq!(after, ["unified_session"], "{sent:#?}");

    let mut first = login(&login_options(&sim), &mut state, &store)
        .await
        .unwrap();
    assert_eq!(first.uploaded_prekeys, 812);
    assert_eq!(sim.prekey_count("15552220000", 1), 812);
    assert_eq!(store.prekey_count().await.unwrap(), 812);
    assert_eq!(state.next_prekey_id, 813);
    assert_eq!(
        state.lid.as_ref().map(ToString::to_string),
        first.success.attr_jid("lid").map(ToString::to_string)
    );
    // The new prekeys were saved before the upload.
    assert_eq!(store.load().await.unwrap().unwrap().next_prekey_id, 813);
    match first.events.recv().await.unwrap() {
        Event::Node(n) => assert_eq!(n.tag, "ib", "{n}"),
        Event::Disconnected(e) => panic!("{e}"),
    }
    first.conn.close();

    // A restart: a new connection from the stored state, no pairing.
    let mut restored = store.load().await.unwrap().unwrap();
    let second = login(&login_options(&sim), &mut restored, &store)
        .await
        .unwrap();
    assert_eq!(second.uploaded_prekeys, 0);
    assert_eq!(sim.prekey_count("15552220000", 1), 812);
    assert_eq!(restored.next_prekey_id, 813);
    second.conn.close();
}

#[tokio::test]
async fn a_later_qr_code_can_be_scanned() {
    let sim = sim().await;
    let phone = sim.account("15552220001");
    let (state, _store) = paired(&sim, &phone, 2).await;
    assert_eq!(state.jid.unwrap().device(), 1);
}

#[tokio::test]
async fn pairing_gives_up_when_every_ref_expired() {
    let sim = sim().await;
    let mut state = DeviceState::new(&mut rand::rng());
    let opts = PairOptions {
        first_ref_ttl: Duration::from_millis(30),
        later_ref_ttl: Duration::from_millis(10),
        ..pair_options(&sim)
    };
    let mut pairing = pair(&opts, &mut state).await.unwrap();
    let mut shown = Vec::new();
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(5), pairing.next())
            .await
            .expect("rotation keeps going")
        {
            Ok(PairEvent::Qr(qr)) => shown.push(qr),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(end, PairError::RefsExhausted), "{end:?}");
    let registered = sim.registrations();
    assert_eq!(shown.len(), registered[0].refs.len());
    for (qr, r) in shown.iter().zip(&registered[0].refs) {
        assert!(qr.starts_with(&format!("{r},")), "{qr}");
    }
    assert!(matches!(pairing.next().await, Err(PairError::Finished)));
    drop(pairing);
    assert!(!state.is_paired());
}

#[tokio::test]
async fn login_after_the_phone_removed_the_device_is_logged_out() {
    let sim = sim().await;
    let phone = sim.account("15552220002");
    let (mut state, store) = paired(&sim, &phone, 0).await;
    let mut live = login(&login_options(&sim), &mut state, &store)
        .await
        .unwrap();
    assert!(phone.remove_device(1).await);
    // The live connection ends with 401 ...
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(5), live.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Node(_) => {}
            Event::Disconnected(e) => break e,
        }
    };
    assert!(
        matches!(end, wa_client::Error::Auth(AuthError::LoggedOut)),
        "{end:?}"
    );
    // ... and so does the next login.
    let err = login(&login_options(&sim), &mut state, &store)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LoginError::Auth(AuthError::LoggedOut)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unpaired_state_cannot_log_in() {
    let sim = sim().await;
    let mut state = DeviceState::new(&mut rand::rng());
    let err = login(&login_options(&sim), &mut state, &MemoryStore::new())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::NotPaired), "{err:?}");
}
