//! A reverse proxy between the bridge and Synapse that can withhold one
//! response (the request reaches Synapse and takes effect, but the bridge
//! never hears back, so a test can stop the bridge exactly after that
//! request), or answer some requests 503 for a while, as a failing
//! homeserver would.

#![allow(dead_code)] // each test binary uses a part

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Shared {
    upstream: String,
    http: reqwest::Client,
    /// Requests whose path ends with this have their response withheld
    /// (once), the response body handed to `held`.
    hold: String,
    held: Mutex<Option<oneshot::Sender<Value>>>,
    /// Requests whose path holds this get 503 until the instant.
    failing: Mutex<Option<(String, Instant)>>,
}

/// Switches on failures of a running proxy.
#[derive(Clone)]
pub struct Faults(Arc<Shared>);

impl Faults {
    /// Requests whose (percent-encoded) path contains `part` are answered
    /// 503 `M_UNKNOWN`, not forwarded, for `how_long`.
    pub fn fail(&self, part: &str, how_long: Duration) {
        *self.0.failing.lock().unwrap() = Some((part.to_owned(), Instant::now() + how_long));
    }
}

/// A proxy that passes everything until [`Faults::fail`] says otherwise.
pub async fn start_with_faults(upstream: &str) -> (String, Faults) {
    let (url, _, shared) = serve(upstream, "\0never").await;
    (url, Faults(shared))
}

/// The proxy's address (`http://127.0.0.1:PORT`) and the body of the
/// response it withheld, once there is one: the first request to a path
/// ending with `hold` (say `/createRoom`) goes to `upstream`, and the
/// caller waits forever for the answer. Every other request passes.
pub async fn start(upstream: &str, hold: &str) -> (String, oneshot::Receiver<Value>) {
    let (url, rx, _) = serve(upstream, hold).await;
    (url, rx)
}

async fn serve(upstream: &str, hold: &str) -> (String, oneshot::Receiver<Value>, Arc<Shared>) {
    let (tx, rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        upstream: upstream.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        hold: hold.to_owned(),
        held: Mutex::new(Some(tx)),
        failing: Mutex::new(None),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx, shared)
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let failing = shared.failing.lock().unwrap().clone();
    if let Some((part, until)) = failing
        && Instant::now() < until
        && uri.path().contains(&part)
    {
        return Response::builder()
            .status(503)
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"errcode":"M_UNKNOWN","error":"failing (test proxy)"}"#,
            ))
            .unwrap();
    }
    let mut req = shared
        .http
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let resp = req.send().await.expect("Synapse answers the proxy");
    let status = resp.status();
    let resp_headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("Synapse's response body");
    if uri.path().ends_with(&shared.hold) {
        let held = shared.held.lock().unwrap().take();
        if let Some(held) = held {
            let _ = held.send(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            return std::future::pending().await;
        }
    }
    let mut out = Response::builder().status(status);
    for (name, value) in &resp_headers {
        if name != "content-length" && name != "transfer-encoding" {
            out = out.header(name, value);
        }
    }
    out.body(Body::from(bytes)).unwrap()
}
