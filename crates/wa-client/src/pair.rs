//! Linking a new companion by QR code.
//!
//! [`pair`] connects with the registration payload and waits for the
//! server's `pair-device` refs; the returned [`Pairing`] is then driven with
//! [`Pairing::next`], which yields one QR string per ref as they rotate
//! (the first shown [`PairOptions::first_ref_ttl`], later ones
//! [`PairOptions::later_ref_ttl`]) until a phone scans one. On
//! `pair-success` it checks the ADV HMAC and the account signature,
//! countersigns, answers `pair-device-sign`, and when the server ends the
//! stream with 515 it writes our JID, LID and the account's signed identity
//! into the [`DeviceState`] and yields [`PairEvent::Paired`]. The caller
//! then saves the state and logs in on a new connection.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};
use wa_core::adv::{self, AdvError};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::AdvSignedDeviceIdentity;

use crate::error::{AuthError, Error};
use crate::own_device::DeviceState;
use crate::socket::{self, ConnectOptions, Connection, Event};

/// How to pair.
#[derive(Debug, Clone)]
pub struct PairOptions {
    /// Where to connect.
    pub connect: ConnectOptions,
    /// How long the first QR code is shown (the real service: 60 s).
    pub first_ref_ttl: Duration,
    /// How long each later QR code is shown (the real service: 20 s).
    pub later_ref_ttl: Duration,
    /// How long the server may take to send `pair-device` after we connect,
    /// and the 515 after we answer `pair-success`.
    pub server_timeout: Duration,
}

impl Default for PairOptions {
    fn default() -> Self {
        PairOptions {
            connect: ConnectOptions::default(),
            first_ref_ttl: Duration::from_secs(60),
            later_ref_ttl: Duration::from_secs(20),
            server_timeout: Duration::from_secs(20),
        }
    }
}

/// Why pairing ended without a link.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The registration payload could not be built from our keys.
    #[error("cannot build the registration payload: {0}")]
    Keys(#[from] wa_core::signal::SignalError),
    /// Connecting failed, or the connection ended before the 515.
    #[error("connection: {0}")]
    Connection(#[source] Error),
    /// The server sent no `pair-device` refs in time.
    #[error("no pair-device from the server in time")]
    NoRefs,
    /// Every QR code expired without a scan.
    #[error("all QR codes expired without a scan")]
    RefsExhausted,
    /// `pair-success` failed the ADV checks (HMAC, account signature).
    #[error("pair-success refused: {0}")]
    Verify(#[from] AdvError),
    /// A `pair-success` missing a part we need.
    #[error("malformed pair-success: {0}")]
    Malformed(&'static str),
    /// We answered `pair-success` but the server never asked for a restart.
    #[error("no restart (515) from the server after pair-success")]
    NoRestart,
    /// [`Pairing::next`] was called after the pairing ended.
    #[error("pairing already ended")]
    Finished,
}

/// What [`Pairing::next`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairEvent {
    /// Show this QR code (replaces any shown before).
    Qr(String),
    /// Linked: the state holds the new identity; pairing is over.
    Paired {
        /// Our JID, phone number form with device.
        jid: Jid,
        /// Our LID with device, when the server sent one.
        lid: Option<Jid>,
    },
}

/// What `pair-success` taught us, kept until the server confirms with 515.
#[derive(Debug)]
struct Linked {
    jid: Jid,
    lid: Option<Jid>,
    account: AdvSignedDeviceIdentity,
    platform: Option<String>,
}

/// A pairing in progress: one connection, the refs not yet shown.
#[derive(Debug)]
pub struct Pairing<'a> {
    state: &'a mut DeviceState,
    conn: Connection,
    events: mpsc::Receiver<Event>,
    refs: VecDeque<String>,
    shown: usize,
    /// When the QR code on display expires (after `pair-success`: when we
    /// stop waiting for the 515); `None` before the first code.
    expires: Option<Instant>,
    first_ttl: Duration,
    later_ttl: Duration,
    server_timeout: Duration,
    linked: Option<Linked>,
    done: bool,
}

/// Registers `state`'s keys with the server and waits for its refs.
#[tracing::instrument(skip_all)]
pub async fn pair<'a>(
    opts: &PairOptions,
    state: &'a mut DeviceState,
) -> Result<Pairing<'a>, PairError> {
    let payload = state.registration_payload(&opts.connect.agent)?;
    let (conn, mut events) = socket::connect(&opts.connect, &state.noise, &payload)
        .await
        .map_err(PairError::Connection)?;
    let refs = match tokio::time::timeout(opts.server_timeout, wait_refs(&conn, &mut events)).await
    {
        Ok(Ok(refs)) => refs,
        Ok(Err(e)) => {
            conn.close();
            return Err(e);
        }
        Err(_) => {
            conn.close();
            return Err(PairError::NoRefs);
        }
    };
    debug!(refs = refs.len(), "got pairing refs");
    Ok(Pairing {
        state,
        conn,
        events,
        refs,
        shown: 0,
        expires: None,
        first_ttl: opts.first_ref_ttl,
        later_ttl: opts.later_ref_ttl,
        server_timeout: opts.server_timeout,
        linked: None,
        done: false,
    })
}

/// Waits for `<iq type=set><pair-device><ref/>..`, answers it, returns the refs.
async fn wait_refs(
    conn: &Connection,
    events: &mut mpsc::Receiver<Event>,
) -> Result<VecDeque<String>, PairError> {
    loop {
        let node = match events.recv().await {
            Some(Event::Node(n)) => n,
            Some(Event::Disconnected(e)) => return Err(PairError::Connection(e)),
            None => return Err(PairError::Connection(Error::Closed)),
        };
        let Some(pd) = node.child("pair-device") else {
            debug!(tag = %node.tag, "ignoring node while waiting for pair-device");
            continue;
        };
        let refs: VecDeque<String> = pd
            .children_by_tag("ref")
            .filter_map(|r| r.content_bytes())
            .filter_map(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned)
            .collect();
        conn.send(&result_for(&node))
            .await
            .map_err(PairError::Connection)?;
        if refs.is_empty() {
            return Err(PairError::NoRefs);
        }
        return Ok(refs);
    }
}

/// `<iq to=s.whatsapp.net type=result id=(of node)>`.
fn result_for(node: &Node) -> Node {
    let mut answer = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "result");
    if let Some(id) = node.attr_str("id") {
        answer.attrs.insert("id", id.to_owned());
    }
    answer
}

impl Pairing<'_> {
    /// The next QR code to show, or the end of pairing: [`PairEvent::Paired`]
    /// or an error (after which the connection is closed).
    pub async fn next(&mut self) -> Result<PairEvent, PairError> {
        if self.done {
            return Err(PairError::Finished);
        }
        let result = self.step().await;
        if !matches!(result, Ok(PairEvent::Qr(_))) {
            self.done = true;
            self.conn.close();
        }
        result
    }

    async fn step(&mut self) -> Result<PairEvent, PairError> {
        loop {
            let expired = self.expires.is_none_or(|t| Instant::now() >= t);
            if expired && self.linked.is_some() {
                return Err(PairError::NoRestart);
            }
            if expired {
                let Some(r) = self.refs.pop_front() else {
                    info!("qr codes exhausted");
                    return Err(PairError::RefsExhausted);
                };
                let ttl = if self.shown == 0 {
                    self.first_ttl
                } else {
                    self.later_ttl
                };
                self.shown += 1;
                self.expires = Some(Instant::now() + ttl);
                return Ok(PairEvent::Qr(self.qr(&r)));
            }
            let event = tokio::select! {
                e = self.events.recv() => e,
                () = sleep_until(self.expires) => continue,
            };
            match event {
                Some(Event::Node(node)) => {
                    if self.linked.is_none()
                        && node.tag == "iq"
                        && node.child("pair-success").is_some()
                    {
                        self.linked = Some(self.answer_success(&node).await?);
                        // Now the server owes us the 515, not a scan.
                        self.expires = Some(Instant::now() + self.server_timeout);
                    } else {
                        debug!(tag = %node.tag, "ignoring node while pairing");
                    }
                }
                Some(Event::Disconnected(Error::Auth(AuthError::RestartRequired))) => {
                    if let Some(linked) = self.linked.take() {
                        return Ok(self.commit(linked));
                    }
                    return Err(PairError::Connection(AuthError::RestartRequired.into()));
                }
                Some(Event::Disconnected(e)) => return Err(PairError::Connection(e)),
                None => return Err(PairError::Connection(Error::Closed)),
            }
        }
    }

    /// `ref,noiseKeyB64,identityKeyB64,advSecretB64`.
    fn qr(&self, r: &str) -> String {
        format!(
            "{r},{},{},{}",
            STANDARD.encode(self.state.noise.public()),
            STANDARD.encode(self.state.identity.public()),
            STANDARD.encode(self.state.adv_secret),
        )
    }

    /// Checks `pair-success`, countersigns and answers `pair-device-sign`.
    async fn answer_success(&mut self, iq: &Node) -> Result<Linked, PairError> {
        let checked = check_success(iq, self.state);
        let (linked, for_server, key_index) = match checked {
            Ok(c) => c,
            Err(e) => {
                let error = result_for(iq).attr("type", "error").children(vec![
                    Node::new("error")
                        .attr("code", "500")
                        .attr("text", "internal-error"),
                ]);
                // The pairing fails either way; the answer is a courtesy.
                let _ = self.conn.send(&error).await;
                return Err(e);
            }
        };
        let sign = result_for(iq).children(vec![Node::new("pair-device-sign").children(vec![
            Node::new("device-identity")
                .attr("key-index", key_index.to_string())
                .bytes(for_server),
        ])]);
        self.conn.send(&sign).await.map_err(PairError::Connection)?;
        // Then the unified-session telemetry, as whatsmeow (`pair.go`
        // `handlePairSuccess`) and Baileys (`CB:iq,,pair-success`) do, on
        // the server's clock as `pair-success` gave it. Best effort.
        let server_ms = iq
            .attr_str("t")
            .and_then(|t| t.parse::<i64>().ok())
            .map_or_else(crate::client::now_ms, |t| t.saturating_mul(1000));
        if let Err(e) = self
            .conn
            .send(&crate::client::unified_session_node(server_ms))
            .await
        {
            debug!(error = %e, "unified_session after pairing not sent");
        }
        info!(jid = %linked.jid, "pair-success answered, waiting for restart");
        Ok(linked)
    }

    /// The server confirmed the link: our new identity goes into the state.
    fn commit(&mut self, linked: Linked) -> PairEvent {
        self.state.jid = Some(linked.jid.clone());
        self.state.lid = linked.lid.clone();
        self.state.account = Some(linked.account);
        self.state.platform = linked.platform;
        info!(jid = %linked.jid, "paired");
        PairEvent::Paired {
            jid: linked.jid,
            lid: linked.lid,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Verifies `pair-success` against our keys; returns what we learn, the
/// countersigned identity for the server, and the key index.
fn check_success(iq: &Node, state: &DeviceState) -> Result<(Linked, Vec<u8>, u32), PairError> {
    let success = iq
        .child("pair-success")
        .ok_or(PairError::Malformed("no pair-success"))?;
    let identity = success
        .child("device-identity")
        .and_then(Node::content_bytes)
        .ok_or(PairError::Malformed("no device-identity"))?;
    let device = success
        .child("device")
        .ok_or(PairError::Malformed("no device"))?;
    let jid = device
        .attr_jid("jid")
        .cloned()
        .or_else(|| device.attr_str("jid").and_then(|s| s.parse().ok()))
        .ok_or(PairError::Malformed("no device jid"))?;
    let lid = device
        .attr_jid("lid")
        .cloned()
        .or_else(|| device.attr_str("lid").and_then(|s| s.parse().ok()));
    let platform = success
        .child("platform")
        .and_then(|p| p.attr_str("name"))
        .map(str::to_owned);

    let verified = adv::verify_pairing(identity, &state.adv_secret, state.identity.public())?;
    let key_index = verified.details.key_index.unwrap_or(0);
    let (account, for_server) = adv::countersign(&verified, &state.identity, &mut rand::rng())?;
    Ok((
        Linked {
            jid,
            lid,
            account,
            platform,
        },
        for_server,
        key_index,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::jid::Server;
    use wa_core::keys::KeyPair;
    use wa_core::proto::AdvDeviceIdentity;

    fn success_for(state: &DeviceState, secret: &[u8]) -> (Node, KeyPair) {
        let mut rng = rand::rng();
        let account = KeyPair::generate(&mut rng);
        let details = AdvDeviceIdentity {
            raw_id: Some(7),
            timestamp: Some(1),
            key_index: Some(4),
            ..Default::default()
        };
        let signed =
            adv::sign_device_identity(&account, &details, state.identity.public(), &mut rng);
        let wrapped = prost::Message::encode_to_vec(&adv::wrap_hmac(&signed, secret));
        let iq =
            Node::new("iq")
                .attr("id", "1")
                .children(vec![Node::new("pair-success").children(vec![
                Node::new("device-identity").bytes(wrapped),
                Node::new("platform").attr("name", "android"),
                Node::new("device")
                    .attr("jid", Jid::with_device("15550001111", 2, Server::User))
                    .attr("lid", Jid::with_device("99", 2, Server::Lid)),
            ])]);
        (iq, account)
    }

    #[test]
    fn good_pair_success_is_countersigned() {
        let state = DeviceState::new(&mut rand::rng());
        let (iq, account) = success_for(&state, &state.adv_secret);
        let checked = check_success(&iq, &state);
        let Ok((linked, _for_server, key_index)) = checked else {
            unreachable!("{checked:?}")
        };
        assert_eq!(key_index, 4);
        assert_eq!(linked.jid.to_string(), "15550001111:2@s.whatsapp.net");
        assert_eq!(
            linked.lid.map(|l| l.to_string()).as_deref(),
            Some("99:2@lid")
        );
        assert_eq!(linked.platform.as_deref(), Some("android"));
        assert!(
            adv::verify_device_identity(&linked.account, state.identity.public(), account.public())
                .is_ok()
        );
    }

    #[test]
    fn bad_hmac_is_refused() {
        let state = DeviceState::new(&mut rand::rng());
        let (iq, _) = success_for(&state, &[9; 32]);
        assert!(matches!(
            check_success(&iq, &state),
            Err(PairError::Verify(AdvError::BadHmac))
        ));
    }

    #[test]
    fn other_identity_is_refused() {
        let state = DeviceState::new(&mut rand::rng());
        let other = DeviceState::new(&mut rand::rng());
        // Signed for another companion's identity, HMAC with our secret.
        let (iq, _) = success_for(&other, &state.adv_secret);
        assert!(matches!(
            check_success(&iq, &state),
            Err(PairError::Verify(AdvError::BadAccountSignature))
        ));
    }
}
