//! What users send into portals, on its way to WhatsApp: kept in the
//! database before the transaction is answered, queued per portal room,
//! handed to the connector, and replayed at start if a run ended first.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::{Bridge, MatrixEvent, Network, status};
use crate::appservice::Event;
use crate::store::StoreError;
use ruma::{EventId, RoomId, UserId};

/// Queues `event` for the network, kept in the database first, so a crash
/// loses nothing (the queue is replayed at start). Only portals' events
/// are kept and queued: what is said in other rooms is none of the
/// network's business. A database that keeps failing does not stop the event (it
/// is then queued without its record, and the log says so).
pub(super) async fn queue_outbound<N: Network>(
    bridge: &Arc<Bridge<N>>,
    room: &RoomId,
    event: &Event,
) {
    match bridge.db.portal_by_room(room).await {
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(e) => warn!(%room, error = %e, "could not tell whether a room is a portal"),
    }
    if let Some(id) = &event.event_id {
        // A JSON value always serialises; the record is what may fail.
        let json = event.raw.to_string();
        if let Err(e) = keep_outbound(bridge, room, id, &json).await {
            warn!(%room, error = %e, "an event for the network is queued without its record");
        }
    }
    bridge
        .outbound
        .push(room.as_str(), (bridge.clone(), event.clone()));
}

/// Writes an event's `outbound_events` row, trying a few times.
async fn keep_outbound<N: Network>(
    bridge: &Bridge<N>,
    room: &RoomId,
    id: &EventId,
    json: &str,
) -> Result<(), StoreError> {
    let mut delay = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        tries += 1;
        match bridge.db.queue_outbound(room, id, json).await {
            Ok(()) => return Ok(()),
            Err(e) if tries == 3 => return Err(e),
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay *= 4;
    }
}

/// Queues again what an earlier run took from the homeserver and did not
/// finish.
pub(super) async fn replay_outbound<N: Network>(bridge: &Arc<Bridge<N>>) {
    let pending = match bridge.db.pending_outbound().await {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "could not read the events still to send to the network");
            return;
        }
    };
    if !pending.is_empty() {
        info!(events = pending.len(), "sending what the last run did not");
    }
    for (room, json) in pending {
        match serde_json::from_str(&json).ok().and_then(Event::from_json) {
            Some(event) => {
                if let Some(id) = &event.event_id {
                    bridge
                        .replaying
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(id.clone());
                }
                bridge.outbound.push(room.as_str(), (bridge.clone(), event));
            }
            None => warn!(%room, "a kept event is not an event; dropped"),
        }
    }
}

/// How long a room's outbound worker waits for more before it ends.
pub(super) const OUTBOUND_IDLE: Duration = Duration::from_secs(60);
/// How long shutdown waits for the outbound queues.
pub(super) const OUTBOUND_DRAIN: Duration = Duration::from_secs(30);

pub(super) fn run_outbound<N: Network>(
    (bridge, event): (Arc<Bridge<N>>, Event),
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move { outbound(&bridge, &event).await })
}

/// One event the user sent into a portal, from its room's queue, to
/// WhatsApp. What a retry could fix (the database) is tried again a few
/// times; the handlers tell the user about the rest themselves.
async fn outbound<N: Network>(bridge: &Arc<Bridge<N>>, event: &Event) {
    let (Some(room), Some(sender)) = (event.room_id.as_ref(), event.sender.as_ref()) else {
        return;
    };
    handle_outbound(bridge, room, sender, event).await;
    // What became a WhatsApp send is done when the server acks it.
    if let Some(id) = &event.event_id
        && !N::awaiting_ack(bridge, id)
        && let Err(e) = bridge.db.outbound_done(id).await
    {
        warn!(error = %e, "could not mark an event handled; it may be sent again");
    }
}

async fn handle_outbound<N: Network>(
    bridge: &Arc<Bridge<N>>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) {
    let Some(kind) = MatrixEvent::of(&event.kind) else {
        return;
    };
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=3 {
        match N::handle_matrix(bridge, (room, sender), event, kind).await {
            Ok(()) => return,
            Err(e) => {
                warn!(attempt, kind = %event.kind, error = %e, "could not bridge an event to the network");
                if attempt < 3 {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
    // Given up: the sender hears of it rather than nothing.
    status::refused(
        bridge,
        room,
        event,
        "message",
        "the bridge could not handle it (its database failed); send it again",
        status::Reason::Generic,
    )
    .await;
}
