//! A small JSON control API over a running [`Sim`], for people and scripts
//! driving a simulator in another process (`wa-sim serve`).
//!
//! It serves HTTP/1.1 on an injected listener until a shutdown signal
//! completes, so tests bind `127.0.0.1:0`. Every answer is JSON; bad input
//! gets a 4xx with `{"error": "..."}`, and request bodies are bounded by
//! [`MAX_BODY`].
//!
//! | Method and path                   | Body                    | Answer                          |
//! |-----------------------------------|-------------------------|---------------------------------|
//! | `GET /info`                       |                         | `{"url","root_key","media_host","media_ca"}` |
//! | `POST /accounts`                  | `{"pn"}`                | `{"pn","lid"}` (201 if new)     |
//! | `POST /accounts/{pn}/scan`        | `{"qr"}`                | `{"jid"}`                       |
//! | `GET /accounts/{pn}/devices`      |                         | `{"devices":[1,2]}`             |
//! | `DELETE /accounts/{pn}/devices/{d}` |                       | `{"removed":true}`              |
//! | `POST /accounts/{pn}/send`        | `{"to","text"}`         | `{"id"}`                        |
//! | `GET /accounts/{pn}/received`     |                         | `[{"id","from","chat","text","from_me"}]` |
//! | `GET /registrations`              |                         | `[{"refs","noise_key","identity_key"}]` |
//!
//! The `{pn}` routes answer 404 for accounts not created with
//! `POST /accounts` first.

mod http;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::phone::{PhoneError, ScanError};
use crate::server::Sim;
use http::{Reply, read_json};

pub use http::MAX_BODY;

/// How long in-flight requests (a scan waits up to 30 s) may finish after
/// shutdown before their connections are dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a control request failed; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No such route.
    #[error("no route for {0}")]
    NoRoute(String),
    /// The route exists, with other methods.
    #[error("method not allowed; use {0}")]
    Method(&'static str),
    /// The body or a path part is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than [`MAX_BODY`].
    #[error("request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    /// The account was not created through `POST /accounts`.
    #[error("no account {0}; create it with POST /accounts")]
    NoAccount(String),
    /// The phone refused or failed the scan.
    #[error("{0}")]
    Scan(#[from] ScanError),
    /// The phone could not send.
    #[error("{0}")]
    Phone(#[from] PhoneError),
}

impl ControlError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ControlError::NoRoute(_) | ControlError::NoAccount(_) => StatusCode::NOT_FOUND,
            ControlError::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ControlError::Scan(e) => match e {
                ScanError::BadQr(_) => StatusCode::BAD_REQUEST,
                ScanError::UnknownRef => StatusCode::NOT_FOUND,
                ScanError::TooManyDevices | ScanError::Refused(_) => StatusCode::CONFLICT,
                ScanError::CompanionGone | ScanError::ExpiredRef => StatusCode::GONE,
                ScanError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            },
            ControlError::Phone(e) => match e {
                PhoneError::NoAccount(_) => StatusCode::NOT_FOUND,
                PhoneError::Signal(_)
                | PhoneError::Malformed(_)
                | PhoneError::Retry(_)
                | PhoneError::AppState(_) => StatusCode::INTERNAL_SERVER_ERROR,
                PhoneError::AppStateConflict(_) | PhoneError::Refused(_) => StatusCode::CONFLICT,
            },
        }
    }
}

/// True for a phone number the control API accepts: 5 to 20 ASCII digits.
pub fn valid_pn(pn: &str) -> bool {
    (5..=20).contains(&pn.len()) && pn.bytes().all(|b| b.is_ascii_digit())
}

/// What `GET /info` answers: how clients reach and trust the simulator.
pub fn info(sim: &Sim) -> Value {
    json!({
        "url": sim.url(),
        "root_key": hex::encode(sim.root_public_key()),
        "media_host": sim.media_host(),
        "media_ca": sim.media_ca_pem_path().display().to_string(),
    })
}

/// Serves the control API for `sim` on `listener` until `shutdown`
/// completes; then stops accepting, lets in-flight requests finish for a
/// few seconds and returns.
pub async fn serve(sim: Arc<Sim>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    if let Ok(addr) = listener.local_addr() {
        info!(url = %format!("http://{addr}"), "control api listening");
    }
    let api = Arc::new(Api {
        sim,
        accounts: Mutex::new(BTreeSet::new()),
    });
    // Dropping the sender tells every connection to finish.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off, do not spin.
                    warn!(error = %e, "control accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while conns.try_join_next().is_some() {}
        let api = api.clone();
        let mut stop = stop_rx.clone();
        let span = info_span!("control", %peer);
        conns.spawn(
            async move {
                let service = service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req).await.into_response()) }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                tokio::pin!(conn);
                let ended = tokio::select! {
                    r = conn.as_mut() => r,
                    _ = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = ended {
                    debug!(error = %e, "control connection ended");
                }
            }
            .instrument(span),
        );
    }
    drop(stop_tx);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("control api stopped with requests still running");
    }
    info!("control api stopped");
}

struct Api {
    sim: Arc<Sim>,
    /// Accounts created through the API (the `{pn}` routes need one).
    accounts: Mutex<BTreeSet<String>>,
}

impl Api {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let reply = match self.route(req).await {
            Ok(reply) => reply,
            Err(e) => Reply::error(&e),
        };
        debug!(%method, %path, status = reply.status.as_u16(), "control request");
        reply
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Reply, ControlError> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let allow = |allowed: Method, name: &'static str| {
            if method == allowed {
                Ok(())
            } else {
                Err(ControlError::Method(name))
            }
        };
        match parts.as_slice() {
            ["info"] => {
                allow(Method::GET, "GET")?;
                Ok(Reply::ok(info(&self.sim)))
            }
            ["accounts"] => {
                allow(Method::POST, "POST")?;
                let body = read_json(req).await?;
                self.create_account(string_field(&body, "pn")?)
            }
            ["accounts", pn, "scan"] => {
                allow(Method::POST, "POST")?;
                let pn = self.known(pn)?;
                let body = read_json(req).await?;
                let qr = string_field(&body, "qr")?;
                let jid = self.sim.account(&pn).scan(qr).await?;
                Ok(Reply::ok(json!({ "jid": jid.to_string() })))
            }
            ["accounts", pn, "devices"] => {
                allow(Method::GET, "GET")?;
                let pn = self.known(pn)?;
                let phone = self.sim.account(&pn);
                let names: Vec<_> = phone
                    .linked_device_names()
                    .into_iter()
                    .map(|(device, name)| json!({ "device": device, "name": name }))
                    .collect();
                Ok(Reply::ok(
                    json!({ "devices": phone.linked_devices(), "linked": names }),
                ))
            }
            ["accounts", pn, "devices", device] => {
                allow(Method::DELETE, "DELETE")?;
                let pn = self.known(pn)?;
                let device: u16 = device.parse().map_err(|_| {
                    ControlError::BadRequest(format!("device {device:?} is not a number 0-65535"))
                })?;
                let removed = self.sim.account(&pn).remove_device(device).await;
                Ok(Reply::ok(json!({ "removed": removed })))
            }
            ["accounts", pn, "send"] => {
                allow(Method::POST, "POST")?;
                let pn = self.known(pn)?;
                let body = read_json(req).await?;
                let to = pn_field(&body, "to")?;
                let text = string_field(&body, "text")?;
                let id = self.sim.account(&pn).send_text(to, text).await?;
                Ok(Reply::ok(json!({ "id": id })))
            }
            ["accounts", pn, "received"] => {
                allow(Method::GET, "GET")?;
                let pn = self.known(pn)?;
                Ok(Reply::ok(received_json(&self.sim, &pn)))
            }
            ["registrations"] => {
                allow(Method::GET, "GET")?;
                Ok(Reply::ok(registrations_json(&self.sim)))
            }
            _ => Err(ControlError::NoRoute(format!("{method} {path}"))),
        }
    }

    fn create_account(&self, pn: &str) -> Result<Reply, ControlError> {
        check_pn(pn)?;
        let created = self.accounts().insert(pn.to_owned());
        let phone = self.sim.account(pn);
        let lid = phone.lid().map(|j| j.to_string());
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(Reply::new(status, json!({ "pn": pn, "lid": lid })))
    }

    /// The path's phone number, if valid and created through the API.
    fn known(&self, pn: &str) -> Result<String, ControlError> {
        check_pn(pn)?;
        if self.accounts().contains(pn) {
            Ok(pn.to_owned())
        } else {
            Err(ControlError::NoAccount(pn.to_owned()))
        }
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `GET /accounts/{pn}/received`: what the phone of `pn` received.
fn received_json(sim: &Sim, pn: &str) -> Value {
    let received: Vec<Value> = sim
        .account(pn)
        .received()
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "from": r.from.to_string(),
                "chat": r.chat.to_string(),
                "text": r.text,
                "from_me": r.from_me,
            })
        })
        .collect();
    Value::Array(received)
}

/// `GET /registrations`: the registrations seen so far.
fn registrations_json(sim: &Sim) -> Value {
    let registrations: Vec<Value> = sim
        .registrations()
        .into_iter()
        .map(|r| {
            json!({
                "refs": r.refs,
                "noise_key": STANDARD.encode(r.noise_key),
                "identity_key": STANDARD.encode(&r.identity_key),
            })
        })
        .collect();
    Value::Array(registrations)
}

fn check_pn(pn: &str) -> Result<(), ControlError> {
    if valid_pn(pn) {
        Ok(())
    } else {
        Err(ControlError::BadRequest(format!(
            "phone number {pn:?} is not 5 to 20 digits"
        )))
    }
}

fn string_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, ControlError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ControlError::BadRequest(format!("field `{name}` must be a string")))
}

fn pn_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, ControlError> {
    let pn = string_field(body, name)?;
    check_pn(pn)?;
    Ok(pn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert!(valid_pn("15551234567"));
        assert!(valid_pn("12345"));
        assert!(valid_pn("12345678901234567890"));
        assert!(!valid_pn("1234"));
        assert!(!valid_pn("123456789012345678901"));
        assert!(!valid_pn("+15551234567"));
        assert!(!valid_pn("1555 123"));
        assert!(!valid_pn("١٢٣٤٥")); // digits, but not ASCII
        assert!(!valid_pn(""));
    }

    #[test]
    fn scan_errors_are_client_errors_when_the_client_can_fix_them() {
        let status = |e: ScanError| ControlError::Scan(e).status();
        assert_eq!(status(ScanError::BadQr("x")), StatusCode::BAD_REQUEST);
        assert_eq!(status(ScanError::UnknownRef), StatusCode::NOT_FOUND);
        assert_eq!(status(ScanError::TooManyDevices), StatusCode::CONFLICT);
        assert_eq!(status(ScanError::ExpiredRef), StatusCode::GONE);
    }
}
