//! Bridged throughput WhatsApp -> Matrix, and the bridge's memory for one
//! big video: the real bridge binary (a child process) against a real
//! Synapse and an in-process wa-sim.
//!
//! `text [N]` (default 1,000): a contact's phone sends N texts into one
//! chat as fast as it can; the time is from the first send to the last
//! text being in Matrix (seen through /sync as the user), then every one is
//! checked there, once and in order. The CPU time the bridge, Synapse and
//! this process (wa-sim and the phone) used meanwhile shows which side is
//! the bottleneck.
//!
//! `video [MB]` (default 100, decimal MB): the phone sends one video of
//! that size; the time is until the `m.video` is in Matrix, the bytes are
//! checked through the media API, and the bridge's RSS before and its peak
//! (`VmHWM`) after are printed.
//!
//! `video-out [MB]`: the same video sent by the user from Matrix, timed
//! until the phone has it (its fileSha256 checked).
//!
//! No assertion on time: figures only. Run (needs the Synapse venv):
//!
//! ```text
//! cargo build --release -p wabridge --bin wabridge --example throughput_bench
//! cargo run --release --example throughput_bench -- text 1000
//! cargo run --release --example throughput_bench -- video 100
//! ```
//!
//! `WABRIDGE_BIN` overrides the bridge binary's path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use support::bridge::tempdir;
use support::history::{free_port, setup, shown_messages};
use support::login::alice_logs_in;
use support::matrix::MatrixUser;
use support::process::{BridgeProcess, cpu_seconds};
use support::synapse::Synapse;
use tokio::net::TcpListener;
use wa_core::media::MediaKind;
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::VideoMessage;
use wa_sim::{Phone, Sim};

const ALICE_PN: &str = "15557794001";
const BOB_PN: &str = "15557794002";
const LONG: Duration = Duration::from_secs(1800);

fn bridge_binary() -> PathBuf {
    if let Some(b) = std::env::var_os("WABRIDGE_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(b);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("release/wabridge");
    assert!(
        bin.is_file(),
        "no bridge binary at {}: run `cargo build --release -p wabridge` first",
        bin.display()
    );
    bin
}

/// CPU seconds used by the bridge, Synapse and this process.
struct Cpu {
    bridge: f64,
    synapse: f64,
    sim: f64,
}

impl Cpu {
    fn now(bridge: u32, synapse: u32) -> Cpu {
        Cpu {
            bridge: cpu_seconds(bridge),
            synapse: cpu_seconds(synapse),
            sim: cpu_seconds(std::process::id()),
        }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            bridge: self.bridge - before.bridge,
            synapse: self.synapse - before.synapse,
            sim: self.sim - before.sim,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "text".into());
    let amount: Option<usize> = args.next().map(|a| a.parse().expect("a number"));
    let binary = bridge_binary();

    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let phone = sim.account(ALICE_PN);
    let bob = sim.account(BOB_PN);
    let dir = tempdir("wabridge-throughput-bench");
    let db = format!("sqlite:{}", dir.join("bridge.db").display());
    let port = free_port();
    let mut setup = setup(&dir, &sim, port, &db, 0, false);
    let synapse = Synapse::start(&setup.registrations).await;
    setup.point_at(&synapse);
    let log = dir.join("bridge.log");
    let mut bridge = BridgeProcess::spawn(&binary, &setup.config_path, &log);
    let wait = Duration::from_secs(60);
    let (alice, _, _) = alice_logs_in(&synapse, &phone, ALICE_PN, wait).await;

    // The portal exists and Alice is in it before anything is timed.
    bob.send_text(ALICE_PN, "warm up").await.unwrap();
    let room = alice.wait_for_invite(wait).await;
    alice.join(&room).await;
    alice
        .sync_until(wait, |r, e| r == room && e["content"]["body"] == "warm up")
        .await;
    println!("bridge: {}", binary.display());
    match mode.as_str() {
        "text" => {
            texts(
                &bob,
                &alice,
                &room,
                &bridge,
                &synapse,
                amount.unwrap_or(1000),
            )
            .await
        }
        "video" => video(&bob, &alice, &room, &bridge, amount.unwrap_or(100)).await,
        "video-out" => video_out(&bob, &alice, &room, &bridge, amount.unwrap_or(100)).await,
        other => panic!("unknown mode {other}: text or video"),
    }
    bridge.assert_running();
    drop(bridge);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn texts(
    bob: &Phone,
    alice: &MatrixUser,
    room: &str,
    bridge: &BridgeProcess,
    synapse: &Synapse,
    n: usize,
) {
    let before = Cpu::now(bridge.pid(), synapse.pid());
    let start = Instant::now();
    let sender = {
        let bob = bob.clone();
        tokio::spawn(async move {
            for i in 0..n {
                bob.send_text(ALICE_PN, &format!("text {i}")).await.unwrap();
            }
            Instant::now()
        })
    };
    let last = format!("text {}", n - 1);
    alice
        .sync_until(LONG, |r, e| {
            r == room && e["content"]["body"] == last.as_str()
        })
        .await;
    let took = start.elapsed();
    let sent_by = sender.await.unwrap().duration_since(start);
    let cpu = Cpu::now(bridge.pid(), synapse.pid()).since(&before);

    let shown: Vec<String> = shown_messages(alice, room)
        .await
        .into_iter()
        .map(|m| m.body)
        .filter(|b| b.starts_with("text "))
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("text {i}")).collect();
    println!("{n} texts from one contact, WhatsApp -> Matrix");
    println!(
        "  phone done sending after {:.1} s; last in Matrix after {:.1} s: {:.0} messages/s end to end",
        sent_by.as_secs_f64(),
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    println!(
        "  CPU meanwhile: bridge {:.1} s, Synapse {:.1} s, wa-sim + phone {:.1} s (of {:.1} s wall, 2 cores)",
        cpu.bridge,
        cpu.synapse,
        cpu.sim,
        took.as_secs_f64()
    );
    println!(
        "  bridge RSS {} KiB, peak (VmHWM) {} KiB",
        bridge.rss_kib(),
        bridge.peak_rss_kib()
    );
    assert_eq!(shown, want, "every text once, in order");
}

/// `mb` decimal megabytes that are not all alike.
fn file_of(mb: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..mb * 1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// The other way: the user sends the video from Matrix; timed until the
/// phone has it, whose blob is then checked.
async fn video_out(bob: &Phone, alice: &MatrixUser, room: &str, bridge: &BridgeProcess, mb: usize) {
    let bytes = file_of(mb);
    let mxc = alice.upload_media("video/mp4", bytes.clone()).await;
    let rss_before = bridge.rss_kib();
    let peak_before = bridge.peak_rss_kib();
    let start = Instant::now();
    alice
        .send_event(
            room,
            "m.room.message",
            &serde_json::json!({"msgtype": "m.video", "body": "film.mp4", "url": mxc,
                "info": {"mimetype": "video/mp4", "size": bytes.len()}}),
        )
        .await;
    let video = loop {
        if let Some(v) = bob
            .received()
            .iter()
            .find_map(|r| r.message.video_message.clone())
        {
            break v;
        }
        assert!(start.elapsed() < LONG, "the phone never got the video");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = start.elapsed();
    let peak = bridge.peak_rss_kib();
    assert_eq!(
        video.file_length,
        Some(bytes.len() as u64),
        "the whole video"
    );
    assert_eq!(
        video.file_sha256.as_deref(),
        Some(&Sha256::digest(&bytes)[..]),
        "the same bytes"
    );
    println!("one {mb} MB video, Matrix -> WhatsApp");
    println!("  at the phone after {:.1} s", took.as_secs_f64());
    println!(
        "  bridge RSS {rss_before} KiB before; peak (VmHWM) {peak_before} KiB before, {peak} KiB after"
    );
}

async fn video(bob: &Phone, alice: &MatrixUser, room: &str, bridge: &BridgeProcess, mb: usize) {
    let bytes = file_of(mb);
    let rss_before = bridge.rss_kib();
    let peak_before = bridge.peak_rss_kib();
    let up = bob.upload_media(MediaKind::Video, &bytes).unwrap();
    let message = WaMessage {
        video_message: Some(Box::new(VideoMessage {
            url: Some(up.url.clone()),
            mimetype: Some("video/mp4".into()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_length: Some(up.file_length),
            seconds: Some(600),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            direct_path: Some(up.direct_path.clone()),
            width: Some(1280),
            height: Some(720),
            ..Default::default()
        })),
        ..Default::default()
    };
    let start = Instant::now();
    bob.send_message(ALICE_PN, message).await.unwrap();
    let (_, event) = alice
        .sync_until(LONG, |r, e| {
            r == room && e["content"]["msgtype"] == "m.video"
        })
        .await;
    let took = start.elapsed();
    let peak = bridge.peak_rss_kib();
    let mxc = event["content"]["url"].as_str().expect("an mxc url");
    let got = alice.download_media(mxc).await;
    assert_eq!(got.len(), bytes.len(), "the whole video");
    assert_eq!(
        Sha256::digest(&got)[..],
        Sha256::digest(&bytes)[..],
        "the same bytes"
    );
    println!("one {mb} MB video, WhatsApp -> Matrix");
    println!("  in Matrix after {:.1} s", took.as_secs_f64());
    println!(
        "  bridge RSS {rss_before} KiB before; peak (VmHWM) {peak_before} KiB before, {peak} KiB after"
    );
}
