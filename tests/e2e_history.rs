//! History backfill end to end: a real Synapse, wa-sim with a scripted
//! phone that hands the new companion its chat history, and the bridge.
//!
//! `history_backfill_on_*`: the bridge in this process, with double
//! puppeting. After the QR login the scripted chats become rooms with the
//! right names and members, their messages in order with the original
//! timestamps, the user's own messages sent as the user, archived / pinned
//! / muted chats tagged and muted, and a progress notice with the counts.
//! A truncated blob and one with a wrong file hash are refused (logged,
//! nothing of them applied) while the other chunks arrive; a later history
//! delivery fills in without duplicates. Once on SQLite, once on
//! PostgreSQL.
//!
//! `killed_mid_backfill_resumes_exactly_once`: the bridge binary as a child
//! process without double puppeting; SIGKILL while the backfill runs, start
//! again, and every scripted message is in Matrix exactly once, in order,
//! the user's own messages marked as sent from their phone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use support::bridge::{Bridge, tempdir};
use support::history::{
    BinaryRun, Shown, free_port, poll, portals, setup, shown_messages, sqlite_count,
    wait_backfill_notice,
};
use support::login::alice_logs_in;
use support::matrix::{MatrixUser, enc};
use support::postgres::{on_postgres, on_sqlite};
use support::process::tail;
use support::synapse::{self, Synapse};
use tokio::net::TcpListener;
use wa_sim::{HistoryFault, HistoryScript, ScriptChat, ScriptMessage, Sender, Sim};

const WAIT: Duration = Duration::from_secs(60);
/// A base time for the script (seconds): 2023-11-14.
const T: u64 = 1_700_000_000;

fn msg(id: &str, sender: Sender, text: &str, ts: u64) -> ScriptMessage {
    ScriptMessage::new(id, sender, text, ts)
}

/// One account's numbers in the scenario (each run its own, so the
/// SQLite and PostgreSQL runs can share nothing by accident).
struct People {
    alice: String,
    bob: String,
    carol: String,
    dave: String,
    erin: String,
    frank: String,
}

impl People {
    fn new(base: u64) -> People {
        let pn = |i: u64| (base + i).to_string();
        People {
            alice: pn(1),
            bob: pn(2),
            carol: pn(3),
            dave: pn(4),
            erin: pn(5),
            frank: pn(6),
        }
    }
}

/// The first history: newest first Team (inline), Bob (inline), Dave
/// (first RECENT blob: the one spoiled), Carol (second RECENT blob).
fn first_script(p: &People, team: &wa_core::jid::Jid) -> HistoryScript {
    let pn = |s: &String| Sender::Pn(s.clone());
    HistoryScript::new()
        .bootstrap_chats(2)
        .chats_per_chunk(1)
        .chat(
            ScriptChat::group(team)
                .name("Team")
                .message(msg("G1", pn(&p.carol), "standup?", T + 200))
                .message(msg("G2", Sender::Me, "in 5", T + 260))
                .message(msg("G3", pn(&p.erin), "ok, *bold* move", T + 320))
                .muted_until(4_000_000_000_000),
        )
        .chat(
            ScriptChat::direct(&p.bob)
                .name("Bob Builder")
                .message(msg("B1", pn(&p.bob), "hi alice", T))
                .message(msg("B2", Sender::Me, "hello bob", T + 60))
                .message(msg("B3", pn(&p.bob), "see you", T + 120))
                .unread(1)
                .pinned(),
        )
        .chat(
            ScriptChat::direct(&p.dave)
                .name("Dave")
                .message(msg("D1", pn(&p.dave), "lost at first", T - 50_000))
                .message(msg("D2", Sender::Me, "found later", T - 49_000)),
        )
        .chat(
            ScriptChat::direct(&p.carol)
                .name("Carol")
                .message(msg("C1", pn(&p.carol), "old news", T - 100_000))
                .archived(),
        )
        .push_name(p.erin.clone(), "Erin from work")
}

/// The later history: Bob's chat has two more messages (one in the same
/// second as the newest bridged one), Frank's chat is new, Erin has a new
/// push name. Newest first:
/// Frank, Bob (inline), Team (first RECENT blob: spoiled), Dave, Carol.
fn second_script(p: &People, team: &wa_core::jid::Jid) -> HistoryScript {
    let mut script =
        first_script(p, team).chat(ScriptChat::direct(&p.frank).name("Frank").message(msg(
            "F1",
            Sender::Pn(p.frank.clone()),
            "new here",
            T + 500,
        )));
    let bob = script
        .chats
        .iter_mut()
        .find(|c| c.name.as_deref() == Some("Bob Builder"))
        .unwrap();
    bob.messages
        .push(msg("B4", Sender::Pn(p.bob.clone()), "same second", T + 120));
    bob.messages.push(msg("B5", Sender::Me, "later", T + 400));
    // Erin changed her push name since.
    script.push_names = vec![(p.erin.clone(), "Erin (away)".to_owned())];
    script
}

fn shown(sender: &str, body: &str, ts: u64) -> Shown {
    Shown {
        sender: sender.to_owned(),
        msgtype: "m.text".to_owned(),
        body: body.to_owned(),
        ts: ts * 1000,
    }
}

fn ghost(pn: &str) -> String {
    format!("@whatsapp_{pn}:{}", synapse::SERVER_NAME)
}

async fn room_name(user: &MatrixUser, room: &str) -> String {
    let state = user.get_state(room, "m.room.name", "").await;
    state
        .and_then(|s| s["name"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn tags(user: &MatrixUser, room: &str) -> Vec<String> {
    let path = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/tags",
        enc(&user.user_id),
        enc(room)
    );
    let v = user.get(&path).await;
    let mut tags: Vec<String> = v["tags"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// The room's push rule (`Some(actions)`) or `None`.
async fn room_rule(user: &MatrixUser, room: &str) -> Option<serde_json::Value> {
    let path = format!("/_matrix/client/v3/pushrules/global/room/{}", enc(room));
    match user.try_request(Method::GET, &path, None).await {
        (StatusCode::NOT_FOUND, _) => None,
        (s, v) if s.is_success() => Some(v["actions"].clone()),
        (s, v) => panic!("GET {path}: {s}: {v}"),
    }
}

async fn display_name(user: &MatrixUser, who: &str) -> Option<String> {
    let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(who));
    match user.try_request(Method::GET, &path, None).await {
        (s, v) if s.is_success() => v["displayname"].as_str().map(str::to_owned),
        _ => None,
    }
}

/// The bridge's log line refusing chunk `id`, if there is one.
fn refusal(id: &str) -> Option<String> {
    support::log::text()
        .lines()
        .find(|l| l.contains("history chunk refused") && l.contains(&format!("chunk={id}")))
        .map(str::to_owned)
}

async fn scenario(db: &str, base: u64) {
    support::log::capture();
    let started = Instant::now();
    let p = People::new(base);
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(&p.alice);
    for pn in [&p.bob, &p.carol, &p.dave, &p.erin, &p.frank] {
        sim.account(pn);
    }
    let team = sim
        .create_group(
            &p.alice,
            "Team",
            &[p.bob.clone(), p.carol.clone(), p.erin.clone()],
        )
        .unwrap();
    phone.set_history(first_script(&p, &team));
    phone.corrupt_next_history_blob(HistoryFault::Truncated);

    let dir = tempdir("wabridge-e2e-history");
    let port = free_port();
    let mut setup = setup(&dir, &sim, port, db, 50, true);
    let synapse = Synapse::start(&setup.registrations).await;
    setup.point_at(&synapse);
    let bridge = Bridge::start(&setup.config, port).await;
    let (alice, bot, management) = alice_logs_in(&synapse, &phone, &p.alice, WAIT).await;

    // The backfill reports three chats: Dave's came in the truncated blob.
    let done = wait_backfill_notice(&alice, &management, WAIT, |t| t.contains("3 of 3")).await;
    assert_eq!(done, "History bridged: 3 of 3 chats, 7 messages.");
    let receipts = phone.wait_history_receipts(4, WAIT).await;
    let sent = phone.history_sent();
    assert_eq!(sent.len(), 4, "bootstrap, two RECENT blobs, push names");
    assert_eq!(
        receipts.len(),
        4,
        "every chunk acknowledged, the bad one too"
    );
    let line = refusal(&sent[1].id).expect("the truncated chunk's refusal is logged");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("inflate") || line.contains("zlib"), "{line}");

    let rooms = portals(&alice).await;
    let (bob_dm, carol_dm, team_room) = (
        rooms[&format!("{}@s.whatsapp.net", p.bob)].clone(),
        rooms[&format!("{}@s.whatsapp.net", p.carol)].clone(),
        rooms[&team.to_string()].clone(),
    );
    assert_eq!(rooms.len(), 3, "nothing of the truncated chunk: {rooms:?}");

    // Names and members.
    assert_eq!(room_name(&alice, &bob_dm).await, "Bob Builder");
    assert_eq!(room_name(&alice, &carol_dm).await, "Carol");
    assert_eq!(room_name(&alice, &team_room).await, "Team");
    let mut members = alice.joined_members(&team_room).await;
    members.sort();
    let mut want = vec![
        alice.user_id.clone(),
        bot.clone(),
        ghost(&p.bob),
        ghost(&p.carol),
        ghost(&p.erin),
    ];
    want.sort();
    assert_eq!(members, want);
    let mut members = alice.joined_members(&bob_dm).await;
    members.sort();
    let mut want = vec![alice.user_id.clone(), bot.clone(), ghost(&p.bob)];
    want.sort();
    assert_eq!(members, want);

    // Messages in order, original times, own ones as Alice herself.
    let me = alice.user_id.as_str();
    assert_eq!(
        shown_messages(&alice, &bob_dm).await,
        vec![
            shown(&ghost(&p.bob), "hi alice", T),
            shown(me, "hello bob", T + 60),
            shown(&ghost(&p.bob), "see you", T + 120),
        ]
    );
    assert_eq!(
        shown_messages(&alice, &team_room).await,
        vec![
            shown(&ghost(&p.carol), "standup?", T + 200),
            shown(me, "in 5", T + 260),
            shown(&ghost(&p.erin), "ok, *bold* move", T + 320),
        ]
    );
    assert_eq!(
        shown_messages(&alice, &carol_dm).await,
        vec![shown(&ghost(&p.carol), "old news", T - 100_000)]
    );

    // Chat settings as Alice's own room settings.
    assert_eq!(tags(&alice, &bob_dm).await, vec!["m.favourite"]);
    assert_eq!(tags(&alice, &carol_dm).await, vec!["m.lowpriority"]);
    assert_eq!(tags(&alice, &team_room).await, Vec::<String>::new());
    assert_eq!(
        room_rule(&alice, &team_room).await,
        Some(serde_json::json!([]))
    );
    assert_eq!(room_rule(&alice, &bob_dm).await, None);

    // A member known only by push name shows it.
    let erin = ghost(&p.erin);
    poll(WAIT, "Erin's ghost named by her push name", || async {
        (display_name(&alice, &erin).await.as_deref() == Some("Erin from work")).then_some(())
    })
    .await;

    // Later history: more of Bob's chat, Frank's new chat, Dave's chat
    // (whose first delivery was refused); Team's blob this time has a wrong
    // file hash.
    phone.set_history(second_script(&p, &team));
    phone.corrupt_next_history_blob(HistoryFault::WrongFileHash);
    let device = *phone
        .linked_devices()
        .first()
        .expect("the bridge is linked");
    phone.send_history(device).await.unwrap();
    let done = wait_backfill_notice(&alice, &management, WAIT, |t| t.contains("5 of 5")).await;
    assert_eq!(done, "History bridged: 5 of 5 chats, 5 messages.");
    let sent = phone.history_sent();
    assert_eq!(sent.len(), 9);
    let line = refusal(&sent[5].id).expect("the wrong hash's refusal is logged");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("does not match its fileSha256"), "{line}");

    let rooms = portals(&alice).await;
    assert_eq!(rooms.len(), 5, "{rooms:?}");
    assert_eq!(rooms[&format!("{}@s.whatsapp.net", p.bob)], bob_dm);
    let dave_dm = &rooms[&format!("{}@s.whatsapp.net", p.dave)];
    let frank_dm = &rooms[&format!("{}@s.whatsapp.net", p.frank)];
    assert_eq!(room_name(&alice, dave_dm).await, "Dave");
    assert_eq!(
        shown_messages(&alice, &bob_dm).await,
        vec![
            shown(&ghost(&p.bob), "hi alice", T),
            shown(me, "hello bob", T + 60),
            shown(&ghost(&p.bob), "see you", T + 120),
            shown(&ghost(&p.bob), "same second", T + 120),
            shown(me, "later", T + 400),
        ],
        "the later chunk fills in, nothing doubled"
    );
    assert_eq!(
        shown_messages(&alice, dave_dm).await,
        vec![
            shown(&ghost(&p.dave), "lost at first", T - 50_000),
            shown(me, "found later", T - 49_000),
        ]
    );
    assert_eq!(
        shown_messages(&alice, frank_dm).await,
        vec![shown(&ghost(&p.frank), "new here", T + 500)]
    );
    assert_eq!(shown_messages(&alice, &team_room).await.len(), 3);
    // Erin sent nothing new; her ghost still takes the new push name.
    poll(
        WAIT,
        "Erin's ghost renamed by her new push name",
        || async {
            (display_name(&alice, &erin).await.as_deref() == Some("Erin (away)")).then_some(())
        },
    )
    .await;
    assert_eq!(shown_messages(&alice, &carol_dm).await.len(), 1);

    assert!(
        !support::log::text().contains("panicked"),
        "nothing panicked"
    );
    bridge.stop().await;
    eprintln!(
        "e2e history on {} took {:?}",
        db.split(':').next().unwrap_or(db),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_backfill_on_sqlite() {
    on_sqlite("wabridge-e2e-history", |db| async move {
        scenario(&db, 15_557_790_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_backfill_on_postgres() {
    on_postgres("wabridge_e2e_history", |db| async move {
        scenario(&db, 15_557_790_100).await;
    })
    .await;
}

/// Rows in the bridge's message table (the SQLite file, read-only).
async fn bridged_count(db: &Path) -> i64 {
    sqlite_count(db, "SELECT COUNT(*) FROM messages").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_backfill_resumes_exactly_once() {
    if synapse::venv().is_none() {
        return;
    }
    const CHATS: usize = 15;
    const MESSAGES: usize = 20;
    const FIRST_PEER: u64 = 15_557_792_000;
    const START: u64 = 1_650_000_000;
    let alice_pn = "15557791001";
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(alice_pn);
    phone.set_history(
        HistoryScript::synthetic(CHATS, MESSAGES, FIRST_PEER, START)
            .bootstrap_chats(3)
            .chats_per_chunk(5),
    );
    let mut run =
        BinaryRun::prepare(&sim, "wabridge-e2e-kill", env!("CARGO_BIN_EXE_wabridge")).await;
    run.setup.point_at(&run.synapse);
    let mut bridge = run.spawn();
    let (alice, bot, management) = alice_logs_in(&run.synapse, &phone, alice_pn, WAIT).await;
    let db_path = &run.db_path;

    // Some, not all: kill it.
    let total = (CHATS * MESSAGES) as i64;
    let at_kill = poll(WAIT, "a third of the history bridged", || async {
        let n = bridged_count(db_path).await;
        (n >= total / 3).then_some(n)
    })
    .await;
    bridge.assert_running();
    bridge.kill9();
    let after_kill = bridged_count(db_path).await;
    assert!(
        after_kill < total,
        "killed mid-backfill ({at_kill}..{after_kill} of {total} bridged)"
    );
    eprintln!("killed with {after_kill} of {total} messages bridged");

    let mut bridge = run.spawn();
    let done = wait_backfill_notice(&alice, &management, WAIT, |t| {
        t.starts_with(&format!("History bridged: {CHATS} of {CHATS} chats"))
    })
    .await;
    eprintln!("after the restart: {done}");
    bridge.assert_running();

    let rooms = portals(&alice).await;
    assert_eq!(rooms.len(), CHATS);
    let bot_id = bot.as_str();
    let mut per_room: BTreeMap<usize, usize> = BTreeMap::new();
    for c in 0..CHATS {
        let peer = (FIRST_PEER + c as u64).to_string();
        let room = &rooms[&format!("{peer}@s.whatsapp.net")];
        let want: Vec<Shown> = (0..MESSAGES)
            .map(|m| {
                let text = format!("message {m} in chat {c}");
                let ts = (START + ((c * MESSAGES + m) as u64) * 60) * 1000;
                if m % 2 == 0 {
                    Shown {
                        sender: ghost(&peer),
                        msgtype: "m.text".into(),
                        body: text,
                        ts,
                    }
                } else {
                    // Without double puppeting: the bot, marked.
                    Shown {
                        sender: bot_id.to_owned(),
                        msgtype: "m.notice".into(),
                        body: format!("(sent from your phone) {text}"),
                        ts,
                    }
                }
            })
            .collect();
        let got = shown_messages(&alice, room).await;
        per_room.insert(c, got.len());
        assert_eq!(got, want, "chat {c}: every message once, in order");
    }
    assert_eq!(bridged_count(db_path).await, total);
    let text = std::fs::read_to_string(&run.log).unwrap();
    assert!(!text.contains("panicked"), "{}", tail(&run.log, 40));
    bridge.kill9();
}
