//! The phone's app state (PROTOCOL.md section 6): the sync keys it makes
//! and shares with its companions, and the five collections it keeps on
//! the server like any device: it fetches and verifies what others pushed,
//! encodes its own mutations as patches and pushes them the same way (so
//! companions get `server_sync`).

mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use wa_core::proto::Message;
use wa_core::proto::message::{
    self as msg, AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint,
    AppStateSyncKeyId, AppStateSyncKeyShare, ProtocolMessage,
};

pub use view::AppStateView;

use super::device::{PhoneDevice, PhoneError};
use super::history::HistoryScript;
use crate::server::Shared;

/// A way to spoil the next patch the phone pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFault {
    /// The first mutation's value MAC is wrong (the LTHash and patch MACs are
    /// computed over the wrong MAC, so only the value MAC check fails).
    WrongValueMac,
    /// The snapshot MAC is computed from a wrong LTHash (the patch MAC
    /// covers it, so only the LTHash check fails).
    WrongLtHash,
    /// The patch is made with a key no companion was given.
    UnknownKeyId,
}

/// One app-state sync key. `Debug` prints its id only.
#[derive(Clone)]
pub(crate) struct SyncKey {
    /// 6 bytes, like real ones (`AAAAAO0O`: four zero bytes and a counter).
    pub(crate) id: Vec<u8>,
    pub(crate) data: [u8; 32],
    /// Milliseconds since the epoch.
    pub(crate) timestamp: i64,
    /// Shared with companions (a key made for [`PatchFault::UnknownKeyId`] is not).
    pub(crate) shared: bool,
}

impl std::fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncKey")
            .field("id", &hex::encode(&self.id))
            .finish_non_exhaustive()
    }
}

/// The phone's app-state side.
// Read once the phone encodes and decodes patches (wa_core::appstate).
#[allow(dead_code)]
#[derive(Debug, Default)]
pub(crate) struct AppStateSide {
    /// Every key made, oldest first; the last shared one is current.
    pub(crate) keys: Vec<SyncKey>,
    /// Each collection as the phone last synced it.
    pub(crate) collections: BTreeMap<String, view::CollectionState>,
    /// A fault for the next patch.
    pub(crate) next_fault: Option<PatchFault>,
    /// The script's chat settings went into app state.
    pub(crate) seeded: bool,
}

impl AppStateSide {
    /// Makes a fresh key; `shared` says whether companions will be given it.
    fn new_key(&mut self, shared: bool) -> SyncKey {
        let counter = match self.keys.last() {
            Some(k) => u16::from_be_bytes([k.id[4], k.id[5]]).wrapping_add(1),
            None => rand::random::<u16>() | 0x0100,
        };
        let mut id = vec![0u8; 4];
        id.extend_from_slice(&counter.to_be_bytes());
        let key = SyncKey {
            id,
            data: rand::random(),
            timestamp: now_ms(),
            shared,
        };
        self.keys.push(key.clone());
        key
    }

    /// The key new patches use, made on first use.
    pub(crate) fn current_key(&mut self) -> SyncKey {
        match self.keys.iter().rev().find(|k| k.shared) {
            Some(k) => k.clone(),
            None => self.new_key(true),
        }
    }

    /// A key by id.
    #[allow(dead_code)]
    pub(crate) fn key(&self, id: &[u8]) -> Option<&SyncKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The fingerprint real key shares carry: the account's ADV raw id, its
/// current key index and the indexes of its devices (0 = the phone).
fn fingerprint(shared: &Shared, pn: &str) -> AppStateSyncKeyFingerprint {
    let state = shared.state();
    let Some(account) = state.accounts.get(pn) else {
        return AppStateSyncKeyFingerprint::default();
    };
    AppStateSyncKeyFingerprint {
        raw_id: Some(account.raw_id),
        current_index: Some(account.next_key_index.saturating_sub(1)),
        device_indexes: std::iter::once(0)
            .chain(account.companions.values().map(|c| c.key_index))
            .collect(),
    }
}

/// An APP_STATE_SYNC_KEY_SHARE of `keys`.
fn share_message(shared: &Shared, pn: &str, keys: &[SyncKey]) -> Message {
    let fingerprint = fingerprint(shared, pn);
    let keys = keys
        .iter()
        .map(|k| AppStateSyncKey {
            key_id: Some(AppStateSyncKeyId {
                key_id: Some(k.id.clone()),
            }),
            key_data: Some(AppStateSyncKeyData {
                key_data: Some(k.data.to_vec()),
                fingerprint: Some(fingerprint.clone()),
                timestamp: Some(k.timestamp),
            }),
        })
        .collect();
    Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(msg::protocol_message::Type::AppStateSyncKeyShare as i32),
            app_state_sync_key_share: Some(AppStateSyncKeyShare { keys }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The key share a new companion gets: every shared key (old patches may
/// use old keys), made first if there is none.
pub(crate) async fn key_share(shared: &Shared, device: &PhoneDevice, pn: &str) -> Message {
    let keys: Vec<SyncKey> = {
        let mut side = device.app_state.lock().await;
        side.current_key();
        side.keys.iter().filter(|k| k.shared).cloned().collect()
    };
    share_message(shared, pn, &keys)
}

/// Makes a new key, shares it with every companion, and makes it the one
/// later patches use.
#[allow(dead_code)]
pub(crate) async fn rotate(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
) -> Result<Vec<u8>, PhoneError> {
    let key = device.app_state.lock().await.new_key(true);
    let message = share_message(shared, pn, std::slice::from_ref(&key));
    let companions: Vec<u16> = shared
        .state()
        .accounts
        .get(pn)
        .map(|a| a.companions.keys().copied().collect())
        .unwrap_or_default();
    for companion in companions {
        super::peer::send(shared, device, pn, companion, &message).await?;
    }
    Ok(key.id)
}

/// Puts the script's contact names and chat settings into app state, once.
pub(crate) async fn seed(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    script: &HistoryScript,
) -> Result<(), PhoneError> {
    let _ = (shared, device, pn, script);
    Ok(())
}
