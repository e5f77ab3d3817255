//! App state and history against an independent implementation: Baileys
//! rc14 links as a second companion of the same account as our client, on
//! one wa-sim whose scripted phone hands every companion the app-state key
//! share and a history bundle (inline bootstrap, RECENT blobs, push names).
//!
//! - Both companions get the same key and report the same chats with the
//!   same message counts from the history.
//! - Baileys archives, pins, mutes and marks read with its own app-state
//!   code; our client verifies its patches (no failed check, no snapshot
//!   fallback: every change arrives as a patch) and reports exactly these
//!   changes.
//! - Our client does the same to other chats; Baileys, with patch-MAC and
//!   LTHash verification on, reports them as `chats.update` and logs no
//!   failed check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../wa-sim/tests/support/baileys.rs"]
#[allow(dead_code)]
mod baileys;
#[path = "support/peer.rs"]
mod peer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use peer::Peer;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wa_client::store::DeviceStore;
use wa_client::{
    AppStateChange, Client, ClientEvent, ClientOptions, ConnectOptions, DeviceState, HistoryNotice,
    MemoryStore, PairEvent, PairOptions, Store, pair,
};
use wa_core::appstate::{Action, Collection, CollectionState};
use wa_core::jid::Jid;
use wa_sim::{HistoryScript, Phone, ScriptChat, ScriptMessage, Sender, Sim};

const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
const PN: &str = "15557780001";
/// The account's contacts, chats of the history.
const ANN: &str = "15557780002";
const BEN: &str = "15557780003";
const CAT: &str = "15557780004";
const DAN: &str = "15557780005";
const EVE: &str = "15557780006";
const FAY: &str = "15557780007";
const GUS: &str = "15557780008";

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

/// Pairs our companion to `phone`'s account and starts the client on it.
async fn our_client(sim: &Sim, phone: &Phone) -> (Client, Arc<dyn Store>, Events) {
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
    let paired = tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match pairing.next().await.unwrap() {
                PairEvent::Qr(_) => {}
                paired => break paired,
            }
        }
    })
    .await
    .expect("our companion paired in time");
    scan.await.unwrap().expect("the phone links our companion");
    assert!(matches!(paired, PairEvent::Paired { .. }), "{paired:?}");
    drop(pairing);
    let store = Arc::new(MemoryStore::new());
    store.save(&state).await.unwrap();
    let store: Arc<dyn Store> = store;
    let (client, rx) = Client::start(options(sim), store.clone()).await.unwrap();
    let mut events = Events {
        rx,
        backlog: Vec::new(),
    };
    events
        .wait("Connected", |e| {
            matches!(e, ClientEvent::Connected).then_some(())
        })
        .await;
    (client, store, events)
}

/// Our client's events, with the ones no wait took kept for later waits.
struct Events {
    rx: mpsc::Receiver<ClientEvent>,
    backlog: Vec<ClientEvent>,
}

impl Events {
    async fn wait<T>(&mut self, what: &str, want: impl Fn(&ClientEvent) -> Option<T>) -> T {
        if let Some((i, t)) = self
            .backlog
            .iter()
            .enumerate()
            .find_map(|(i, e)| want(e).map(|t| (i, t)))
        {
            self.backlog.remove(i);
            return t;
        }
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let event = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => e,
                Ok(None) => panic!("our client stopped while we waited for {what}"),
                Err(_) => panic!(
                    "our client: no {what} within {EVENT_TIMEOUT:?}; other events: {:#?}",
                    self.backlog
                ),
            };
            if let ClientEvent::AppStateInvalid { collection, reason } = &event {
                panic!("our client refused {collection} while waiting for {what}: {reason}");
            }
            if let Some(t) = want(&event) {
                return t;
            }
            self.backlog.push(event);
        }
    }

    /// App-state changes until `n` are in, in the order they came.
    async fn app_state(&mut self, n: usize) -> Vec<AppStateChange> {
        let mut got = Vec::new();
        while got.len() < n {
            let more = self
                .wait(
                    &format!("app-state changes ({} of {n} so far)", got.len()),
                    |e| match e {
                        ClientEvent::AppState(c) => Some(c.clone()),
                        _ => None,
                    },
                )
                .await;
            got.extend(more);
        }
        got
    }
}

/// The history the phone hands each companion: seven 1:1 chats and a
/// group, some archived, pinned, muted or unread; two chats ride inline,
/// the rest in RECENT blobs of two chats each, then the push names.
fn script(group: &Jid) -> HistoryScript {
    let msg = |id: &str, who: Sender, text: &str, t: u64| ScriptMessage::new(id, who, text, t);
    let them = |pn: &str| Sender::Pn(pn.to_owned());
    let t = 1_700_000_000;
    HistoryScript::new()
        .bootstrap_chats(2)
        .chats_per_chunk(2)
        .chat(
            ScriptChat::direct(ANN)
                .name("Ann")
                .message(msg("A1", them(ANN), "hi", t))
                .message(msg("A2", Sender::Me, "hello ann", t + 60))
                .message(msg("A3", them(ANN), "how are you?", t + 120))
                .unread(1),
        )
        .chat(
            ScriptChat::direct(BEN)
                .name("Ben")
                .message(msg("B1", them(BEN), "old news", t - 86_400))
                .message(msg("B2", Sender::Me, "indeed", t - 86_000))
                .archived(),
        )
        .chat(
            ScriptChat::direct(CAT)
                .name("Cat")
                .message(msg("C1", Sender::Me, "lunch?", t + 300))
                .message(msg("C2", them(CAT), "sure", t + 360))
                .message(msg("C3", Sender::Me, "12:30", t + 420))
                .message(msg("C4", them(CAT), "ok", t + 480))
                .pinned(),
        )
        .chat(
            ScriptChat::direct(DAN)
                .name("Dan")
                .message(msg("D1", them(DAN), "buy now!", t + 30))
                .muted_until(1_900_000_000_000),
        )
        .chat(
            ScriptChat::direct(EVE)
                .name("Eve")
                .message(msg("E1", them(EVE), "ping", t + 600))
                .message(msg("E2", Sender::Me, "pong", t + 660)),
        )
        .chat(
            ScriptChat::direct(FAY)
                .name("Fay")
                .message(msg("F1", Sender::Me, "see you", t - 3_600))
                .message(msg("F2", them(FAY), "bye", t - 3_500)),
        )
        .chat(ScriptChat::direct(GUS).name("Gus").message(msg(
            "H1",
            them(GUS),
            "new number",
            t - 7_200,
        )))
        .chat(
            ScriptChat::group(group)
                .name("Crew")
                .message(msg("G1", them(ANN), "meeting at 3", t + 700))
                .message(msg("G2", Sender::Me, "ok", t + 760))
                .message(msg("G3", them(BEN), "late", t + 820))
                .unread(2),
        )
        .push_name(ANN, "annie")
        .push_name(BEN, "benji")
}

/// Messages per chat of a script.
fn scripted_counts(script: &HistoryScript) -> BTreeMap<String, u64> {
    script
        .chats
        .iter()
        .map(|c| (c.jid.to_string(), c.messages.len() as u64))
        .collect()
}

/// Our client's history: every chunk announced (`chunks` of them),
/// downloaded and decoded with the client's API; messages per chat.
async fn our_history(
    client: &Client,
    events: &mut Events,
    chunks: usize,
) -> (BTreeMap<String, u64>, Vec<HistoryNotice>) {
    let mut counts = BTreeMap::new();
    let mut notices = Vec::new();
    for i in 0..chunks {
        let notice = events
            .wait(
                &format!("history chunk {} of {chunks}", i + 1),
                |e| match e {
                    ClientEvent::HistorySync(n) => Some((**n).clone()),
                    _ => None,
                },
            )
            .await;
        let sync = client
            .history_sync(&notice.notification)
            .await
            .unwrap_or_else(|e| panic!("our client could not read chunk {}: {e}", i + 1));
        for c in &sync.conversations {
            let id = c.id.clone().expect("a conversation id");
            *counts.entry(id).or_default() += c.messages.len() as u64;
        }
        notices.push(notice);
    }
    (counts, notices)
}

/// Baileys' history: `messaging-history.set` events until they hold
/// `chats` chats; messages per chat.
async fn baileys_history(peer: &mut Peer, chats: usize) -> BTreeMap<String, u64> {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    while seen.len() < chats {
        let ev = peer
            .event("history", |e| {
                e["chats"].as_array().is_some_and(|c| !c.is_empty())
            })
            .await;
        for chat in ev["chats"].as_array().unwrap() {
            let id = chat["id"].as_str().unwrap().to_owned();
            let n = ev["messages"][&id].as_u64().unwrap_or(0);
            *seen.entry(id).or_default() += n;
        }
    }
    seen
}

/// Waits until the first sync of all five collections is stored.
async fn synced(store: &dyn Store) {
    for _ in 0..400 {
        let mut all = store.latest_app_state_key().await.unwrap().is_some();
        for c in Collection::ALL {
            all &= store.app_state(c.name()).await.unwrap().is_some();
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("our client: no key share / first app-state sync in time");
}

async fn version(store: &dyn Store, c: Collection) -> u64 {
    let bytes = store.app_state(c.name()).await.unwrap().unwrap();
    CollectionState::from_bytes(&bytes).unwrap().version
}

#[tokio::test]
async fn baileys_and_our_client_share_app_state_and_history_as_companions_of_one_account() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(PN);
    for pn in [ANN, BEN, CAT, DAN, EVE, FAY, GUS] {
        sim.account(pn);
    }
    let group = sim
        .create_group(PN, "Crew", &[ANN.into(), BEN.into()])
        .unwrap();
    let script = script(&group);
    let expected = scripted_counts(&script);
    phone.set_history(script);
    // Inline bootstrap, three RECENT blobs (six chats, two a chunk), push
    // names.
    let chunks = 5;

    // (1) Both companions link; the phone hands each the key and history.
    let (client, store, mut events) = our_client(&sim, &phone).await;
    let ours_device = client.jid().device();
    let (ours, notices) = our_history(&client, &mut events, chunks).await;
    assert_eq!(ours, expected, "our client's history");
    synced(store.as_ref()).await;
    let key = store.latest_app_state_key().await.unwrap().unwrap();
    // Our first sync: the phone's app state for the script, as snapshots.
    let mut first: Vec<(Action, bool)> = events
        .app_state(10)
        .await
        .into_iter()
        .map(|c| (c.action, c.full_sync))
        .collect();
    first.sort_by_key(|(a, _)| format!("{a:?}"));
    let contact = |pn: &str, name: &str| Action::Contact {
        jid: Jid::user_jid(pn),
        full_name: Some(name.to_owned()),
        first_name: Some(name.to_owned()),
    };
    let mut want_first: Vec<(Action, bool)> = [
        contact(ANN, "Ann"),
        contact(BEN, "Ben"),
        contact(CAT, "Cat"),
        contact(DAN, "Dan"),
        contact(EVE, "Eve"),
        contact(FAY, "Fay"),
        contact(GUS, "Gus"),
        Action::Archive {
            chat: Jid::user_jid(BEN),
            archived: true,
        },
        Action::Pin {
            chat: Jid::user_jid(CAT),
            pinned: true,
        },
        Action::Mute {
            chat: Jid::user_jid(DAN),
            muted: true,
            until_ms: Some(1_900_000_000_000),
        },
    ]
    .into_iter()
    .map(|a| (a, true))
    .collect();
    want_first.sort_by_key(|(a, _)| format!("{a:?}"));
    assert_eq!(first, want_first, "our client's first sync");

    let mut peer = Peer::start_with(&dir, &sim, &["--history"]);
    let open = peer.link(&phone).await;
    let baileys_jid = open["me"]["id"].as_str().unwrap().to_owned();
    assert_ne!(baileys_jid, client.jid().to_string());
    let baileys_device: u16 = baileys_jid
        .split_once(':')
        .and_then(|(_, rest)| rest.split('@').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("Baileys is a companion: {baileys_jid}"));
    let theirs = baileys_history(&mut peer, expected.len()).await;
    assert_eq!(theirs, expected, "Baileys' history");
    assert_eq!(theirs, ours, "the same history in both");

    // The key share reached Baileys: the same key our client got.
    let share = peer.event("app-state-key", |_| true).await;
    assert_eq!(share["idHex"], hex::encode(&key.id), "{share}");

    // Both acknowledged every chunk the phone sent them.
    for device in [ours_device, baileys_device] {
        let mut sent: Vec<String> = phone
            .history_sent()
            .into_iter()
            .filter(|h| h.device == device)
            .map(|h| h.id)
            .collect();
        assert_eq!(sent.len(), chunks, "chunks sent to device {device}");
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        let mut acked: Vec<String> = loop {
            let acked: Vec<String> = phone
                .peer_receipts()
                .into_iter()
                .filter(|r| r.device == device && r.kind == "hist_sync")
                .map(|r| r.id)
                .collect();
            if acked.len() >= chunks || tokio::time::Instant::now() > deadline {
                break acked;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        sent.sort();
        acked.sort();
        acked.dedup();
        assert_eq!(acked, sent, "hist_sync receipts of device {device}");
    }
    assert_eq!(
        notices.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        phone
            .history_sent()
            .into_iter()
            .filter(|h| h.device == ours_device)
            .map(|h| h.id)
            .collect::<Vec<_>>()
    );

    // (2) Baileys' own app-state patches, verified and reported by ours.
    let (low, high) = (
        version(store.as_ref(), Collection::RegularLow).await,
        version(store.as_ref(), Collection::RegularHigh).await,
    );
    let eve = Jid::user_jid(EVE);
    let fay = Jid::user_jid(FAY);
    let ann = Jid::user_jid(ANN);
    let mute_until: i64 = 1_950_000_000_000;
    peer.chat_modify(
        &eve.to_string(),
        serde_json::json!({"archive": true, "lastMessages": []}),
    )
    .await;
    peer.chat_modify(&fay.to_string(), serde_json::json!({"pin": true}))
        .await;
    peer.chat_modify(&group.to_string(), serde_json::json!({"mute": mute_until}))
        .await;
    peer.chat_modify(
        &ann.to_string(),
        serde_json::json!({"markRead": true, "lastMessages": []}),
    )
    .await;
    let got = events.app_state(4).await;
    let actions: Vec<(Collection, u64, Action, bool)> = got
        .iter()
        .map(|c| (c.collection, c.version, c.action.clone(), c.full_sync))
        .collect();
    assert_eq!(
        actions,
        [
            (
                Collection::RegularLow,
                low + 1,
                Action::Archive {
                    chat: eve.clone(),
                    archived: true
                },
                false
            ),
            (
                Collection::RegularLow,
                low + 2,
                Action::Pin {
                    chat: fay.clone(),
                    pinned: true
                },
                false
            ),
            (
                Collection::RegularHigh,
                high + 1,
                Action::Mute {
                    chat: group.clone(),
                    muted: true,
                    until_ms: Some(mute_until)
                },
                false
            ),
            (
                Collection::RegularLow,
                low + 3,
                Action::MarkRead {
                    chat: ann.clone(),
                    read: true
                },
                false
            ),
        ],
        "exactly Baileys' changes, each from a verified patch"
    );
    assert!(
        got.iter().all(|c| c.timestamp_ms.is_some_and(|t| t > 0)),
        "{got:?}"
    );
    // Nothing else (a refusal would have failed the waits above).
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(e) = events.rx.try_recv() {
        events.backlog.push(e);
    }
    let extra: Vec<&ClientEvent> = events
        .backlog
        .iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::AppState(_) | ClientEvent::AppStateInvalid { .. }
            )
        })
        .collect();
    assert!(extra.is_empty(), "more than Baileys' changes: {extra:?}");

    // Baileys reports its own changes too (after they went out).
    let own: BTreeMap<String, Vec<&str>> = [
        (eve.to_string(), vec!["archived"]),
        (fay.to_string(), vec!["pinned"]),
        (group.to_string(), vec!["muteEndTime"]),
        (ann.to_string(), vec!["unreadCount"]),
    ]
    .into_iter()
    .collect();
    let echoes = peer.chat_updates(&own).await;
    assert_eq!(echoes[&eve.to_string()]["archived"], true, "{echoes:?}");
    assert!(
        echoes[&fay.to_string()]["pinned"]
            .as_i64()
            .is_some_and(|p| p > 0),
        "{echoes:?}"
    );
    assert_eq!(
        echoes[&group.to_string()]["muteEndTime"],
        mute_until,
        "{echoes:?}"
    );
    assert_eq!(echoes[&ann.to_string()]["unreadCount"], 0, "{echoes:?}");

    // (3) Ours, verified by Baileys and reported as chats.update.
    let (ben, cat, dan, gus) = (
        Jid::user_jid(BEN),
        Jid::user_jid(CAT),
        Jid::user_jid(DAN),
        Jid::user_jid(GUS),
    );
    let ours_until: i64 = 1_960_000_000_000;
    let before = wa_now_ms();
    client.archive_chat(&cat, true).await.unwrap();
    client.pin_chat(&dan, true).await.unwrap();
    client
        .mute_chat(&ben, true, Some(ours_until))
        .await
        .unwrap();
    client.mark_chat_read(&gus, false).await.unwrap();
    let after = wa_now_ms();
    let want: BTreeMap<String, Vec<&str>> = [
        (cat.to_string(), vec!["archived"]),
        (dan.to_string(), vec!["pinned"]),
        (ben.to_string(), vec!["muteEndTime"]),
        (gus.to_string(), vec!["unreadCount"]),
    ]
    .into_iter()
    .collect();
    let updates = peer.chat_updates(&want).await;
    assert_eq!(updates[&cat.to_string()]["archived"], true, "{updates:?}");
    let pinned = updates[&dan.to_string()]["pinned"].as_i64();
    assert!(
        pinned.is_some_and(|p| (before..=after).contains(&p)),
        "pinned at our mutation's time: {updates:?}"
    );
    assert_eq!(
        updates[&ben.to_string()]["muteEndTime"],
        ours_until,
        "{updates:?}"
    );
    assert_eq!(updates[&gus.to_string()]["unreadCount"], -1, "{updates:?}");
    // Only the chats we changed.
    let changed: Vec<&String> = updates.keys().collect();
    assert_eq!(
        changed,
        want.keys().collect::<Vec<_>>(),
        "Baileys updated other chats too: {updates:?}"
    );

    // Baileys logged no failed check at any point.
    assert_eq!(peer.take_all("app-state-problem"), Vec::<Value>::new());
    assert_eq!(peer.take_all("undecryptable"), Vec::<Value>::new());
}

fn wa_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The check above is live: with verification on, Baileys reports a phone
/// patch whose LTHash is wrong (it would take it silently without).
#[tokio::test]
async fn baileys_reports_a_patch_with_a_wrong_lthash() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(PN);
    sim.account(ANN);
    phone.set_history(
        HistoryScript::new().chat(
            ScriptChat::direct(ANN)
                .name("Ann")
                .message(ScriptMessage::new("A1", Sender::Me, "hi", 1_700_000_000)),
        ),
    );
    let mut peer = Peer::start_with(&dir, &sim, &["--history"]);
    peer.link(&phone).await;
    peer.event("history", |e| {
        e["chats"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(peer.take_all("app-state-problem"), Vec::<Value>::new());

    phone
        .corrupt_next_patch(wa_sim::PatchFault::WrongLtHash)
        .await
        .unwrap();
    let version = phone.archive_chat(&Jid::user_jid(ANN), true).await.unwrap();
    let problem = peer.event("app-state-problem", |_| true).await;
    assert_eq!(problem["name"], "regular_low", "{problem}");
    assert_eq!(problem["version"], version, "{problem}");
    assert!(
        problem["msg"]
            .as_str()
            .is_some_and(|m| m.contains("LTHash verification failed")),
        "{problem}"
    );
}
