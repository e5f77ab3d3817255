//! Baileys rc14 as a peer: one `node scripts/baileys/link.mjs` (or
//! `peer.mjs`) process per client, driven by JSON lines (see the script's
//! header for commands and events). The simulator's media CA is trusted
//! and mmg.whatsapp.net is redirected to its media host.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use wa_sim::{Phone, Sim};

/// The script folder (`scripts/baileys` of the workspace, found from the
/// crate that includes this file), when node and Baileys are installed.
/// With `WABRIDGE_REQUIRE_NODE` set, their absence fails the test instead.
pub fn baileys_dir() -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("scripts/baileys"))
        .find(|d| d.is_dir())
        .unwrap_or_default();
    let ok = dir.join("node_modules/baileys").is_dir()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some(dir);
    }
    assert!(
        std::env::var_os("WABRIDGE_REQUIRE_NODE").is_none(),
        "WABRIDGE_REQUIRE_NODE is set but node or scripts/baileys/node_modules is missing"
    );
    eprintln!("node or Baileys not installed: Baileys test not run");
    None
}

/// One Baileys client.
pub struct Baileys {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

/// An event with its base64 payload left out, for logs.
pub fn short(v: &serde_json::Value) -> String {
    let mut v = v.clone();
    if let Some(data) = v.get_mut("data") {
        *data = format!("<{} base64 chars>", data.as_str().map_or(0, str::len)).into();
    }
    v.to_string()
}

impl Baileys {
    pub fn start(dir: &PathBuf, sim: &Sim) -> Baileys {
        Baileys::start_script(dir, sim, "link.mjs")
    }

    /// A client run by `script` of the folder (`link.mjs`, or `peer.mjs`
    /// for its `group` commands), which takes the same arguments.
    pub fn start_script(dir: &PathBuf, sim: &Sim, script: &str) -> Baileys {
        let mut child = Command::new("node")
            .arg(script)
            .arg(sim.url())
            .arg(hex::encode(sim.root_public_key()))
            .env("NODE_EXTRA_CA_CERTS", sim.media_ca_pem_path())
            .env("WA_SIM_MEDIA_HOST", sim.media_host())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Baileys { child, lines }
    }

    pub async fn command(&mut self, cmd: serde_json::Value) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// The next event line, skipping kinds in `skip`.
    pub async fn next(&mut self, skip: &[&str]) -> serde_json::Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
                .await
                .expect("Baileys said something in time")
                .unwrap()
                .expect("Baileys still running");
            // libsignal-node logs session changes (keys included) with
            // console.info, on stdout too: those lines are not events.
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            eprintln!(
                "baileys {}: {}",
                self.child.id().unwrap_or_default(),
                short(&v)
            );
            if !skip.contains(&v["event"].as_str().unwrap_or_default()) {
                return v;
            }
        }
    }

    /// The next event, which must be of kind `event`, skipping kinds in `skip`.
    pub async fn expect(&mut self, event: &str, skip: &[&str]) -> serde_json::Value {
        let ev = self.next(skip).await;
        assert_eq!(ev["event"], event, "{}", short(&ev));
        ev
    }

    /// Sends a text; returns its message id once Baileys handed it over.
    pub async fn send(&mut self, to: &str, text: &str) -> Option<String> {
        self.command(serde_json::json!({"cmd": "send", "to": to, "text": text}))
            .await;
        let ev = self.expect("sent", &["message"]).await;
        ev["id"].as_str().map(str::to_owned)
    }

    /// The next text message from someone else (own echoes skipped).
    pub async fn incoming(&mut self) -> serde_json::Value {
        loop {
            let ev = self.expect("message", &["sent"]).await;
            if ev["fromMe"] == false {
                return ev;
            }
        }
    }

    /// Links this client to `phone`'s account and waits until it is open.
    pub async fn link(&mut self, phone: &Phone) -> serde_json::Value {
        let qr = self.expect("qr", &[]).await;
        phone.scan(qr["qr"].as_str().unwrap()).await.unwrap();
        self.expect("open", &["qr", "restart"]).await
    }
}
