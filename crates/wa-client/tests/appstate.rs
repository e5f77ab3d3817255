//! App-state sync against wa-sim, over real sockets: the key arrives in a
//! real key share from the phone; patches encoded here (with that key) and
//! injected on the server arrive as typed events; another device's
//! archive/pin/mute/read arrive through `server_sync`; a patch with a wrong
//! value MAC or an unknown key is refused and the next good state is
//! recovered from a snapshot; a missing key is requested and the sync goes
//! on when the share comes; and after a restart from a file store only new
//! patches are fetched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wa_client::store::{AppStateKey, DeviceStore, Store};
use wa_client::{
    AppStateChange, Client, ClientEvent, ClientOptions, ConnectOptions, DeviceState, FileStore,
    MemoryStore, PairEvent, PairOptions, pair,
};
use wa_core::appstate::{Action, Collection, CollectionState, encode_patch};
use wa_core::jid::Jid;
use wa_sim::{Phone, PushOutcome, Sim};

const PN: &str = "15550004000";

async fn sim() -> Sim {
    Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap()
}

fn options(sim: &Sim) -> ClientOptions {
    ClientOptions {
        connect: ConnectOptions {
            url: sim.url().to_owned(),
            root_key: sim.root_public_key(),
            keepalive: None,
            iq_timeout: Duration::from_secs(10),
            ..ConnectOptions::default()
        },
        media_ca: Some(sim.media_ca_pem_path().to_owned()),
        ..ClientOptions::default()
    }
}

/// A fresh companion paired to `phone`'s account.
async fn paired(sim: &Sim, phone: &Phone) -> DeviceState {
    let mut state = DeviceState::new(&mut rand::rng());
    let opts = PairOptions {
        connect: options(sim).connect,
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
    state
}

struct Device {
    client: Client,
    events: mpsc::Receiver<ClientEvent>,
    store: Arc<dyn Store>,
}

async fn start(sim: &Sim, store: Arc<dyn Store>) -> Device {
    let (client, mut events) = Client::start(options(sim), store.clone()).await.unwrap();
    assert!(matches!(next(&mut events).await, ClientEvent::Connected));
    Device {
        client,
        events,
        store,
    }
}

async fn paired_device(sim: &Sim, phone: &Phone) -> Device {
    let store = Arc::new(MemoryStore::new());
    store.save(&paired(sim, phone).await).await.unwrap();
    start(sim, store).await
}

async fn next(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event in time")
        .expect("client running")
}

/// The next app-state event (other events are skipped).
async fn changes(events: &mut mpsc::Receiver<ClientEvent>) -> Vec<AppStateChange> {
    loop {
        match next(events).await {
            ClientEvent::AppState(c) => return c,
            ClientEvent::AppStateInvalid { collection, reason } => {
                panic!("{collection} refused: {reason}")
            }
            _ => {}
        }
    }
}

/// The stored version of `collection`, if synced.
async fn version(store: &dyn Store, collection: Collection) -> Option<u64> {
    let bytes = store.app_state(collection.name()).await.unwrap()?;
    Some(CollectionState::from_bytes(&bytes).unwrap().version)
}

/// Waits until the phone's key share arrived and the first sync of all
/// five collections is stored; returns the key.
async fn synced(store: &dyn Store) -> AppStateKey {
    for _ in 0..200 {
        if let Some(key) = store.latest_app_state_key().await.unwrap() {
            let mut all = true;
            for c in Collection::ALL {
                all &= version(store, c).await.is_some();
            }
            if all {
                return key;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no key share / first sync in time");
}

/// Another device of the account, as far as the server is concerned:
/// encodes patches here and injects them as device 0.
struct Remote<'a> {
    sim: &'a Sim,
    states: std::collections::HashMap<Collection, CollectionState>,
    timestamp: i64,
}

impl Remote<'_> {
    fn new(sim: &Sim) -> Remote<'_> {
        Remote {
            sim,
            states: Default::default(),
            timestamp: 1_700_000_000_000,
        }
    }

    /// Pushes `action` under `key`, spoiled by `tamper`; returns the
    /// version it got.
    fn push_with(
        &mut self,
        key_id: &[u8],
        key_data: &[u8; 32],
        action: &Action,
        tamper: bool,
    ) -> u64 {
        self.timestamp += 1000;
        let (collection, mutation) = action.to_new_mutation(self.timestamp).unwrap();
        let state = self.states.entry(collection).or_default();
        let (mut patch, next) = encode_patch(
            collection,
            state,
            key_id,
            key_data,
            &[mutation],
            &mut rand::rng(),
        );
        if tamper {
            let blob = patch.mutations[0]
                .record
                .as_mut()
                .and_then(|r| r.value.as_mut())
                .and_then(|v| v.blob.as_mut())
                .unwrap();
            *blob.last_mut().unwrap() ^= 1;
        }
        let outcome = self.sim.push_app_state_patch(
            PN,
            0,
            collection.name(),
            state.version,
            patch.encode_to_vec(),
        );
        assert_eq!(outcome, PushOutcome::Stored(next.version));
        *state = next;
        state.version
    }

    fn push(&mut self, key: &AppStateKey, action: &Action) -> u64 {
        self.push_with(&key.id, &key.data, action, false)
    }
}

fn chat(n: &str) -> Jid {
    format!("{n}@s.whatsapp.net").parse().unwrap()
}

fn actions(changes: &[AppStateChange]) -> Vec<Action> {
    changes.iter().map(|c| c.action.clone()).collect()
}

#[tokio::test]
async fn injected_patches_are_typed_events_and_bad_ones_are_refused_then_recovered() {
    let sim = sim().await;
    let phone = sim.account(PN);
    let mut a = paired_device(&sim, &phone).await;
    phone.send_history(a.client.jid().device()).await.unwrap();
    let key = synced(&*a.store).await;
    let mut remote = Remote::new(&sim);
    let (x, y) = (chat("15550004001"), chat("15550004002"));

    // Good patches: typed events, in order, not from a full sync.
    let archive = Action::Archive {
        chat: x.clone(),
        archived: true,
    };
    assert_eq!(remote.push(&key, &archive), 1);
    let got = changes(&mut a.events).await;
    assert_eq!(actions(&got), std::slice::from_ref(&archive));
    assert_eq!(
        (got[0].collection, got[0].version, got[0].full_sync),
        (Collection::RegularLow, 1, false)
    );
    assert_eq!(got[0].timestamp_ms, Some(remote.timestamp));
    let mute = Action::Mute {
        chat: y.clone(),
        muted: true,
        until_ms: Some(1_800_000_000_000),
    };
    remote.push(&key, &mute);
    assert_eq!(actions(&changes(&mut a.events).await), [mute]);
    let star = Action::Star {
        chat: x.clone(),
        message_id: "3EB0AA".to_owned(),
        from_me: true,
        participant: None,
        starred: true,
    };
    remote.push(&key, &star);
    assert_eq!(actions(&changes(&mut a.events).await), [star]);
    assert_eq!(version(&*a.store, Collection::RegularHigh).await, Some(2));

    // A wrong value MAC: refused (the snapshot holds the same record and
    // fails too), nothing applied.
    let pin = Action::Pin {
        chat: x.clone(),
        pinned: true,
    };
    remote.push_with(&key.id, &key.data, &pin, true);
    loop {
        match next(&mut a.events).await {
            ClientEvent::AppStateInvalid { collection, .. } => {
                assert_eq!(collection, Collection::RegularLow);
                break;
            }
            ClientEvent::AppState(c) => panic!("unverified state reported: {c:?}"),
            _ => {}
        }
    }
    assert_eq!(version(&*a.store, Collection::RegularLow).await, Some(1));
    // The next good patch of that record verifies on the state before the
    // bad one: the bad one is passed over, only the good one applies.
    assert_eq!(remote.push(&key, &pin), 3);
    let got = changes(&mut a.events).await;
    assert!(
        got.iter().all(|c| !c.full_sync && c.version == 3),
        "{got:?}"
    );
    assert_eq!(actions(&got), [pin]);
    assert_eq!(version(&*a.store, Collection::RegularLow).await, Some(3));

    // A key nobody shared: asked of the phone, nothing applied. (Only
    // that key can recover this: its record's index MAC is made with it,
    // so no patch under another key replaces the record. The next test
    // has the share arrive.)
    let received = phone.received().len();
    let unknown = [0, 0, 0, 0, 0x7f, 0x7f];
    let unmute = Action::Mute {
        chat: y,
        muted: false,
        until_ms: None,
    };
    remote.push_with(&unknown, &[9; 32], &unmute, false);
    let asked = phone
        .wait_received(received + 1, Duration::from_secs(10))
        .await;
    let request = asked.last().unwrap();
    assert_eq!(request.from.device(), a.client.jid().device());
    assert_eq!(request.text, None);
    assert_eq!(version(&*a.store, Collection::RegularHigh).await, Some(2));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), changes(&mut a.events))
            .await
            .is_err(),
        "nothing reported"
    );
}

#[tokio::test]
async fn a_missing_key_is_requested_and_the_sync_goes_on_when_the_share_comes() {
    let sim = sim().await;
    let phone = sim.account(PN);
    let a = paired_device(&sim, &phone).await;
    phone.send_history(a.client.jid().device()).await.unwrap();
    let key = synced(&*a.store).await;
    // A second companion the phone has not shared keys with yet.
    let mut b = paired_device(&sim, &phone).await;
    assert!(b.store.latest_app_state_key().await.unwrap().is_none());

    let received = phone.received().len();
    let archive = Action::Archive {
        chat: chat("15550004003"),
        archived: true,
    };
    Remote::new(&sim).push(&key, &archive);
    let asked = phone
        .wait_received(received + 1, Duration::from_secs(10))
        .await;
    assert_eq!(asked.last().unwrap().from.device(), b.client.jid().device());
    assert_eq!(version(&*b.store, Collection::RegularLow).await, None);

    phone.send_history(b.client.jid().device()).await.unwrap();
    let got = changes(&mut b.events).await;
    assert_eq!(actions(&got), [archive]);
    assert_eq!(version(&*b.store, Collection::RegularLow).await, Some(1));
}

#[tokio::test]
async fn another_device_archives_pins_mutes_and_marks_read_and_we_see_it() {
    let sim = sim().await;
    let phone = sim.account(PN);
    let mut a = paired_device(&sim, &phone).await;
    let mut b = paired_device(&sim, &phone).await;
    for d in [&a, &b] {
        phone.send_history(d.client.jid().device()).await.unwrap();
        synced(&*d.store).await;
    }
    let x = chat("15550004005");
    a.client.archive_chat(&x, true).await.unwrap();
    a.client.pin_chat(&x, true).await.unwrap();
    a.client
        .mute_chat(&x, true, Some(1_900_000_000_000))
        .await
        .unwrap();
    a.client.mark_chat_read(&x, true).await.unwrap();
    assert_eq!(sim.app_state_version(PN, "regular_low"), 3);
    assert_eq!(sim.app_state_version(PN, "regular_high"), 1);

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let got = changes(&mut b.events).await;
        assert!(got.iter().all(|c| !c.full_sync), "{got:?}");
        seen.extend(actions(&got));
    }
    for want in [
        Action::Archive {
            chat: x.clone(),
            archived: true,
        },
        Action::Pin {
            chat: x.clone(),
            pinned: true,
        },
        Action::Mute {
            chat: x.clone(),
            muted: true,
            until_ms: Some(1_900_000_000_000),
        },
        Action::MarkRead {
            chat: x.clone(),
            read: true,
        },
    ] {
        assert!(seen.contains(&want), "{want:?} not in {seen:?}");
    }
    // B pushes on top of what it synced; A sees that.
    b.client.archive_chat(&x, false).await.unwrap();
    let got = changes(&mut a.events).await;
    assert_eq!(
        actions(&got),
        [Action::Archive {
            chat: x,
            archived: false
        }]
    );
    assert_eq!(version(&*a.store, Collection::RegularLow).await, Some(4));
}

/// The phone sets the account's push name in app state: the client keeps
/// it, sends it with its presence at once and at every login, and the
/// server names our messages with it (before, contacts saw the number).
#[tokio::test]
async fn the_push_name_from_app_state_names_our_messages() {
    let sim = sim().await;
    let phone = sim.account(PN);
    let bob = sim.account("15550004099");
    let mut a = paired_device(&sim, &phone).await;
    phone.send_history(a.client.jid().device()).await.unwrap();
    synced(&*a.store).await;
    let bob_jid = Jid::user_jid("15550004099");
    let sent = a.client.send_text(&bob_jid, "before").await.unwrap();
    let got = bob.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, sent.id);
    assert_eq!(
        got[0].push_name.as_deref(),
        Some(PN),
        "no name yet: the number"
    );

    phone.set_push_name("Dora Example").await.unwrap();
    let got = changes(&mut a.events).await;
    assert_eq!(
        actions(&got),
        [Action::PushName {
            name: "Dora Example".into()
        }]
    );
    let state = a.store.load().await.unwrap().unwrap();
    assert_eq!(state.push_name.as_deref(), Some("Dora Example"));
    let sent = a.client.send_text(&bob_jid, "after").await.unwrap();
    let got = bob.wait_received(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].id, sent.id);
    assert_eq!(got[1].push_name.as_deref(), Some("Dora Example"));

    // A restart sends it again with the first presence, from the store.
    sim.forget_push_names();
    a.client.stop();
    tokio::time::timeout(Duration::from_secs(5), a.client.stopped())
        .await
        .expect("the client stops");
    let a = start(&sim, a.store.clone()).await;
    let sent = a.client.send_text(&bob_jid, "again").await.unwrap();
    let got = bob.wait_received(3, Duration::from_secs(10)).await;
    assert_eq!(got[2].id, sent.id);
    assert_eq!(got[2].push_name.as_deref(), Some("Dora Example"));
}

/// A store path in the temp folder, removed on drop.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        for suffix in ["", ".tmp", ".lock"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[tokio::test]
async fn after_a_restart_from_the_file_store_only_new_patches_are_fetched() {
    let sim = sim().await;
    let phone = sim.account(PN);
    let path = TempPath(std::env::temp_dir().join(format!(
        "wa-client-appstate-{}-{}.json",
        std::process::id(),
        rand::random::<u32>()
    )));
    let store = Arc::new(FileStore::open(&path.0).unwrap());
    store.save(&paired(&sim, &phone).await).await.unwrap();
    let mut a = start(&sim, store).await;
    phone.send_history(a.client.jid().device()).await.unwrap();
    let key = synced(&*a.store).await;
    let mut remote = Remote::new(&sim);
    for n in ["15550004011", "15550004012"] {
        remote.push(
            &key,
            &Action::Archive {
                chat: chat(n),
                archived: true,
            },
        );
        changes(&mut a.events).await;
    }
    a.client.stop();
    drop(a);

    let newer = Action::Pin {
        chat: chat("15550004013"),
        pinned: true,
    };
    assert_eq!(remote.push(&key, &newer), 3);
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(s) = FileStore::open(&path.0) {
            reopened = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = Arc::new(reopened.expect("the old client let go of the store"));
    assert_eq!(version(&*store, Collection::RegularLow).await, Some(2));
    let mut a = start(&sim, store).await;
    let got = changes(&mut a.events).await;
    assert_eq!(
        got,
        [AppStateChange {
            collection: Collection::RegularLow,
            version: 3,
            action: newer,
            timestamp_ms: Some(remote.timestamp),
            full_sync: false,
        }]
    );
    assert_eq!(version(&*a.store, Collection::RegularLow).await, Some(3));
}
