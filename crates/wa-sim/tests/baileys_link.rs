//! Baileys rc14 links to a simulated account end to end: QR scanned by the
//! scripted phone, ADV signatures checked both ways, restart after 515, login
//! by Noise key, prekeys uploaded; then the phone removes it and it is logged
//! out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdout, Command};
use wa_sim::Sim;

fn baileys_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/baileys");
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
    eprintln!("node or Baileys not installed: Baileys link test not run");
    None
}

struct Baileys {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Baileys {
    fn start(dir: &PathBuf, sim: &Sim) -> Baileys {
        let mut child = Command::new("node")
            .arg("link.mjs")
            .arg(sim.url())
            .arg(hex::encode(sim.root_public_key()))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Baileys {
            _child: child,
            lines,
        }
    }

    /// The next event line, skipping kinds in `skip`.
    async fn next(&mut self, skip: &[&str]) -> serde_json::Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
                .await
                .expect("Baileys said something in time")
                .unwrap()
                .expect("Baileys still running");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if !skip.contains(&v["event"].as_str().unwrap_or_default()) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn baileys_links_logs_in_and_is_logged_out_by_the_phone() {
    let Some(dir) = baileys_dir() else { return };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account("15550001111");
    let mut baileys = Baileys::start(&dir, &sim);

    let qr = baileys.next(&[]).await;
    assert_eq!(qr["event"], "qr", "{qr}");
    let jid = phone.scan(qr["qr"].as_str().unwrap()).await.unwrap();
    assert_eq!(jid.to_string(), "15550001111:1@s.whatsapp.net");

    let restart = baileys.next(&["qr"]).await;
    assert_eq!(restart["event"], "restart", "{restart}");
    let open = baileys.next(&[]).await;
    assert_eq!(open["event"], "open", "{open}");
    assert_eq!(open["me"]["id"], "15550001111:1@s.whatsapp.net");
    let lid = phone.lid().unwrap();
    assert_eq!(open["me"]["lid"], format!("{}:1@lid", lid.user()));
    assert_eq!(phone.linked_devices(), vec![1]);
    // Baileys uploads its first batch (812) before it reports "open".
    assert_eq!(sim.prekey_count("15550001111", 1), 812);

    assert!(phone.remove_device(1).await);
    let closed = baileys.next(&[]).await;
    assert_eq!(closed["event"], "close", "{closed}");
    assert_eq!(closed["status"], 401, "{closed}");
    assert!(phone.linked_devices().is_empty());
}

#[tokio::test]
async fn a_stale_or_foreign_qr_is_refused() {
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account("15550002222");
    assert_eq!(
        phone.scan("2@nope,AAAA,AAAA,AAAA").await,
        Err(wa_sim::ScanError::UnknownRef)
    );
    assert!(matches!(
        phone.scan("just text").await,
        Err(wa_sim::ScanError::BadQr(_))
    ));
}
