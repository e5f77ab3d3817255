//! History chunks from the phone into the bridge's store (before they are
//! acknowledged), and the backfill told that more history is there.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use prost::Message as _;
use tracing::{debug, info, warn};
use wa_client::{Client, HistoryNotice, MediaError};
use wa_core::jid::Jid;
use wa_core::proto::{Conversation, HistorySync, WebMessageInfo};

use super::{backfill, incoming};
use crate::connector::Bridge;
use crate::store::{Ghost, HistoryChat, HistoryChunk, HistoryMessage, Login, StoreError};

/// Attempts at a download or a store write before the chunk is left
/// unacknowledged (the server hands it over again on the next connect).
const ATTEMPTS: u32 = 4;

/// One history chunk from the phone: fetched, stored, then acknowledged,
/// and the backfill told. A chunk stored before is only acknowledged again.
/// A chunk that can never be read (wrong hash, truncated, gone from the
/// host) is refused with a log line and acknowledged, so the phone moves
/// on; a chunk that failed for a passing reason (network, store) is not
/// acknowledged and comes again.
pub(super) async fn ingest(
    bridge: &Bridge,
    login: &Login,
    client: &Client,
    notice: &HistoryNotice,
    trigger: &backfill::Trigger,
) {
    let id = notice.id.as_str();
    let complete = notice.notification.progress.is_some_and(|p| p >= 100);
    match bridge.db().history_chunk_stored(&login.login_id, id).await {
        Ok(true) => {
            debug!(chunk = %id, "history chunk stored before; acknowledging again");
            acknowledge(client, notice).await;
            return;
        }
        Ok(false) => {}
        Err(e) => {
            warn!(chunk = %id, error = %e, "history chunk not checked; left for redelivery");
            return;
        }
    }
    let mut delay = Duration::from_millis(500);
    let mut sync = None;
    for attempt in 1..=ATTEMPTS {
        match client.history_sync(&notice.notification).await {
            Ok(s) => {
                sync = Some(s);
                break;
            }
            Err(e) if passing(&e) && attempt < ATTEMPTS => {
                debug!(chunk = %id, attempt, error = %e, "history download failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) if passing(&e) => {
                warn!(chunk = %id, error = %e, "history chunk not downloaded; left for redelivery");
                return;
            }
            Err(e) => {
                warn!(chunk = %id, error = %e, "history chunk refused: nothing of it applied");
                acknowledge(client, notice).await;
                return;
            }
        }
    }
    let Some(sync) = sync else { return };
    let mut chunk = to_store(id, &sync, client.jid());
    // The mappings the chunk carried are stored by now (wa-client).
    by_number(client, &mut chunk).await;
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        match bridge
            .db()
            .save_history_chunk(&login.login_id, &chunk)
            .await
        {
            Ok(_) => break,
            Err(e) if attempt < ATTEMPTS => {
                warn!(chunk = %id, attempt, error = %e, "history chunk not stored; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                warn!(chunk = %id, error = %e, "history chunk not stored; left for redelivery");
                return;
            }
        }
    }
    if let Err(e) = remember_names(bridge, &push_names(&sync)).await {
        warn!(chunk = %id, error = %e, "push names of a history chunk not kept");
    }
    acknowledge(client, notice).await;
    trigger.chunk_stored(complete);
}

/// Chats and senders of `chunk` named by a LID whose number the login
/// knows, named by that number, as live messages are (`addressing.rs`), so
/// history lands in the same portal and under the same ghost.
async fn by_number(client: &Client, chunk: &mut HistoryChunk) {
    let mut known: HashMap<String, String> = HashMap::new();
    let ids = chunk.chats.iter().map(|c| &c.chat_id);
    let ids = ids.chain(
        chunk
            .messages
            .iter()
            .flat_map(|m| [&m.chat_id, &m.sender_id]),
    );
    let lids: HashSet<&String> = ids.filter(|id| id.ends_with("@lid")).collect();
    for id in lids {
        if let Ok(jid) = id.parse::<Jid>() {
            let read = super::addressing::by_number(client, &jid).await;
            known.insert(id.clone(), read.to_non_ad().to_string());
        }
    }
    let rename = |id: &mut String| {
        if let Some(number) = known.get(id.as_str()) {
            id.clone_from(number);
        }
    };
    for chat in &mut chunk.chats {
        rename(&mut chat.chat_id);
    }
    for m in &mut chunk.messages {
        rename(&mut m.chat_id);
        rename(&mut m.sender_id);
    }
}

/// Download failures that may pass: the connection, the host's own
/// trouble. A blob that fails its checks or is gone stays bad.
fn passing(e: &MediaError) -> bool {
    match e {
        MediaError::Connection(_) | MediaError::Transport(_) => true,
        MediaError::Status { status } => *status >= 500 || *status == 429,
        _ => false,
    }
}

async fn acknowledge(client: &Client, notice: &HistoryNotice) {
    if let Err(e) = client.ack_history(&notice.ack).await {
        debug!(error = %e, "history ack not sent; the server will redeliver");
    }
}

/// The store's form of one decoded chunk. `chunk_id` names the
/// notification that carried it; `own` is the account (for our messages).
pub(super) fn to_store(chunk_id: &str, sync: &HistorySync, own: &Jid) -> HistoryChunk {
    let mut chunk = HistoryChunk {
        chunk_id: chunk_id.to_owned(),
        sync_type: i64::from(sync.sync_type.unwrap_or_default()),
        chunk_order: sync.chunk_order.map(i64::from),
        progress: sync.progress.map(i64::from),
        ..HistoryChunk::default()
    };
    for conv in &sync.conversations {
        let Some((chat_id, chat)) = chat_of(conv) else {
            debug!("history conversation without a usable id skipped");
            continue;
        };
        let mut newest = chat.last_ts;
        for m in conv.messages.iter().filter_map(|h| h.message.as_ref()) {
            if let Some(stored) = message_of(&chat_id, m, own) {
                newest = newest.max(stored.ts);
                chunk.messages.push(stored);
            }
        }
        chunk.chats.push(HistoryChat {
            last_ts: newest,
            ..chat
        });
    }
    info!(
        chats = chunk.chats.len(),
        messages = chunk.messages.len(),
        sync_type = chunk.sync_type,
        progress = ?chunk.progress,
        "history chunk received"
    );
    chunk
}

/// The contacts' own push names the history carries: kept for their
/// ghosts (everyone's; the user's own names for contacts are per login,
/// see `incoming::contact_nick`). A ghost that already has a
/// Matrix profile gets the new name at once (it may send nothing more for
/// long); any other takes it when it is first used. A name already set is
/// not touched again.
pub(super) async fn remember_names(
    bridge: &Bridge,
    names: &[(Jid, String)],
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for (jid, name) in names {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let (network_id, localpart) = incoming::ghost_ids(bridge, jid);
        let known = bridge.db().ghost(&network_id).await?;
        if known
            .as_ref()
            .is_some_and(|g| g.display_name.as_deref() == Some(name))
        {
            continue;
        }
        // Registered ghosts are the ones whose name was set before.
        let mut name_set = false;
        if known.as_ref().is_some_and(|g| g.name_set) {
            let named = async {
                let intent = bridge.matrix().ghost_intent(&localpart)?;
                intent.set_displayname(name).await?;
                Ok::<_, crate::appservice::ClientError>(intent)
            };
            match named.await {
                Ok(intent) => {
                    name_set = true;
                    incoming::renew_contact_nicks(bridge, jid, &intent).await;
                }
                Err(e) => debug!(error = %e, "ghost renamed on its next use instead"),
            }
        }
        bridge
            .db()
            .save_ghost(&Ghost {
                network_id,
                localpart,
                display_name: Some(name.to_owned()),
                avatar_url: known.and_then(|g| g.avatar_url),
                name_set,
                contact_name: None,
            })
            .await?;
        changed += 1;
    }
    Ok(changed)
}

/// The push names a chunk carries, as (user, name).
pub(super) fn push_names(sync: &HistorySync) -> Vec<(Jid, String)> {
    sync.pushnames
        .iter()
        .filter_map(|p| {
            let jid: Jid = p.id.as_deref()?.parse().ok()?;
            Some((jid.to_non_ad(), p.pushname.clone()?))
        })
        .collect()
}

fn chat_of(conv: &Conversation) -> Option<(String, HistoryChat)> {
    let jid: Jid = conv.id.as_deref()?.parse().ok()?;
    let chat_id = jid.to_non_ad().to_string();
    let secs = |v: Option<u64>| v.and_then(|s| i64::try_from(s).ok()).map(|s| s * 1000);
    let chat = HistoryChat {
        chat_id: chat_id.clone(),
        name: conv.name.clone().filter(|n| !n.trim().is_empty()),
        last_ts: secs(conv.conversation_timestamp).unwrap_or(0),
        unread: i64::from(conv.unread_count.unwrap_or(0)),
        archived: conv.archived.unwrap_or(false),
        pinned: conv.pinned.unwrap_or(0) > 0,
        mute_until: conv.mute_end_time.and_then(mute_until),
        bridged_ts: None,
    };
    Some((chat_id, chat))
}

/// Mute end as the phone sends it (unix seconds, or all bits set for
/// "forever") in unix ms; 0 is not muted.
fn mute_until(raw: u64) -> Option<i64> {
    match raw {
        0 => None,
        r if r >= i64::MAX as u64 / 1000 => Some(-1),
        r => i64::try_from(r).ok().map(|s| s * 1000),
    }
}

fn message_of(chat_id: &str, m: &WebMessageInfo, own: &Jid) -> Option<HistoryMessage> {
    let key = m.key.as_ref()?;
    let message_id = key.id.clone().filter(|id| !id.is_empty())?;
    let from_me = key.from_me.unwrap_or(false);
    let sender = if from_me {
        own.to_non_ad().to_string()
    } else {
        let raw = key
            .participant
            .as_deref()
            .or(m.participant.as_deref())
            .or(key.remote_jid.as_deref())?;
        raw.parse::<Jid>().ok()?.to_non_ad().to_string()
    };
    let ts = i64::try_from(m.message_timestamp?)
        .ok()?
        .checked_mul(1000)?;
    Some(HistoryMessage {
        chat_id: chat_id.to_owned(),
        sender_id: sender,
        message_id,
        from_me,
        ts,
        push_name: m.push_name.clone().filter(|n| !n.is_empty()),
        payload: m.encode_to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use wa_core::proto::{HistorySyncMsg, Message, MessageKey};

    use super::*;

    fn msg(
        chat: &str,
        id: &str,
        from_me: bool,
        participant: Option<&str>,
        ts: u64,
    ) -> HistorySyncMsg {
        HistorySyncMsg {
            message: Some(WebMessageInfo {
                key: Some(MessageKey {
                    remote_jid: Some(chat.to_owned()),
                    from_me: Some(from_me),
                    id: Some(id.to_owned()),
                    participant: participant.map(str::to_owned),
                }),
                message: Some(Message {
                    conversation: Some(format!("text {id}")),
                    ..Message::default()
                }),
                message_timestamp: Some(ts),
                push_name: (!from_me).then(|| "Bob".to_owned()),
                ..WebMessageInfo::default()
            }),
            msg_order_id: None,
        }
    }

    #[test]
    fn chats_and_messages_become_rows() {
        let own: Jid = "15550000001:3@s.whatsapp.net".parse().unwrap();
        let sync = HistorySync {
            sync_type: Some(0),
            progress: Some(40),
            conversations: vec![
                Conversation {
                    id: Some("15550000002@s.whatsapp.net".into()),
                    messages: vec![
                        msg("15550000002@s.whatsapp.net", "A1", false, None, 100),
                        msg("15550000002@s.whatsapp.net", "A2", true, None, 200),
                    ],
                    unread_count: Some(1),
                    conversation_timestamp: Some(150),
                    archived: Some(true),
                    mute_end_time: Some(u64::MAX),
                    ..Conversation::default()
                },
                Conversation {
                    id: Some("120363000000000001@g.us".into()),
                    name: Some("Trio".into()),
                    messages: vec![msg(
                        "120363000000000001@g.us",
                        "G1",
                        false,
                        Some("15550000003@s.whatsapp.net"),
                        300,
                    )],
                    pinned: Some(1_700_000_000),
                    mute_end_time: Some(1_900_000_000),
                    ..Conversation::default()
                },
                Conversation {
                    id: Some("not a jid".into()),
                    ..Conversation::default()
                },
            ],
            ..HistorySync::default()
        };
        let chunk = to_store("MSGID", &sync, &own);
        assert_eq!(chunk.chunk_id, "MSGID");
        assert_eq!(chunk.progress, Some(40));
        assert_eq!(chunk.chats.len(), 2, "the unparsable chat is skipped");
        let dm = &chunk.chats[0];
        assert_eq!(dm.chat_id, "15550000002@s.whatsapp.net");
        assert_eq!(
            dm.last_ts, 200_000,
            "newest message wins over the chat time"
        );
        assert!(dm.archived && !dm.pinned);
        assert_eq!(dm.mute_until, Some(-1), "all bits set: muted for ever");
        let group = &chunk.chats[1];
        assert_eq!(group.name.as_deref(), Some("Trio"));
        assert!(group.pinned);
        assert_eq!(group.mute_until, Some(1_900_000_000_000));

        assert_eq!(chunk.messages.len(), 3);
        let a1 = &chunk.messages[0];
        assert_eq!(a1.sender_id, "15550000002@s.whatsapp.net");
        assert!(!a1.from_me);
        assert_eq!(a1.ts, 100_000);
        assert_eq!(a1.push_name.as_deref(), Some("Bob"));
        let a2 = &chunk.messages[1];
        assert!(a2.from_me);
        assert_eq!(
            a2.sender_id, "15550000001@s.whatsapp.net",
            "our account, no device"
        );
        let g1 = &chunk.messages[2];
        assert_eq!(g1.chat_id, "120363000000000001@g.us");
        assert_eq!(g1.sender_id, "15550000003@s.whatsapp.net");
        let decoded = WebMessageInfo::decode(g1.payload.as_slice()).unwrap();
        assert_eq!(
            decoded.message.and_then(|m| m.conversation).as_deref(),
            Some("text G1")
        );
    }

    #[test]
    fn messages_without_id_or_time_are_dropped() {
        let own: Jid = "1@s.whatsapp.net".parse().unwrap();
        let mut no_id = msg("2@s.whatsapp.net", "", false, None, 5);
        let mut no_ts = msg("2@s.whatsapp.net", "X", false, None, 5);
        if let Some(m) = no_ts.message.as_mut() {
            m.message_timestamp = None;
        }
        if let Some(m) = no_id.message.as_mut() {
            m.key = None;
        }
        let sync = HistorySync {
            conversations: vec![Conversation {
                id: Some("2@s.whatsapp.net".into()),
                messages: vec![no_id, no_ts, HistorySyncMsg::default()],
                ..Conversation::default()
            }],
            ..HistorySync::default()
        };
        let chunk = to_store("N", &sync, &own);
        assert_eq!(chunk.chats.len(), 1);
        assert!(chunk.messages.is_empty());
    }
}
