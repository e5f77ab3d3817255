//! Sending: 1:1 client fan-out, groups with sender keys, and resends asked
//! for by retry receipts.

use std::collections::BTreeSet;
use std::sync::Arc;

use prost::Message as _;
use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message;
use wa_core::proto::message::{DeviceSentMessage, SenderKeyDistributionMessage};
use wa_core::signal::{self, EncType};

use super::{SendError, Shared, groups, lock};
use crate::crypto::{PairwiseJob, PairwiseOut};
use crate::devices::{self, Target};
use crate::socket::Connection;

fn padded(message: &Message) -> Arc<Vec<u8>> {
    Arc::new(signal::pad(&message.encode_to_vec(), rand::random::<u8>()))
}

fn to_node(device: &Jid, kind: EncType, ciphertext: Vec<u8>, count: Option<u32>) -> Node {
    let mut enc = Node::new("enc").attr("v", "2").attr("type", kind.as_str());
    if let Some(c) = count {
        enc = enc.attr("count", c.to_string());
    }
    Node::new("to")
        .attr("jid", device.clone())
        .children(vec![enc.bytes(ciphertext)])
}

/// Encrypts and writes one message; the server's ack arrives later.
pub(crate) async fn send(
    shared: &Arc<Shared>,
    conn: &Connection,
    id: &str,
    to: &Jid,
    message: &Message,
) -> Result<(), SendError> {
    if to.is_group() {
        send_group(shared, conn, id, to, message).await
    } else {
        send_direct(shared, conn, id, to, message).await
    }
}

/// The own-devices copy of a 1:1 message.
fn own_copy(to: &Jid, message: &Message) -> Message {
    Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(to.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        ..Default::default()
    }
}

async fn send_direct(
    shared: &Arc<Shared>,
    conn: &Connection,
    id: &str,
    to: &Jid,
    message: &Message,
) -> Result<(), SendError> {
    let own_user = shared.own.pn.to_non_ad();
    let targets = devices::resolve(
        conn,
        &*shared.store,
        &shared.crypto,
        &shared.own,
        &[to.clone(), own_user],
    )
    .await?;
    let peer_plain = padded(message);
    let own_plain = padded(&own_copy(to, message));
    let jobs = targets
        .into_iter()
        .map(|t: Target| PairwiseJob {
            plaintext: if t.own {
                own_plain.clone()
            } else {
                peer_plain.clone()
            },
            device: t.device,
            bundle: t.bundle,
        })
        .collect();
    let (outs, changed) = shared.crypto.encrypt_pairwise(jobs).await?;
    identity_notices(shared, changed).await;
    let peer_lid = devices::lid_of(&*shared.store, to).await?;
    let (participants, any_pkmsg) = participants(outs);
    let reached_peer = participants.iter().any(|p| {
        p.attr_jid("jid")
            .is_some_and(|j| peer_lid.as_ref().is_some_and(|l| j.user() == l.user()))
    });
    if !reached_peer {
        return Err(SendError::NoDevices);
    }
    let mut children = vec![Node::new("participants").children(participants)];
    if any_pkmsg {
        children.push(device_identity(shared).await);
    }
    let stanza = Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", to.clone())
        .attr("type", "text")
        .children(children);
    lock(&shared.recent).insert(id.to_owned(), to.clone(), message.clone());
    conn.send(&stanza).await?;
    debug!(%id, "message sent");
    Ok(())
}

async fn identity_notices(shared: &Shared, changed: Vec<Jid>) {
    for device in changed {
        shared
            .emit(super::ClientEvent::IdentityChanged { device })
            .await;
    }
}

async fn device_identity(shared: &Shared) -> Node {
    let account = shared.state.lock().await.account.clone();
    Node::new("device-identity").bytes(account.unwrap_or_default().encode_to_vec())
}

/// `<to>` nodes for the devices that got a ciphertext, and whether any is a
/// `pkmsg` (then the message carries our device identity).
fn participants(outs: Vec<PairwiseOut>) -> (Vec<Node>, bool) {
    let mut nodes = Vec::with_capacity(outs.len());
    let mut any_pkmsg = false;
    for o in outs {
        match o.result {
            Ok((kind, ct)) => {
                any_pkmsg |= kind == EncType::Pkmsg;
                nodes.push(to_node(&o.device, kind, ct, None));
            }
            Err(e) => {
                warn!(device = %o.device, error = %e, "could not encrypt for a device; skipping")
            }
        }
    }
    (nodes, any_pkmsg)
}

async fn send_group(
    shared: &Arc<Shared>,
    conn: &Connection,
    id: &str,
    group: &Jid,
    message: &Message,
) -> Result<(), SendError> {
    let info = groups::members(shared, conn, group).await?;
    let mut users: Vec<Jid> = info.participants.clone();
    users.push(shared.own.pn.to_non_ad());
    let targets =
        devices::resolve(conn, &*shared.store, &shared.crypto, &shared.own, &users).await?;

    let (skdm, skmsg) = shared
        .crypto
        .group_encrypt(group, &shared.own.lid, &padded(message))
        .await?;
    let holders: BTreeSet<String> = shared
        .store
        .sender_key_holders(&group.to_string())
        .await?
        .into_iter()
        .collect();
    let distribution = padded(&Message {
        sender_key_distribution_message: Some(SenderKeyDistributionMessage {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(skdm),
        }),
        ..Default::default()
    });
    let jobs: Vec<PairwiseJob> = targets
        .into_iter()
        .filter(|t| !holders.contains(&t.device.to_string()))
        .map(|t| PairwiseJob {
            device: t.device,
            bundle: t.bundle,
            plaintext: distribution.clone(),
        })
        .collect();
    let (outs, changed) = shared.crypto.encrypt_pairwise(jobs).await?;
    identity_notices(shared, changed).await;
    let new_holders: Vec<String> = outs
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.device.to_string())
        .collect();
    let (participants, any_pkmsg) = participants(outs);
    let mut children = Vec::new();
    if !participants.is_empty() {
        children.push(Node::new("participants").children(participants));
    }
    children.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(skmsg),
    );
    if any_pkmsg {
        children.push(device_identity(shared).await);
    }
    let stanza = Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", group.clone())
        .attr("type", "text")
        .children(children);
    lock(&shared.recent).insert(id.to_owned(), group.clone(), message.clone());
    conn.send(&stanza).await?;
    shared
        .store
        .add_sender_key_holders(&group.to_string(), &new_holders)
        .await?;
    debug!(%id, distributed = new_holders.len(), "group message sent");
    Ok(())
}

/// A retry receipt for the undecryptable message `node`.
pub(crate) async fn retry_receipt(
    shared: &Arc<Shared>,
    node: &Node,
    count: u32,
) -> Result<Node, SendError> {
    let mut state = shared.state.lock().await;
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let from = node
        .attr_jid("from")
        .cloned()
        .ok_or(SendError::BadRecipient("message without from".to_owned()))?;
    let mut receipt = Node::new("receipt")
        .attr("id", id.clone())
        .attr("to", from.clone())
        .attr("type", "retry");
    if let Some(p) = node.attr_jid("participant") {
        receipt = receipt.attr("participant", p.clone());
    }
    let mut children = vec![
        Node::new("retry")
            .attr("count", count.to_string())
            .attr("id", id)
            .attr("t", node.attr_str("t").unwrap_or("0").to_owned())
            .attr("v", "1"),
        Node::new("registration")
            .bytes(signal::encode_registration_id(state.registration_id).to_vec()),
    ];
    if count > 1 {
        // Our keys, so the sender can start a fresh session without a fetch;
        // the one-time prekey is stored before it leaves.
        let fresh = state.generate_prekeys(1, &mut rand::rng());
        shared.store.save(&state).await?;
        shared.store.store_prekeys(&fresh).await?;
        let spk = &state.signed_prekey;
        let key_id = |id| signal::encode_key_id(id).map(|b| b.to_vec());
        let mut keys = vec![
            Node::new("type").bytes(vec![signal::KEY_TYPE_DJB]),
            Node::new("identity").bytes(state.identity.public().to_vec()),
        ];
        if let Some(k) = fresh.first() {
            keys.push(Node::new("key").children(vec![
                Node::new("id").bytes(key_id(k.id()).map_err(crate::crypto::CryptoError::from)?),
                Node::new("value").bytes(k.public().to_vec()),
            ]));
        }
        keys.push(Node::new("skey").children(vec![
            Node::new("id").bytes(key_id(spk.id()).map_err(crate::crypto::CryptoError::from)?),
            Node::new("value").bytes(spk.public().to_vec()),
            Node::new("signature").bytes(spk.signature().to_vec()),
        ]));
        if let Some(account) = &state.account {
            keys.push(Node::new("device-identity").bytes(account.encode_to_vec()));
        }
        children.push(Node::new("keys").children(keys));
    }
    Ok(receipt.children(children))
}

/// Answers a retry receipt: a fresh session with the device that asked, and
/// the message sent again to that device only, with the same id.
pub(crate) async fn resend_on_retry(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), SendError> {
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let from = node
        .attr_jid("from")
        .cloned()
        .ok_or(SendError::BadRecipient("retry without from".to_owned()))?;
    let group = from.is_group();
    let asker = if group {
        node.attr_jid("participant")
            .cloned()
            .ok_or(SendError::BadRecipient(
                "group retry without participant".to_owned(),
            ))?
    } else {
        from.clone()
    };
    let count: u32 = node
        .child("retry")
        .and_then(|r| r.attr_str("count"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let Some((chat, message)) = lock(&shared.recent).get(&id) else {
        warn!(%id, "retry receipt for a message we no longer have");
        return Ok(());
    };
    let Some(device) = devices::lid_of(&*shared.store, &asker.to_non_ad())
        .await?
        .map(|l| Jid::with_device(l.user(), asker.device(), Server::Lid))
    else {
        warn!(%asker, "retry receipt from a device without a known LID");
        return Ok(());
    };
    // A bundle from the receipt's keys, else a fetched one.
    let bundle = match node.child("keys").and_then(|k| keys_bundle(node, k)) {
        Some(b) => Some(b),
        None => devices::fetch_bundles(conn, std::slice::from_ref(&device))
            .await?
            .remove(&device.to_string())
            .map(|(b, _)| b),
    };
    let Some(bundle) = bundle else {
        warn!(%device, "no keys to answer a retry receipt");
        return Ok(());
    };
    shared.crypto.delete_session(&device).await?;
    let own = device.user() == shared.own.lid.user();
    let content = if group {
        // The sender key may be what the device lacks: send it along.
        let skdm = shared
            .crypto
            .sender_key_distribution(&chat, &shared.own.lid)
            .await?;
        let mut m = message.clone();
        m.sender_key_distribution_message = Some(SenderKeyDistributionMessage {
            group_id: Some(chat.to_string()),
            axolotl_sender_key_distribution_message: Some(skdm),
        });
        m
    } else if own {
        own_copy(&chat, &message)
    } else {
        message
    };
    let (mut outs, _) = shared
        .crypto
        .encrypt_pairwise(vec![PairwiseJob {
            device: device.clone(),
            bundle: Some(bundle),
            plaintext: padded(&content),
        }])
        .await?;
    let Some(PairwiseOut {
        result: Ok((kind, ct)),
        ..
    }) = outs.pop()
    else {
        warn!(%device, "could not encrypt a resend");
        return Ok(());
    };
    let mut children =
        vec![Node::new("participants").children(vec![to_node(&device, kind, ct, Some(count))])];
    if kind == EncType::Pkmsg {
        children.push(device_identity(shared).await);
    }
    let stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("to", chat)
        .attr("type", "text")
        .children(children);
    conn.send(&stanza).await.map_err(SendError::from)?;
    debug!(%id, %device, count, "resent after a retry receipt");
    Ok(())
}

/// The bundle in a retry receipt's `<keys>` (the registration id is on the
/// receipt itself).
fn keys_bundle(receipt: &Node, keys: &Node) -> Option<signal::PreKeyBundle> {
    let registration = receipt.child("registration")?.clone();
    let mut user = keys.clone();
    let mut children = user.child_nodes().to_vec();
    children.push(registration);
    user = Node::new("user").children(children);
    devices::parse_bundle(&user)
}
