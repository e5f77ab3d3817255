//! The end of a Matrix event's way to WhatsApp: its `outbound_events` row
//! is kept until the server acknowledges what the event became, not just
//! until it enters the client's in-memory outbox (issue 18). A crash or a
//! long WhatsApp outage before the ack leaves the row, and the next start
//! sends the event again under the message id it was recorded with, so the
//! recipients see it once.

use std::sync::Arc;

use tracing::warn;
use wa_client::{PendingSend, SendError};

use super::status;
use crate::appservice::Event;
use crate::bridge::Bridge;
use crate::store::StoreError;

/// How a send that the server refused is told to the user.
#[derive(Debug, Clone, Copy)]
pub(super) enum Report {
    /// A message: its send status (and a notice replying to it), and a
    /// delivered status once acked.
    Status,
    /// A change to something sent before (reaction, deletion, edit): a
    /// notice that names it.
    Notice(&'static str),
}

/// Waits in the background for the server's verdict on `pending`, sent for
/// `event` in `room`: the event's row goes once the server has it (or
/// refused it for good); a client stopped first leaves the row for the
/// next start.
pub(super) fn until_acked(
    bridge: &Arc<Bridge>,
    room: &str,
    event: &Event,
    pending: PendingSend,
    report: Report,
) {
    let id = event.event_id.clone();
    if let Some(id) = &id {
        lock(bridge).insert(id.clone());
    }
    let (bridge, room, event) = (bridge.clone(), room.to_owned(), event.clone());
    tokio::spawn(async move {
        let verdict = pending.wait().await;
        match (&verdict, report) {
            (Err(SendError::Stopped), _) => {
                // Shutdown or logout: kept, and sent (or refused) next
                // time. It stays marked as on its way, so nothing in this
                // run takes its row.
                return;
            }
            (Ok(_), Report::Status) => {
                if let Some(id) = &id {
                    status::delivered(&bridge, &room, id).await;
                }
            }
            (Ok(_), Report::Notice(_)) => {}
            (Err(e), Report::Status) => {
                super::relay::fail(&bridge, &room, &event, &e.to_string()).await
            }
            (Err(e), Report::Notice(what)) => {
                bridge
                    .notice(&room, &format!("⚠️ Your {what} was not bridged: {e}"))
                    .await;
            }
        }
        if let Some(id) = &id {
            done(&bridge, id).await;
            lock(&bridge).remove(id);
        }
    });
}

/// Whether event `event_id`'s WhatsApp send is on its way in this run.
pub fn awaiting(bridge: &Bridge, event_id: &str) -> bool {
    lock(bridge).contains(event_id)
}

/// Whether `event_id`, already recorded as sent, is the replay of an event
/// whose send the server never acknowledged (the last run ended first):
/// then it goes out again under its recorded id. Otherwise the record
/// means it was handled, and a repeat is dropped.
pub(super) async fn unacked_replay(bridge: &Bridge, event_id: &str) -> Result<bool, StoreError> {
    if awaiting(bridge, event_id) {
        return Ok(false);
    }
    // Only what the last run left (replayed at start): a homeserver's
    // repeat of an event acked before has a new row but is no replay.
    let left = bridge
        .replaying
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(event_id);
    Ok(left && bridge.db.outbound_pending(event_id).await?)
}

async fn done(bridge: &Bridge, event_id: &str) {
    if let Err(e) = bridge.db.outbound_done(event_id).await {
        warn!(error = %e, "could not mark an event sent; it may be sent again");
    }
}

fn lock(bridge: &Bridge) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
    bridge
        .awaiting_ack
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
