//! The appservice HTTP API the homeserver pushes to.
//!
//! Transactions go through one worker task, so they are handled strictly one
//! at a time in arrival order, and a transaction whose HTTP request is
//! dropped half-way still runs to completion (the homeserver's retry is then
//! answered from the dedupe store).
//!
//! Every route checks the homeserver's token before its body is read; a
//! transaction may be 32 MiB, any other body 64 KiB, and at most 32
//! authenticated requests are served at once.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use ruma::api::appservice::ping::send_ping;
use ruma::api::appservice::query::{query_room_alias, query_user_id};
use ruma::api::{IncomingRequest, OutgoingResponse};
use ruma::{RoomAliasId, TransactionId, UserId};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::error::{HandlerError, ServerError, TxnStoreError};
use super::event::{BodyError, Transaction, parse_transaction};

/// Largest transaction body accepted (Synapse sends up to 100 persistent
/// and 100 ephemeral events of at most 64 KiB each).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Largest body of any other request (a ping's is `{transaction_id}`).
const MAX_SMALL_BODY: usize = 64 * 1024;

/// How many authenticated requests are served at once; more wait.
const CONCURRENT: usize = 32;

/// How many transactions may wait for the worker.
const QUEUE: usize = 64;

/// Remembers which transaction ids were handled.
#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// True if `txn_id` was handled before.
    async fn is_processed(&self, txn_id: &TransactionId) -> Result<bool, TxnStoreError>;
    /// Records that `txn_id` was handled.
    async fn mark_processed(&self, txn_id: &TransactionId) -> Result<(), TxnStoreError>;
}

/// What the bridge does with what the homeserver pushes.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Handles one transaction. Returning `Err` answers 500, and the
    /// homeserver sends the same transaction again later: only return
    /// `Err` when nothing of the transaction was applied, or when applying
    /// it again is harmless.
    async fn handle(&self, txn: Transaction) -> Result<(), HandlerError>;
    /// Whether `user_id` (in the appservice's namespace) exists; `true`
    /// after creating it on demand.
    async fn query_user(&self, user_id: &UserId) -> bool;
    /// Whether `alias` (in the appservice's namespace) exists; `true` after
    /// creating the room on demand.
    async fn query_room(&self, alias: &RoomAliasId) -> bool;
    /// The homeserver answered our ping (`transaction_id` as we sent it).
    async fn ping(&self, _transaction_id: Option<&TransactionId>) {}
}

/// An in-memory [`TransactionStore`], for tests and for running without a
/// database (a restart forgets everything).
#[derive(Debug, Default)]
pub struct MemoryTransactionStore {
    seen: Mutex<HashSet<String>>,
}

impl MemoryTransactionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TransactionStore for MemoryTransactionStore {
    async fn is_processed(&self, txn_id: &TransactionId) -> Result<bool, TxnStoreError> {
        let seen = self
            .seen
            .lock()
            .map_err(|_| TxnStoreError::new("poisoned lock"))?;
        Ok(seen.contains(txn_id.as_str()))
    }

    async fn mark_processed(&self, txn_id: &TransactionId) -> Result<(), TxnStoreError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| TxnStoreError::new("poisoned lock"))?;
        seen.insert(txn_id.as_str().to_owned());
        Ok(())
    }
}

/// The token the homeserver authenticates with. `Debug` prints nothing.
#[derive(Clone)]
pub struct HsToken(Arc<str>);

impl HsToken {
    /// Wraps the `hs_token` of the registration.
    pub fn new(token: impl Into<String>) -> Self {
        Self(Arc::from(token.into()))
    }

    fn matches(&self, given: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), given.as_bytes())
    }
}

impl fmt::Debug for HsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HsToken(..)")
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Result of one transaction, sent back from the worker.
enum Outcome {
    Done,
    Duplicate,
    Failed,
}

struct Job {
    txn: Transaction,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Clone)]
struct AppState {
    hs_token: HsToken,
    handler: Arc<dyn Handler>,
    jobs: mpsc::Sender<Job>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// Builds the router of the appservice API. Spawns the transaction worker,
/// which stops when the router (all its clones) is dropped. Must be called
/// inside a tokio runtime.
pub fn router(
    hs_token: HsToken,
    handler: Arc<dyn Handler>,
    store: Arc<dyn TransactionStore>,
) -> Router {
    let (jobs, rx) = mpsc::channel(QUEUE);
    tokio::spawn(worker(rx, Arc::clone(&handler), store));
    let state = AppState {
        hs_token,
        handler,
        jobs,
        slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT)),
    };
    // The token is checked before any body is read (a route's extractors
    // would buffer it first): an unauthenticated request costs its headers.
    Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn_id}",
            put(put_transaction).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route("/_matrix/app/v1/users/{user_id}", get(get_user))
        .route("/_matrix/app/v1/rooms/{alias}", get(get_room))
        .route("/_matrix/app/v1/ping", post(post_ping))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorized_only,
        ))
        .fallback(unrecognized)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_SMALL_BODY))
        .with_state(state)
}

/// Lets a request through to its route only with the homeserver's token,
/// and at most [`CONCURRENT`] at a time.
async fn authorized_only(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Err(r) = authorize(&state, request.headers(), request.uri()) {
        return r.into_response();
    }
    // The semaphore is never closed.
    let Ok(_slot) = state.slots.acquire().await else {
        return matrix_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            "shutting down",
        );
    };
    next.run(request).await
}

/// Serves the appservice API on `listener` until `shutdown` completes;
/// requests in flight are finished first.
pub async fn serve(
    listener: TcpListener,
    hs_token: HsToken,
    handler: Arc<dyn Handler>,
    store: Arc<dyn TransactionStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "appservice api listening");
    }
    let app = router(hs_token, handler, store);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    info!("appservice api stopped");
    Ok(())
}

async fn worker(
    mut rx: mpsc::Receiver<Job>,
    handler: Arc<dyn Handler>,
    store: Arc<dyn TransactionStore>,
) {
    while let Some(job) = rx.recv().await {
        // Run each transaction in its own task so a panicking handler
        // fails that transaction, not the worker.
        let handler = Arc::clone(&handler);
        let store = Arc::clone(&store);
        let txn_id = job.txn.id.clone();
        let outcome = tokio::spawn(process(job.txn, handler, store))
            .await
            .unwrap_or_else(|_| {
                error!(txn_id = %txn_id, "transaction handler panicked");
                Outcome::Failed
            });
        // The requester may have gone away; the outcome is persisted anyway.
        let _ = job.reply.send(outcome);
    }
}

async fn process(
    txn: Transaction,
    handler: Arc<dyn Handler>,
    store: Arc<dyn TransactionStore>,
) -> Outcome {
    let txn_id = txn.id.clone();
    match store.is_processed(&txn_id).await {
        Ok(true) => {
            debug!(txn_id = %txn_id, "transaction already processed");
            return Outcome::Duplicate;
        }
        Ok(false) => {}
        Err(e) => {
            error!(txn_id = %txn_id, error = %e, "checking transaction id");
            return Outcome::Failed;
        }
    }
    let (events, ephemeral) = (txn.events.len(), txn.ephemeral.len());
    if let Err(e) = handler.handle(txn).await {
        warn!(txn_id = %txn_id, error = %e, "transaction failed; homeserver will retry");
        return Outcome::Failed;
    }
    if let Err(e) = store.mark_processed(&txn_id).await {
        error!(txn_id = %txn_id, error = %e, "recording transaction id");
        return Outcome::Failed;
    }
    debug!(txn_id = %txn_id, events, ephemeral, "transaction processed");
    Outcome::Done
}

/// The standard error body (`{"errcode", "error"}`).
#[derive(Serialize)]
struct ErrorBody<'a> {
    errcode: &'a str,
    error: &'a str,
}

/// A Matrix error response.
fn matrix_error(status: StatusCode, errcode: &str, error: &str) -> Response {
    let body = serde_json::to_string(&ErrorBody { errcode, error }).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A success answer: ruma's response type of the endpoint.
fn answer(response: impl OutgoingResponse) -> Response {
    match response.try_into_http_response::<Vec<u8>>() {
        Ok(r) => {
            let (parts, body) = r.into_parts();
            (parts.status, parts.headers, body).into_response()
        }
        Err(e) => matrix_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            &e.to_string(),
        ),
    }
}

/// Reads the request of endpoint `R` from its path arguments and `body`
/// (already authorised), or the 400 answer that says why it is not one.
fn incoming<R: IncomingRequest>(path_args: &[&str], body: &[u8]) -> Result<R, Box<Response>> {
    let bad = |errcode: &str, e: &dyn std::fmt::Display| {
        Box::new(matrix_error(
            StatusCode::BAD_REQUEST,
            errcode,
            &e.to_string(),
        ))
    };
    let request = axum::http::Request::builder()
        .method(R::METHOD)
        .uri("/")
        .body(body)
        .map_err(|e| bad("M_BAD_JSON", &e))?;
    R::try_from_http_request(request, path_args).map_err(|e| bad("M_INVALID_PARAM", &e))
}

/// The token from `Authorization: Bearer` or, for homeservers using legacy
/// authorization, `?access_token=`.
fn given_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && let Ok(value) = value.to_str()
        && let Some((scheme, token)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(token.trim().to_owned());
    }
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// Why a request was not authorized.
#[derive(Debug, Clone, Copy)]
enum AuthFailure {
    Missing,
    Wrong,
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        match self {
            Self::Missing => matrix_error(
                StatusCode::UNAUTHORIZED,
                "M_MISSING_TOKEN",
                "missing homeserver token",
            ),
            Self::Wrong => matrix_error(
                StatusCode::FORBIDDEN,
                "M_FORBIDDEN",
                "invalid homeserver token",
            ),
        }
    }
}

/// Checks the homeserver's token.
fn authorize(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), AuthFailure> {
    match given_token(headers, uri) {
        None => Err(AuthFailure::Missing),
        Some(t) if state.hs_token.matches(&t) => Ok(()),
        Some(_) => {
            warn!(path = %uri.path(), "request with a wrong homeserver token");
            Err(AuthFailure::Wrong)
        }
    }
}

fn bad_path(e: &PathRejection) -> Response {
    matrix_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", &e.body_text())
}

async fn put_transaction(
    State(state): State<AppState>,
    txn_id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let txn_id = match txn_id {
        Ok(Path(id)) => id,
        Err(e) => return bad_path(&e),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            warn!(txn_id = %txn_id, error = %e.body_text(), "unreadable transaction body");
            let errcode = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "M_TOO_LARGE"
            } else {
                "M_BAD_JSON"
            };
            return matrix_error(e.status(), errcode, &e.body_text());
        }
    };
    let txn = match parse_transaction(&txn_id, &body) {
        Ok((txn, dropped)) => {
            if dropped > 0 {
                warn!(txn_id = %txn_id, dropped, "dropped events without a string type");
            }
            txn
        }
        Err(BodyError::NotJson(e)) => {
            warn!(txn_id = %txn_id, error = %e, "transaction body is not json");
            return matrix_error(StatusCode::BAD_REQUEST, "M_NOT_JSON", &e);
        }
        Err(BodyError::BadJson(e)) => {
            warn!(txn_id = %txn_id, error = %e, "transaction body is not a transaction");
            return matrix_error(StatusCode::BAD_REQUEST, "M_BAD_JSON", &e);
        }
    };
    let (reply, outcome) = oneshot::channel();
    if state.jobs.send(Job { txn, reply }).await.is_err() {
        error!(txn_id = %txn_id, "transaction worker is gone");
        return matrix_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            "shutting down",
        );
    }
    match outcome.await {
        Ok(Outcome::Done | Outcome::Duplicate) => {
            answer(ruma::api::appservice::event::push_events::v1::Response::new())
        }
        Ok(Outcome::Failed) | Err(_) => matrix_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            "transaction not processed; retry later",
        ),
    }
}

async fn get_user(
    State(state): State<AppState>,
    user_id: Result<Path<String>, PathRejection>,
) -> Response {
    let user_id = match user_id {
        Ok(Path(id)) => id,
        Err(e) => return bad_path(&e),
    };
    // Not a user id: no such user of ours.
    let Ok(request) = incoming::<query_user_id::v1::Request>(&[&user_id], b"") else {
        return matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such user");
    };
    if state.handler.query_user(&request.user_id).await {
        answer(query_user_id::v1::Response::new())
    } else {
        matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such user")
    }
}

async fn get_room(
    State(state): State<AppState>,
    alias: Result<Path<String>, PathRejection>,
) -> Response {
    let alias = match alias {
        Ok(Path(a)) => a,
        Err(e) => return bad_path(&e),
    };
    let Ok(request) = incoming::<query_room_alias::v1::Request>(&[&alias], b"") else {
        return matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such room");
    };
    if state.handler.query_room(&request.room_alias).await {
        answer(query_room_alias::v1::Response::new())
    } else {
        matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such room")
    }
}

async fn post_ping(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    if let Err(e) = &body
        && e.status() == StatusCode::PAYLOAD_TOO_LARGE
    {
        return matrix_error(e.status(), "M_TOO_LARGE", &e.body_text());
    }
    // The body is `{transaction_id?}`; anything unreadable is just no id.
    let txn_id = body
        .ok()
        .and_then(|b| incoming::<send_ping::v1::Request>(&[], &b).ok())
        .and_then(|r| r.transaction_id);
    debug!(transaction_id = ?txn_id, "ping from homeserver");
    state.handler.ping(txn_id.as_deref()).await;
    answer(send_ping::v1::Response::new())
}

async fn unrecognized() -> Response {
    matrix_error(
        StatusCode::NOT_FOUND,
        "M_UNRECOGNIZED",
        "unrecognized request",
    )
}

async fn method_not_allowed() -> Response {
    matrix_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "M_UNRECOGNIZED",
        "unrecognized request",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_sources() {
        let mut h = HeaderMap::new();
        let uri: Uri = "/x?access_token=q%2Bt".parse().unwrap();
        assert_eq!(given_token(&h, &uri).as_deref(), Some("q+t"));
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(given_token(&h, &uri).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(given_token(&h, &"/x".parse().unwrap()), None);
    }

    #[test]
    fn token_compare_and_debug() {
        let t = HsToken::new("secret");
        assert!(t.matches("secret"));
        assert!(!t.matches("secreT"));
        assert!(!t.matches("secret2"));
        assert!(!format!("{t:?}").contains("secret"));
    }
}
