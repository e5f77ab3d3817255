//! App-state sync keys: the shares our phone sends
//! (`protocolMessage` APP_STATE_SYNC_KEY_SHARE), and the requests we send
//! it for keys we lack (APP_STATE_SYNC_KEY_REQUEST, as whatsmeow does:
//! a peer message to our own bare JID, PROTOCOL.md section 6).

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use tracing::{info, warn};
use wa_core::appstate::Collection;
use wa_core::binary::Node;
use wa_core::proto::Message;
use wa_core::proto::message::{
    AppStateSyncKeyId, AppStateSyncKeyRequest, AppStateSyncKeyShare, ProtocolMessage,
    protocol_message,
};
use wa_core::signal::EncType;

use super::super::{SendError, Shared, lock, new_message_id, send};
use crate::crypto::{PairwiseJob, PairwiseOut};
use crate::device_lists;
use crate::store::{AppStateKey, StoreError};

/// Which collections wait for a key, and which keys were asked for.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    waiting: Mutex<BTreeSet<Collection>>,
    requested: Mutex<HashSet<Vec<u8>>>,
}

impl KeyState {
    /// `collection` cannot go on until a key arrives.
    pub(crate) fn wait(&self, collection: Collection) {
        lock(&self.waiting).insert(collection);
    }

    /// `collection` synced.
    pub(crate) fn resolved(&self, collection: Collection) {
        lock(&self.waiting).remove(&collection);
    }
}

/// Takes the key share out of a protocol message.
pub(crate) fn take_key_share(m: &mut Message) -> Option<AppStateSyncKeyShare> {
    let pm = m.protocol_message.as_deref_mut()?;
    if pm.r#type != Some(protocol_message::Type::AppStateSyncKeyShare as i32) {
        return None;
    }
    pm.app_state_sync_key_share.take()
}

/// Stores the shared keys, then syncs every collection: those that waited
/// for a key, and (after the first share) all of them for the first time.
pub(crate) async fn handle_key_share(
    shared: &Arc<Shared>,
    share: AppStateSyncKeyShare,
) -> Result<(), StoreError> {
    let keys: Vec<AppStateKey> = share
        .keys
        .into_iter()
        .filter_map(|k| {
            let id = k.key_id?.key_id.filter(|id| !id.is_empty())?;
            let data = k.key_data?;
            Some(AppStateKey {
                id,
                data: data.key_data?.as_slice().try_into().ok()?,
                timestamp: data.timestamp.unwrap_or(0),
            })
        })
        .collect();
    if keys.is_empty() {
        warn!("app-state key share without usable keys");
        return Ok(());
    }
    shared.store.store_app_state_keys(&keys).await?;
    {
        let mut requested = lock(&shared.app_state.keys.requested);
        for k in &keys {
            requested.remove(&k.id);
        }
    }
    let waiting = std::mem::take(&mut *lock(&shared.app_state.keys.waiting));
    info!(
        keys = keys.len(),
        waiting = waiting.len(),
        "app-state sync keys arrived; syncing"
    );
    super::spawn_sync(shared, Collection::ALL.to_vec());
    Ok(())
}

/// Asks our phone for the keys `ids` (each once until it arrives).
pub(crate) async fn request(shared: &Shared, ids: &[Vec<u8>]) {
    let fresh: Vec<Vec<u8>> = {
        let mut requested = lock(&shared.app_state.keys.requested);
        ids.iter()
            .filter(|id| requested.insert((*id).clone()))
            .cloned()
            .collect()
    };
    if fresh.is_empty() {
        return;
    }
    info!(
        keys = fresh.len(),
        "asking our phone for app-state sync keys"
    );
    if let Err(e) = send_request(shared, &fresh).await {
        warn!(error = %e, "could not ask for app-state sync keys");
        let mut requested = lock(&shared.app_state.keys.requested);
        for id in &fresh {
            requested.remove(id);
        }
    }
}

/// `<message to=<own bare JID> type="text" category="peer"
/// push_priority="high"><enc/><meta appdata="default"/></message>`,
/// encrypted for our phone only.
async fn send_request(shared: &Shared, ids: &[Vec<u8>]) -> Result<(), SendError> {
    let message = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(protocol_message::Type::AppStateSyncKeyRequest as i32),
            app_state_sync_key_request: Some(AppStateSyncKeyRequest {
                key_ids: ids
                    .iter()
                    .map(|id| AppStateSyncKeyId {
                        key_id: Some(id.clone()),
                    })
                    .collect(),
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let conn = shared.connection()?;
    let own_user = shared.own.pn.to_non_ad();
    let targets = device_lists::resolve(
        &conn,
        &*shared.store,
        &shared.crypto,
        &shared.own,
        std::slice::from_ref(&own_user),
    )
    .await?;
    let phone = targets
        .into_iter()
        .find(|t| t.own && t.device.device() == 0)
        .ok_or(SendError::NoDevices)?;
    let (mut outs, _) = shared
        .crypto
        .encrypt_pairwise(vec![PairwiseJob {
            device: phone.device,
            bundle: phone.bundle,
            plaintext: send::padded(&message),
        }])
        .await?;
    let Some(PairwiseOut {
        result: Ok((kind, ciphertext)),
        ..
    }) = outs.pop()
    else {
        return Err(SendError::NoDevices);
    };
    let mut children = vec![
        Node::new("enc")
            .attr("v", "2")
            .attr("type", kind.as_str())
            .bytes(ciphertext),
        Node::new("meta").attr("appdata", "default"),
    ];
    if kind == EncType::Pkmsg {
        children.push(send::device_identity(shared).await);
    }
    let stanza = Node::new("message")
        .attr("id", new_message_id())
        .attr("to", own_user)
        .attr("type", "text")
        .attr("category", "peer")
        .attr("push_priority", "high")
        .children(children);
    conn.send(&stanza).await?;
    Ok(())
}
