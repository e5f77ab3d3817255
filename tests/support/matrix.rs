//! A minimal Matrix client-server API client for tests: raw HTTP, JSON in
//! and out, panicking with the server's answer on any unexpected error.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Percent-encodes one path segment (room id, event type, user id, ...).
pub fn enc(segment: &str) -> String {
    utf8_percent_encode(segment, NON_ALPHANUMERIC).to_string()
}

/// An event's `content.body`, or "".
pub fn body(e: &Value) -> &str {
    e["content"]["body"].as_str().unwrap_or_default()
}

/// The event a redaction removes (top level before room version 11, in the
/// content from 11 on).
pub fn redacts(e: &Value) -> &str {
    e["redacts"]
        .as_str()
        .or_else(|| e["content"]["redacts"].as_str())
        .unwrap_or_default()
}

/// A predicate for [`MatrixUser::sync_until`]: `user`'s membership in
/// `room` became `what` (`join`, `leave`, `invite`, ...).
pub fn membership(room: &str, user: &str, what: &'static str) -> impl Fn(&str, &Value) -> bool {
    let (room, user) = (room.to_owned(), user.to_owned());
    move |r, e| {
        r == room
            && e["type"] == "m.room.member"
            && e["state_key"] == user.as_str()
            && e["content"]["membership"] == what
    }
}

/// A logged-in Matrix user.
#[derive(Debug)]
pub struct MatrixUser {
    pub user_id: String,
    pub access_token: String,
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
    http: reqwest::Client,
    /// `next_batch` of the last /sync of [`MatrixUser::sync_until`].
    since: Mutex<Option<String>>,
    /// Timeline events synced but not yet offered to a predicate.
    pending: Mutex<VecDeque<(String, Value)>>,
    txn: AtomicU64,
}

impl MatrixUser {
    pub fn new(base_url: &str, user_id: &str, access_token: &str) -> MatrixUser {
        MatrixUser {
            user_id: user_id.to_owned(),
            access_token: access_token.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("http client"),
            since: Mutex::new(None),
            pending: Mutex::new(VecDeque::new()),
            txn: AtomicU64::new(0),
        }
    }

    /// One authenticated request; `path` starts with `/_matrix/...` and
    /// carries its own query. Returns the status and the body (JSON, or
    /// `Value::Null` when the body is empty or not JSON).
    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self
            .raw_request(
                method,
                path,
                body.map(|b| ("application/json", b.to_string().into_bytes())),
            )
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn raw_request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Vec<u8>) {
        let url = format!("{}{path}", self.base_url);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.access_token);
        if let Some((content_type, bytes)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        } else if method == Method::POST || method == Method::PUT {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{}");
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {method} {path}: {e}", self.user_id));
        let status = resp.status();
        let bytes = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, bytes)
    }

    /// A request that must succeed; returns its JSON body.
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.try_request(method.clone(), path, body).await;
        assert!(
            status.is_success(),
            "{} {method} {path}: {status}: {v}",
            self.user_id
        );
        v
    }

    pub async fn get(&self, path: &str) -> Value {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Value {
        self.request(Method::PUT, path, Some(body)).await
    }

    fn next_txn(&self) -> String {
        format!(
            "t{}-{}",
            std::process::id(),
            self.txn.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// `POST /createRoom` with this body; returns the room id.
    pub async fn create_room(&self, body: &Value) -> String {
        let v = self.post("/_matrix/client/v3/createRoom", body).await;
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Creates a direct chat (unencrypted, `is_direct`) inviting `with`.
    pub async fn create_dm(&self, with: &str) -> String {
        self.create_room(&json!({
            "is_direct": true,
            "invite": [with],
            "preset": "trusted_private_chat",
        }))
        .await
    }

    /// Joins a room by id or alias; returns the room id.
    pub async fn join(&self, room: &str) -> String {
        let v = self
            .post(
                &format!("/_matrix/client/v3/join/{}", enc(room)),
                &json!({}),
            )
            .await;
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Accepts an invite (a join).
    pub async fn accept_invite(&self, room_id: &str) {
        self.join(room_id).await;
    }

    pub async fn invite(&self, room_id: &str, user_id: &str) {
        let path = format!("/_matrix/client/v3/rooms/{}/invite", enc(room_id));
        self.post(&path, &json!({ "user_id": user_id })).await;
    }

    /// Kicks `user_id` out of the room.
    pub async fn kick(&self, room_id: &str, user_id: &str) {
        let path = format!("/_matrix/client/v3/rooms/{}/kick", enc(room_id));
        self.post(&path, &json!({ "user_id": user_id })).await;
    }

    pub async fn leave(&self, room_id: &str) {
        let path = format!("/_matrix/client/v3/rooms/{}/leave", enc(room_id));
        self.post(&path, &json!({})).await;
    }

    /// Sends an `m.text` message; returns its event id.
    pub async fn send_text(&self, room_id: &str, body: &str) -> String {
        self.send_event(
            room_id,
            "m.room.message",
            &json!({ "msgtype": "m.text", "body": body }),
        )
        .await
    }

    /// Sends any message event; returns its event id.
    pub async fn send_event(&self, room_id: &str, event_type: &str, content: &Value) -> String {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{}/{}",
            enc(room_id),
            enc(event_type),
            self.next_txn()
        );
        let v = self.put(&path, content).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Sends a state event; returns its event id.
    pub async fn send_state(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> String {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room_id),
            enc(event_type),
            enc(state_key)
        );
        let v = self.put(&path, content).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Redacts an event; returns the redaction's event id.
    pub async fn redact(&self, room_id: &str, event_id: &str, reason: Option<&str>) -> String {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{}",
            enc(room_id),
            enc(event_id),
            self.next_txn()
        );
        let body = match reason {
            Some(r) => json!({ "reason": r }),
            None => json!({}),
        };
        let v = self.put(&path, &body).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Sends an `m.read` receipt for an event.
    pub async fn read_receipt(&self, room_id: &str, event_id: &str) {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
            enc(room_id),
            enc(event_id)
        );
        self.post(&path, &json!({})).await;
    }

    /// Sets (for 30 s) or clears this user's typing notification.
    pub async fn typing(&self, room_id: &str, typing: bool) {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/typing/{}",
            enc(room_id),
            enc(&self.user_id)
        );
        let body = if typing {
            json!({ "typing": true, "timeout": 30_000 })
        } else {
            json!({ "typing": false })
        };
        self.put(&path, &body).await;
    }

    /// Syncs until `pred(room_id, event)` holds for a timeline or ephemeral
    /// (receipt, typing) event the
    /// earlier calls have not offered yet, and returns that room id and
    /// event. Events after the match stay queued for the next call. The
    /// first call starts with an initial sync, so it sees each joined room's
    /// recent history too. Panics after `timeout`, listing what it saw.
    pub async fn sync_until<F>(&self, timeout: Duration, mut pred: F) -> (String, Value)
    where
        F: FnMut(&str, &Value) -> bool,
    {
        let deadline = Instant::now() + timeout;
        let mut seen = String::new();
        loop {
            loop {
                let next = self.pending.lock().expect("pending").pop_front();
                let Some((room_id, event)) = next else { break };
                if pred(&room_id, &event) {
                    return (room_id, event);
                }
                let _ = writeln!(
                    seen,
                    "  {room_id} {} from {}: {}",
                    event["type"].as_str().unwrap_or("?"),
                    event["sender"].as_str().unwrap_or("?"),
                    event["content"]
                );
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "{}: no matching event within {timeout:?}; saw:\n{seen}",
                self.user_id
            );
            let wait = (deadline - now).min(Duration::from_secs(5));
            self.sync_once(wait).await;
        }
    }

    /// One /sync from the stored token (long-polling up to `wait`), queueing
    /// its timeline and ephemeral events for [`MatrixUser::sync_until`];
    /// returns the body.
    pub async fn sync_once(&self, wait: Duration) -> Value {
        let since = self.since.lock().expect("since").clone();
        let filter = enc(r#"{"room":{"timeline":{"limit":100}}}"#);
        let mut path = format!(
            "/_matrix/client/v3/sync?timeout={}&filter={filter}",
            wait.as_millis()
        );
        if let Some(s) = &since {
            path.push_str("&since=");
            path.push_str(&enc(s));
        }
        let v = self.get(&path).await;
        let mut pending = self.pending.lock().expect("pending");
        for section in ["join", "leave"] {
            if let Some(rooms) = v["rooms"][section].as_object() {
                for (room_id, room) in rooms {
                    for ev in room["timeline"]["events"].as_array().into_iter().flatten() {
                        pending.push_back((room_id.clone(), ev.clone()));
                    }
                    // Receipts and typing, after the room's timeline.
                    for ev in room["ephemeral"]["events"].as_array().into_iter().flatten() {
                        pending.push_back((room_id.clone(), ev.clone()));
                    }
                }
            }
        }
        drop(pending);
        if let Some(next) = v["next_batch"].as_str() {
            *self.since.lock().expect("since") = Some(next.to_owned());
        }
        v
    }

    /// Room ids of the pending invites (from a fresh initial sync; the
    /// [`MatrixUser::sync_until`] position is left alone).
    pub async fn invites(&self) -> Vec<String> {
        let filter = enc(r#"{"room":{"timeline":{"limit":1}}}"#);
        let v = self
            .get(&format!(
                "/_matrix/client/v3/sync?timeout=0&filter={filter}"
            ))
            .await;
        v["rooms"]["invite"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits for an invite to appear and returns its room id (the first,
    /// when there are several). Panics after `timeout`.
    pub async fn wait_for_invite(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(room) = self.invites().await.into_iter().next() {
                return room;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no invite within {timeout:?}",
                self.user_id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The room's events, oldest first (up to 1000, from `/messages`).
    pub async fn room_messages(&self, room_id: &str) -> Vec<Value> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1000",
            enc(room_id)
        );
        let v = self.get(&path).await;
        let mut chunk = v["chunk"].as_array().cloned().unwrap_or_default();
        chunk.reverse();
        chunk
    }

    pub async fn joined_rooms(&self) -> Vec<String> {
        let v = self.get("/_matrix/client/v3/joined_rooms").await;
        v["joined_rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    }

    /// User ids of the room's joined members.
    pub async fn joined_members(&self, room_id: &str) -> Vec<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room_id));
        let v = self.get(&path).await;
        v["joined"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A state event's content, or `None` when the room has none.
    pub async fn get_state(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Option<Value> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room_id),
            enc(event_type),
            enc(state_key)
        );
        match self.try_request(Method::GET, &path, None).await {
            (StatusCode::NOT_FOUND, _) => None,
            (s, v) if s.is_success() => Some(v),
            (s, v) => panic!("{} GET {path}: {s}: {v}", self.user_id),
        }
    }

    /// This user's global account data of this type, or `None`.
    pub async fn account_data(&self, event_type: &str) -> Option<Value> {
        let path = format!(
            "/_matrix/client/v3/user/{}/account_data/{}",
            enc(&self.user_id),
            enc(event_type)
        );
        match self.try_request(Method::GET, &path, None).await {
            (StatusCode::NOT_FOUND, _) => None,
            (s, v) if s.is_success() => Some(v),
            (s, v) => panic!("{} GET {path}: {s}: {v}", self.user_id),
        }
    }

    /// Uploads media; returns its `mxc://` URI.
    pub async fn upload_media(&self, content_type: &str, bytes: Vec<u8>) -> String {
        let path = "/_matrix/media/v3/upload";
        let (status, body) = self
            .raw_request(Method::POST, path, Some((content_type, bytes)))
            .await;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{} POST {path}: {status}: {v}",
            self.user_id
        );
        v["content_uri"].as_str().expect("content_uri").to_owned()
    }

    /// Downloads `mxc://server/id` (authenticated media API).
    pub async fn download_media(&self, mxc: &str) -> Vec<u8> {
        let rest = mxc
            .strip_prefix("mxc://")
            .unwrap_or_else(|| panic!("not an mxc URI: {mxc}"));
        let (server, id) = rest
            .split_once('/')
            .unwrap_or_else(|| panic!("not an mxc URI: {mxc}"));
        let path = format!(
            "/_matrix/client/v1/media/download/{}/{}",
            enc(server),
            enc(id)
        );
        let (status, body) = self.raw_request(Method::GET, &path, None).await;
        assert!(
            status.is_success(),
            "{} GET {path}: {status}: {}",
            self.user_id,
            String::from_utf8_lossy(&body)
        );
        body
    }
}
