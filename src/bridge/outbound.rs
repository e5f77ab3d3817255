//! What users send into portals, on its way to WhatsApp: kept in the
//! database before the transaction is answered, queued per portal room,
//! handed to the connector, and replayed at start if a run ended first.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::Bridge;
use crate::appservice::Event;
use crate::connector;

/// Queues `event` for WhatsApp, kept in the database first, so a crash
/// loses nothing (the queue is replayed at start). Only portals' events
/// are kept and queued: what is said in other rooms is none of WhatsApp's
/// business. A database that keeps failing does not stop the event (it
/// is then queued without its record, and the log says so).
pub(super) async fn queue_outbound(bridge: &Arc<Bridge>, room: &str, event: &Event) {
    match bridge.db.portal_by_room(room).await {
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(e) => warn!(%room, error = %e, "could not tell whether a room is a portal"),
    }
    if let Some(id) = &event.event_id {
        let kept = match serde_json::to_string(&event.raw) {
            Ok(json) => keep_outbound(bridge, room, id.as_str(), &json).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = kept {
            warn!(%room, error = %e, "an event for WhatsApp is queued without its record");
        }
    }
    bridge.outbound.push(room, (bridge.clone(), event.clone()));
}

/// Writes an event's `outbound_events` row, trying a few times.
async fn keep_outbound(bridge: &Bridge, room: &str, id: &str, json: &str) -> Result<(), String> {
    let mut delay = Duration::from_millis(100);
    let mut last = String::new();
    for _ in 0..3 {
        match bridge.db.queue_outbound(room, id, json).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(delay).await;
        delay *= 4;
    }
    Err(last)
}

/// Queues again what an earlier run took from the homeserver and did not
/// finish.
pub(super) async fn replay_outbound(bridge: &Arc<Bridge>) {
    let pending = match bridge.db.pending_outbound().await {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "could not read the events still to send to WhatsApp");
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
                        .insert(id.to_string());
                }
                bridge.outbound.push(&room, (bridge.clone(), event));
            }
            None => warn!(%room, "a kept event is not an event; dropped"),
        }
    }
}

/// What a poll event (MSC3381, unstable and stable names) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PollEvent {
    Start,
    Response,
    End,
}

pub(super) fn poll_event(kind: &str) -> Option<PollEvent> {
    match kind {
        "org.matrix.msc3381.poll.start" | "m.poll.start" => Some(PollEvent::Start),
        "org.matrix.msc3381.poll.response" | "m.poll.response" => Some(PollEvent::Response),
        "org.matrix.msc3381.poll.end" | "m.poll.end" => Some(PollEvent::End),
        _ => None,
    }
}

/// How long a room's outbound worker waits for more before it ends.
pub(super) const OUTBOUND_IDLE: Duration = Duration::from_secs(60);
/// How long shutdown waits for the outbound queues.
pub(super) const OUTBOUND_DRAIN: Duration = Duration::from_secs(30);

pub(super) fn run_outbound(
    (bridge, event): (Arc<Bridge>, Event),
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move { outbound(&bridge, &event).await })
}

/// One event the user sent into a portal, from its room's queue, to
/// WhatsApp. What a retry could fix (the database) is tried again a few
/// times; the handlers tell the user about the rest themselves.
async fn outbound(bridge: &Arc<Bridge>, event: &Event) {
    let (Some(room), Some(sender)) = (event.room_id.as_ref(), event.sender.as_ref()) else {
        return;
    };
    let (room, sender) = (room.as_str(), sender.as_str());
    handle_outbound(bridge, room, sender, event).await;
    // What became a WhatsApp send is done when the server acks it.
    if let Some(id) = &event.event_id
        && !connector::acks::awaiting(bridge, id.as_str())
        && let Err(e) = bridge.db.outbound_done(id.as_str()).await
    {
        warn!(error = %e, "could not mark an event handled; it may be sent again");
    }
}

async fn handle_outbound(bridge: &Arc<Bridge>, room: &str, sender: &str, event: &Event) {
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=3 {
        let result = match event.kind.as_str() {
            kind if poll_event(kind) == Some(PollEvent::End) => {
                connector::poll_end_from_matrix(bridge, room, sender, event)
                    .await
                    .map_err(|e| e.to_string())
            }
            kind if poll_event(kind) == Some(PollEvent::Start) => {
                connector::poll_start_from_matrix(bridge, room, sender, event)
                    .await
                    .map_err(|e| e.to_string())
            }
            kind if poll_event(kind) == Some(PollEvent::Response) => {
                connector::poll_response_from_matrix(bridge, room, sender, event)
                    .await
                    .map_err(|e| e.to_string())
            }
            "m.reaction" => connector::reaction_from_matrix(bridge, room, sender, event)
                .await
                .map_err(|e| e.to_string()),
            "m.room.redaction" => connector::redaction_from_matrix(bridge, room, sender, event)
                .await
                .map_err(|e| e.to_string()),
            _ => connector::from_matrix(bridge, room, sender, event)
                .await
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                warn!(attempt, kind = %event.kind, error = %e, "could not bridge an event to WhatsApp");
                if attempt < 3 {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
    // Given up: the sender hears of it rather than nothing.
    connector::not_bridged(
        bridge,
        room,
        event,
        "the bridge could not handle it (its database failed); send it again",
    )
    .await;
}
