//! First send to a large group through wa-sim: ours against Baileys rc14, in
//! the same run and against the same simulator.
//!
//! The group has 1,001 members: the sender's account and 1,000 populated
//! accounts of 3 devices each (phone + 2 companions), none with a session
//! yet, so a first send does a usync of 1,000 users, fetches 3,000 prekey
//! bundles and runs X3DH 3,000 times before it encrypts the sender key
//! distribution to every device. Each client links as a companion of the
//! sender's account. Baileys is timed from calling `sendMessage` to the
//! server's `<ack>`; a second send (sessions and device lists cached) is
//! timed too.
//!
//! `cargo bench -p wa-client --bench group_send` (skipped when node or
//! `scripts/baileys/node_modules` is missing). Sizes can be changed with
//! `GROUP_SEND_ACCOUNTS` and `GROUP_SEND_COMPANIONS`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use wa_core::jid::Jid;
use wa_sim::{Phone, Sim};

/// The sender's account.
const SENDER: &str = "15550000000";
/// The first populated account.
const FIRST_MEMBER: u64 = 15_551_000_000;
/// How long one Baileys step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> anyhow::Result<()> {
    let Some(dir) = baileys_dir() else {
        println!("group_send: node or scripts/baileys/node_modules missing; skipped");
        return Ok(());
    };
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs us
    // without it, as a smoke test of a small group whose figure means nothing.
    let bench = std::env::args().any(|a| a == "--bench");
    let accounts = env_number("GROUP_SEND_ACCOUNTS", if bench { 1000 } else { 10 })?;
    let companions = u16::try_from(env_number("GROUP_SEND_COMPANIONS", 2)?)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(&dir, accounts, companions))
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

async fn run(dir: &Path, accounts: usize, companions: u16) -> anyhow::Result<()> {
    let sim = Sim::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let phone = sim.account(SENDER);

    let started = Instant::now();
    let members = sim.populate(FIRST_MEMBER, accounts, companions);
    let populate = started.elapsed();
    let devices = members.len() * (usize::from(companions) + 1);
    println!(
        "populate: {accounts} accounts x {} devices in {} ms",
        companions + 1,
        populate.as_millis()
    );
    let group = sim
        .create_group(SENDER, "group send bench", &members)
        .ok_or_else(|| anyhow!("sender account missing"))?;

    let ours = ours(&sim, &group, SENDER).await;
    if let Some(d) = ours {
        println!(
            "ours first group send: {} ms ({devices} devices)",
            d.as_millis()
        );
    }

    let mut baileys = Baileys::start(dir, &sim)?;
    baileys.link(&phone).await?;
    let first = baileys.timed_send(&group, "first").await?;
    println!(
        "baileys first group send: {} ms ({devices} devices; sendMessage resolved after {} ms)",
        first.ack.as_millis(),
        first.send.as_millis()
    );
    let pairwise = sim
        .routed()
        .iter()
        .filter(|r| r.enc_type == "pkmsg" && r.from.user() == SENDER && r.from.device() != 0)
        .count();
    println!("baileys encrypted the sender key to {pairwise} devices");
    // The sender's scripted phone is a member device too: it must read it.
    let read = phone
        .wait_received(1, Duration::from_secs(10))
        .await
        .iter()
        .any(|r| r.text.as_deref() == Some("first"));
    if !read {
        bail!("the sender's phone did not decrypt Baileys' group message");
    }
    let second = baileys.timed_send(&group, "second").await?;
    println!(
        "baileys second group send: {} ms (sendMessage resolved after {} ms)",
        second.ack.as_millis(),
        second.send.as_millis()
    );
    if let Some(ours) = ours {
        let ratio = first.ack.as_secs_f64() / ours.as_secs_f64().max(1e-9);
        println!("ratio baileys/ours (first send): {ratio:.1}x");
    }
    baileys.quit().await;
    Ok(())
}

/// Our client's first send: a companion of `sender_pn` is paired and logged
/// in, then one text goes to `group`; the time runs from the call until
/// the server's ack (group metadata, usync of every member, bundle fetches,
/// X3DH and sender-key distribution included). A second send follows.
async fn ours(sim: &Sim, group: &Jid, sender_pn: &str) -> Option<Duration> {
    match ours_inner(sim, group, sender_pn).await {
        Ok(d) => Some(d),
        Err(e) => {
            println!("ours: failed: {e:#}");
            None
        }
    }
}

async fn ours_inner(sim: &Sim, group: &Jid, sender_pn: &str) -> anyhow::Result<Duration> {
    use std::sync::Arc;
    use wa_client::store::DeviceStore as _;
    use wa_client::{
        Client, ClientOptions, ConnectOptions, DeviceState, MemoryStore, PairEvent, PairOptions,
    };
    let connect = ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        iq_timeout: Duration::from_secs(60),
        ..ConnectOptions::default()
    };
    let mut state = DeviceState::new(&mut rand::rng());
    let mut pairing = wa_client::pair(
        &PairOptions {
            connect: connect.clone(),
            ..PairOptions::default()
        },
        &mut state,
    )
    .await?;
    let PairEvent::Qr(qr) = pairing.next().await? else {
        bail!("expected a QR code");
    };
    let phone = sim.account(sender_pn);
    let scan = tokio::spawn(async move { phone.scan(&qr).await });
    while let PairEvent::Qr(_) = pairing.next().await? {}
    scan.await??;
    drop(pairing);
    let store = Arc::new(MemoryStore::new());
    store.save(&state).await?;
    let (client, mut events) = Client::start(
        ClientOptions {
            connect,
            ..ClientOptions::default()
        },
        store,
    )
    .await?;
    // Drain events in the background (receipts from 3,000 devices).
    tokio::spawn(async move { while events.recv().await.is_some() {} });

    let started = Instant::now();
    client.send_text(group, "first from us").await?;
    let first = started.elapsed();
    let pairwise = sim
        .routed()
        .iter()
        .filter(|r| r.from == *client.jid() && r.enc_type != "skmsg")
        .count();
    println!("ours encrypted the sender key to {pairwise} devices");
    let started = Instant::now();
    client.send_text(group, "second from us").await?;
    println!(
        "ours second group send: {} ms",
        started.elapsed().as_millis()
    );
    client.stop();
    Ok(first)
}

/// The Baileys script folder, when node and Baileys are installed.
fn baileys_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/baileys");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (node && dir.join("node_modules/baileys").is_dir()).then_some(dir)
}

/// Times of one Baileys send.
struct Timed {
    /// Until `sendMessage` resolved.
    send: Duration,
    /// Until the server's ack.
    ack: Duration,
}

/// One `node link.mjs` process (see its header for commands and events).
struct Baileys {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Baileys {
    fn start(dir: &Path, sim: &Sim) -> anyhow::Result<Baileys> {
        let root: String = sim
            .root_public_key()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut child = Command::new("node")
            .arg("link.mjs")
            .arg(sim.url())
            .arg(root)
            .env("NODE_EXTRA_CA_CERTS", sim.media_ca_pem_path())
            .env("WA_SIM_MEDIA_HOST", sim.media_host())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node link.mjs")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        Ok(Baileys {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn command(&mut self, cmd: serde_json::Value) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    /// The next event of kind `event`; other kinds are skipped, except
    /// `error` and `close`, which end the run.
    async fn expect(&mut self, event: &str) -> anyhow::Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .map_err(|_| anyhow!("no {event} from Baileys in {STEP_TIMEOUT:?}"))??
                .ok_or_else(|| anyhow!("Baileys exited while waiting for {event}"))?;
            let v: serde_json::Value =
                serde_json::from_str(&line).with_context(|| format!("Baileys said {line}"))?;
            let kind = v["event"].as_str().unwrap_or_default();
            if kind == event {
                return Ok(v);
            }
            if kind == "error" || kind == "close" {
                bail!("Baileys: {v}");
            }
        }
    }

    async fn link(&mut self, phone: &Phone) -> anyhow::Result<()> {
        let qr = self.expect("qr").await?;
        let qr = qr["qr"].as_str().unwrap_or_default();
        phone.scan(qr).await.context("scanning Baileys' QR")?;
        self.expect("open").await?;
        Ok(())
    }

    async fn timed_send(&mut self, group: &Jid, text: &str) -> anyhow::Result<Timed> {
        self.command(serde_json::json!({
            "cmd": "timed-send",
            "to": group.to_string(),
            "text": text,
        }))
        .await?;
        let ev = self.expect("timed").await?;
        let ms = |key: &str| {
            ev[key]
                .as_f64()
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .ok_or_else(|| anyhow!("Baileys timed {key} missing: {ev}"))
        };
        Ok(Timed {
            send: ms("sendMs")?,
            ack: ms("ackMs")?,
        })
    }

    async fn quit(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
