//! Memory of the real bridge binary with N logged-in users idling against
//! wa-sim (the tracker's "RSS with 100 logged-in users idle").
//!
//! For each measured login count (1, then N, default 100) this starts from
//! scratch: fresh accounts on an in-process wa-sim (127.0.0.1), a fresh
//! companion device per account paired by its scripted phone, stored in a
//! fresh SQLite database exactly as the bridge's login flow stores it
//! (`ensure_user`, `save_login`, `client_store(login_id).save`). Then it runs
//! `target/release/wabridge -c <config>` as a child process against a real
//! Synapse (from the venv of `scripts/synapse install`), waits for the
//! bridge log's "login restored" lines (one per login), lets it idle, and
//! reads `VmRSS`, `VmHWM` and `Threads` from `/proc/<pid>/status`.
//!
//! Run (Linux only; needs the Synapse venv, `$WABRIDGE_SYNAPSE_VENV` or
//! `~/.cache/wabridge/synapse-venv`):
//!
//! ```text
//! cargo build --release -p wabridge
//! cargo run --release --example idle_logins -- [N] [IDLE_SECS]
//! ```
//!
//! `WABRIDGE_BIN` overrides the bridge binary's path; `WABRIDGE_KEEP_LOGS=1`
//! keeps the temp dir with configs and bridge logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::synapse::{self, Synapse};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wa_client::{ConnectOptions, DeviceState, PairEvent, PairOptions, pair};
use wa_sim::Sim;
use wabridge::config::{Config, Registration, generate_token};
use wabridge::store::{Database, Login, now_ms};

/// Pairings run at once.
const PAIR_PARALLEL: usize = 16;
/// How long the bridge may take to restore every login.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(180);

/// What `/proc/<pid>/status` says about the bridge.
#[derive(Debug, Clone, Copy)]
struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    fds: usize,
}

fn read_mem(pid: u32) -> Mem {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e} (Linux only)"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    Mem {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        fds,
    }
}

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

fn base_config(sim: &Sim, port: u16, db: &Path) -> Config {
    let yaml = format!(
        r#"
homeserver:
    address: http://127.0.0.1:1
    domain: {domain}
appservice:
    address: http://127.0.0.1:{port}
    hostname: 127.0.0.1
    port: {port}
    id: whatsapp
    bot:
        username: whatsappbot
        displayname: WhatsApp bridge bot
    as_token: {as_token}
    hs_token: {hs_token}
    username_template: whatsapp_{{{{.}}}}
database:
    type: sqlite
    uri: "sqlite:{db}"
bridge:
    command_prefix: "!wa"
    permissions:
        "{domain}": user
network:
    url: {url}
    root_key: {root}
    device_name: wabridge-idle
logging:
    level: info
"#,
        domain = synapse::SERVER_NAME,
        as_token = generate_token(),
        hs_token = generate_token(),
        db = db.display(),
        url = sim.url(),
        root = hex::encode(sim.root_public_key()),
    );
    yaml.parse::<Config>().expect("config is valid")
}

/// Pairs a fresh companion device for the account `pn` and stores it in
/// `db` as the bridge's `login` command does.
async fn pair_and_store(sim: Arc<Sim>, db: Database, pn: String, mxid: ruma::OwnedUserId) {
    let phone = sim.account(&pn);
    let mut state = DeviceState::new(&mut rand::rng());
    let options = PairOptions {
        connect: ConnectOptions {
            url: sim.url().to_owned(),
            root_key: sim.root_public_key(),
            ..ConnectOptions::default()
        },
        ..PairOptions::default()
    };
    let mut pairing = pair(&options, &mut state)
        .await
        .unwrap_or_else(|e| panic!("pair {pn}: {e}"));
    let PairEvent::Qr(qr) = pairing.next().await.expect("first pair event") else {
        panic!("{pn}: expected a QR code first");
    };
    let scan = tokio::spawn(async move { phone.scan(&qr).await });
    let jid = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match pairing.next().await {
                Ok(PairEvent::Qr(_)) => {}
                Ok(PairEvent::Paired { jid, .. }) => break jid,
                Err(e) => panic!("pairing {pn}: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("pairing {pn} timed out"));
    scan.await
        .expect("scan task")
        .unwrap_or_else(|e| panic!("scan {pn}: {e:?}"));
    drop(pairing);

    let bytes: [u8; 8] = rand::random();
    let login = Login {
        login_id: hex::encode(bytes),
        mxid: mxid.clone(),
        phone: Some(jid.user().to_owned()),
        jid: Some(jid.to_string()),
        created_at: now_ms(),
    };
    db.ensure_user(&mxid).await.expect("ensure_user");
    db.save_login(&login).await.expect("save_login");
    db.client_store(&login.login_id)
        .save(&state)
        .await
        .expect("client_store.save");
}

/// A fresh SQLite database at `path` holding `n` paired logins (accounts
/// `pn_base + i`).
async fn prepare_db(sim: &Arc<Sim>, path: &Path, n: usize, pn_base: u64) {
    let db = Database::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("create the bridge database");
    let began = Instant::now();
    let gate = Arc::new(Semaphore::new(PAIR_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let pn = (pn_base + i as u64).to_string();
        let mxid = ruma::OwnedUserId::try_from(format!("@idle{i}:{}", synapse::SERVER_NAME))
            .expect("a valid user id");
        let (sim, db) = (sim.clone(), db.clone());
        tasks.spawn(async move {
            pair_and_store(sim, db, pn, mxid).await;
            drop(permit);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("pairing task");
    }
    let stored = db.logins().await.expect("list logins");
    assert_eq!(stored.len(), n, "logins stored");
    db.close().await;
    eprintln!("paired and stored {n} logins in {:.2?}", began.elapsed());
}

fn count_in(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.matches(needle).count())
        .unwrap_or(0)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Stops the bridge with SIGINT (its Ctrl-C shutdown), killing it if it
/// does not exit in time.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("bridge did not stop on SIGINT; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

/// One measurement: `n` logins restored by the real bridge, then `idle`.
async fn measure(
    sim: &Arc<Sim>,
    synapse: &Synapse,
    config: &Config,
    dir: &Path,
    n: usize,
    pn_base: u64,
    idle: Duration,
) -> (Mem, Duration) {
    let db_path = dir.join(format!("bridge-{n}.db"));
    prepare_db(sim, &db_path, n, pn_base).await;

    let mut config = config.clone();
    config.homeserver.address = synapse.base_url().to_owned();
    config.database.uri = format!("sqlite:{}", db_path.display());
    let config_path = dir.join(format!("config-{n}.yaml"));
    std::fs::write(&config_path, config.to_yaml().expect("config yaml")).expect("write config");
    let log_path = dir.join(format!("bridge-{n}.log"));
    let log = std::fs::File::create(&log_path).expect("create bridge log");

    let began = Instant::now();
    let mut child = Command::new(bridge_binary())
        .arg("-c")
        .arg(&config_path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log fd"))
        .stderr(log)
        .spawn()
        .expect("spawn the bridge");
    let pid = child.id();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "bridge exited ({status}); log {}:\n{}",
                log_path.display(),
                tail(&log_path, 40)
            );
        }
        let restored = count_in(&log_path, "login restored");
        let failed = count_in(&log_path, "could not restore")
            + count_in(&log_path, "unlinked while the bridge was away");
        if failed > 0 {
            stop(&mut child);
            panic!(
                "{failed} logins failed to restore:\n{}",
                tail(&log_path, 40)
            );
        }
        if restored >= n {
            break;
        }
        if began.elapsed() > RESTORE_TIMEOUT {
            stop(&mut child);
            panic!(
                "only {restored}/{n} logins restored in {RESTORE_TIMEOUT:?}:\n{}",
                tail(&log_path, 40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restore_time = began.elapsed();
    let at_restore = read_mem(pid);
    eprintln!(
        "{n} logins restored in {restore_time:.2?} (RSS then {} KiB); idling {idle:?}",
        at_restore.rss_kib
    );
    tokio::time::sleep(idle).await;
    let mem = read_mem(pid);
    stop(&mut child);
    (mem, restore_time)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("N: a number of logins"))
        .unwrap_or(100);
    let idle = Duration::from_secs(
        args.next()
            .map(|a| a.parse().expect("IDLE_SECS: a number"))
            .unwrap_or(10),
    );
    assert!(n >= 2, "N must be at least 2 (1 is the baseline)");
    let bin = bridge_binary();

    let sim = Arc::new(
        Sim::start(TcpListener::bind("127.0.0.1:0").await.expect("bind sim"))
            .await
            .expect("start wa-sim"),
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port();
    let dir = std::env::temp_dir().join(format!("wabridge-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = base_config(&sim, port, &dir.join("unused.db"));
    let registration = Registration::new(&config, config.appservice.bot.username.clone());
    let reg_path = dir.join("registration.yaml");
    std::fs::write(
        &reg_path,
        registration.to_yaml().expect("registration yaml"),
    )
    .expect("write registration");
    let synapse = Synapse::start(&[reg_path]).await;

    // Distinct accounts for each run: every run pairs fresh devices.
    let (one, t1) = measure(&sim, &synapse, &config, &dir, 1, 15_550_000_000, idle).await;
    let (many, tn) = measure(&sim, &synapse, &config, &dir, n, 15_560_000_000, idle).await;

    println!("bridge: {}", bin.display());
    println!(
        "{:>7} {:>11} {:>11} {:>8} {:>5} {:>10}",
        "logins", "VmRSS MiB", "VmHWM MiB", "threads", "fds", "restore"
    );
    for (k, m, t) in [(1, one, t1), (n, many, tn)] {
        println!(
            "{k:>7} {:>11.1} {:>11.1} {:>8} {:>5} {:>10.2?}",
            mib(m.rss_kib),
            mib(m.hwm_kib),
            m.threads,
            m.fds,
            t
        );
    }
    let per_login = (many.rss_kib as f64 - one.rss_kib as f64) / (n - 1) as f64;
    let per_login_hwm = (many.hwm_kib as f64 - one.hwm_kib as f64) / (n - 1) as f64;
    println!(
        "per login: {per_login:.0} KiB RSS, {per_login_hwm:.0} KiB HWM \
         ((value_{n} - value_1) / {})",
        n - 1
    );

    drop(synapse);
    if std::env::var_os("WABRIDGE_KEEP_LOGS").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
