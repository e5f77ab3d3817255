//! The appservice API served on a real socket (127.0.0.1:0), driven over
//! HTTP like a homeserver would; and the homeserver client against a small
//! fake homeserver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wabridge::appservice::{
    ClientError, Handler, HandlerError, HsToken, MatrixClient, MemoryTransactionStore, RetryPolicy,
    Transaction, serve,
};

const TOKEN: &str = "hs-secret-token";

#[derive(Default)]
struct Recorder {
    txns: Mutex<Vec<Transaction>>,
    /// Fail this many calls to `handle` before succeeding.
    fail: AtomicUsize,
    /// Panic in this many calls to `handle`.
    panic: AtomicUsize,
    /// Delay of each `handle`, in ms.
    delay_ms: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    pings: Mutex<Vec<Option<String>>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, txn: Transaction) -> Result<(), HandlerError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst) as u64;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        if self
            .panic
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("induced panic");
        }
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(HandlerError::new("induced failure"));
        }
        self.txns.lock().unwrap().push(txn);
        Ok(())
    }

    async fn query_user(&self, user_id: &ruma::UserId) -> bool {
        user_id.as_str().starts_with("@whatsapp_")
    }

    async fn query_room(&self, alias: &ruma::RoomAliasId) -> bool {
        alias == "#whatsapp_group:example.org"
    }

    async fn ping(&self, transaction_id: Option<&ruma::TransactionId>) {
        self.pings
            .lock()
            .unwrap()
            .push(transaction_id.map(|t| t.as_str().to_owned()));
    }
}

impl Recorder {
    fn ids(&self) -> Vec<String> {
        self.txns
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.id.to_string())
            .collect()
    }
}

struct Harness {
    base: String,
    http: reqwest::Client,
    recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Harness {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let recorder = Arc::new(Recorder::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let handler: Arc<dyn Handler> = recorder.clone();
        let task = tokio::spawn(async move {
            serve(
                listener,
                HsToken::new(TOKEN),
                handler,
                Arc::new(MemoryTransactionStore::new()),
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            recorder,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn put_txn(&self, id: &str, body: &str) -> (u16, Value) {
        let resp = self
            .http
            .put(format!("{}/_matrix/app/v1/transactions/{id}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn message_txn(body: &str) -> String {
    json!({"events": [{
        "type": "m.room.message", "room_id": "!r:example.org", "sender": "@alice:example.org",
        "event_id": "$e1", "origin_server_ts": 1_700_000_000_000u64,
        "content": {"msgtype": "m.text", "body": body}
    }]})
    .to_string()
}

#[tokio::test]
async fn missing_token_is_401_and_wrong_token_403() {
    let h = Harness::start().await;
    let url = format!("{}/_matrix/app/v1/transactions/1", h.base);
    let (status, body) = read(h.http.put(&url).body("{}").send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["errcode"], "M_MISSING_TOKEN");

    let (status, body) = read(
        h.http
            .put(&url)
            .bearer_auth("wrong")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["errcode"], "M_FORBIDDEN");

    for path in [
        "/_matrix/app/v1/users/@whatsapp_1:example.org",
        "/_matrix/app/v1/rooms/%23whatsapp_group:example.org",
    ] {
        let resp = h
            .http
            .get(format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
    }
    assert!(h.recorder.ids().is_empty());

    // Legacy query-string authorization.
    let resp = h
        .http
        .put(format!("{url}?access_token={TOKEN}"))
        .body(r#"{"events":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(h.recorder.ids(), ["1"]);
    h.stop().await;
}

/// Sends `head` (request line and headers, no body) on a raw socket and
/// returns the status line of the answer, which must come without the
/// body ever being sent.
async fn answer_without_body(base: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
        .await
        .expect("an answer before the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_token_is_checked_before_a_body_is_read_and_small_routes_take_small_bodies() {
    let h = Harness::start().await;
    // 32 MiB announced, none sent: a wrong token is refused at once.
    let head = "PUT /_matrix/app/v1/transactions/big HTTP/1.1\r\nHost: x\r\n\
        Authorization: Bearer wrong\r\nContent-Type: application/json\r\n\
        Content-Length: 33554432\r\n\r\n";
    let status = answer_without_body(&h.base, head).await;
    assert!(status.contains(" 403 "), "{status}");
    let head = "PUT /_matrix/app/v1/transactions/big HTTP/1.1\r\nHost: x\r\n\
        Content-Length: 33554432\r\n\r\n";
    let status = answer_without_body(&h.base, head).await;
    assert!(status.contains(" 401 "), "{status}");

    // Outside /transactions a body is small: a 1 MiB ping is refused.
    let resp = h
        .http
        .post(format!("{}/_matrix/app/v1/ping", h.base))
        .bearer_auth(TOKEN)
        .body(vec![b' '; 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // A transaction of 1 MiB is fine.
    let big = message_txn(&"x".repeat(1024 * 1024));
    let (status, _) = h.put_txn("big", &big).await;
    assert_eq!(status, 200);
    assert!(h.recorder.ids().contains(&"big".to_owned()));
    h.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_and_server_keeps_working() {
    let h = Harness::start().await;
    let (status, body) = h.put_txn("a", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(body["errcode"], "M_NOT_JSON");
    let (status, body) = h.put_txn("b", r#"{"events": 5}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["errcode"], "M_BAD_JSON");
    let (status, body) = h.put_txn("c", "[]").await;
    assert_eq!(status, 400);
    assert_eq!(body["errcode"], "M_BAD_JSON");

    let (status, body) = h.put_txn("d", &message_txn("hello")).await;
    assert_eq!((status, body), (200, json!({})));
    let txns = h.recorder.txns.lock().unwrap().clone();
    assert_eq!(txns.len(), 1);
    let msg = txns[0].events[0].message().unwrap();
    assert_eq!(msg.msgtype.body(), "hello");
    assert_eq!(
        txns[0].events[0].sender.as_ref().map(|s| s.as_str()),
        Some("@alice:example.org")
    );
    h.stop().await;
}

#[tokio::test]
async fn replayed_txn_is_handled_once() {
    let h = Harness::start().await;
    for _ in 0..3 {
        let (status, _) = h.put_txn("same", &message_txn("once")).await;
        assert_eq!(status, 200);
    }
    assert_eq!(h.recorder.ids(), ["same"]);
    h.stop().await;
}

#[tokio::test]
async fn transactions_are_handled_one_at_a_time_in_order() {
    let h = Arc::new(Harness::start().await);
    h.recorder.delay_ms.store(150, Ordering::SeqCst);
    let first = {
        let h = Arc::clone(&h);
        tokio::spawn(async move { h.put_txn("t1", &message_txn("one")).await })
    };
    tokio::time::sleep(Duration::from_millis(40)).await;
    let (status, _) = h.put_txn("t2", &message_txn("two")).await;
    assert_eq!(status, 200);
    assert_eq!(first.await.unwrap().0, 200);
    assert_eq!(h.recorder.ids(), ["t1", "t2"]);
    assert_eq!(h.recorder.max_running.load(Ordering::SeqCst), 1);

    // Ephemeral events, both the stable and the MSC2409 key.
    let (status, _) = h
        .put_txn(
            "t3",
            r#"{"events":[],"de.sorunome.msc2409.ephemeral":[{"type":"m.typing","room_id":"!r:x","content":{"user_ids":["@a:x"]}}]}"#,
        )
        .await;
    assert_eq!(status, 200);
    let txns = h.recorder.txns.lock().unwrap().clone();
    assert_eq!(
        txns[2].ephemeral[0]
            .typing_user_ids()
            .map(|ids| ids.iter().map(ToString::to_string).collect::<Vec<_>>()),
        Some(vec!["@a:x".to_owned()])
    );
    drop(txns);
    if let Ok(h) = Arc::try_unwrap(h) {
        h.stop().await;
    }
}

#[tokio::test]
async fn handler_failure_is_500_then_retry_succeeds_once() {
    let h = Harness::start().await;
    h.recorder.fail.store(1, Ordering::SeqCst);
    let (status, body) = h.put_txn("r1", &message_txn("retry me")).await;
    assert_eq!(status, 500);
    assert_eq!(body["errcode"], "M_UNKNOWN");
    assert!(h.recorder.ids().is_empty());

    let (status, _) = h.put_txn("r1", &message_txn("retry me")).await;
    assert_eq!(status, 200);
    let (status, _) = h.put_txn("r1", &message_txn("retry me")).await;
    assert_eq!(status, 200);
    assert_eq!(h.recorder.ids(), ["r1"]);
    h.stop().await;
}

#[tokio::test]
async fn panicking_handler_is_500_and_server_keeps_working() {
    let h = Harness::start().await;
    h.recorder.panic.store(1, Ordering::SeqCst);
    let (status, _) = h.put_txn("p1", &message_txn("boom")).await;
    assert_eq!(status, 500);
    let (status, _) = h.put_txn("p1", &message_txn("boom")).await;
    assert_eq!(status, 200);
    assert_eq!(h.recorder.ids(), ["p1"]);
    h.stop().await;
}

#[tokio::test]
async fn user_and_room_queries_and_ping() {
    let h = Harness::start().await;
    let (status, body) = h
        .get("/_matrix/app/v1/users/%40whatsapp_123%3Aexample.org")
        .await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = h.get("/_matrix/app/v1/users/@bob:example.org").await;
    assert_eq!(status, 404);
    assert_eq!(body["errcode"], "M_NOT_FOUND");
    let (status, _) = h
        .get("/_matrix/app/v1/rooms/%23whatsapp_group%3Aexample.org")
        .await;
    assert_eq!(status, 200);
    let (status, body) = h.get("/_matrix/app/v1/rooms/%23other%3Aexample.org").await;
    assert_eq!(status, 404);
    assert_eq!(body["errcode"], "M_NOT_FOUND");

    let resp = h
        .http
        .post(format!("{}/_matrix/app/v1/ping", h.base))
        .bearer_auth(TOKEN)
        .body(r#"{"transaction_id":"p1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(read(resp).await, (200, json!({})));
    assert_eq!(*h.recorder.pings.lock().unwrap(), [Some("p1".to_owned())]);

    let (status, body) = h.get("/_matrix/app/v1/nothing").await;
    assert_eq!(status, 404);
    assert_eq!(body["errcode"], "M_UNRECOGNIZED");
    h.stop().await;
}

// ---- client against a fake homeserver ----

/// A request the fake homeserver saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    auth: String,
    body: Value,
}

type Script = Arc<Mutex<Vec<(u16, Value)>>>;

/// Serves scripted answers (then 200 with a generic body) and records requests.
async fn fake_homeserver(script: Script) -> (String, Arc<Mutex<Vec<Seen>>>) {
    use axum::body::Bytes;
    use axum::extract::Request;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |req: Request| {
        let seen = Arc::clone(&seen2);
        let script = Arc::clone(&script);
        async move {
            let (parts, body) = req.into_parts();
            let bytes: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            seen.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                auth: parts
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            });
            let next = {
                let mut s = script.lock().unwrap();
                (!s.is_empty()).then(|| s.remove(0))
            };
            let (status, body) = next.unwrap_or((
                200,
                json!({"event_id": "$new", "room_id": "!new:example.org",
                       "content_uri": "mxc://example.org/abc"}),
            ));
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                body.to_string(),
            )
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn ghost_registers_then_sends_with_user_id_and_retries() {
    let script: Script = Arc::new(Mutex::new(vec![
        // register: already taken is fine
        (400, json!({"errcode": "M_USER_IN_USE", "error": "taken"})),
        // send: rate limited, then a 502, then success
        (
            429,
            json!({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 5}),
        ),
        (502, json!({})),
    ]));
    let (base, seen) = fake_homeserver(script).await;
    let client = MatrixClient::new(&base, "as-token", "example.org")
        .unwrap()
        .with_retry(fast_retry());
    let ghost = client.ghost_intent("whatsapp_1").unwrap();
    let event_id = ghost
        .send_message_event(
            ruma::room_id!("!room:example.org"),
            "m.room.message",
            &json!({"msgtype": "m.text", "body": "hi"}),
            "txn/1",
            Some(1234),
        )
        .await
        .unwrap();
    assert_eq!(event_id, "$new");
    // Second request: registration is cached.
    ghost.set_displayname("Alice (WA)").await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let paths: Vec<_> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    // ruma lays out the paths: `!`, `@` and `:` may stand unencoded in a
    // path segment (RFC 3986 pchar), `/` may not.
    let send = "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/txn%2F1";
    assert_eq!(
        paths,
        [
            ("POST", "/_matrix/client/v3/register"),
            ("PUT", send),
            ("PUT", send),
            ("PUT", send),
            (
                "PUT",
                "/_matrix/client/v3/profile/@whatsapp_1:example.org/displayname"
            ),
        ]
    );
    assert_eq!(
        seen[0].body,
        json!({"type": "m.login.application_service", "username": "whatsapp_1", "inhibit_login": true})
    );
    assert_eq!(seen[0].query, "");
    assert_eq!(seen[1].query, "ts=1234&user_id=%40whatsapp_1%3Aexample.org");
    assert!(seen.iter().all(|s| s.auth == "Bearer as-token"));
    assert_eq!(seen[4].body, json!({"displayname": "Alice (WA)"}));
}

/// `members` reads every member event or fails: a room whose member list
/// has one it cannot read is never taken for one without that member.
#[tokio::test]
async fn an_unreadable_member_fails_the_member_list() {
    let member = |user: &str, membership: &str| {
        json!({"type": "m.room.member", "state_key": user, "sender": user,
               "event_id": "$m", "origin_server_ts": 1, "room_id": "!r:example.org",
               "content": {"membership": membership}})
    };
    let good = json!({"chunk": [member("@alice:example.org", "join"),
                                member("@bot:example.org", "join")]});
    let bad = json!({"chunk": [member("@alice:example.org", "join"),
                               member("not a user", "join")]});
    let script: Script = Arc::new(Mutex::new(vec![(200, good), (200, bad)]));
    let (base, _) = fake_homeserver(script).await;
    let client = MatrixClient::new(&base, "as-token", "example.org").unwrap();
    let bot = client.bot_intent("bot").unwrap();
    let room = ruma::room_id!("!r:example.org");
    let members = bot.members(room).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].0, "@alice:example.org");
    let err = bot.members(room).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidResponse(_)), "{err}");
}

#[tokio::test]
async fn client_errors_carry_status_and_errcode() {
    let script: Script = Arc::new(Mutex::new(vec![
        (
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "not allowed"}),
        ),
        (500, json!({})),
        (500, json!({})),
    ]));
    let (base, seen) = fake_homeserver(script).await;
    let client = MatrixClient::new(&base, "as-token", "example.org")
        .unwrap()
        .with_retry(fast_retry());
    let bot = client.bot_intent("whatsappbot").unwrap();
    let err = bot
        .create_room(&Default::default())
        .await
        .expect_err("403 is an error");
    let m = err.matrix().unwrap();
    assert_eq!((m.status, m.errcode.as_str()), (403, "M_FORBIDDEN"));
    // A non-idempotent POST is not retried on 5xx.
    let err = bot.create_room(&Default::default()).await.unwrap_err();
    assert!(matches!(&err, ClientError::Matrix(m) if m.status == 500));
    assert_eq!(seen.lock().unwrap().len(), 2);
    // The bot sends no user_id.
    assert!(seen.lock().unwrap().iter().all(|s| s.query.is_empty()));

    // An idempotent GET is retried: 500 once more, then success.
    let members = bot.joined_members(ruma::room_id!("!r:example.org")).await;
    assert!(matches!(members, Err(ClientError::InvalidResponse(_))));
    assert_eq!(seen.lock().unwrap().len(), 4);

    // Unreachable homeserver: a network error, not a panic.
    let dead = MatrixClient::new("http://127.0.0.1:1", "t", "example.org")
        .unwrap()
        .with_retry(fast_retry());
    let err = dead.ensure_registered("x").await.unwrap_err();
    assert!(matches!(err, ClientError::Network(_)));
}
