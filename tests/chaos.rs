//! The chaos suite (issue 18): the real bridge binary, a real Synapse and
//! wa-sim, with messages both ways while faults hit, round after round:
//! the bridge killed with SIGKILL, the WhatsApp socket cut (and logins
//! refused, or answered late, for a while), the homeserver frozen
//! (SIGSTOP, then SIGCONT), the SQLite database held locked by another
//! process, or (the second test, on PostgreSQL) the database server
//! stopped and started again. After
//! each round every message must have arrived exactly once and in order in
//! its chat; the counts are printed, and the test fails on any.
//!
//! `CHAOS_ROUNDS` (default 3, the CI size), `CHAOS_SEED` (default: from
//! the clock) and `CHAOS_MAX_FAULT_MS` (default 4000) choose the run; the
//! seed is printed so a run can be repeated. `CHAOS_OUTAGE_MS` makes the
//! first round a homeserver outage of that length (e.g. 60000).
//! `scripts/chaos N` runs N rounds.
//!
//! What counts as one arrival: on WhatsApp, messages with the same id are
//! one message (clients keep one per id: a resend after a crash reuses the
//! id on purpose); in Matrix, one event per message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use support::history::BinaryRun;
use support::login::alice_logs_in;
use support::matrix::{MatrixUser, body};
use wa_sim::Phone;

const WAIT: Duration = Duration::from_secs(60);
/// How long a round may take to deliver everything after its faults.
const SETTLE: Duration = Duration::from_secs(180);
const ALICE_PN: &str = "15557830001";
const BOB_PN: &str = "15557830002";
/// Messages each way per round.
const PER_ROUND: usize = 6;

/// SplitMix64: a small seeded generator, so a printed seed replays a run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL the bridge, start it again after a while.
    Kill,
    /// Cut the bridge's WhatsApp socket and refuse its logins for a while.
    Cut,
    /// Cut the bridge's WhatsApp socket and answer its logins only after a
    /// while: a slow service rather than a refusing one.
    Slow,
    /// Freeze the homeserver (SIGSTOP) for a while.
    Freeze,
    /// Hold the bridge's SQLite database locked (an exclusive transaction
    /// of another process) for a while: its writes wait, busy.
    Lock,
    /// Stop the bridge's PostgreSQL server, start it again after a while.
    Restart,
}

/// Which database the bridge runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

/// A PostgreSQL cluster of the test's own (so it can be restarted),
/// through `scripts/postgres`; stopped and removed on drop.
struct Cluster(std::path::PathBuf);

impl Cluster {
    fn script(cmd: &str, dir: &std::path::Path) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres");
        let out = std::process::Command::new(script)
            .arg(cmd)
            .arg(dir)
            .output()
            .expect("scripts/postgres runs");
        assert!(
            out.status.success(),
            "scripts/postgres {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts a new cluster; returns it and its URL.
    fn start() -> (Cluster, String) {
        let dir = support::bridge::tempdir("wabridge-chaos-pg");
        let url = Self::script("start", &dir);
        (Cluster(dir), url)
    }

    fn stop(&self) {
        Self::script("stop", &self.0);
    }

    /// Starts it again, on the same port.
    fn resume(&self, url: &str) {
        let again = Self::script("start", &self.0);
        assert_eq!(again, url, "the cluster came back on its port");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(&self.0)
            .output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one round's checks found.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    lost: usize,
    duplicated: usize,
    reordered: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }
}

/// Compares what arrived (in arrival order) with `expected` (in sending
/// order): lost ones, extra copies, and arrivals earlier than a message
/// sent before them.
fn tally(expected: &[String], arrived: &[String]) -> Tally {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in arrived {
        *counts.entry(a.as_str()).or_default() += 1;
    }
    let lost = expected
        .iter()
        .filter(|e| !counts.contains_key(e.as_str()))
        .count();
    let duplicated = counts.values().map(|n| n - 1).sum();
    let mut seen = HashSet::new();
    let order: Vec<usize> = arrived
        .iter()
        .filter(|a| seen.insert(a.as_str()))
        .filter_map(|a| expected.iter().position(|e| e == a))
        .collect();
    let reordered = order.windows(2).filter(|w| w[1] < w[0]).count();
    Tally {
        lost,
        duplicated,
        reordered,
    }
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{sig} {pid}");
}

/// Alice's messages as Bob's phone has them: one per message id, in the
/// order they came, those of this round.
fn at_bob(bob: &Phone, prefix: &str) -> Vec<String> {
    let mut ids = HashSet::new();
    bob.received()
        .into_iter()
        .filter(|r| ids.insert(r.id.clone()))
        .filter_map(|r| r.text)
        .filter(|t| t.starts_with(prefix))
        .collect()
}

/// Bob's messages as Alice's room shows them, those of this round.
async fn at_alice(alice: &MatrixUser, room: &str, prefix: &str) -> Vec<String> {
    alice
        .room_messages(room)
        .await
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| body(e).to_owned())
        .filter(|b| b.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_kills_cuts_and_a_frozen_homeserver() {
    chaos(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_postgresql_restart_too() {
    chaos(Db::Postgres).await;
}

async fn chaos(db: Db) {
    if support::synapse::venv().is_none() {
        return;
    }
    let rounds: usize = std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    // How long a fault may last (a kill's downtime, a cut's refused
    // logins, a freeze); `CHAOS_MAX_FAULT_MS=60000` gives minute-long ones.
    let max_fault_ms: u64 = std::env::var("CHAOS_MAX_FAULT_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let outage: Option<Duration> = std::env::var("CHAOS_OUTAGE_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_millis);
    eprintln!("chaos ({db:?}): {rounds} rounds, seed {seed} (CHAOS_SEED={seed} repeats it)");
    let mut dice = Dice(seed);

    let sim = support::bridge::start_sim().await;
    let alice_phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let cluster = (db == Db::Postgres).then(|| tokio::task::block_in_place(Cluster::start));
    let mut run = BinaryRun::prepare_on(
        &sim,
        "wabridge-chaos",
        env!("CARGO_BIN_EXE_wabridge"),
        cluster.as_ref().map(|(_, url)| url.as_str()),
    )
    .await;
    run.setup.point_at(&run.synapse);
    let mut bridge = Some(run.spawn());
    let (alice, _, _) = alice_logs_in(&run.synapse, &alice_phone, ALICE_PN, WAIT).await;
    let alice = std::sync::Arc::new(alice);
    let device = alice_phone.linked_devices()[0];

    bob.send_text(ALICE_PN, "hello").await.unwrap();
    let dm = alice.wait_for_invite(WAIT).await;
    alice.accept_invite(&dm).await;
    alice
        .sync_until(WAIT, |room, e| room == dm && body(e) == "hello")
        .await;

    let mut total = Tally::default();
    for round in 0..rounds {
        let mut fault = match (dice.below(5), db) {
            (0, _) => Fault::Kill,
            (1, _) => Fault::Cut,
            (2, _) => Fault::Freeze,
            (3, _) => Fault::Slow,
            (_, Db::Sqlite) => Fault::Lock,
            (_, Db::Postgres) => Fault::Restart,
        };
        let (a_prefix, b_prefix) = (format!("a{round}-"), format!("b{round}-"));
        let a_expected: Vec<String> = (0..PER_ROUND).map(|i| format!("{a_prefix}{i}")).collect();
        let b_expected: Vec<String> = (0..PER_ROUND).map(|i| format!("{b_prefix}{i}")).collect();
        let gaps: Vec<(Duration, Duration)> = (0..PER_ROUND)
            .map(|_| (dice.millis(400), dice.millis(400)))
            .collect();
        let fault_at = dice.millis(1500);
        let mut fault_for = dice.millis(max_fault_ms);
        if let (0, Some(outage)) = (round, outage) {
            (fault, fault_for) = (Fault::Freeze, outage);
        }

        let sending_a = {
            let (alice, dm, texts, gaps) =
                (alice.clone(), dm.clone(), a_expected.clone(), gaps.clone());
            tokio::spawn(async move {
                for (text, (gap, _)) in texts.iter().zip(gaps) {
                    alice.send_text(&dm, text).await;
                    tokio::time::sleep(gap).await;
                }
            })
        };
        let sending_b = {
            let (bob, texts) = (bob.clone(), b_expected.clone());
            tokio::spawn(async move {
                for (text, (_, gap)) in texts.iter().zip(gaps) {
                    bob.send_text(ALICE_PN, text).await.unwrap();
                    tokio::time::sleep(gap).await;
                }
            })
        };

        tokio::time::sleep(fault_at).await;
        match fault {
            Fault::Kill => {
                bridge.take().expect("running").kill9();
                tokio::time::sleep(fault_for).await;
                bridge = Some(run.spawn());
            }
            Fault::Cut => {
                sim.refuse_logins(ALICE_PN, device, fault_for);
                sim.cut(ALICE_PN, device);
            }
            Fault::Slow => {
                sim.hold_logins(ALICE_PN, device, fault_for);
                sim.cut(ALICE_PN, device);
            }
            Fault::Freeze => {
                signal(run.synapse.pid(), "STOP");
                tokio::time::sleep(fault_for).await;
                signal(run.synapse.pid(), "CONT");
            }
            Fault::Lock => {
                use sqlx::Connection as _;
                let url = format!("sqlite:{}", run.db_path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                tokio::time::sleep(fault_for).await;
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Fault::Restart => {
                let (cluster, url) = cluster.as_ref().expect("on PostgreSQL");
                tokio::task::block_in_place(|| cluster.stop());
                tokio::time::sleep(fault_for).await;
                tokio::task::block_in_place(|| cluster.resume(url));
            }
        }
        sending_a.await.unwrap();
        sending_b.await.unwrap();

        // Everything arrives, or the round's deadline passes.
        let deadline = Instant::now() + SETTLE;
        let (a_got, b_got) = loop {
            let a_got = at_bob(&bob, &a_prefix);
            let b_got = at_alice(&alice, &dm, &b_prefix).await;
            let all = a_expected.iter().all(|t| a_got.contains(t))
                && b_expected.iter().all(|t| b_got.contains(t));
            if all || Instant::now() > deadline {
                break (a_got, b_got);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut round_tally = tally(&a_expected, &a_got);
        round_tally.add(tally(&b_expected, &b_got));
        eprintln!(
            "chaos round {round}: {fault:?} at {fault_at:?} for {fault_for:?}: lost {}, \
             duplicated {}, reordered {}",
            round_tally.lost, round_tally.duplicated, round_tally.reordered
        );
        if round_tally.lost + round_tally.duplicated + round_tally.reordered > 0 {
            eprintln!("  Matrix -> WhatsApp: {a_got:?}\n  WhatsApp -> Matrix: {b_got:?}");
        }
        total.add(round_tally);
        if let Some(b) = bridge.as_mut() {
            b.assert_running();
        }
    }
    println!(
        "chaos ({db:?}): {rounds} rounds, seed {seed}: {} lost, {} duplicated, {} reordered",
        total.lost, total.duplicated, total.reordered
    );
    if let Some(b) = bridge.take() {
        b.kill9();
    }
    assert_eq!(
        (total.lost, total.duplicated, total.reordered),
        (0, 0, 0),
        "seed {seed}; the bridge's log: {}",
        run.log.display()
    );
}

#[test]
fn the_tally_counts_what_it_says() {
    let want: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
    let got = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let t = tally(&want, &got(&["a", "b", "c"]));
    assert_eq!((t.lost, t.duplicated, t.reordered), (0, 0, 0));
    let t = tally(&want, &got(&["a", "c", "c"]));
    assert_eq!((t.lost, t.duplicated, t.reordered), (1, 1, 0));
    let t = tally(&want, &got(&["b", "a", "c"]));
    assert_eq!((t.lost, t.duplicated, t.reordered), (0, 0, 1));
}
