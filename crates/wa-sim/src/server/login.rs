//! A paired companion logging in: recognised by username, device and its
//! Noise static key; then the IQs a client sends before it is online.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::info;
use wa_core::binary::Node;
use wa_core::proto::ClientPayload;

use super::session::Session;
use super::{ConnError, Push, Shared, unix_now};

pub(super) async fn run(
    mut session: Session,
    shared: &Arc<Shared>,
    noise_key: [u8; 32],
    payload: ClientPayload,
) -> Result<(), ConnError> {
    let pn = payload.username.map(|u| u.to_string()).unwrap_or_default();
    let device = payload
        .device
        .and_then(|d| u16::try_from(d).ok())
        .unwrap_or(0);
    let lid = {
        let state = shared.state();
        state.accounts.get(&pn).and_then(|account| {
            let companion = account.companions.get(&device)?;
            (companion.noise_key == noise_key).then(|| account.lid_jid(device))
        })
    };
    let Some(lid) = lid else {
        // Unknown device, or a known one with another key: logged out.
        return session
            .send(&Node::new("failure").attr("reason", "401"))
            .await;
    };
    let (tx, mut rx) = mpsc::channel(4);
    shared
        .state()
        .online
        .insert((pn.clone(), device), tx.clone());
    info!(%pn, device, "companion logged in");
    let success = Node::new("success")
        .attr("t", unix_now().to_string())
        .attr("lid", lid);
    let result = async {
        session.send(&success).await?;
        loop {
            tokio::select! {
                node = session.recv() => {
                    let node = node?;
                    if node.tag == "iq" {
                        answer_iq(&mut session, shared, (&pn, device), &node).await?;
                    }
                }
                push = rx.recv() => match push {
                    Some(Push::LoggedOut) => return session.stream_error("401").await,
                    Some(Push::Pair(_)) | None => {}
                },
            }
        }
    }
    .await;
    let mut state = shared.state();
    if state
        .online
        .get(&(pn.clone(), device))
        .is_some_and(|t| t.same_channel(&tx))
    {
        state.online.remove(&(pn, device));
    }
    result
}

async fn answer_iq(
    session: &mut Session,
    shared: &Arc<Shared>,
    (pn, device): (&str, u16),
    node: &Node,
) -> Result<(), ConnError> {
    let Some(id) = node.attr_str("id").map(str::to_owned) else {
        return Ok(());
    };
    let first = node.child_nodes().first().map(|c| c.tag.as_ref());
    match (node.attr_str("type"), node.attr_str("xmlns"), first) {
        (Some("result" | "error"), _, _) => Ok(()),
        (Some("get"), Some("w:p"), _) => session.result(&id, Vec::new()).await,
        (Some("set"), Some("passive"), _) => session.result(&id, Vec::new()).await,
        (Some("get"), Some("encrypt"), Some("count")) => {
            let count = shared
                .state()
                .accounts
                .get(pn)
                .and_then(|a| a.companions.get(&device))
                .map_or(0, |c| c.prekeys.len());
            session
                .result(
                    &id,
                    vec![Node::new("count").attr("value", count.to_string())],
                )
                .await
        }
        (Some("set"), Some("encrypt"), _) if node.child("list").is_some() => {
            let keys: Vec<(u32, Vec<u8>)> = node
                .child("list")
                .map(|l| l.children_by_tag("key").filter_map(prekey).collect())
                .unwrap_or_default();
            if let Some(c) = shared
                .state()
                .accounts
                .get_mut(pn)
                .and_then(|a| a.companions.get_mut(&device))
            {
                c.prekeys.extend(keys);
            }
            session.result(&id, Vec::new()).await
        }
        _ => session.not_implemented(&id).await,
    }
}

/// A `<key><id>3 bytes</id><value>32 bytes</value></key>`.
fn prekey(key: &Node) -> Option<(u32, Vec<u8>)> {
    let id = key.child("id")?.content_bytes()?;
    let value = key.child("value")?.content_bytes()?;
    if id.len() != 3 || value.len() != 32 {
        return None;
    }
    let id = id.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b));
    Some((id, value.to_vec()))
}
