//! A line-oriented WhatsApp companion: pairs once, keeps its device in a
//! [`FileStore`], prints what happens on stdout and takes commands on stdin.
//!
//! ```text
//! cargo run -p wa-client --example companion -- --store dev.json \
//!     [--url WS --root-key HEX] [--pair-timeout SECS] [--command-timeout SECS]
//! ```
//!
//! stdout is for programs, one line each:
//!
//! - while pairing (only when the store holds no paired device):
//!   `qr <text>` for each QR code (scan the latest), then
//!   `{"event":"paired","jid":..,"lid":..}`; the QR code itself is drawn on
//!   **stderr**, so stdout stays machine-readable;
//! - `connected` each time the client is online (again after reconnects);
//! - every other event as a JSON object with an `"event"` field: `message`
//!   (`id`, `chat`, `sender`, `from_me`, `timestamp`, `text`, ...),
//!   `receipt`, `disconnected`, `logged_out`, `stopped`, `group`,
//!   `presence`, `chat_state`, `devices_changed`, `identity_changed`,
//!   `undecryptable`;
//! - one JSON answer per command: `{"ok":true,"command":..,...}` or
//!   `{"ok":false,"command":..,"error":".."}`.
//!
//! Commands, one per line (JIDs may be bare phone numbers; a bare group
//! id gets `@g.us`):
//!
//! ```text
//! send JID TEXT              -> {"ok":true,"id":..,"timestamp":..}
//! send-group GJID TEXT       -> {"ok":true,"id":..,"timestamp":..}
//! group-create NAME JID...   -> {"ok":true,"group":..,"subject":..,"participants":[..]}
//! devices JID                -> {"ok":true,"devices":[..]}
//! logout                     -> {"ok":true}, unlinks, clears the store, exits
//! quit                       -> {"ok":true}, exits (the store keeps the device)
//! help
//! ```
//!
//! Commands run one at a time, in order; events print while they run.
//! When stdin ends, pending commands finish and the program exits. Exit
//! status: 0 after `logout`, `quit` or the end of stdin; 1 when pairing
//! or login failed or the server stopped the device; 2 for bad arguments;
//! 3 when the device was unlinked from the phone (the store was cleared).
//! Logs (`RUST_LOG`, default `warn`) go to stderr and never hold keys or
//! message texts.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wa_client::store::DeviceStore as _;
use wa_client::{
    AppStateChange, Client, ClientEvent, ClientOptions, ConnectOptions, DeviceState, FileStore,
    GroupChange, GroupChangeKind, PairEvent, PairOptions, ReceiptKind, Store, pair,
};
use wa_core::jid::{Jid, Server};

#[derive(Debug, Parser)]
#[command(about = "A line-oriented WhatsApp companion (see the example's docs)")]
struct Args {
    /// WebSocket URL of the server.
    #[arg(long, default_value = wa_client::socket::PRODUCTION_URL)]
    url: String,
    /// The server's root public key, 64 hex digits (default: the real
    /// service's).
    #[arg(long, value_parser = parse_root_key)]
    root_key: Option<[u8; 32]>,
    /// The store file (created at the first change; keep it private).
    #[arg(long)]
    store: PathBuf,
    /// Seconds to wait for a phone to scan a QR code.
    #[arg(long, default_value_t = 300)]
    pair_timeout: u64,
    /// Seconds a command may wait for the server (a message not acked by
    /// then stays queued and goes out later).
    #[arg(long, default_value_t = 60)]
    command_timeout: u64,
}

fn parse_root_key(s: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(s.trim()).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, expected 32", b.len()))
}

/// Writes one line to stdout; false once stdout is gone.
fn emit(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

fn emit_json(value: &Value) -> bool {
    emit(&value.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            emit_json(&json!({"event": "error", "error": e}));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let connect = ConnectOptions {
        url: args.url.clone(),
        root_key: args
            .root_key
            .unwrap_or(wa_core::noise::cert::PRODUCTION_ROOT_KEY),
        ..ConnectOptions::default()
    };
    let store = Arc::new(FileStore::open(&args.store).map_err(|e| e.to_string())?);
    let paired = store
        .load()
        .await
        .map_err(|e| e.to_string())?
        .is_some_and(|s| s.is_paired());
    if !paired {
        link(&connect, &store, Duration::from_secs(args.pair_timeout)).await?;
    }
    let opts = ClientOptions {
        connect,
        ..ClientOptions::default()
    };
    let store: Arc<dyn Store> = store;
    let (client, events) = Client::start(opts, store)
        .await
        .map_err(|e| format!("login: {e}"))?;
    Ok(serve(client, events, Duration::from_secs(args.command_timeout)).await)
}

/// Pairs a new device, showing each QR code, and saves it.
async fn link(
    connect: &ConnectOptions,
    store: &FileStore,
    timeout: Duration,
) -> Result<(), String> {
    let mut state = DeviceState::new(&mut rand::rng());
    let opts = PairOptions {
        connect: connect.clone(),
        ..PairOptions::default()
    };
    let linked = tokio::time::timeout(timeout, async {
        let mut pairing = pair(&opts, &mut state).await?;
        loop {
            match pairing.next().await? {
                PairEvent::Qr(qr) => {
                    if !emit(&format!("qr {qr}")) {
                        return Err(wa_client::PairError::Finished);
                    }
                    draw_qr(&qr);
                }
                PairEvent::Paired { jid, lid } => return Ok((jid, lid)),
            }
        }
    })
    .await;
    let (jid, lid) = match linked {
        Ok(Ok(ids)) => ids,
        Ok(Err(e)) => return Err(format!("pairing: {e}")),
        Err(_) => return Err(format!("pairing: no scan within {}s", timeout.as_secs())),
    };
    store
        .save(&state)
        .await
        .map_err(|e| format!("saving the device: {e}"))?;
    let lid = lid.map(|l| l.to_string());
    emit_json(&json!({"event": "paired", "jid": jid.to_string(), "lid": lid}));
    Ok(())
}

/// The QR code on stderr, for a human with a phone.
fn draw_qr(qr: &str) {
    use qrcode::render::unicode::Dense1x2;
    let Ok(code) = qrcode::QrCode::new(qr.as_bytes()) else {
        return;
    };
    let art = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{art}");
}

/// Prints events and runs commands until the client ends, stdin ends, or a
/// command ends the program.
async fn serve(
    client: Client,
    mut events: mpsc::Receiver<ClientEvent>,
    timeout: Duration,
) -> ExitCode {
    // A plain thread: a blocked read on tokio's stdin would hold up the
    // runtime's shutdown.
    let (lines_tx, lines_rx) = mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if lines_tx.blocking_send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut worker = tokio::spawn(run_commands(client.clone(), lines_rx, timeout));
    let code = loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break ExitCode::FAILURE };
                if !emit_event(&event) {
                    break ExitCode::SUCCESS;
                }
                match event {
                    ClientEvent::LoggedOut(_) => break ExitCode::from(3),
                    ClientEvent::Stopped(_) => break ExitCode::FAILURE,
                    _ => {}
                }
            }
            done = &mut worker => break done.unwrap_or(ExitCode::FAILURE),
        }
    };
    client.stop();
    code
}

/// Runs commands in order; returns when stdin ends or a command ends the
/// program.
async fn run_commands(
    client: Client,
    mut lines: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
) -> ExitCode {
    while let Some(line) = lines.recv().await {
        let Ok(line) = String::from_utf8(line) else {
            emit_json(&json!({"ok": false, "error": "the line is not UTF-8"}));
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(c, r)| (c, r.trim()));
        let answer = tokio::time::timeout(timeout, execute(&client, command, rest)).await;
        let (ok, fields, end) = match answer {
            Ok(Ok((fields, end))) => (true, fields, end),
            Ok(Err(error)) => (false, error_fields(error), false),
            Err(_) => {
                let error = format!("no answer within {}s", timeout.as_secs());
                (false, error_fields(error), false)
            }
        };
        let mut out = serde_json::Map::new();
        out.insert("ok".to_owned(), Value::Bool(ok));
        out.insert("command".to_owned(), Value::from(command));
        out.extend(fields);
        if !emit_json(&Value::Object(out)) || end {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}

fn error_fields(error: String) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("error".to_owned(), Value::String(error));
    m
}

type Reply = (serde_json::Map<String, Value>, bool);

/// One command; `Ok((fields, end))`, `end` when the program should exit.
async fn execute(client: &Client, command: &str, rest: &str) -> Result<Reply, String> {
    let fields = |v: Value| match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    match command {
        "send" | "send-group" => {
            let (to, text) = rest
                .split_once(char::is_whitespace)
                .map(|(j, t)| (j, t.trim()))
                .filter(|(_, t)| !t.is_empty())
                .ok_or(format!("usage: {command} JID TEXT"))?;
            let group = command == "send-group";
            let to = parse_jid(to, group)?;
            if group != to.is_group() {
                return Err(format!(
                    "{to} is {}a group",
                    if group { "not " } else { "" }
                ));
            }
            let sent = client
                .send_text(&to, text)
                .await
                .map_err(|e| e.to_string())?;
            Ok((
                fields(json!({"id": sent.id, "timestamp": sent.timestamp})),
                false,
            ))
        }
        "group-create" => {
            let mut words = rest.split_whitespace();
            let name = words.next().ok_or("usage: group-create NAME JID...")?;
            let members = words
                .map(|j| parse_jid(j, false))
                .collect::<Result<Vec<Jid>, String>>()?;
            if members.is_empty() {
                return Err("usage: group-create NAME JID...".to_owned());
            }
            let info = client
                .create_group(name, &members)
                .await
                .map_err(|e| e.to_string())?;
            Ok((
                fields(json!({
                    "group": info.jid.to_string(),
                    "subject": info.subject,
                    "participants": strings(&info.participants),
                })),
                false,
            ))
        }
        "devices" => {
            let user = parse_jid(rest, false)?;
            let devices = client.devices(&user).await.map_err(|e| e.to_string())?;
            Ok((fields(json!({"devices": strings(&devices)})), false))
        }
        "logout" => {
            client.logout().await.map_err(|e| e.to_string())?;
            Ok((serde_json::Map::new(), true))
        }
        "quit" | "exit" => Ok((serde_json::Map::new(), true)),
        "help" => Ok((
            fields(json!({"commands": [
                "send JID TEXT", "send-group GJID TEXT", "group-create NAME JID...",
                "devices JID", "logout", "quit",
            ]})),
            false,
        )),
        other => Err(format!("unknown command {other:?} (try help)")),
    }
}

/// A JID, or a bare phone number (or, for groups, a bare group id).
fn parse_jid(s: &str, group: bool) -> Result<Jid, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("missing JID".to_owned());
    }
    if !s.contains('@') {
        let digits = s.trim_start_matches('+');
        if group && s.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Ok(Jid::new(s, Server::Group));
        }
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Jid::user_jid(digits));
        }
    }
    s.parse().map_err(|e| format!("bad JID {s:?}: {e}"))
}

fn strings(jids: &[Jid]) -> Vec<String> {
    jids.iter().map(ToString::to_string).collect()
}

/// Prints one event; false once stdout is gone.
fn emit_event(event: &ClientEvent) -> bool {
    let value = match event {
        ClientEvent::Connected => return emit("connected"),
        ClientEvent::Disconnected { reason, retry_in } => json!({
            "event": "disconnected",
            "reason": reason,
            "retry_in_ms": u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
        }),
        ClientEvent::LoggedOut(e) => json!({"event": "logged_out", "reason": e.to_string()}),
        ClientEvent::Stopped(e) => json!({"event": "stopped", "reason": e.to_string()}),
        ClientEvent::Message(m) => json!({
            "event": "message",
            "id": m.id,
            "chat": m.chat.to_string(),
            "sender": m.sender.to_string(),
            "sender_lid": m.sender_lid.as_ref().map(ToString::to_string),
            "from_me": m.from_me,
            "timestamp": m.timestamp,
            "push_name": m.push_name,
            "text": m.text(),
        }),
        ClientEvent::Undecryptable {
            id,
            chat,
            sender,
            error,
            gave_up,
            ..
        } => json!({
            "event": "undecryptable",
            "id": id,
            "chat": chat.to_string(),
            "sender": sender.to_string(),
            "error": error,
            "gave_up": gave_up,
        }),
        ClientEvent::Receipt(r) => json!({
            "event": "receipt",
            "ids": r.ids,
            "chat": r.chat.to_string(),
            "from": r.from.to_string(),
            "kind": match &r.kind {
                ReceiptKind::Delivered => "delivered",
                ReceiptKind::Read => "read",
                ReceiptKind::Played => "played",
                ReceiptKind::Sender => "sender",
                ReceiptKind::Other(other) => other.as_str(),
            },
            "timestamp": r.timestamp,
        }),
        ClientEvent::Presence {
            from,
            available,
            last_seen,
        } => json!({
            "event": "presence",
            "from": from.to_string(),
            "available": available,
            "last_seen": last_seen,
        }),
        ClientEvent::ChatState { chat, from, state } => json!({
            "event": "chat_state",
            "chat": chat.to_string(),
            "from": from.to_string(),
            "state": format!("{state:?}").to_lowercase(),
        }),
        ClientEvent::GroupChange(g) => group_change_json(g),
        ClientEvent::Call(c) => call_json(c),
        ClientEvent::DevicesChanged { user } => {
            json!({"event": "devices_changed", "user": user.to_string()})
        }
        ClientEvent::Picture { of, author, id } => json!({
            "event": "picture",
            "of": of.to_string(),
            "author": author.as_ref().map(ToString::to_string),
            "id": id,
        }),
        ClientEvent::IdentityChanged { device } => {
            json!({"event": "identity_changed", "device": device.to_string()})
        }
        ClientEvent::HistorySync(h) => json!({
            "event": "history_sync",
            "id": h.id,
            "sync_type": h.notification.sync_type,
            "chunk_order": h.notification.chunk_order,
        }),
        ClientEvent::AppState(changes) => app_state_json(changes),
        ClientEvent::AppStateInvalid { collection, reason } => json!({
            "event": "app_state_invalid",
            "collection": collection.name(),
            "reason": reason,
        }),
    };
    emit_json(&value)
}

/// The `call` event line.
fn call_json(c: &wa_client::Call) -> Value {
    json!({
        "event": "call",
        "id": c.id,
        "creator": c.creator.to_string(),
        "group": c.group.as_ref().map(ToString::to_string),
        "action": format!("{:?}", c.action),
    })
}

/// The `group` event line for a group change.
fn group_change_json(g: &GroupChange) -> Value {
    let (change, detail) = match &g.kind {
        GroupChangeKind::Created {
            subject,
            participants,
        } => (
            "created",
            json!({"subject": subject, "participants": strings(participants)}),
        ),
        GroupChangeKind::Added(j) => ("added", json!(strings(j))),
        GroupChangeKind::JoinedByLink(j) => ("joined_by_link", json!(strings(j))),
        GroupChangeKind::Removed(j) => ("removed", json!(strings(j))),
        GroupChangeKind::Left(j) => ("left", json!(strings(j))),
        GroupChangeKind::Promoted(j) => ("promoted", json!(strings(j))),
        GroupChangeKind::Demoted(j) => ("demoted", json!(strings(j))),
        GroupChangeKind::Subject(s) => ("subject", json!(s)),
        GroupChangeKind::Description(d) => ("description", json!(d)),
        GroupChangeKind::Announce(on) => ("announce", json!(on)),
        GroupChangeKind::Locked(on) => ("locked", json!(on)),
        GroupChangeKind::Deleted => ("deleted", json!(null)),
        GroupChangeKind::Timer(t) => ("timer", json!(t)),
        GroupChangeKind::Linked { kind, group } => (
            "linked",
            json!({"kind": format!("{kind:?}"), "group": group.jid.to_string()}),
        ),
        GroupChangeKind::Unlinked {
            kind,
            group,
            reason,
        } => (
            "unlinked",
            json!({"kind": format!("{kind:?}"), "group": group.jid.to_string(), "reason": reason}),
        ),
        GroupChangeKind::Other(tag) => ("other", json!(tag)),
    };
    json!({
        "event": "group",
        "group": g.group.to_string(),
        "actor": g.actor.as_ref().map(ToString::to_string),
        "change": change,
        "detail": detail,
    })
}

/// The `app_state` event line for a batch of app-state changes.
fn app_state_json(changes: &[AppStateChange]) -> Value {
    json!({
        "event": "app_state",
        "changes": changes
            .iter()
            .map(|c| json!({
                "collection": c.collection.name(),
                "version": c.version,
                "action": format!("{:?}", c.action),
                "timestamp_ms": c.timestamp_ms,
                "full_sync": c.full_sync,
            }))
            .collect::<Vec<_>>(),
    })
}
