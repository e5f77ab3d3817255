//! The `companion` example as a program, against wa-sim: it pairs through
//! the `qr` line it prints, sends and receives, answers bad commands with
//! `ok:false`, and after a kill starts again from its store file without a
//! QR code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use wa_sim::Sim;

const WAIT: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/companion`, built by `cargo test` next to
/// this test's `deps/`.
fn companion_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = dir
        .join("examples")
        .join(format!("companion{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p wa-client --example companion` \
         (a plain `cargo test` does)",
        bin.display()
    );
    bin
}

/// One run of the companion; kills it when dropped, and shows its stderr
/// if the test failed.
struct Companion {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Every stdout line so far, for failure messages.
    seen: Vec<String>,
}

impl Companion {
    fn start(sim: &Sim, store: &std::path::Path) -> Companion {
        let mut child = Command::new(companion_binary())
            .arg("--url")
            .arg(sim.url())
            .arg("--root-key")
            .arg(hex::encode(sim.root_public_key()))
            .arg("--store")
            .arg(store)
            .args(["--pair-timeout", "60", "--command-timeout", "20"])
            .env("RUST_LOG", "wa_client=debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Companion {
            child,
            stdin,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    async fn command(&mut self, line: &[u8]) {
        self.stdin.write_all(line).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Reads lines until `want` picks one.
    async fn line<T>(&mut self, what: &str, want: impl Fn(&str) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stdout.next_line()).await;
            let line = match line {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => panic!("stdout ended waiting for {what}; saw {:#?}", self.seen),
                Ok(Err(e)) => panic!("reading stdout: {e}"),
                Err(_) => panic!("no {what} in {WAIT:?}; saw {:#?}", self.seen),
            };
            self.seen.push(line.clone());
            if let Some(t) = want(&line) {
                return t;
            }
        }
    }

    /// The next JSON line with `key` == `value`.
    async fn json(&mut self, key: &str, value: &str) -> Value {
        self.line(&format!("{key}={value}"), |l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v[key] == value).then_some(v)
        })
        .await
    }

    /// Sends a command and returns its answer.
    async fn ask(&mut self, line: &str) -> Value {
        let name = line.split_whitespace().next().unwrap_or("").to_owned();
        self.command(line.as_bytes()).await;
        self.json("command", &name).await
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let stderr = self.stderr.lock().map(|e| e.clone()).unwrap_or_default();
            eprintln!("companion stderr:\n{}", String::from_utf8_lossy(&stderr));
        }
    }
}

/// Removes the store file (and its temporary and lock files) at the end.
struct TempStore(PathBuf);

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        for suffix in [".tmp", ".lock"] {
            let mut other = self.0.clone().into_os_string();
            other.push(suffix);
            let _ = std::fs::remove_file(other);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_talks_and_comes_back_from_its_store() {
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let mine = sim.account("15557770000");
    let bob = sim.account("15557770001");
    let store = TempStore(std::env::temp_dir().join(format!(
        "wa-client-companion-{}-{:016x}.json",
        std::process::id(),
        rand::random::<u64>()
    )));

    // First run: pair by the printed QR line.
    let mut app = Companion::start(&sim, &store.0);
    let qr = app
        .line("a qr line", |l| l.strip_prefix("qr ").map(str::to_owned))
        .await;
    let linked = tokio::time::timeout(WAIT, mine.scan(&qr))
        .await
        .expect("scan in time")
        .expect("the phone links the companion");
    let paired = app.json("event", "paired").await;
    assert_eq!(paired["jid"], linked.to_string());
    app.line("connected", |l| (l == "connected").then_some(()))
        .await;

    // A text to Bob.
    let sent = app.ask("send 15557770001@s.whatsapp.net hello").await;
    assert_eq!(sent["ok"], true, "{sent}");
    let id = sent["id"].as_str().expect("a message id").to_owned();
    let got = bob.wait_received(1, WAIT).await;
    assert_eq!(got.len(), 1, "bob got the message");
    assert_eq!(
        (got[0].id.as_str(), got[0].text.as_deref()),
        (id.as_str(), Some("hello"))
    );

    // Bob answers; the message arrives as a JSON line.
    let answer = bob.send_text("15557770000", "hi from bob").await.unwrap();
    let m = app.json("event", "message").await;
    assert_eq!(m["id"], answer.as_str(), "{m}");
    assert_eq!(m["text"], "hi from bob", "{m}");
    assert_eq!(m["chat"], "15557770001@s.whatsapp.net", "{m}");
    assert_eq!(m["from_me"], false, "{m}");
    assert!(m["timestamp"].as_u64().is_some(), "{m}");

    // Bad input gets an answer, not a crash.
    for bad in [
        "frobnicate now",
        "send",
        "send 15557770001@s.whatsapp.net",
        "send not@a@jid hi",
        "send-group 15557770001@s.whatsapp.net hi",
        "devices",
        "group-create",
    ] {
        let reply = app.ask(bad).await;
        assert_eq!(reply["ok"], false, "{bad:?}: {reply}");
        assert!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{reply}"
        );
    }
    app.command(b"\xff\xfe not utf-8").await;
    let reply = app
        .line("an answer to a non-UTF-8 line", |l| {
            let v: Value = serde_json::from_str(l).ok()?;
            v.get("ok").is_some().then_some(v)
        })
        .await;
    assert_eq!(reply["ok"], false, "{reply}");
    let devices = app.ask("devices 15557770001").await;
    assert_eq!(devices["ok"], true, "{devices}");
    assert!(
        devices["devices"].as_array().is_some_and(|d| !d.is_empty()),
        "{devices}"
    );

    // Killed: no goodbye, the store file is all that is left.
    app.child.kill().await.unwrap();
    drop(app);

    // Second run: online from the store, no QR code, and it still sends.
    let mut app = Companion::start(&sim, &store.0);
    app.line("connected without a qr line", |l| {
        assert!(!l.starts_with("qr "), "asked to pair again: {l}");
        (l == "connected").then_some(())
    })
    .await;
    let sent = app.ask("send 15557770001 hello again").await;
    assert_eq!(sent["ok"], true, "{sent}");
    let got = bob.wait_received(2, WAIT).await;
    assert_eq!(got.len(), 2, "bob got the second message");
    assert_eq!(got[1].text.as_deref(), Some("hello again"));
    assert_eq!(mine.linked_devices().len(), 1, "one companion, not two");

    // `quit` ends it cleanly.
    let bye = app.ask("quit").await;
    assert_eq!(bye["ok"], true, "{bye}");
    let status = tokio::time::timeout(WAIT, app.child.wait())
        .await
        .expect("exits after quit")
        .unwrap();
    assert!(status.success(), "{status}");
}
