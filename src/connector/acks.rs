//! The end of a Matrix event's way to WhatsApp: the message id it goes
//! out under, recorded before it leaves ([`SendId`]); its `outbound_events` row
//! is kept until the server acknowledges what the event became, not just
//! until it enters the client's in-memory outbox (issue 18). A crash or a
//! long WhatsApp outage before the ack leaves the row, and the next start
//! sends the event again under the message id it was recorded with, so the
//! recipients see it once.

use std::sync::Arc;

use ruma::{EventId, OwnedEventId, RoomId};
use tracing::warn;
use wa_client::{Client, PendingSend, SendError};

use crate::appservice::Event;
use crate::bridge::status;
use crate::connector::Bridge;
use crate::store::{Message, Portal, StoreError, now_ms};

/// Which WhatsApp id a message from Matrix goes out under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SendId {
    /// A new one.
    New,
    /// One the caller chose (and recorded things under), new to WhatsApp.
    Chosen(String),
    /// The one recorded for the event by a run that ended before the
    /// server acked it: sent again as it was.
    Recorded(String),
}

impl SendId {
    /// [`SendId::Recorded`] for a resend, else [`SendId::New`].
    pub(super) fn or_new(resend: Option<String>) -> SendId {
        resend.map_or(SendId::New, SendId::Recorded)
    }

    /// The id to send `event`'s message in `portal` under. One new to
    /// WhatsApp is recorded against the event before the message leaves
    /// (the id is ours), so receipts, replies, a replayed transaction and
    /// the next start after a crash find it while the send is on its way.
    pub(super) async fn resolve(
        self,
        bridge: &Bridge,
        portal: &Portal,
        client: &Client,
        event: &Event,
    ) -> String {
        let id = match self {
            SendId::Recorded(id) => return id,
            SendId::Chosen(id) => id,
            SendId::New => Client::new_message_id(),
        };
        // An event without an id (none comes from a homeserver) has no
        // record to find it by.
        let Some(event_id) = event.event_id.clone() else {
            return id;
        };
        let record = Message {
            login_id: portal.login_id.clone(),
            chat_id: portal.chat_id.clone(),
            sender_id: client.jid().to_non_ad().to_string(),
            message_id: id.clone(),
            room_id: portal.room_id.clone(),
            event_id,
            sent_at: now_ms(),
        };
        if let Err(e) = bridge.db().save_message(&record).await {
            warn!(error = %e, "could not record a sent message");
        }
        id
    }
}

/// How a send that the server refused is told to the user.
#[derive(Debug, Clone)]
pub(super) enum Report {
    /// A message: its send status (and a notice replying to it), and a
    /// delivered status once acked.
    Status,
    /// A change to something sent before (reaction, deletion, edit): a
    /// notice that names it.
    Notice(&'static str),
    /// The removal of the user's reaction shown by this Matrix event: as a
    /// change, and the reaction's record forgotten only once the server has
    /// the removal, so that a replay after a crash still finds it.
    RemoveReaction(OwnedEventId),
}

/// Waits in the background for the server's verdict on `pending`, sent for
/// `event` in `room`: the event's row goes once the server has it (or
/// refused it for good); a client stopped first leaves the row for the
/// next start.
pub(super) fn until_acked(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    event: &Event,
    pending: PendingSend,
    report: Report,
) {
    let id = event.event_id.clone();
    if let Some(id) = &id {
        lock(bridge).insert(id.clone());
    }
    let (bridge, room, event) = (bridge.clone(), room.to_owned(), event.clone());
    // Shutdown waits for this task before it closes the database.
    let in_flight = bridge.network().ack_tasks.clone();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let verdict = pending.wait().await;
        // Once the server has it, the row goes first: a status that comes
        // late does no harm, a row left behind would send it again. (A
        // reaction's removal forgets its record first, below: its row is
        // what would replay the removal.)
        let early = verdict.is_ok() && !matches!(report, Report::RemoveReaction(_));
        if early && let Some(id) = &id {
            done(&bridge, id).await;
        }
        match (&verdict, report) {
            (Err(SendError::Stopped), _) => {
                // Shutdown or logout: kept, and sent (or refused) next
                // time. It stays marked as on its way, so nothing in this
                // run takes its row.
                return;
            }
            (Ok(_), Report::Status) => {
                if let Some(id) = &event.event_id {
                    status::delivered(&bridge, &room, id).await;
                }
            }
            (Ok(_), Report::Notice(_)) => {}
            (Ok(_), Report::RemoveReaction(reaction)) => {
                if let Err(e) = bridge.db().delete_reaction(&reaction).await {
                    warn!(error = %e, "a removed reaction's record not forgotten");
                }
            }
            (Err(e), Report::RemoveReaction(_)) => {
                bridge
                    .notice(&room, &format!("⚠️ Your change was not bridged: {e}"))
                    .await;
            }
            (Err(e), Report::Status) => {
                super::incoming::fail(&bridge, &room, &event, &e.to_string()).await
            }
            (Err(e), Report::Notice(what)) => {
                bridge
                    .notice(&room, &format!("⚠️ Your {what} was not bridged: {e}"))
                    .await;
            }
        }
        if let Some(id) = &id {
            if !early {
                done(&bridge, id).await;
            }
            lock(&bridge).remove(id);
        }
    });
}

/// Whether event `event_id`'s WhatsApp send is on its way in this run.
pub fn awaiting(bridge: &Bridge, event_id: &EventId) -> bool {
    lock(bridge).contains(event_id)
}

/// Whether `event_id`, already recorded as sent, is the replay of an event
/// whose send the server never acknowledged (the last run ended first):
/// then it goes out again under its recorded id. Otherwise the record
/// means it was handled, and a repeat is dropped.
pub(super) async fn unacked_replay(
    bridge: &Bridge,
    event_id: &EventId,
) -> Result<bool, StoreError> {
    if awaiting(bridge, event_id) {
        return Ok(false);
    }
    // Only what the last run left (replayed at start): a homeserver's
    // repeat of an event acked before has a new row but is no replay.
    let left = bridge.take_replaying(event_id);
    Ok(left && bridge.db().outbound_pending(event_id).await?)
}

async fn done(bridge: &Bridge, event_id: &EventId) {
    if let Err(e) = bridge.db().outbound_done(event_id).await {
        warn!(error = %e, "could not mark an event sent; it may be sent again");
    }
}

fn lock(bridge: &Bridge) -> std::sync::MutexGuard<'_, std::collections::HashSet<OwnedEventId>> {
    bridge
        .network()
        .awaiting_ack
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
