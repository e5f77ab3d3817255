//! How long the backfill of a big history takes, and the bridge's memory
//! meanwhile: the real bridge binary (a child process) against a real
//! Synapse and an in-process wa-sim whose scripted phone hands the new
//! companion `CHATS` 1:1 chats of `MESSAGES` texts each (default 200 x 50,
//! half of them the user's own, double puppeting on).
//!
//! Prints the time from the "Logged in" notice to the end of the backfill
//! pass that covered every chat (the bridge's "backfill pass done" log
//! line), then checks through the client API that every room holds every
//! message, and prints the bridge's peak RSS (`VmHWM`, `/proc`, Linux).
//! No assertion on time: figures only.
//!
//! Run (needs the Synapse venv, `$WABRIDGE_SYNAPSE_VENV` or
//! `~/.cache/wabridge/synapse-venv`):
//!
//! ```text
//! cargo build --release -p wabridge
//! cargo run --release --example backfill_bench -- [CHATS] [MESSAGES]
//! ```
//!
//! `WABRIDGE_BIN` overrides the bridge binary's path; `WABRIDGE_KEEP_LOGS=1`
//! keeps the temp dir with the config and the bridge log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::bridge::tempdir;
use support::history::{free_port, setup, shown_messages};
use support::login::alice_logs_in;
use support::process::{BridgeProcess, tail};
use support::synapse::Synapse;
use tokio::net::TcpListener;
use wa_sim::{HistoryScript, Sim};

const ALICE_PN: &str = "15557793001";
const FIRST_PEER: u64 = 15_557_800_000;
const BACKFILL_TIMEOUT: Duration = Duration::from_secs(3600);

fn bridge_binary() -> PathBuf {
    let bin = match std::env::var_os("WABRIDGE_BIN") {
        Some(b) if !b.is_empty() => PathBuf::from(b),
        _ => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
            target.join("release/wabridge")
        }
    };
    assert!(
        bin.is_file(),
        "no bridge binary at {}: run `cargo build --release -p wabridge` first \
         (or set WABRIDGE_BIN)",
        bin.display()
    );
    bin
}

/// The first "backfill pass done" line of the log that covered `chats`
/// chats.
fn pass_done(log: &Path, chats: usize) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    // The bridge colours its log (fields as `\x1b[3mchats\x1b[0m=...`).
    let mut plain = String::with_capacity(text.len());
    let mut in_escape = false;
    for ch in text.chars() {
        match (in_escape, ch) {
            (false, '\x1b') => in_escape = true,
            (false, c) => plain.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    plain
        .lines()
        .find(|l| l.contains("backfill pass done") && l.contains(&format!("chats={chats} ")))
        .map(str::to_owned)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let chats: usize = args.next().map_or(200, |a| a.parse().expect("CHATS"));
    let messages: usize = args.next().map_or(50, |a| a.parse().expect("MESSAGES"));
    let binary = bridge_binary();

    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(ALICE_PN);
    phone.set_history(
        HistoryScript::synthetic(chats, messages, FIRST_PEER, 1_650_000_000)
            .bootstrap_chats(5)
            .chats_per_chunk(40),
    );
    let dir = tempdir("wabridge-backfill-bench");
    let db = format!("sqlite:{}", dir.join("bridge.db").display());
    let port = free_port();
    let max_chats = u32::try_from(chats).expect("CHATS fits u32");
    let mut setup = setup(&dir, &sim, port, &db, max_chats, true);
    let synapse = Synapse::start(&setup.registrations).await;
    setup.point_at(&synapse);
    let log = dir.join("bridge.log");
    let mut bridge = BridgeProcess::spawn(&binary, &setup.config_path, &log);
    let wait = Duration::from_secs(60);
    let (alice, _, _) = alice_logs_in(&synapse, &phone, ALICE_PN, wait).await;
    let logged_in = Instant::now();
    let rss_at_login = bridge.rss_kib();

    let line = loop {
        bridge.assert_running();
        if let Some(line) = pass_done(&log, chats) {
            break line;
        }
        assert!(
            logged_in.elapsed() < BACKFILL_TIMEOUT,
            "backfill not done in {BACKFILL_TIMEOUT:?}; log tail:\n{}",
            tail(&log, 20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = logged_in.elapsed();
    let peak = bridge.peak_rss_kib();
    let rss_end = bridge.rss_kib();

    // Every room, every message (through the client API, as the user).
    let rooms = support::history::portals(&alice).await;
    let mut shown = 0;
    for room in rooms.values() {
        shown += shown_messages(&alice, room).await.len();
    }
    bridge.assert_running();
    drop(bridge);

    let total = chats * messages;
    println!("backfill of {chats} chats x {messages} messages ({total} messages)");
    println!("  bridge: {}", binary.display());
    println!("  {line}");
    println!(
        "  logged in -> backfill done: {:.1} s ({:.0} messages/s)",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
    println!(
        "  bridge RSS: {} KiB at login, {} KiB at the end, peak (VmHWM) {} KiB",
        rss_at_login, rss_end, peak
    );
    println!(
        "  in Matrix: {} portal rooms, {shown} messages",
        rooms.len()
    );
    assert_eq!(rooms.len(), chats, "a room per chat");
    assert_eq!(shown, total, "every message once");
    if std::env::var("WABRIDGE_KEEP_LOGS").as_deref() == Ok("1") {
        println!("  logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
