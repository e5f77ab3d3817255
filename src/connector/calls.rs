//! Calls (issue 21, point 1). The bridge takes no calls, but the chat says
//! what the phone shows: a notice from the caller's ghost as a call rings
//! ("Incoming video call: answer it on your phone"), edited to how it
//! ended: taken or declined on another of the user's devices, over, or
//! missed. A call older than [`RINGS_FOR`] when it reaches the bridge (it
//! waited in the offline queue) is shown missed at once. Nothing of the
//! call's key is read or kept (`wa_client::Call` does not carry it).
//! `bridge.call_notices` turns it off.
//!
//! Who calls is who the server says sent the offer (`from`), not the
//! `call-creator` the caller writes; a group call shows only in a group
//! the user already has a room for; a call ends only by its caller or the
//! user's own devices. The notices are no messages of the chat (nothing
//! replies to or reads them on WhatsApp): they are kept in memory while
//! the call rings, so a restart meanwhile leaves the ringing notice as it
//! was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ruma::events::room::message::RoomMessageEventContent;
use ruma::{OwnedEventId, OwnedRoomId};
use tracing::debug;
use wa_client::{Call, CallAction, Client};
use wa_core::jid::Jid;

use super::incoming::{IncomingError, ghost_id};
use crate::bridge::message::notice_edit;
use crate::connector::{Bridge, lock};
use crate::store::{Login, now_ms};

/// How long a call rings at most: an offer older than this is over.
const RINGS_FOR: u64 = 15 * 60;

/// At most this many calls are kept ringing per bridge; the oldest go.
const MAX_RINGING: usize = 256;

/// The calls shown ringing, by (login, call id), until they end.
#[derive(Debug, Default)]
pub struct Ringing(Mutex<HashMap<(String, String), Shown>>);

/// How a call shown ringing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ringing,
    Taken,
    Declined,
}

/// A call's notice, as shown.
#[derive(Debug, Clone)]
struct Shown {
    /// Who called (by number where known).
    caller: Jid,
    video: bool,
    answer: Answer,
    room: OwnedRoomId,
    event: OwnedEventId,
    /// When it rang (unix seconds).
    at: u64,
}

/// "video call" or "voice call".
fn kind(video: bool) -> &'static str {
    if video { "video call" } else { "voice call" }
}

fn now() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// Shows what `call` says in its chat, as the module's notes say.
pub(super) async fn call(bridge: &Arc<Bridge>, (login, client): (&Login, &Client), call: Call) {
    if !bridge.config().bridge.call_notices {
        return;
    }
    let from = super::addressing::by_number(client, &call.from.to_non_ad()).await;
    let done = match call.action {
        CallAction::Offer { video } => ring(bridge, (login, client), &call, (&from, video)).await,
        CallAction::Accept | CallAction::Reject if super::addressing::is_own(client, &from) => {
            let answer = match call.action {
                CallAction::Accept => Answer::Taken,
                _ => Answer::Declined,
            };
            answered(bridge, login, &call, answer).await
        }
        CallAction::Terminate { .. } => ended(bridge, (login, client), &call, &from).await,
        _ => Ok(()),
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
    (caller, video): (&Jid, bool),
) -> Result<(), IncomingError> {
    if super::addressing::is_own(client, caller) {
        return Ok(()); // the user's own call, from the phone
    }
    let portal = match &call.group {
        Some(group) => match bridge
            .db()
            .portal(&login.login_id, &group.to_string())
            .await?
        {
            Some(portal) => portal,
            None => return Ok(()),
        },
        None => super::portal::portal(bridge, login, client, caller, None).await?,
    };
    let at = now();
    let missed = at.saturating_sub(call.timestamp) > RINGS_FOR;
    let group = if call.group.is_some() { "group " } else { "" };
    let text = if missed {
        format!("Missed {group}{}.", kind(video))
    } else {
        format!("Incoming {group}{}: answer it on your phone.", kind(video))
    };
    let ghost = bridge.network_ghost(&ghost_id(caller)).await?;
    bridge.ensure_joined(&portal.room_id, &ghost).await?;
    let content = RoomMessageEventContent::notice_plain(text);
    let txn = format!("call-{}-{}-ring", login.login_id, call.id);
    let ts = Some(call.timestamp.saturating_mul(1000));
    let event = ghost.send(&portal.room_id, &content, &txn, ts).await?;
    if !missed {
        let shown = Shown {
            caller: caller.clone(),
            video,
            answer: Answer::Ringing,
            room: portal.room_id,
            event,
            at,
        };
        let mut ringing = lock(&bridge.network().calls.0);
        ringing.retain(|_, s| at.saturating_sub(s.at) <= RINGS_FOR * 4);
        if ringing.len() >= MAX_RINGING
            && let Some(oldest) = ringing
                .iter()
                .min_by_key(|(_, s)| s.at)
                .map(|(k, _)| k.clone())
        {
            ringing.remove(&oldest);
        }
        ringing.insert((login.login_id.clone(), call.id.clone()), shown);
    }
    Ok(())
}

/// One of the user's own devices took or declined a call shown ringing.
async fn answered(
    bridge: &Arc<Bridge>,
    login: &Login,
    call: &Call,
    answer: Answer,
) -> Result<(), IncomingError> {
    let key = (login.login_id.clone(), call.id.clone());
    let shown = lock(&bridge.network().calls.0).get_mut(&key).map(|s| {
        s.answer = answer;
        s.clone()
    });
    let Some(shown) = shown else {
        return Ok(());
    };
    let what = kind(shown.video);
    let text = match answer {
        Answer::Declined => format!("Incoming {what}, declined on another device."),
        _ => format!("Incoming {what}, taken on another device."),
    };
    let step = if answer == Answer::Declined {
        "declined"
    } else {
        "taken"
    };
    edit(bridge, (login, call), &shown, (text, step)).await
}

/// A call is over: by its caller, or one of the user's own devices.
async fn ended(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    call: &Call,
    from: &Jid,
) -> Result<(), IncomingError> {
    let key = (login.login_id.clone(), call.id.clone());
    let shown = {
        let mut ringing = lock(&bridge.network().calls.0);
        let by_them = ringing.get(&key).is_some_and(|s| {
            s.caller.user() == from.user() || super::addressing::is_own(client, from)
        });
        if by_them { ringing.remove(&key) } else { None }
    };
    let Some(shown) = shown else {
        return Ok(()); // not shown ringing (off, old, another run's), or not theirs to end
    };
    let what = kind(shown.video);
    let text = match shown.answer {
        Answer::Declined => return Ok(()), // it says so already
        Answer::Taken => format!("The {what} is over."),
        Answer::Ringing => format!("Missed {what}."),
    };
    edit(bridge, (login, call), &shown, (text, "over")).await
}

/// Edits the notice of `shown` to `text` (`step` keeps the edit's
/// transaction its own), as the caller's ghost that sent it.
async fn edit(
    bridge: &Arc<Bridge>,
    (login, call): (&Login, &Call),
    shown: &Shown,
    (text, step): (String, &str),
) -> Result<(), IncomingError> {
    let ghost = bridge.network_ghost(&ghost_id(&shown.caller)).await?;
    let content = notice_edit(&shown.event, text);
    let txn = format!("call-{}-{}-{step}", login.login_id, call.id);
    ghost.send(&shown.room, &content, &txn, None).await?;
    Ok(())
}
