//! Baileys rc14 as a peer of our client: one `node scripts/baileys/peer.mjs`
//! process, driven by JSON lines (see the script's header for commands and
//! events). Whether node and Baileys are there is decided by wa-sim's
//! `baileys_dir`, so `WABRIDGE_REQUIRE_NODE` works the same for every Baileys
//! test.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;
use wa_sim::{Phone, Sim};

/// How long Baileys gets for anything it is waited on for.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// One Baileys companion.
pub struct Peer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Events read but not yet taken by a wait, oldest first.
    backlog: Vec<Value>,
}

impl Peer {
    /// Starts `peer.mjs` in `dir` against `sim`.
    pub fn start(dir: &Path, sim: &Sim) -> Peer {
        Self::start_with(dir, sim, &[])
    }

    /// Starts `peer.mjs` in `dir` against `sim` with `flags` (`--history`).
    /// The simulator's media host stands in for mmg.whatsapp.net, its CA
    /// trusted.
    pub fn start_with(dir: &Path, sim: &Sim, flags: &[&str]) -> Peer {
        let mut child = Command::new("node")
            .arg("peer.mjs")
            .arg(sim.url())
            .arg(hex::encode(sim.root_public_key()))
            .args(flags)
            .env("NODE_EXTRA_CA_CERTS", sim.media_ca_pem_path())
            .env("WA_SIM_MEDIA_HOST", sim.media_host())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs peer.mjs");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Peer {
            child,
            lines,
            backlog: Vec::new(),
        }
    }

    /// Writes one command line.
    pub async fn command(&mut self, cmd: Value) {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("peer.mjs takes commands");
        stdin.flush().await.expect("peer.mjs takes commands");
    }

    /// Takes the first event (read before or arriving within
    /// [`PEER_TIMEOUT`]) for which `want` holds. Fails with `what` and the
    /// events seen meanwhile if none comes, or if Baileys' connection ends.
    pub async fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&want) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + PEER_TIMEOUT;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    panic!("Baileys exited while we waited for {what}; unused events: {self}")
                }
                Err(_) => {
                    panic!("Baileys: no {what} within {PEER_TIMEOUT:?}; unused events: {self}")
                }
            };
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("peer.mjs wrote a line that is not JSON ({e}): {line}"));
            eprintln!("baileys {}: {event}", self.child.id().unwrap_or_default());
            if want(&event) {
                return event;
            }
            assert_ne!(
                event["event"], "close",
                "Baileys' connection ended while we waited for {what}: {event}"
            );
            self.backlog.push(event);
        }
    }

    /// The next event of kind `kind` for which `want` holds.
    pub async fn event(&mut self, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
        self.wait(&format!("{kind:?} event"), |e| {
            e["event"] == kind && want(e)
        })
        .await
    }

    /// Links this companion to `phone`'s account (the phone scans its QR);
    /// returns the `open` event.
    pub async fn link(&mut self, phone: &Phone) -> Value {
        let qr = self.event("qr", |_| true).await;
        let qr = qr["qr"].as_str().expect("a QR string").to_owned();
        phone.scan(&qr).await.expect("the phone links Baileys");
        let open = self.event("open", |_| true).await;
        self.backlog
            .retain(|e| e["event"] != "qr" && e["event"] != "restart");
        open
    }

    /// Sends a 1:1 text; returns its id once Baileys handed it to the server.
    pub async fn send_text(&mut self, to: &str, text: &str) -> String {
        self.command(serde_json::json!({"cmd": "send-text", "to": to, "text": text}))
            .await;
        self.sent("send-text", to).await
    }

    /// Sends a text into group `group`; returns its id.
    pub async fn send_group_text(&mut self, group: &str, text: &str) -> String {
        self.command(serde_json::json!({"cmd": "send-group-text", "group": group, "text": text}))
            .await;
        self.sent("send-group-text", group).await
    }

    /// Runs one of peer.mjs's sending commands (`cmd` carries `"cmd"` and
    /// `"to"`: send-media, send-reply, send-reaction, ...); returns the id of
    /// the message once Baileys handed it to the server.
    pub async fn send(&mut self, cmd: Value) -> String {
        let (name, to) = (cmd["cmd"].as_str(), cmd["to"].as_str());
        let (name, to) = (
            name.expect("a command has \"cmd\"").to_owned(),
            to.expect("a sending command has \"to\"").to_owned(),
        );
        self.command(cmd).await;
        self.sent(&name, &to).await
    }

    async fn sent(&mut self, cmd: &str, to: &str) -> String {
        let ev = self
            .wait(&format!("the result of {cmd} to {to}"), |e| {
                (e["event"] == "sent" && e["to"] == to)
                    || (e["event"] == "error" && e["cmd"] == cmd)
            })
            .await;
        assert_eq!(ev["event"], "sent", "Baileys could not {cmd}: {ev}");
        ev["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a sent event without id: {ev}"))
            .to_owned()
    }

    /// The text message with id `id` (a failed decryption of it stays in the
    /// backlog, shown if the message never comes).
    pub async fn message(&mut self, id: &str) -> Value {
        self.event("message", |e| e["id"] == id).await
    }

    /// Runs Baileys' own `chatModify` on chat `jid` (`m` as in peer.mjs'
    /// header); waits until Baileys says the patch went out.
    pub async fn chat_modify(&mut self, jid: &str, m: Value) {
        self.command(serde_json::json!({"cmd": "chat-modify", "jid": jid, "mod": m}))
            .await;
        let ev = self
            .wait(&format!("chat-modify of {jid}"), |e| {
                (e["event"] == "chat-modified" && e["jid"] == jid)
                    || (e["event"] == "error" && e["cmd"] == "chat-modify")
            })
            .await;
        assert_eq!(
            ev["event"], "chat-modified",
            "Baileys' chatModify failed: {ev}"
        );
    }

    /// Runs one of Baileys' own group calls (`action` on group `gid`, with
    /// the fields of `extra`, as in peer.mjs' header); its result. A call
    /// Baileys fails is the test's failure.
    pub async fn group(&mut self, gid: &str, action: &str, mut extra: Value) -> Value {
        extra["cmd"] = serde_json::json!("group");
        extra["action"] = serde_json::json!(action);
        extra["group"] = serde_json::json!(gid);
        self.command(extra).await;
        let answer = self
            .wait(&format!("the answer to group {action}"), |e| {
                (e["event"] == "group-done" && e["action"] == action)
                    || (e["event"] == "error" && e["cmd"] == "group")
            })
            .await;
        assert_eq!(answer["event"], "group-done", "Baileys' {action}: {answer}");
        answer["result"].clone()
    }

    /// The `chats.update` fields Baileys reported per chat, merged in
    /// order, until every chat in `want` has every field it names.
    pub async fn chat_updates(
        &mut self,
        want: &BTreeMap<String, Vec<&str>>,
    ) -> BTreeMap<String, Map<String, Value>> {
        let mut got: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let complete = |got: &BTreeMap<String, Map<String, Value>>| {
            want.iter().all(|(id, fields)| {
                got.get(id)
                    .is_some_and(|m| fields.iter().all(|f| m.contains_key(*f)))
            })
        };
        while !complete(&got) {
            let ev = self.event("chats-update", |_| true).await;
            for chat in ev["chats"].as_array().into_iter().flatten() {
                let Some(id) = chat["id"].as_str() else {
                    panic!("a chats.update without id: {ev}");
                };
                let entry = got.entry(id.to_owned()).or_default();
                for (k, v) in chat.as_object().into_iter().flatten() {
                    if k != "id" {
                        entry.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        got
    }

    /// The attachment with id `id`, downloaded by Baileys (its `media`
    /// event; a failed download fails here with the reason).
    pub async fn media(&mut self, id: &str) -> Value {
        let ev = self
            .wait(&format!("the attachment {id}"), |e| {
                (e["event"] == "media" || e["event"] == "media-error") && e["id"] == id
            })
            .await;
        assert_eq!(
            ev["event"], "media",
            "Baileys could not download {id}: {ev}"
        );
        ev
    }

    /// Takes every event of kind `kind` read so far and not taken by a wait.
    pub fn take_all(&mut self, kind: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.backlog)
            .into_iter()
            .partition(|e| e["event"] == kind);
        self.backlog = kept;
        taken
    }

    /// Events of kind `kind` read so far and not taken by a wait.
    pub fn unused(&self, kind: &str) -> Vec<Value> {
        self.backlog
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.backlog {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}
