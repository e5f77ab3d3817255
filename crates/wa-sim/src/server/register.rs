//! An unpaired companion: `pair-device` refs, then, when a phone scans one,
//! `pair-success`, the companion's `pair-device-sign` checked, and 515.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use tokio::sync::mpsc;
use tracing::{debug, info};
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::{AdvSignedDeviceIdentity, ClientPayload};

use super::login::be_u32;
use super::session::Session;
use super::{ConnError, PairRequest, PendingPairing, Push, REFS_PER_PAIRING, Registration, Shared};
use crate::account::{BundleKeys, Companion};
use crate::phone::ScanError;

/// How long the companion has to answer `pair-success`.
const PAIR_ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the stanzas a companion sends after its `pair-device-sign` are
/// read before the restart (515).
const AFTER_ANSWER: Duration = Duration::from_millis(200);

fn new_ref() -> String {
    let mut bytes = [0u8; 36];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("2@{}", STANDARD.encode(bytes))
}

pub(super) async fn run(
    mut session: Session,
    shared: &Arc<Shared>,
    noise_key: [u8; 32],
    payload: ClientPayload,
) -> Result<(), ConnError> {
    let device_name = super::agent::device_props(&payload).and_then(|p| p.os);
    let reg = payload.device_pairing_data.unwrap_or_default();
    let identity_key = reg.e_ident.clone().unwrap_or_default();
    let keys = BundleKeys {
        registration_id: reg.e_regid.as_deref().map_or(0, be_u32),
        identity: identity_key.clone(),
        signed_prekey_id: reg.e_skey_id.as_deref().map_or(0, be_u32),
        signed_prekey: reg.e_skey_val.clone().unwrap_or_default(),
        signed_prekey_signature: reg.e_skey_sig.clone().unwrap_or_default(),
        prekeys: Default::default(),
    };
    let refs: Vec<String> = (0..REFS_PER_PAIRING).map(|_| new_ref()).collect();
    let registration = Registration {
        noise_key,
        identity_key,
        refs: refs.clone(),
        keys,
        device_name,
    };
    let id = session.next_id();
    let pair = Node::new("iq")
        .attr("from", Jid::server_jid())
        .attr("type", "set")
        .attr("id", id)
        .attr("xmlns", "md")
        .children(vec![
            Node::new("pair-device").children(
                refs.iter()
                    .map(|r| Node::new("ref").bytes(r.as_bytes()))
                    .collect(),
            ),
        ]);
    session.send(&pair).await?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let pending = Arc::new(PendingPairing {
        registration: registration.clone(),
        push: tx,
        issued: tokio::time::Instant::now(),
    });
    {
        let mut state = shared.state();
        for r in &refs {
            state.pending.insert(r.clone(), pending.clone());
        }
        state.registrations.push(registration);
    }
    shared.registered.notify_waiters();

    // What the client sends while pairing, recorded under the device it
    // becomes (see `Sim::record_stanzas`).
    let mut sent = Vec::new();
    let result = serve_until_paired(&mut session, &mut rx, &mut sent).await;
    {
        let mut state = shared.state();
        for r in &refs {
            state.pending.remove(r);
        }
    }
    match result {
        Ok(Some(req)) => finish_pairing(session, shared, req, sent).await,
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Answers pings until a phone scans one of the refs.
async fn serve_until_paired(
    session: &mut Session,
    rx: &mut mpsc::UnboundedReceiver<Push>,
    sent: &mut Vec<Node>,
) -> Result<Option<PairRequest>, ConnError> {
    loop {
        tokio::select! {
            node = session.recv() => {
                let node = node?;
                sent.push(node.clone());
                if node.tag == "iq" {
                    answer_idle_iq(session, &node).await?;
                }
            }
            push = rx.recv() => match push {
                Some(Push::Pair(req)) => return Ok(Some(*req)),
                Some(Push::LoggedOut) | None => return Ok(None),
                Some(Push::Deliver(_)) => {}
                Some(Push::Cut) => return Err(ConnError::Closed),
            },
        }
    }
}

async fn answer_idle_iq(session: &mut Session, node: &Node) -> Result<(), ConnError> {
    let Some(id) = node.attr_str("id").map(str::to_owned) else {
        return Ok(());
    };
    match (node.attr_str("type"), node.attr_str("xmlns")) {
        (Some("result" | "error"), _) => Ok(()),
        (Some("get"), Some("w:p")) => session.result(&id, Vec::new()).await,
        _ => session.not_implemented(&id).await,
    }
}

async fn finish_pairing(
    mut session: Session,
    shared: &Arc<Shared>,
    req: PairRequest,
    mut sent: Vec<Node>,
) -> Result<(), ConnError> {
    session.send(&req.iq).await?;
    let answer = tokio::time::timeout(PAIR_ANSWER_TIMEOUT, async {
        loop {
            let node = session.recv().await?;
            sent.push(node.clone());
            if node.tag == "iq" && node.attr_str("id") == Some(req.iq_id.as_str()) {
                return Ok::<Node, ConnError>(node);
            }
            if node.tag == "iq" {
                answer_idle_iq(&mut session, &node).await?;
            }
        }
    })
    .await;
    let answer = match answer {
        Ok(Ok(node)) => node,
        Ok(Err(e)) => {
            let _ = req.done.send(Err(ScanError::CompanionGone));
            return Err(e);
        }
        Err(_) => {
            let _ = req.done.send(Err(ScanError::Timeout));
            return Ok(());
        }
    };
    match check_countersignature(&answer, &req) {
        Ok(signed) => {
            // What the companion sends right after its answer (whatsmeow and
            // Baileys send `<ib><unified_session/>`) is read for a moment,
            // so it is on record before the restart.
            let until = tokio::time::Instant::now() + AFTER_ANSWER;
            while let Ok(Ok(node)) = tokio::time::timeout_at(until, session.recv()).await {
                sent.push(node);
            }
            let jid = Jid::with_device(req.pn.clone(), req.device, wa_core::jid::Server::User);
            {
                let mut state = shared.state();
                let me = (req.pn.clone(), req.device);
                state.recorder.paired(&me, &sent);
                if let Some(account) = state.accounts.get_mut(&req.pn) {
                    account.companions.insert(
                        req.device,
                        Companion {
                            noise_key: req.noise_key,
                            key_index: req.key_index,
                            signed_identity: signed,
                            keys: req.keys.clone(),
                            unsigned: false,
                            name: req.device_name.clone(),
                        },
                    );
                }
            }
            info!(%jid, "companion paired");
            let _ = req.done.send(Ok(jid));
            session.stream_error("515").await
        }
        Err(e) => {
            debug!(error = %e, "pair-device-sign refused");
            let _ = req.done.send(Err(e));
            session.stream_error("401").await
        }
    }
}

/// Checks the companion's `pair-device-sign`: the same details we sent,
/// countersigned by the identity key it registered with.
fn check_countersignature(
    answer: &Node,
    req: &PairRequest,
) -> Result<AdvSignedDeviceIdentity, ScanError> {
    if answer.attr_str("type") != Some("result") {
        return Err(ScanError::Refused(
            "companion answered pair-success with an error",
        ));
    }
    let identity = answer
        .child("pair-device-sign")
        .and_then(|n| n.child("device-identity"))
        .ok_or(ScanError::Refused("no pair-device-sign/device-identity"))?;
    if identity.attr_str("key-index") != Some(req.key_index.to_string().as_str()) {
        return Err(ScanError::Refused("key-index differs from the one given"));
    }
    let mut signed = identity
        .content_bytes()
        .and_then(|b| AdvSignedDeviceIdentity::decode(b).ok())
        .ok_or(ScanError::Refused(
            "device-identity is not an ADVSignedDeviceIdentity",
        ))?;
    if signed.details != req.signed.details {
        return Err(ScanError::Refused("device identity details were changed"));
    }
    adv::verify_device_identity(&signed, &req.identity_key, &req.account_key)
        .map_err(|_| ScanError::Refused("device signature does not verify"))?;
    signed.account_signature_key = Some(req.account_key.to_vec());
    Ok(signed)
}
