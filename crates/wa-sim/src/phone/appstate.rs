//! The phone's app state (PROTOCOL.md section 6): the sync keys it makes
//! and shares with its companions, and the five collections it keeps on
//! the server like any device: it fetches and verifies what others pushed,
//! encodes its own mutations as patches and pushes them the same way (so
//! companions get `server_sync`).
//!
//! Tests drive it through [`Phone`]: one method per action the bridge cares
//! about (each one patch), key rotation, spoiled patches ([`PatchFault`]),
//! compaction into a snapshot, and [`Phone::app_state_view`], which shows
//! what every device pushed, decoded and verified.

mod sync;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use wa_core::appstate::{Action, Collection, NewMutation};
use wa_core::jid::Jid;
use wa_core::proto::Message;
use wa_core::proto::message::{
    self as msg, AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint,
    AppStateSyncKeyId, AppStateSyncKeyShare, ProtocolMessage,
};

pub use view::AppStateView;

use super::Phone;
use super::device::{PhoneDevice, PhoneError};
use super::history::HistoryScript;
use crate::server::Shared;
use sync::{Device, Synced};

/// A way to spoil the next patch the phone pushes. The spoiled patch takes
/// a version on the server but changes nothing in the phone's own state, so
/// the phone's next patch verifies on top of the state before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFault {
    /// The value MACs are wrong: they are computed over another key id than
    /// the records name (the LTHash and patch MACs are computed over these
    /// MACs, so only the value MAC check fails, at the first mutation).
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
#[derive(Debug, Default)]
pub(crate) struct AppStateSide {
    /// Every key made, oldest first; the last shared one is current.
    pub(crate) keys: Vec<SyncKey>,
    /// Each collection as the phone last synced it.
    pub(crate) collections: BTreeMap<Collection, Synced>,
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

    /// Encodes `mutations` into one patch of `c` (spoiled by an armed
    /// fault) and pushes it; the version it landed as.
    fn push(
        &mut self,
        shared: &Shared,
        pn: &str,
        c: Collection,
        mutations: &[NewMutation],
    ) -> Result<u64, PhoneError> {
        let fault = self.next_fault.take();
        let key = match fault {
            Some(PatchFault::UnknownKeyId) => self.new_key(false),
            _ => self.current_key(),
        };
        let AppStateSide {
            keys, collections, ..
        } = self;
        let device = Device { shared, pn, keys };
        let synced = collections.entry(c).or_default();
        sync::push(device, &key, synced, c, mutations, fault)
    }

    /// Pushes `actions` stamped now: one patch per collection they go to.
    fn act(&mut self, shared: &Shared, pn: &str, actions: &[Action]) -> Result<u64, PhoneError> {
        let now = now_ms();
        let mut by_collection: BTreeMap<Collection, Vec<NewMutation>> = BTreeMap::new();
        for (c, m) in actions.iter().filter_map(|a| a.to_new_mutation(now)) {
            by_collection.entry(c).or_default().push(m);
        }
        let mut version = 0;
        for (c, mutations) in by_collection {
            version = self.push(shared, pn, c, &mutations)?;
        }
        Ok(version)
    }

    /// Brings every collection up to the server's version.
    fn sync_all(&mut self, shared: &Shared, pn: &str) {
        let AppStateSide {
            keys, collections, ..
        } = self;
        let device = Device { shared, pn, keys };
        for c in Collection::ALL {
            sync::sync(device, collections.entry(c).or_default(), c);
        }
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

/// Puts the script's contact names and chat settings into app state, once
/// per phone: contact names of 1:1 chats (critical_unblock_low), archived
/// and pinned chats (regular_low) and muted ones (regular_high), one patch
/// per collection under the current key. Push names are not app state.
pub(crate) async fn seed(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    script: &HistoryScript,
) -> Result<(), PhoneError> {
    let mut side = device.app_state.lock().await;
    seed_locked(&mut side, shared, pn, script)
}

/// [`seed`] with the phone's app-state side already locked.
pub(crate) fn seed_locked(
    side: &mut AppStateSide,
    shared: &Shared,
    pn: &str,
    script: &HistoryScript,
) -> Result<(), PhoneError> {
    if side.seeded {
        return Ok(());
    }
    let mut actions = Vec::new();
    for chat in &script.chats {
        let jid = chat.jid.clone();
        if !chat.is_group()
            && let Some(name) = &chat.name
        {
            actions.push(contact(jid.clone(), name));
        }
        if chat.archived {
            actions.push(Action::Archive {
                chat: jid.clone(),
                archived: true,
            });
        }
        if chat.pinned {
            actions.push(Action::Pin {
                chat: jid.clone(),
                pinned: true,
            });
        }
        if let Some(until) = chat.mute_end_ms {
            actions.push(mute(jid, Some(until)));
        }
    }
    side.sync_all(shared, pn);
    side.act(shared, pn, &actions)?;
    side.seeded = true;
    Ok(())
}

fn contact(jid: Jid, full_name: &str) -> Action {
    Action::Contact {
        jid,
        full_name: Some(full_name.to_owned()),
        first_name: full_name.split_whitespace().next().map(str::to_owned),
    }
}

/// A mute until `until_ms` (-1: forever), or an unmute for `None`.
fn mute(chat: Jid, until_ms: Option<i64>) -> Action {
    Action::Mute {
        chat,
        muted: until_ms.is_some(),
        until_ms: until_ms.filter(|&t| t >= 0),
    }
}

/// The phone's app state, as tests drive it. Every action is one patch
/// pushed like a device push (companions get `server_sync`); on a conflict
/// the phone fetches what landed, verifies it and pushes again on top.
/// Each returns the version its patch landed as.
impl Phone {
    /// Saves `full_name` as the address-book name of the account `pn`.
    pub async fn rename_contact(&self, pn: &str, full_name: &str) -> Result<u64, PhoneError> {
        self.act(contact(Jid::user_jid(pn.to_owned()), full_name))
            .await
    }

    /// Sets the account's push name in app state (critical_block), as the
    /// phone's profile screen does. Only the app state: the server learns
    /// a device's name from that device's presence.
    pub async fn set_push_name(&self, name: &str) -> Result<u64, PhoneError> {
        self.act(Action::PushName {
            name: name.to_owned(),
        })
        .await
    }

    /// Sets the account's cstoken salt in app state (`nct_salt_sync`).
    pub async fn set_nct_salt(&self, salt: Vec<u8>) -> Result<u64, PhoneError> {
        self.act(Action::NctSalt { salt: Some(salt) }).await
    }

    /// Archives or unarchives `chat`.
    pub async fn archive_chat(&self, chat: &Jid, archived: bool) -> Result<u64, PhoneError> {
        let chat = chat.clone();
        self.act(Action::Archive { chat, archived }).await
    }

    /// Mutes `chat` until `until_ms` (milliseconds since the epoch; -1:
    /// forever), or unmutes it for `None`.
    pub async fn mute_chat(&self, chat: &Jid, until_ms: Option<i64>) -> Result<u64, PhoneError> {
        self.act(mute(chat.clone(), until_ms)).await
    }

    /// Pins or unpins `chat`.
    pub async fn pin_chat(&self, chat: &Jid, pinned: bool) -> Result<u64, PhoneError> {
        let chat = chat.clone();
        self.act(Action::Pin { chat, pinned }).await
    }

    /// Marks `chat` read or unread.
    pub async fn mark_chat_read(&self, chat: &Jid, read: bool) -> Result<u64, PhoneError> {
        let chat = chat.clone();
        self.act(Action::MarkRead { chat, read }).await
    }

    /// Stars or unstars message `id` of `chat` (no participant: the index
    /// ends in `"0"`, as Baileys writes it).
    pub async fn star_message(
        &self,
        chat: &Jid,
        id: &str,
        from_me: bool,
        starred: bool,
    ) -> Result<u64, PhoneError> {
        self.act(Action::Star {
            chat: chat.clone(),
            message_id: id.to_owned(),
            from_me,
            participant: None,
            starred,
        })
        .await
    }

    /// Makes a new app-state sync key, shares it with every companion and
    /// uses it for every later patch. Returns its key id.
    pub async fn rotate_app_state_key(&self) -> Result<Vec<u8>, PhoneError> {
        let device = self.device()?;
        rotate(&self.shared, &device, &self.pn).await
    }

    /// Spoils the next patch the phone pushes (see [`PatchFault`]).
    pub async fn corrupt_next_patch(&self, fault: PatchFault) -> Result<(), PhoneError> {
        self.device()?.app_state.lock().await.next_fault = Some(fault);
        Ok(())
    }

    /// Compacts collection `c`: the phone syncs it, seals its live records
    /// (as they were pushed, so the LTHash matches) into a snapshot at the
    /// current version under its current key, uploads it as an app-state
    /// blob, and the server then hands out that snapshot instead of the
    /// patches up to that version (as after
    /// [`Sim::expire_app_state_patches`](crate::Sim::expire_app_state_patches)).
    /// Unlike a snapshot the server builds, it verifies even after a spoiled
    /// patch. Returns the version.
    pub async fn compact_app_state(&self, c: Collection) -> Result<u64, PhoneError> {
        let device = self.device()?;
        let mut side = device.app_state.lock().await;
        let key = side.current_key();
        let AppStateSide {
            keys, collections, ..
        } = &mut *side;
        let d = Device {
            shared: &self.shared,
            pn: &self.pn,
            keys,
        };
        sync::compact(d, &key, collections.entry(c).or_default(), c)
    }

    /// Fetches every collection from the server (patches from the phone's
    /// version on, or a snapshot), verifies it with every key the phone
    /// made, and returns the decoded state, whichever device pushed it.
    pub async fn app_state_view(&self) -> AppStateView {
        let Ok(device) = self.device() else {
            return AppStateView::default();
        };
        let mut side = device.app_state.lock().await;
        side.sync_all(&self.shared, &self.pn);
        AppStateView::of(&side.collections)
    }

    async fn act(&self, action: Action) -> Result<u64, PhoneError> {
        let device = self.device()?;
        let mut side = device.app_state.lock().await;
        side.act(&self.shared, &self.pn, std::slice::from_ref(&action))
    }
}
