//! Calls (issue 21, point 1). The bridge takes no calls, but the chat says
//! what the phone shows: a notice from the caller's ghost as a call rings
//! ("Incoming video call: answer it on your phone"), edited to how it
//! ended: taken or declined on another of the user's devices, over, or
//! missed. A call older than [`RINGS_FOR`] when it reaches the bridge (it
//! waited in the offline queue) is shown missed at once. Nothing of the
//! call's key is read or kept (`wa_client::Call` does not carry it).
//! `bridge.call_notices` turns it off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ruma::events::room::message::RoomMessageEventContent;
use tracing::debug;
use wa_client::{Call, CallAction, Client};
use wa_core::jid::Jid;

use super::incoming::{IncomingError, ghost_id, stand_in};
use crate::appservice::ClientError;
use crate::bridge::message::replacement;
use crate::connector::Bridge;
use crate::store::{Login, now_ms};

/// How long a call rings at most: an offer older than this is over.
const RINGS_FOR: u64 = 15 * 60;

/// The calls shown ringing, by (login, call id), until they end: what
/// their notice needs to be edited.
#[derive(Debug, Default)]
pub struct Ringing(Mutex<HashMap<(String, String), Shown>>);

/// A call's notice, as shown.
#[derive(Debug, Clone)]
struct Shown {
    /// The chat it is in.
    chat: Jid,
    /// Who called.
    creator: Jid,
    video: bool,
    /// Taken on another of the user's devices.
    answered: bool,
    /// When it rang (unix seconds), to forget calls never ended.
    at: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// "video call" or "voice call".
fn kind(video: bool) -> &'static str {
    if video { "video call" } else { "voice call" }
}

/// Shows what `call` says in its chat, as the module's notes say.
pub(super) async fn call(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), call: Call) {
    if !bridge.config().bridge.call_notices {
        return;
    }
    let done = match call.action {
        CallAction::Offer { video } => ring(bridge, (login, client), &call, video).await,
        CallAction::Accept | CallAction::Reject => {
            if !super::addressing::is_own(client, &call.from) {
                return; // the other side's, on a call we were not in
            }
            let accepted = call.action == CallAction::Accept;
            ended(bridge, login, &call, Some(accepted)).await
        }
        CallAction::Terminate { .. } => ended(bridge, login, &call, None).await,
        CallAction::Other(_) => Ok(()),
    };
    if let Err(e) = done {
        debug!(error = %e, "a call not shown");
    }
}

/// A call rang: its notice, from the caller's ghost (or said missed when
/// it is old news).
async fn ring(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    call: &Call,
    video: bool,
) -> Result<(), IncomingError> {
    let creator = super::addressing::by_number(client, &call.creator).await;
    if super::addressing::is_own(client, &creator) {
        return Ok(()); // the user's own call, from the phone
    }
    let chat = match &call.group {
        Some(group) => group.clone(),
        None => creator.clone(),
    };
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let missed = now.saturating_sub(call.timestamp) > RINGS_FOR;
    let group = if call.group.is_some() { "group " } else { "" };
    let text = if missed {
        format!("Missed {group}{}.", kind(video))
    } else {
        format!("Incoming {group}{}: answer it on your phone.", kind(video))
    };
    let message_id = format!("call-{}", call.id);
    let (key, ts_ms) = (
        (&chat, &creator, message_id.as_str()),
        call.timestamp.saturating_mul(1000),
    );
    let Some((portal, remote, actor)) = stand_in(bridge, (login, client), key, ts_ms).await? else {
        return Ok(());
    };
    let content = serde_json::to_value(RoomMessageEventContent::notice_plain(text))
        .map_err(|e| ClientError::Content(e.to_string()))?;
    let sent = bridge.send_remote(
        &portal.room_id,
        &actor.intent,
        &remote,
        ("m.room.message", &content),
    );
    sent.await?;
    if !missed {
        let shown = Shown {
            chat,
            creator,
            video,
            answered: false,
            at: now,
        };
        let mut ringing = lock(&bridge.network().calls.0);
        ringing.retain(|_, s| now.saturating_sub(s.at) <= RINGS_FOR * 4);
        ringing.insert((login.login_id.clone(), call.id.clone()), shown);
    }
    Ok(())
}

/// A call shown ringing was taken (`Some(true)`) or declined
/// (`Some(false)`) on another of the user's devices, or is over (`None`):
/// its notice says so.
async fn ended(
    bridge: &Arc<Bridge>,
    login: &Login,
    call: &Call,
    taken: Option<bool>,
) -> Result<(), IncomingError> {
    let key = (login.login_id.clone(), call.id.clone());
    let shown = {
        let mut ringing = lock(&bridge.network().calls.0);
        match taken {
            Some(answered) => ringing.get_mut(&key).map(|s| {
                s.answered = answered;
                s.clone()
            }),
            None => ringing.remove(&key),
        }
    };
    let Some(shown) = shown else {
        return Ok(()); // not shown ringing (off, old, or another run's)
    };
    let what = kind(shown.video);
    let text = match (taken, shown.answered) {
        (Some(true), _) => format!("Incoming {what}, taken on another device."),
        (Some(false), _) => format!("Incoming {what}, declined on another device."),
        (None, true) => format!("The {what} is over."),
        (None, false) => format!("Missed {what}."),
    };
    let sender = ghost_id(&shown.creator).network_id;
    let id = format!("call-{}", call.id);
    let chat = shown.chat.to_string();
    let db = bridge.db();
    let Some(notice) = db
        .message_by_network_id(&login.login_id, &chat, &sender, &id)
        .await?
    else {
        return Ok(());
    };
    let ghost = bridge.network_ghost(&ghost_id(&shown.creator)).await?;
    let content = serde_json::to_value(RoomMessageEventContent::notice_plain(text))
        .map_err(|e| ClientError::Content(e.to_string()))?;
    let edit = replacement(&notice.event_id, &content);
    let step = match taken {
        Some(true) => "taken",
        Some(false) => "declined",
        None => "over",
    };
    let txn = format!("call-{}-{}-{step}", login.login_id, call.id);
    ghost
        .send_message_event(&notice.room_id, "m.room.message", &edit, &txn, None)
        .await?;
    Ok(())
}
