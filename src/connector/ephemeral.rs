//! The user's read receipts and typing in Matrix, out to WhatsApp. The
//! homeserver pushes them as ephemeral events (MSC2409,
//! `receive_ephemeral` in the registration).
//!
//! A read receipt on an event marks every message of the chat up to it
//! read on WhatsApp (from the newest one read before, at most
//! [`MAX_READ`] at once), grouped by sender as WhatsApp wants in groups.
//! Typing goes out as `composing` and `paused` when it changes.
//! Private receipts (`m.read.private`) stay private.

use ruma::{EventId, OwnedUserId, RoomId, UserId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use tracing::debug;
use wa_client::{ChatState, Client};
use wa_core::jid::Jid;

use crate::appservice::Event;
use crate::connector::{Bridge, lock};
use crate::store::{Portal, StoreError};

/// The most messages one read receipt marks read.
const MAX_READ: i64 = 200;

/// What was last sent per chat, so only changes go out.
#[derive(Debug, Default)]
pub struct State {
    /// (login, chat) -> the time of the newest message marked read.
    read_up_to: Mutex<HashMap<(String, String), i64>>,
    /// (login, chat) pairs the user is typing in.
    typing: Mutex<HashSet<(String, String)>>,
}

/// Handles one ephemeral event; failures are logged, never fatal.
pub async fn handle(bridge: &Bridge, event: &Event) {
    let Some(room) = event.room_id.as_deref() else {
        return;
    };
    let result = match event.kind.as_str() {
        "m.receipt" => {
            for r in event.receipts() {
                super::presence::active(bridge, &r.user_id).await;
            }
            receipts(bridge, room, event).await
        }
        "m.typing" => match event.typing_user_ids() {
            Some(users) => {
                for user in &users {
                    super::presence::active(bridge, user).await;
                }
                typing(bridge, room, &users).await
            }
            None => Ok(()),
        },
        _ => Ok(()),
    };
    if let Err(e) = result {
        debug!(kind = %event.kind, error = %e, "ephemeral event not bridged");
    }
}

/// The portal of `room` and the client of its login, if `user` is that
/// login's Matrix user and is logged in.
async fn portal_of(
    bridge: &Bridge,
    room: &RoomId,
    user: &UserId,
) -> Result<Option<(Portal, Client)>, StoreError> {
    if bridge.is_ours(user) {
        return Ok(None);
    }
    let client = match bridge.network().logins.lock().await.get(user) {
        Some(h) => h.client.clone(),
        None => return Ok(None),
    };
    let Some(portal) = bridge.db().portal_by_room(room).await? else {
        return Ok(None);
    };
    match bridge.db().login(&portal.login_id).await? {
        Some(login) if login.mxid == user => Ok(Some((portal, client))),
        _ => Ok(None),
    }
}

async fn receipts(bridge: &Bridge, room: &RoomId, event: &Event) -> Result<(), StoreError> {
    for r in event.receipts() {
        // Threaded receipts mark less than the whole room.
        if !r.reads_the_room() {
            continue;
        }
        let (user, event_id) = (&*r.user_id, &*r.event_id);
        if echo_of_ours(bridge, user, room, event_id) {
            continue;
        }
        let Some((portal, client)) = portal_of(bridge, room, user).await? else {
            continue;
        };
        read_up_to(bridge, &portal, &client, event_id).await?;
    }
    Ok(())
}

/// Whether the bridge itself moved this marker (a read from WhatsApp, set
/// through double puppeting).
fn echo_of_ours(bridge: &Bridge, user: &UserId, room: &RoomId, event_id: &EventId) -> bool {
    let all = lock(&bridge.network().room_settings);
    all.get(user)
        .is_some_and(|k| k.get(room).read_up_to.as_deref() == Some(event_id))
}

async fn read_up_to(
    bridge: &Bridge,
    portal: &Portal,
    client: &Client,
    event_id: &EventId,
) -> Result<(), StoreError> {
    let Some(target) = bridge.db().message_by_event(event_id).await? else {
        return Ok(()); // not a bridged message (a notice, a state event)
    };
    if target.room_id != portal.room_id {
        return Ok(());
    }
    let key = (portal.login_id.clone(), portal.chat_id.clone());
    let after = lock(&bridge.network().ephemeral.read_up_to)
        .get(&key)
        .copied()
        .unwrap_or(i64::MIN);
    if target.sent_at <= after {
        return Ok(());
    }
    let own = client.jid().to_non_ad().to_string();
    let unread = bridge
        .db()
        .messages_between(
            &portal.login_id,
            &portal.chat_id,
            &own,
            after,
            target.sent_at,
            MAX_READ,
        )
        .await?;
    lock(&bridge.network().ephemeral.read_up_to).insert(key, target.sent_at);
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let mut by_sender: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in unread {
        by_sender.entry(m.sender_id).or_default().push(m.message_id);
    }
    for (sender, mut ids) in by_sender {
        ids.reverse(); // oldest first
        let sender: Option<Jid> = sender.parse().ok();
        if let Err(e) = client.mark_read(&chat, sender.as_ref(), &ids).await {
            debug!(error = %e, "read receipt not sent to WhatsApp");
        }
    }
    Ok(())
}

async fn typing(
    bridge: &Bridge,
    room: &RoomId,
    typing_now: &[OwnedUserId],
) -> Result<(), StoreError> {
    let Some(portal) = bridge.db().portal_by_room(room).await? else {
        return Ok(());
    };
    let Some(login) = bridge.db().login(&portal.login_id).await? else {
        return Ok(());
    };
    let Some((portal, client)) = portal_of(bridge, room, &login.mxid).await? else {
        return Ok(());
    };
    let on = typing_now.contains(&login.mxid);
    let key = (portal.login_id.clone(), portal.chat_id.clone());
    let changed = {
        let mut set = lock(&bridge.network().ephemeral.typing);
        if on {
            set.insert(key)
        } else {
            set.remove(&key)
        }
    };
    if !changed {
        return Ok(());
    }
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let state = if on {
        ChatState::Composing
    } else {
        ChatState::Paused
    };
    if let Err(e) = client.send_chat_state(&chat, state).await {
        debug!(error = %e, "typing not sent to WhatsApp");
    }
    Ok(())
}
