//! History into Matrix: at login the phone sends the account's recent chats
//! with their messages; the bridge stores every chunk before acknowledging
//! it (it cannot be asked for again), then, once the chunks stop coming,
//! gives the most recent chats a room each and sends their history into
//! it, oldest first, with the original timestamps.
//!
//! History only goes into rooms that have no newer messages: the
//! homeserver orders events by arrival and `ts` only sets the shown time.
//! Per chat the store keeps the newest message bridged, so a bridge killed
//! mid-backfill resumes there; a message sent but not yet marked is found
//! in the message table, and its transaction id is derived from the
//! message, so nothing is doubled.

use ruma::{EventId, RoomId};
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use ruma::OwnedEventId;
use ruma::events::room::message::RoomMessageEventContent;
use tokio::sync::Notify;
use tracing::{Instrument as _, debug, info, info_span, warn};
use wa_client::Client;
use wa_core::jid::{Jid, Server};
use wa_core::proto::WebMessageInfo;

use super::incoming::{self, Incoming, IncomingError};
use crate::bridge::txn_id;
use crate::connector::Bridge;
use crate::store::{HistoryChat, HistoryMessage, Login};

/// How long the history must be quiet (no new chunk) before the backfill
/// starts, unless the phone said it has sent everything.
const SETTLE: Duration = Duration::from_secs(2);

/// What one backfill pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pass {
    /// Chats looked at.
    pub chats: usize,
    /// Rooms created.
    pub rooms: usize,
    /// Messages sent.
    pub messages: usize,
    /// Chats left for a passing reason (WhatsApp or the homeserver down):
    /// the pass is tried again without waiting for more history.
    pub passing: usize,
}

/// The first wait before a pass that left chats for a passing reason is
/// tried again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Wakes the backfill of one login when history arrives.
#[derive(Debug, Default)]
pub(super) struct Trigger {
    notify: Notify,
    complete: std::sync::atomic::AtomicBool,
}

impl Trigger {
    /// A chunk was stored; `complete` when the phone reports 100 %.
    pub(super) fn chunk_stored(&self, complete: bool) {
        if complete {
            self.complete
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.notify.notify_one();
    }
}

/// Runs the backfill of one login for as long as the login runs: a pass at
/// start (to resume an interrupted one), then one each time history
/// settles, and again after a while when a pass left chats for a passing
/// reason. A pass waits until the client is logged in: a restored login
/// still connecting must not cost the chats whose portal needs WhatsApp
/// (a group's name and members).
pub(super) async fn run(bridge: Arc<Bridge>, login: Login, client: Client, trigger: Arc<Trigger>) {
    let span = info_span!("backfill", login = %login.login_id);
    async move {
        let mut retry = RETRY_FIRST;
        loop {
            if !client.online().await {
                return; // the client ended for good
            }
            let result = pass(&bridge, &login, &client).await;
            let again = match &result {
                Ok(p) => p.passing > 0,
                Err(e) => e.is_transient(),
            };
            match result {
                Ok(p) if p.messages > 0 || p.rooms > 0 => {
                    info!(
                        chats = p.chats,
                        rooms = p.rooms,
                        messages = p.messages,
                        "backfill pass done"
                    );
                }
                Ok(_) => debug!("nothing to backfill"),
                Err(e) => {
                    warn!(error = %e, "backfill pass failed; it resumes with the next history")
                }
            }
            if again {
                debug!(after = ?retry, "backfill left chats for a passing reason; trying again");
                if tokio::time::timeout(retry, trigger.notify.notified())
                    .await
                    .is_err()
                {
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            } else {
                retry = RETRY_FIRST;
                trigger.notify.notified().await;
            }
            // Let the rest of the chunks land first.
            loop {
                if trigger
                    .complete
                    .swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    break;
                }
                match tokio::time::timeout(SETTLE, trigger.notify.notified()).await {
                    Ok(()) => continue,
                    Err(_) => break,
                }
            }
        }
    }
    .instrument(span)
    .await;
}

/// One pass over the most recent chats of the stored history.
async fn pass(bridge: &Arc<Bridge>, login: &Login, client: &Client) -> Result<Pass, IncomingError> {
    let config = &bridge.config().backfill;
    let mut done = Pass::default();
    if !config.enabled || config.max_initial_chats == 0 {
        return Ok(done);
    }
    let chats = bridge
        .db()
        .recent_history_chats(&login.login_id, config.max_initial_chats)
        .await?;
    if chats.is_empty() {
        return Ok(done);
    }
    let total = chats.len();
    let room = bridge.management_room(&login.mxid).await;
    let mut progress: Option<OwnedEventId> = None;
    for chat in &chats {
        done.chats += 1;
        match backfill_chat(bridge, login, client, chat).await {
            Ok((created, sent)) => {
                done.rooms += usize::from(created);
                done.messages += sent;
                if sent > 0 || created {
                    info!(chat = done.chats, total, sent, "chat backfilled");
                }
            }
            Err(e) => {
                done.passing += usize::from(e.is_transient());
                warn!(error = %e, "could not backfill a chat; later chats go on");
            }
        }
        if (done.messages > 0 || done.rooms > 0)
            && let Some(room) = &room
        {
            progress = show_progress(bridge, room, &done, total, progress.as_deref()).await;
        }
    }
    Ok(done)
}

/// Posts (then edits) the progress notice in the management room.
async fn show_progress(
    bridge: &Bridge,
    room: &RoomId,
    done: &Pass,
    total: usize,
    shown: Option<&EventId>,
) -> Option<OwnedEventId> {
    let text = if done.chats == total {
        format!(
            "History bridged: {} of {total} chats, {} messages.",
            done.chats, done.messages
        )
    } else {
        format!(
            "Bridging history: {} of {total} chats, {} messages so far.",
            done.chats, done.messages
        )
    };
    let content = match shown {
        Some(original) => crate::bridge::message::notice_edit(original, text),
        None => RoomMessageEventContent::notice_plain(text),
    };
    match bridge.bot().send(room, &content, &txn_id(), None).await {
        Ok(id) => Some(shown.map_or(id, ToOwned::to_owned)),
        Err(e) => {
            warn!(error = %e, "could not show backfill progress");
            shown.map(ToOwned::to_owned)
        }
    }
}

/// Backfills one chat; returns whether its room was created and how many
/// messages were sent.
async fn backfill_chat(
    bridge: &Arc<Bridge>,
    login: &Login,
    client: &Client,
    chat: &HistoryChat,
) -> Result<(bool, usize), IncomingError> {
    let Ok(jid) = chat.chat_id.parse::<Jid>() else {
        debug!("history chat with an unparsable id skipped");
        return Ok((false, 0));
    };
    if !matches!(jid.server(), Server::User | Server::Lid | Server::Group) {
        return Ok((false, 0)); // status broadcasts, newsletters: not chats
    }
    let existing = bridge.db().portal(&login.login_id, &chat.chat_id).await?;
    // History goes only after what the room already shows.
    let mut after = chat.bridged_ts;
    if existing.is_some() {
        let newest = bridge
            .db()
            .newest_message_ts(&login.login_id, &chat.chat_id)
            .await?;
        after = after.max(newest);
    }
    // WhatsApp times have whole seconds: messages sent in the same second
    // as the newest one bridged may not be bridged yet (a later chunk, or a
    // crash between two of them). They are read again and the ones already
    // sent are skipped by id below, so none is lost and none doubled.
    let after = after.map(|ts| ts.saturating_sub(1));
    let messages = bridge
        .db()
        .history_messages(
            &login.login_id,
            &chat.chat_id,
            after,
            bridge.config().backfill.max_initial_messages,
        )
        .await?;
    // A one-to-one chat's name in the history is the user's own name for
    // the contact: kept for this login only (issue 18), unless app state
    // already gave one.
    if let Some(name) = (!jid.is_group()).then_some(chat.name.as_deref()).flatten() {
        let (network_id, _) = super::incoming::ghost_ids(bridge, &jid);
        if bridge
            .db()
            .contact_name(&login.login_id, &network_id)
            .await?
            .is_none()
        {
            bridge
                .db()
                .set_contact_name(&login.login_id, &network_id, Some(name))
                .await?;
        }
    }
    let push_name = messages
        .iter()
        .find(|m| !m.from_me)
        .and_then(|m| m.push_name.as_deref());
    let portal = super::portal::portal(bridge, login, client, &jid, push_name).await?;
    let created = existing.is_none();
    let own = client.jid().to_non_ad();
    let mut sent = 0;
    for m in &messages {
        let Some(info) = decode(m) else {
            warn!("stored history message does not decode; skipped");
            continue;
        };
        let sender = sender_of(m, &own);
        let Some(message) = info.message.as_ref() else {
            continue; // system stubs carry no content
        };
        let incoming = Incoming {
            chat: &jid,
            sender: &sender,
            id: &m.message_id,
            from_me: m.from_me,
            push_name: m.push_name.as_deref(),
            message,
            ts_ms: u64::try_from(m.ts).unwrap_or(0),
        };
        if !incoming::already_bridged(bridge, login, &incoming).await? {
            incoming::deliver(bridge, login, client, &portal, &incoming).await?;
            sent += 1;
        }
        bridge
            .db()
            .set_history_bridged(&login.login_id, &chat.chat_id, m.ts)
            .await?;
    }
    // A chat read on the phone is read in Matrix too.
    if created && sent > 0 && chat.unread == 0 {
        super::appstate::history_read(bridge, login, &portal).await;
    }
    Ok((created, sent))
}

fn decode(m: &HistoryMessage) -> Option<WebMessageInfo> {
    WebMessageInfo::decode(m.payload.as_slice()).ok()
}

/// The sender of a stored message: ours, or the id it was stored under.
fn sender_of(m: &HistoryMessage, own: &Jid) -> Jid {
    if m.from_me {
        return own.clone();
    }
    m.sender_id.parse().unwrap_or_else(|_| own.clone())
}
