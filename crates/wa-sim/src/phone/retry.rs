//! Retry receipts at the scripted phone, both ways: asking a sender to
//! encrypt a message again when it could not be decrypted, and answering such
//! a request for a message the phone sent (see `wa_core::retry` for the wire
//! format and its sources).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prost::Message as _;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::Message;
use wa_core::proto::message::{DeviceSentMessage, SenderKeyDistributionMessage};
use wa_core::retry::{self, RetryKeys, RetryRequest};
use wa_core::signal::{
    self, BundlePreKey, BundleSignedPreKey, PreKey, PreKeyBundle, SignalAddress,
};

use super::device::{PhoneDevice, PhoneError, lid_address};
use crate::server::{Shared, route};

/// The device that sent `message`: `participant` in groups, else `from`.
fn sender_of(message: &Node) -> Option<&Jid> {
    let from = message.attr_jid("from")?;
    if from.is_group() {
        message.attr_jid("participant")
    } else {
        Some(from)
    }
}

/// Forgets the retry count of a message once it has been read.
pub(super) fn forget(device: &PhoneDevice, message: &Node) {
    let (Some(id), Some(sender)) = (message.attr_str("id"), sender_of(message)) else {
        return;
    };
    if let Ok(mut r) = device.retries.lock() {
        r.remove(&(id.to_owned(), sender.clone()));
    }
}

/// Sends a retry receipt for `message`, which could not be decrypted: count 1
/// first, one more for each further failure (a resend's `<enc count>` tells
/// where the sender is), keys from the second request on. Gives up after
/// [`retry::MAX_COUNT`] requests.
pub(super) async fn request(
    shared: &Arc<Shared>,
    pn: &str,
    device: &PhoneDevice,
    message: &Node,
) -> Result<(), PhoneError> {
    let id = message
        .attr_str("id")
        .ok_or(PhoneError::Malformed("message without id"))?;
    let sender = sender_of(message)
        .ok_or(PhoneError::Malformed("message without sender"))?
        .clone();
    let in_message = message
        .children_by_tag("enc")
        .filter_map(|e| e.attr_str("count")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let count = {
        let mut retries = device
            .retries
            .lock()
            .map_err(|_| PhoneError::Malformed("retry state poisoned"))?;
        let count = retries.entry((id.to_owned(), sender)).or_insert(0);
        *count = (*count + 1).max(in_message + 1);
        *count
    };
    if count > retry::MAX_COUNT {
        tracing::warn!(%pn, "phone gives up asking for a message again");
        return Ok(());
    }
    let mut store = device.store().lock().await;
    let registration_id = store.identity.registration_id();
    let keys = if retry::keys_expected(count) {
        let key_id = device.next_retry_prekey.fetch_add(1, Ordering::Relaxed);
        let prekey = PreKey::generate(key_id, &mut rand::rng())?;
        store.prekeys.insert(&prekey)?;
        let state = shared.state();
        let own = state
            .accounts
            .get(pn)
            .ok_or_else(|| PhoneError::NoAccount(pn.to_owned()))?;
        let k = &own.phone_keys;
        Some(RetryKeys {
            bundle: PreKeyBundle {
                registration: signal::encode_registration_id(registration_id).to_vec(),
                key_type: vec![signal::KEY_TYPE_DJB],
                identity: k.identity.clone(),
                signed_prekey: BundleSignedPreKey {
                    id: signal::encode_key_id(k.signed_prekey_id)?.to_vec(),
                    value: k.signed_prekey.clone(),
                    signature: k.signed_prekey_signature.clone(),
                },
                prekey: Some(BundlePreKey {
                    id: signal::encode_key_id(prekey.id())?.to_vec(),
                    value: prekey.public().to_vec(),
                }),
            },
            // A primary device has no ADVSignedDeviceIdentity of its own.
            device_identity: None,
        })
    } else {
        None
    };
    drop(store);
    let request = RetryRequest::for_message(message, count, registration_id, keys)?;
    route::receipt(shared, &(pn.to_owned(), 0), &request.to_node());
    Ok(())
}

/// Answers a retry receipt for a message the phone sent: a fresh session
/// with the asking device (from the receipt's keys, else from a bundle the
/// server hands out, as Baileys does), and the same message, under the same
/// id, encrypted to that device alone.
pub(super) async fn answer(
    shared: &Arc<Shared>,
    pn: &str,
    device: &PhoneDevice,
    receipt: &Node,
) -> Result<(), PhoneError> {
    let request = RetryRequest::parse(receipt)?;
    if request.count > retry::MAX_COUNT {
        return Err(PhoneError::Malformed("too many retries"));
    }
    let sent = device
        .sent(&request.id)
        .ok_or(PhoneError::Malformed("retry for a message not kept"))?;
    let asking = request.device().clone();
    let (target_pn, target_device) = shared
        .state()
        .resolve(&asking)
        .ok_or(PhoneError::Malformed("unknown device asks for a retry"))?;
    let (_, addr) = lid_address(shared, &asking).ok_or(PhoneError::Malformed("unknown device"))?;
    let group = sent.chat.is_group().then(|| sent.chat.clone());
    let mut store = device.store().lock().await;
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let bundle = match request.keys {
        Some(keys) => keys.bundle,
        None => shared
            .state()
            .accounts
            .get_mut(&target_pn)
            .and_then(|a| a.take_bundle(target_device))
            .ok_or(PhoneError::Malformed("no bundle"))?,
    };
    signal::process_prekey_bundle(&mut *store, &addr, &bundle, &mut rng).await?;
    let body = match &group {
        // The sender key goes along, pairwise, with the message itself.
        Some(gid) => {
            let own = {
                let state = shared.state();
                let account = state
                    .accounts
                    .get(pn)
                    .ok_or_else(|| PhoneError::NoAccount(pn.to_owned()))?;
                SignalAddress::from_jid(&account.lid_jid(0))?
            };
            let skdm =
                signal::create_sender_key_distribution(&mut *store, gid, &own, &mut rng).await?;
            Message {
                sender_key_distribution_message: Some(SenderKeyDistributionMessage {
                    group_id: Some(gid.to_string()),
                    axolotl_sender_key_distribution_message: Some(skdm),
                }),
                ..sent.message.clone()
            }
        }
        None if target_pn == pn => Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some(sent.chat.to_string()),
                message: Some(Box::new(sent.message.clone())),
                phash: None,
            })),
            ..Default::default()
        },
        None => sent.message.clone(),
    };
    let padded = signal::pad(&body.encode_to_vec(), rand::random::<u8>());
    let (kind, ciphertext) = signal::encrypt(&mut *store, &addr, &padded).await?;
    drop(store);
    let mut stanza = Node::new("message")
        .attr("id", request.id.clone())
        .attr("type", "text");
    stanza = match &group {
        Some(gid) => stanza
            .attr("to", gid.clone())
            .attr("participant", asking.clone()),
        None if target_pn == pn => stanza
            .attr("to", asking.clone())
            .attr("recipient", sent.chat.clone())
            .attr("device_fanout", "false"),
        None => stanza
            .attr("to", asking.clone())
            .attr("device_fanout", "false"),
    };
    let stanza = stanza.children(vec![retry::resend_enc(
        kind.as_str(),
        request.count,
        ciphertext,
    )]);
    route::message(shared, &(pn.to_owned(), 0), &stanza);
    Ok(())
}
