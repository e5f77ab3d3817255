//! The JSON control API, driven over real HTTP, and the `wa-sim serve`
//! binary with its client commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_sim::{Sim, control};

use support::{Device, next_end, next_node};

/// A simulator with its control API on `127.0.0.1:0`.
struct Harness {
    sim: Arc<Sim>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: JoinHandle<()>,
}

async fn harness() -> Harness {
    let sim = Arc::new(
        Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
            .await
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(control::serve(sim.clone(), listener, async {
        let _ = stopped.await;
    }));
    Harness {
        sim,
        addr,
        stop: Some(stop),
        served,
    }
}

impl Harness {
    /// One request on a fresh connection: the status and the JSON answer.
    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> (StatusCode, Value) {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(40), sender.send_request(req))
            .await
            .expect("an answer in time")
            .unwrap();
        let status = res.status();
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/json"
        );
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {bytes:?}"));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body.to_string().into_bytes()))
            .await
    }

    /// Asserts a 4xx/5xx with `{"error"}` containing `needle`.
    async fn fails(&self, method: Method, path: &str, body: &[u8], want: StatusCode, needle: &str) {
        let (status, value) = self.call(method.clone(), path, Some(body.to_vec())).await;
        assert_eq!(status, want, "{method} {path}: {value}");
        let error = value["error"].as_str().unwrap_or_else(|| panic!("{value}"));
        assert!(error.contains(needle), "{method} {path}: {error:?}");
    }
}

#[tokio::test]
async fn info_and_accounts() {
    let h = harness().await;
    let (status, info) = h.get("/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["url"], h.sim.url());
    assert_eq!(info["root_key"], hex::encode(h.sim.root_public_key()));
    assert_eq!(info["media_host"], h.sim.media_host());
    let ca = info["media_ca"].as_str().unwrap();
    assert!(std::fs::read_to_string(ca).unwrap().contains("CERTIFICATE"));

    let (status, created) = h.post("/accounts", json!({"pn": "15551234567"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["pn"], "15551234567");
    let lid = created["lid"].as_str().unwrap();
    assert!(lid.ends_with("@lid"), "{lid}");
    assert_eq!(
        Some(lid.to_owned()),
        h.sim.account("15551234567").lid().map(|j| j.to_string())
    );
    let (status, again) = h.post("/accounts", json!({"pn": "15551234567"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, created);

    let (status, devices) = h.get("/accounts/15551234567/devices").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(devices, json!({"devices": [], "linked": []}));
    let (_, received) = h.get("/accounts/15551234567/received").await;
    assert_eq!(received, json!([]));
    let (_, registrations) = h.get("/registrations").await;
    assert_eq!(registrations, json!([]));
    // Trailing slashes and query strings do not matter.
    assert_eq!(h.get("/info/?pretty=1").await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let h = harness().await;
    h.post("/accounts", json!({"pn": "15550000001"})).await;
    let get = Method::GET;
    let post = Method::POST;
    let nf = StatusCode::NOT_FOUND;
    let bad = StatusCode::BAD_REQUEST;

    h.fails(get.clone(), "/nope", b"", nf, "no route for GET /nope")
        .await;
    h.fails(get.clone(), "/", b"", nf, "no route").await;
    h.fails(
        get.clone(),
        "/accounts/15550000001/devices/1/x",
        b"",
        nf,
        "no route",
    )
    .await;
    h.fails(
        post.clone(),
        "/info",
        b"",
        StatusCode::METHOD_NOT_ALLOWED,
        "GET",
    )
    .await;
    h.fails(
        get.clone(),
        "/accounts",
        b"",
        StatusCode::METHOD_NOT_ALLOWED,
        "POST",
    )
    .await;

    // Bodies.
    h.fails(post.clone(), "/accounts", b"{\"pn\":", bad, "not JSON")
        .await;
    h.fails(post.clone(), "/accounts", b"", bad, "not JSON")
        .await;
    h.fails(
        post.clone(),
        "/accounts",
        b"[\"15550000001\"]",
        bad,
        "object",
    )
    .await;
    h.fails(
        post.clone(),
        "/accounts",
        b"{}",
        bad,
        "`pn` must be a string",
    )
    .await;
    h.fails(
        post.clone(),
        "/accounts",
        b"{\"pn\":15550000001}",
        bad,
        "`pn`",
    )
    .await;
    h.fails(post.clone(), "/accounts", &[0xff, 0xfe], bad, "not JSON")
        .await;

    // Phone numbers, in bodies and paths.
    for pn in [
        "1234",
        "+15550000001",
        "1555000000x",
        "123456789012345678901",
        "",
    ] {
        let body = json!({ "pn": pn }).to_string();
        h.fails(
            post.clone(),
            "/accounts",
            body.as_bytes(),
            bad,
            "5 to 20 digits",
        )
        .await;
    }
    h.fails(
        get.clone(),
        "/accounts/12/devices",
        b"",
        bad,
        "5 to 20 digits",
    )
    .await;
    h.fails(
        get.clone(),
        "/accounts/%31%32%33%34%35/devices",
        b"",
        bad,
        "digits",
    )
    .await;
    let send = br#"{"to":"abc","text":"hi"}"#;
    h.fails(
        post.clone(),
        "/accounts/15550000001/send",
        send,
        bad,
        "\"abc\"",
    )
    .await;
    let send = br#"{"to":"15550000002"}"#;
    h.fails(
        post.clone(),
        "/accounts/15550000001/send",
        send,
        bad,
        "`text`",
    )
    .await;

    // Accounts that do not exist (yet).
    h.fails(
        get.clone(),
        "/accounts/15559999999/received",
        b"",
        nf,
        "POST /accounts",
    )
    .await;
    let send = br#"{"to":"15559999999","text":"hi"}"#;
    h.fails(
        post.clone(),
        "/accounts/15550000001/send",
        send,
        nf,
        "no account 15559999999",
    )
    .await;

    // Devices.
    let path = "/accounts/15550000001/devices/65536";
    h.fails(Method::DELETE, path, b"", bad, "not a number")
        .await;
    let path = "/accounts/15550000001/devices/one";
    h.fails(Method::DELETE, path, b"", bad, "not a number")
        .await;
    let (status, removed) = h
        .call(Method::DELETE, "/accounts/15550000001/devices/3", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(removed, json!({"removed": false}));

    // Scans of QR codes that are not (or no longer) valid.
    let scan = "/accounts/15550000001/scan";
    h.fails(
        post.clone(),
        scan,
        br#"{"qr":"hello"}"#,
        bad,
        "not a WhatsApp pairing QR code",
    )
    .await;
    let qr = json!({ "qr": format!("2@ref,{0},{0},{0}", STANDARD.encode([7u8; 32])) });
    h.fails(
        post.clone(),
        scan,
        qr.to_string().as_bytes(),
        nf,
        "not (or no longer) valid",
    )
    .await;
    h.fails(post.clone(), scan, br#"{"qr":null}"#, bad, "`qr`")
        .await;

    // Bodies over 1 MiB, sent or only announced.
    let mut big = b"{\"pn\":\"".to_vec();
    big.resize(control::MAX_BODY + 1, b'1');
    let large = StatusCode::PAYLOAD_TOO_LARGE;
    h.fails(post.clone(), "/accounts", &big, large, "larger than")
        .await;
    let mut tcp = TcpStream::connect(h.addr).await.unwrap();
    tcp.write_all(b"POST /accounts HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0; 12];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");

    // Still serving after all of it.
    assert_eq!(h.get("/info").await.0, StatusCode::OK);
}

#[tokio::test]
async fn phones_send_and_receive() {
    let h = harness().await;
    h.post("/accounts", json!({"pn": "15550000011"})).await;
    h.post("/accounts", json!({"pn": "15550000012"})).await;
    let (status, sent) = h
        .post(
            "/accounts/15550000011/send",
            json!({"to": "15550000012", "text": "hello över there"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let received = loop {
        let (status, received) = h.get("/accounts/15550000012/received").await;
        assert_eq!(status, StatusCode::OK);
        if !received.as_array().unwrap().is_empty() || tokio::time::Instant::now() > deadline {
            break received;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        received,
        json!([{
            "id": id,
            "from": "15550000011@s.whatsapp.net",
            "chat": "15550000011@s.whatsapp.net",
            "text": "hello över there",
            "from_me": false,
        }])
    );
    let (_, none) = h.get("/accounts/15550000011/received").await;
    assert_eq!(none, json!([]));
}

/// A companion registers; a person reads its refs from `/registrations`,
/// scans, lists and unlinks it, all over the control API.
#[tokio::test]
async fn scan_list_and_unlink_a_companion() {
    let h = harness().await;
    h.post("/accounts", json!({"pn": "15550000021"})).await;
    let device = Device::new();
    let (conn, mut events) = wa_client::connect(
        &support::options(&h.sim),
        &device.noise,
        &device.registration_payload(),
    )
    .await
    .unwrap();
    let pair_device = next_node(&mut events).await;
    conn.send(
        &Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "result")
            .attr("id", pair_device.attr_str("id").unwrap().to_owned()),
    )
    .await
    .unwrap();

    let (status, registrations) = h.get("/registrations").await;
    assert_eq!(status, StatusCode::OK);
    let [registration] = registrations.as_array().unwrap().as_slice() else {
        panic!("{registrations}");
    };
    assert_eq!(
        registration["noise_key"],
        STANDARD.encode(device.noise.public())
    );
    assert_eq!(
        registration["identity_key"],
        STANDARD.encode(device.identity.public())
    );
    let refs = registration["refs"].as_array().unwrap();
    assert_eq!(refs.len(), wa_sim::server::REFS_PER_PAIRING);
    let first = pair_device
        .child("pair-device")
        .unwrap()
        .child("ref")
        .unwrap();
    assert_eq!(
        refs[0].as_str().unwrap().as_bytes(),
        first.content_bytes().unwrap()
    );

    // The QR as the companion shows it; the phone scans it via the API.
    let qr = format!(
        "{},{},{},{}",
        refs[0].as_str().unwrap(),
        STANDARD.encode(device.noise.public()),
        STANDARD.encode(device.identity.public()),
        STANDARD.encode(device.adv_secret),
    );
    let h = Arc::new(h);
    let scanning = {
        let h = h.clone();
        tokio::spawn(async move {
            h.post("/accounts/15550000021/scan", json!({ "qr": qr }))
                .await
        })
    };
    let success = next_node(&mut events).await;
    let pair = success.child("pair-success").expect("pair-success");
    let verified = adv::verify_pairing(
        pair.child("device-identity")
            .unwrap()
            .content_bytes()
            .unwrap(),
        &device.adv_secret,
        device.identity.public(),
    )
    .unwrap();
    let (_full, for_server) =
        adv::countersign(&verified, &device.identity, &mut rand::rng()).unwrap();
    conn.send(
        &Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "result")
            .attr("id", success.attr_str("id").unwrap().to_owned())
            .children(vec![Node::new("pair-device-sign").children(vec![
                Node::new("device-identity")
                    .attr("key-index", verified.details.key_index.unwrap_or(0).to_string())
                    .bytes(for_server),
            ])]),
    )
    .await
    .unwrap();
    let (status, scanned) = scanning.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{scanned}");
    assert_eq!(scanned, json!({"jid": "15550000021:1@s.whatsapp.net"}));
    next_end(&mut events).await; // 515: restart and log in

    // The same QR again: its ref is spent.
    let again = json!({ "qr": format!("{},x,y,z", refs[0].as_str().unwrap()) });
    h.fails(
        Method::POST,
        "/accounts/15550000021/scan",
        again.to_string().as_bytes(),
        StatusCode::BAD_REQUEST,
        "not base64",
    )
    .await;

    let (_, devices) = h.get("/accounts/15550000021/devices").await;
    // The phone lists the companion by the name in its DeviceProps.
    assert_eq!(
        devices,
        json!({"devices": [1], "linked": [{"device": 1, "name": "wabridge"}]})
    );
    let delete = |d: &'static str| {
        let h = h.clone();
        async move {
            h.call(
                Method::DELETE,
                &format!("/accounts/15550000021/devices/{d}"),
                None,
            )
            .await
        }
    };
    assert_eq!(
        delete("1").await,
        (StatusCode::OK, json!({"removed": true}))
    );
    assert_eq!(
        delete("1").await,
        (StatusCode::OK, json!({"removed": false}))
    );
    let (_, devices) = h.get("/accounts/15550000021/devices").await;
    assert_eq!(devices, json!({"devices": [], "linked": []}));
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let mut h = harness().await;
    assert_eq!(h.get("/info").await.0, StatusCode::OK);
    h.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), &mut h.served)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
    assert!(TcpStream::connect(h.addr).await.is_err());
}

/// Runs the built `wa-sim` binary with `args`: (success, stdout, stderr).
async fn wa_sim(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_wa-sim"))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("wa-sim finishes")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        String::from_utf8(out.stderr).unwrap().trim().to_owned(),
    )
}

#[tokio::test]
async fn the_binary_serves_and_its_client_commands_talk_to_it() {
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_wa-sim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("the JSON line in time")
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert!(
        info["url"].as_str().unwrap().starts_with("ws://127.0.0.1:"),
        "{info}"
    );
    assert_eq!(
        hex::decode(info["root_key"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert!(
        info["media_host"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(std::path::Path::new(info["media_ca"].as_str().unwrap()).exists());
    let url = info["control"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{info}");

    let (ok, out, err) = wa_sim(&["account", "--control", url, "15551230000"]).await;
    assert!(ok, "{err}");
    let account: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(account["pn"], "15551230000");
    assert!(account["lid"].as_str().unwrap().ends_with("@lid"), "{out}");

    let (ok, out, err) = wa_sim(&["devices", "--control", url, "--account", "15551230000"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, r#"{"devices":[],"linked":[]}"#);
    let (ok, out, _) = wa_sim(&["received", "--control", url, "--account", "15551230000"]).await;
    assert!(ok);
    assert_eq!(out, "[]");
    let (ok, out, _) = wa_sim(&["registrations", "--control", url]).await;
    assert!(ok);
    assert_eq!(out, "[]");

    // Errors: the server's text, or the client's own, and exit status 1.
    let (ok, out, err) = wa_sim(&["devices", "--control", url, "--account", "15559999999"]).await;
    assert!(!ok);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "wa-sim: no account 15559999999; create it with POST /accounts"
    );
    let (ok, _, err) = wa_sim(&["scan", "--control", url, "--account", "15551230000", "x"]).await;
    assert!(!ok);
    assert_eq!(
        err,
        "wa-sim: not a WhatsApp pairing QR code: fewer than four fields"
    );
    // A QR code given as a PNG image (as the bridge posts it) is read from
    // the image: the same text gets the same refusal.
    let dir = std::env::temp_dir().join(format!("wa-sim-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The error of `wa-sim scan` given a file holding `bytes`.
    let scan_file = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let name = name.to_owned();
        async move {
            let path = path.to_str().unwrap().to_owned();
            let args = ["scan", "--control", url, "--account", "15551230000", &path];
            let (ok, _, err) = wa_sim(&args).await;
            assert!(!ok, "{name} is refused");
            err
        }
    };
    assert_eq!(
        scan_file("qr.png", qr_png("x")).await,
        "wa-sim: not a WhatsApp pairing QR code: fewer than four fields"
    );
    assert_eq!(
        scan_file("blank.png", grey_png(&[255; 64 * 64], 64)).await,
        "wa-sim: no QR code in the image"
    );
    let err = scan_file("not.png", b"GIF89a".to_vec()).await;
    assert!(err.starts_with("wa-sim: not a PNG image"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, _, err) = wa_sim(&["devices", "--control", url, "--account", "12"]).await;
    assert!(!ok);
    assert!(err.starts_with("wa-sim: phone number \"12\""), "{err}");
    let (ok, _, err) = wa_sim(&["devices", "--control", "https://x", "--account", "12345"]).await;
    assert!(!ok);
    assert!(err.contains("only http"), "{err}");

    // Killed, it cannot remove its CA file itself.
    server.kill().await.unwrap();
    let _ = std::fs::remove_file(info["media_ca"].as_str().unwrap());
    let (ok, _, err) = wa_sim(&["devices", "--control", url, "--account", "15551230000"]).await;
    assert!(!ok);
    assert!(
        err.starts_with("wa-sim: cannot reach the control API"),
        "{err}"
    );
}

/// A square 8-bit grey PNG of `pixels` (`side` x `side`).
fn grey_png(pixels: &[u8], side: usize) -> Vec<u8> {
    let side = u32::try_from(side).unwrap();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// `text` as a QR code in a PNG image, 4 pixels a module, a 4-module
/// quiet zone.
fn qr_png(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let width = code.width();
    let side = (width + 8) * 4;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % width + 4, i / width + 4);
            for y in my * 4..my * 4 + 4 {
                pixels[y * side + mx * 4..y * side + mx * 4 + 4].fill(0);
            }
        }
    }
    grey_png(&pixels, side)
}
