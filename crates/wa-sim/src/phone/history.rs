//! What a scripted phone sends a companion once it is linked and online:
//! the app-state keys, then the history of the [`HistoryScript`] as
//! history-sync notifications (PROTOCOL.md section 7): INITIAL_BOOTSTRAP
//! inline (`initialHistBootstrapInlinePayload`), RECENT chunks and a
//! PUSH_NAME chunk as encrypted "History" blobs on the media host. Every
//! chunk is a zlib-compressed `HistorySync` (`wa_core::history`).

mod script;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use wa_core::binary::Node;
use wa_core::history::encode_blob;
use wa_core::jid::Jid;
use wa_core::media::{self, MediaKind};
use wa_core::proto::history_sync::HistorySyncType;
use wa_core::proto::message::{self as msg, HistorySyncNotification, ProtocolMessage};
use wa_core::proto::{
    Conversation, HistorySync, HistorySyncMsg, Message, MessageKey, PhoneNumberToLidMapping,
    Pushname, WebMessageInfo,
};

pub use script::{HistoryScript, ScriptChat, ScriptMessage, Sender};

use super::device::{PhoneDevice, PhoneError};
use super::peer;
use crate::server::Shared;

/// A way to spoil the next history blob the phone uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFault {
    /// The compressed chunk is cut in half before it is encrypted: every
    /// media check passes, inflating fails.
    Truncated,
    /// The notification's `fileSha256` is not the chunk's: decrypting
    /// succeeds, the plaintext hash check fails.
    WrongFileHash,
}

/// A history-sync notification the phone sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentHistory {
    /// The companion it went to.
    pub device: u16,
    /// The peer message's id (what a `hist_sync` receipt names).
    pub id: String,
    /// Its sync type.
    pub sync_type: HistorySyncType,
    /// Its chunk order.
    pub chunk_order: u32,
}

/// A receipt a companion sent the phone for a peer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerReceipt {
    /// The companion.
    pub device: u16,
    /// The message id.
    pub id: String,
    /// `hist_sync`, `peer_msg`, ...
    pub kind: String,
}

/// The phone's history side.
#[derive(Debug, Default)]
pub(crate) struct HistorySide {
    pub(crate) script: Option<HistoryScript>,
    /// Companions already sent keys and history.
    pub(crate) bootstrapped: HashSet<u16>,
    pub(crate) sent: Vec<SentHistory>,
    pub(crate) receipts: Vec<PeerReceipt>,
    pub(crate) next_fault: Option<HistoryFault>,
}

/// A companion said it is active: the first time, if a script is set, send
/// it the keys and the history (in a task of its own).
pub(crate) fn companion_active(shared: &Arc<Shared>, pn: &str, companion: u16) {
    let Some(device) = shared.state().phones.get(pn).cloned() else {
        return;
    };
    {
        let Ok(mut side) = device.history.lock() else {
            return;
        };
        if side.script.is_none() || !side.bootstrapped.insert(companion) {
            return;
        }
    }
    let (shared, pn) = (shared.clone(), pn.to_owned());
    tokio::spawn(async move {
        if let Err(e) = bootstrap(&shared, &device, &pn, companion).await {
            warn!(%pn, companion, error = %e, "phone could not send the history");
        }
    });
}

/// Sends companion `companion` the app-state keys and the whole history.
pub(crate) async fn bootstrap(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    companion: u16,
) -> Result<(), PhoneError> {
    let script = device
        .history
        .lock()
        .ok()
        .and_then(|s| s.script.clone())
        .unwrap_or_default();
    super::appstate::seed(shared, device, pn, &script).await?;
    let share = super::appstate::key_share(shared, device, pn).await;
    peer::send(shared, device, pn, companion, &share).await?;

    let mut chats: Vec<&ScriptChat> = script.chats.iter().collect();
    chats.sort_by_key(|c| std::cmp::Reverse(c.last_timestamp()));
    let split = script.bootstrap_chats.min(chats.len());
    let (first, rest) = chats.split_at(split);
    let chunks: Vec<&[&ScriptChat]> = rest.chunks(script.chats_per_chunk.max(1)).collect();
    let total = chunks.len() as u32 + 1;

    let bootstrap = HistorySync {
        sync_type: Some(HistorySyncType::InitialBootstrap as i32),
        conversations: first.iter().map(|c| conversation(pn, c)).collect(),
        phone_number_to_lid_mappings: lid_pairs(first),
        chunk_order: Some(0),
        progress: Some(100 / total),
        ..Default::default()
    };
    let notification = HistorySyncNotification {
        sync_type: Some(msg::HistorySyncType::InitialBootstrap as i32),
        chunk_order: Some(0),
        progress: Some(100 / total),
        initial_hist_bootstrap_inline_payload: Some(encode_blob(&bootstrap)),
        ..Default::default()
    };
    announce(shared, device, pn, companion, notification).await?;

    for (i, chunk) in chunks.iter().enumerate() {
        let order = i as u32 + 1;
        let progress = 100 * (order + 1) / total;
        let sync = HistorySync {
            sync_type: Some(HistorySyncType::Recent as i32),
            conversations: chunk.iter().map(|c| conversation(pn, c)).collect(),
            phone_number_to_lid_mappings: lid_pairs(chunk),
            chunk_order: Some(order),
            progress: Some(progress),
            ..Default::default()
        };
        let notification = upload(
            shared,
            device,
            &sync,
            HistorySyncType::Recent,
            order,
            progress,
        )?;
        announce(shared, device, pn, companion, notification).await?;
    }

    let names = HistorySync {
        sync_type: Some(HistorySyncType::PushName as i32),
        pushnames: script
            .push_names
            .iter()
            .map(|(who, name)| Pushname {
                id: Some(Jid::user_jid(who.clone()).to_string()),
                pushname: Some(name.clone()),
            })
            .collect(),
        ..Default::default()
    };
    let notification = upload(shared, device, &names, HistorySyncType::PushName, 0, 100)?;
    announce(shared, device, pn, companion, notification).await?;
    info!(%pn, companion, chunks = total, "phone sent the history");
    Ok(())
}

/// Sends one history-sync notification and remembers it.
async fn announce(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    companion: u16,
    notification: HistorySyncNotification,
) -> Result<(), PhoneError> {
    let sync_type = HistorySyncType::try_from(notification.sync_type.unwrap_or(0))
        .unwrap_or(HistorySyncType::InitialBootstrap);
    let chunk_order = notification.chunk_order.unwrap_or(0);
    let message = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(msg::protocol_message::Type::HistorySyncNotification as i32),
            history_sync_notification: Some(notification),
            ..Default::default()
        })),
        ..Default::default()
    };
    let id = peer::send(shared, device, pn, companion, &message).await?;
    if let Ok(mut side) = device.history.lock() {
        side.sent.push(SentHistory {
            device: companion,
            id,
            sync_type,
            chunk_order,
        });
    }
    Ok(())
}

/// Compresses, encrypts and uploads one chunk; the notification pointing at
/// it. Applies an armed [`HistoryFault`].
fn upload(
    shared: &Shared,
    device: &PhoneDevice,
    sync: &HistorySync,
    kind: HistorySyncType,
    chunk_order: u32,
    progress: u32,
) -> Result<HistorySyncNotification, PhoneError> {
    let fault = device
        .history
        .lock()
        .ok()
        .and_then(|mut s| s.next_fault.take());
    let mut compressed = encode_blob(sync);
    if fault == Some(HistoryFault::Truncated) {
        compressed.truncate(compressed.len() / 2);
    }
    let sealed = media::encrypt(MediaKind::History, &compressed, &mut rand::rng());
    let direct_path = shared
        .media
        .put_blob(MediaKind::History.mms_type(), sealed.blob.clone())
        .ok_or(PhoneError::Malformed("media host refused the history blob"))?;
    let mut file_sha256 = sealed.file_sha256.to_vec();
    if fault == Some(HistoryFault::WrongFileHash) {
        file_sha256[0] ^= 0xff;
    }
    Ok(HistorySyncNotification {
        file_sha256: Some(file_sha256),
        file_length: Some(sealed.file_length),
        media_key: Some(sealed.media_key.to_vec()),
        file_enc_sha256: Some(sealed.file_enc_sha256.to_vec()),
        direct_path: Some(direct_path),
        sync_type: Some(kind as i32),
        chunk_order: Some(chunk_order),
        progress: Some(progress),
        ..Default::default()
    })
}

/// The number <-> LID pairs of the LID-keyed chats in `chats`.
fn lid_pairs(chats: &[&ScriptChat]) -> Vec<PhoneNumberToLidMapping> {
    chats
        .iter()
        .filter_map(|c| {
            Some(PhoneNumberToLidMapping {
                pn_jid: Some(Jid::user_jid(c.pn_of_lid.clone()?).to_string()),
                lid_jid: Some(c.jid.to_string()),
            })
        })
        .collect()
}

/// A scripted chat as history sync carries it, messages newest first.
fn conversation(own_pn: &str, chat: &ScriptChat) -> Conversation {
    let mut messages: Vec<&ScriptMessage> = chat.messages.iter().collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.timestamp));
    let count = messages.len() as u64;
    let chat_jid = chat.jid.to_string();
    let group = chat.is_group();
    Conversation {
        id: Some(chat_jid.clone()),
        messages: messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let from_me = m.sender == Sender::Me;
                let participant = match (&m.sender, group) {
                    (Sender::Pn(p), true) => Some(Jid::user_jid(p.clone()).to_string()),
                    (Sender::Me, true) => Some(Jid::user_jid(own_pn.to_owned()).to_string()),
                    _ => None,
                };
                HistorySyncMsg {
                    message: Some(WebMessageInfo {
                        key: Some(MessageKey {
                            remote_jid: Some(chat_jid.clone()),
                            from_me: Some(from_me),
                            id: Some(m.id.clone()),
                            participant,
                        }),
                        message: Some(Message {
                            conversation: Some(m.text.clone()),
                            ..Default::default()
                        }),
                        message_timestamp: Some(m.timestamp),
                        ..Default::default()
                    }),
                    msg_order_id: Some(count - i as u64),
                }
            })
            .collect(),
        unread_count: Some(chat.unread),
        conversation_timestamp: Some(chat.last_timestamp()),
        name: chat.name.clone(),
        archived: Some(chat.archived),
        pinned: chat.pinned.then(|| chat.last_timestamp() as u32),
        // Seconds here, where app state has milliseconds.
        mute_end_time: chat
            .mute_end_ms
            .map(|ms| if ms < 0 { u64::MAX } else { ms as u64 / 1000 }),
        tc_token: chat.privacy_token.as_ref().map(|(t, _)| t.clone()),
        tc_token_timestamp: chat.privacy_token.as_ref().map(|(_, at)| *at),
        ..Default::default()
    }
}

/// Keeps a companion's receipt for a peer message (`hist_sync`,
/// `peer_msg`); other receipts are not the history's business.
pub(crate) fn record_receipt(device: &PhoneDevice, receipt: &Node) {
    let (Some(kind), Some(id), Some(from)) = (
        receipt.attr_str("type"),
        receipt.attr_str("id"),
        receipt.attr_jid("from"),
    ) else {
        return;
    };
    if !matches!(kind, "hist_sync" | "peer_msg") {
        return;
    }
    if let Ok(mut side) = device.history.lock() {
        side.receipts.push(PeerReceipt {
            device: from.device(),
            id: id.to_owned(),
            kind: kind.to_owned(),
        });
    }
    device.arrived().notify_waiters();
}

impl super::Phone {
    /// Sets the history this phone sends each companion it links, once the
    /// companion says it is active (`<iq xmlns="passive" type="set">
    /// <active/>`, sent after its prekey upload). Without a script the phone
    /// sends companions neither keys nor history.
    ///
    /// The script's contact names and chat settings go into the account's
    /// app state now, as state the phone had all along: a companion linked
    /// later finds them on the server when it first syncs, and gets no
    /// `server_sync` for them before the phone has shared the key (which
    /// Baileys answers by parking the collection until the key comes).
    pub fn set_history(&self, script: HistoryScript) {
        let Ok(device) = self.device() else {
            return;
        };
        // Uncontended unless the phone is busy with app state; then the
        // first companion's bootstrap seeds instead.
        if let Ok(mut side) = device.app_state.try_lock()
            && let Err(e) = super::appstate::seed_locked(&mut side, &self.shared, &self.pn, &script)
        {
            warn!(pn = %self.pn, error = %e, "phone could not put the script into app state");
        }
        if let Ok(mut side) = device.history.lock() {
            side.script = Some(script);
        }
    }

    /// Sends companion `device` the keys and the history now (the script
    /// set, or an empty one), whether or not it was sent before.
    pub async fn send_history(&self, device: u16) -> Result<(), PhoneError> {
        let phone = self.device()?;
        if let Ok(mut side) = phone.history.lock() {
            side.bootstrapped.insert(device);
        }
        bootstrap(&self.shared, &phone, &self.pn, device).await
    }

    /// Spoils the next history blob the phone uploads.
    pub fn corrupt_next_history_blob(&self, fault: HistoryFault) {
        if let Ok(device) = self.device()
            && let Ok(mut side) = device.history.lock()
        {
            side.next_fault = Some(fault);
        }
    }

    /// The history-sync notifications sent so far, in order.
    pub fn history_sent(&self) -> Vec<SentHistory> {
        self.device()
            .ok()
            .and_then(|d| d.history.lock().ok().map(|s| s.sent.clone()))
            .unwrap_or_default()
    }

    /// The `hist_sync` and `peer_msg` receipts companions sent, in order.
    pub fn peer_receipts(&self) -> Vec<PeerReceipt> {
        self.device()
            .ok()
            .and_then(|d| d.history.lock().ok().map(|s| s.receipts.clone()))
            .unwrap_or_default()
    }

    /// Waits until at least `n` `hist_sync` receipts came or `timeout`
    /// passes; returns them.
    pub async fn wait_history_receipts(&self, n: usize, timeout: Duration) -> Vec<PeerReceipt> {
        let hist = |r: Vec<PeerReceipt>| -> Vec<PeerReceipt> {
            r.into_iter().filter(|r| r.kind == "hist_sync").collect()
        };
        let Ok(device) = self.device() else {
            return Vec::new();
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = device.arrived().notified();
            let got = hist(self.peer_receipts());
            if got.len() >= n || tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return hist(self.peer_receipts());
            }
        }
    }
}
