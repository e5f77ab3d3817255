//! Retry receipts both ways: the one we send for a message we could not
//! decrypt, and the resend we answer a device's receipt with.

use std::sync::Arc;

use prost::Message as _;
use tracing::{debug, warn};
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::content::stanza_attrs;
use wa_core::jid::{Jid, Server};
use wa_core::proto::AdvSignedDeviceIdentity;
use wa_core::proto::Message;
use wa_core::proto::message::SenderKeyDistributionMessage;
use wa_core::retry::{self, RetryKeys, RetryRequest};
use wa_core::signal::{self, BundlePreKey, BundleSignedPreKey, EncType, PreKeyBundle};

use super::super::{SendError, Shared, lock};
use super::{device_identity, own_copy, padded, poll_meta};
use crate::crypto::{CryptoError, PairwiseJob, PairwiseOut};
use crate::device_lists;
use crate::socket::Connection;

/// A retry receipt for the undecryptable message `node`. From the second
/// request on it carries our keys (with a fresh one-time prekey, stored
/// before it leaves), so the sender can start over without a fetch.
pub(crate) async fn retry_receipt(
    shared: &Arc<Shared>,
    node: &Node,
    count: u32,
) -> Result<Node, SendError> {
    let mut state = shared.state.lock().await;
    let keys = if retry::keys_expected(count) {
        let fresh = state.generate_prekeys(1, &mut rand::rng());
        shared.store.save(&state).await?;
        shared.store.store_prekeys(&fresh).await?;
        let spk = &state.signed_prekey;
        let key_id = |id| {
            signal::encode_key_id(id)
                .map(|b| b.to_vec())
                .map_err(CryptoError::from)
        };
        let prekey = match fresh.first() {
            Some(k) => Some(BundlePreKey {
                id: key_id(k.id())?,
                value: k.public().to_vec(),
            }),
            None => None,
        };
        Some(RetryKeys {
            bundle: PreKeyBundle {
                registration: signal::encode_registration_id(state.registration_id).to_vec(),
                key_type: vec![signal::KEY_TYPE_DJB],
                identity: state.identity.public().to_vec(),
                signed_prekey: BundleSignedPreKey {
                    id: key_id(spk.id())?,
                    value: spk.public().to_vec(),
                    signature: spk.signature().to_vec(),
                },
                prekey,
            },
            device_identity: state.account.as_ref().map(prost::Message::encode_to_vec),
        })
    } else {
        None
    };
    let request = RetryRequest::for_message(node, count, state.registration_id, keys)
        .map_err(|e| SendError::Malformed(e.to_string()))?;
    Ok(request.to_node())
}

/// Whether `device` (a LID device) was among the recipients of a message
/// we sent to `chat`, asked about in a receipt from `peer`.
async fn was_recipient(
    shared: &Arc<Shared>,
    conn: &Connection,
    (chat, peer): (&Jid, &Jid),
    device: &Jid,
) -> Result<bool, SendError> {
    let same = |a: &Jid, b: &Jid| a.user() == b.user() && a.server() == b.server();
    let lid = |j: Jid| async move { device_lists::lid_of(&*shared.store, &j.to_non_ad()).await };
    if same(&device.to_non_ad(), &shared.own.lid.to_non_ad()) {
        return Ok(true);
    }
    if chat.is_group() {
        if peer.to_non_ad() != chat.to_non_ad() {
            return Ok(false);
        }
        let info = super::super::groups::members(shared, conn, chat).await?;
        for member in &info.participants {
            if lid(member.clone())
                .await?
                .is_some_and(|m| same(&m, &device.to_non_ad()))
            {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    Ok(lid(chat.clone())
        .await?
        .is_some_and(|c| same(&c, &device.to_non_ad())))
}

/// Answers a retry receipt: a fresh session with the device that asked (if
/// it was a recipient and its account vouches for it), and the message sent
/// again to that device only, with the same id.
pub(crate) async fn resend_on_retry(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), SendError> {
    let request = RetryRequest::parse(node).map_err(|e| SendError::Malformed(e.to_string()))?;
    let id = request.id.clone();
    let asker = request.device().clone();
    let group = request.peer.is_group();
    let Some((chat, message)) = lock(&shared.recent).get(&id) else {
        warn!(%id, "retry receipt for a message we no longer have");
        return Ok(());
    };
    let Some(device) = device_lists::lid_of(&*shared.store, &asker.to_non_ad())
        .await?
        .map(|l| Jid::with_device(l.user(), asker.device(), Server::Lid))
    else {
        warn!(%asker, "retry receipt from a device without a known LID");
        return Ok(());
    };
    // Only a device the message went to may have it again: one of ours,
    // the 1:1 peer's, or a member's of the group it was sent in.
    if !was_recipient(shared, conn, (&chat, &request.peer), &device).await? {
        warn!(%id, %device, "retry receipt from a device the message never went to; ignored");
        return Ok(());
    }
    let (bundle, identity) = asker_keys(conn, request.keys, &device).await?;
    let Some(bundle) = bundle else {
        warn!(%device, "no keys to answer a retry receipt");
        return Ok(());
    };
    if !asker_trusted(shared, &device, identity, &bundle).await? {
        return Ok(());
    }
    shared.crypto.delete_session(&device).await?;
    let own = device.user() == shared.own.lid.user();
    let attrs = stanza_attrs(&message);
    let content = resend_content(shared, &chat, message, group, own).await?;
    let Some((kind, ct)) = encrypt_resend(shared, &device, bundle, &content).await? else {
        warn!(%device, "could not encrypt a resend");
        return Ok(());
    };
    let count = request.count;
    let mut children = vec![retry::resend_enc(kind.as_str(), count, ct)];
    if kind == EncType::Pkmsg {
        children.push(device_identity(shared).await);
    }
    children.extend(poll_meta(&attrs));
    let mut stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("type", attrs.kind)
        .attr("device_fanout", "false");
    if let Some(edit) = attrs.edit {
        stanza = stanza.attr("edit", edit);
    }
    stanza = if group {
        stanza.attr("to", chat).attr("participant", asker)
    } else if own {
        stanza.attr("to", asker).attr("recipient", chat)
    } else {
        stanza.attr("to", asker)
    };
    conn.send(&stanza.children(children))
        .await
        .map_err(SendError::from)?;
    debug!(%id, %device, count, "resent after a retry receipt");
    Ok(())
}

/// The asking device's keys: a bundle from the receipt's keys, else a
/// fetched one; with its signed device identity when known.
async fn asker_keys(
    conn: &Connection,
    keys: Option<RetryKeys>,
    device: &Jid,
) -> Result<(Option<PreKeyBundle>, Option<AdvSignedDeviceIdentity>), SendError> {
    Ok(match keys {
        Some(k) => (
            Some(k.bundle),
            k.device_identity
                .and_then(|b| AdvSignedDeviceIdentity::decode(b.as_slice()).ok()),
        ),
        None => match device_lists::fetch_bundles(conn, std::slice::from_ref(device))
            .await?
            .remove(&device.to_string())
        {
            Some((b, i)) => (Some(b), i),
            None => (None, None),
        },
    })
}

/// Whether the asking device may have the message again. The asker gets
/// ciphertext only if its account vouches for it, as for any send: a
/// server cannot ask on behalf of a device it made up. A phone (device 0)
/// needs no voucher; a new identity of it is announced first.
async fn asker_trusted(
    shared: &Shared,
    device: &Jid,
    identity: Option<AdvSignedDeviceIdentity>,
    bundle: &PreKeyBundle,
) -> Result<bool, SendError> {
    if device.device() != 0 {
        let own = device.user() == shared.own.lid.user();
        let account_key = if own {
            Some(shared.own.account_key.clone())
        } else {
            shared
                .crypto
                .identity_of(&Jid::with_device(device.user(), 0, Server::Lid))
                .await?
                .map(|k| k.to_vec())
        };
        let vouched = account_key.is_some_and(|k| {
            identity.is_some_and(|i| adv::verify_device_identity(&i, &bundle.identity, &k).is_ok())
        });
        if !vouched {
            warn!(%device, "retry receipt from a device the account does not vouch for; ignored");
            return Ok(false);
        }
    } else if let Some(known) = shared.crypto.identity_of(device).await?
        && known.as_slice() != bundle.identity.as_slice()
    {
        // A phone with a new identity is a reinstall: say so, then answer.
        shared
            .emit(super::super::ClientEvent::IdentityChanged {
                device: device.clone(),
            })
            .await;
    }
    Ok(true)
}

/// What is sent again: in a group the message with our sender key, to our
/// own devices the own-devices copy, else the message itself.
async fn resend_content(
    shared: &Shared,
    chat: &Jid,
    message: Message,
    group: bool,
    own: bool,
) -> Result<Message, SendError> {
    Ok(if group {
        // The sender key may be what the device lacks: send it along.
        let skdm = shared
            .crypto
            .sender_key_distribution(chat, &shared.own.lid)
            .await?;
        let mut m = message;
        m.sender_key_distribution_message = Some(SenderKeyDistributionMessage {
            group_id: Some(chat.to_string()),
            axolotl_sender_key_distribution_message: Some(skdm),
        });
        m
    } else if own {
        own_copy(chat, &message)
    } else {
        message
    })
}

/// Encrypts the resend for the asking device alone, on a session started
/// from `bundle`; `None` when that failed.
async fn encrypt_resend(
    shared: &Shared,
    device: &Jid,
    bundle: PreKeyBundle,
    content: &Message,
) -> Result<Option<(EncType, Vec<u8>)>, SendError> {
    let (mut outs, _) = shared
        .crypto
        .encrypt_pairwise(vec![PairwiseJob {
            device: device.clone(),
            bundle: Some(bundle),
            plaintext: padded(content),
        }])
        .await?;
    let Some(PairwiseOut {
        result: Ok((kind, ct)),
        ..
    }) = outs.pop()
    else {
        return Ok(None);
    };
    Ok(Some((kind, ct)))
}
