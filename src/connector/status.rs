//! What became of a Matrix event the user sent: a
//! `com.beeper.message_send_status` event (MATRIX.md section 4) for every
//! message, and on failure also a visible notice that says why, as a reply
//! to it (clients that do not show the status still tell the user).

use serde_json::json;
use tracing::warn;

use crate::appservice::Event;
use crate::bridge::{Bridge, txn_id};

/// The status event type.
pub const STATUS_EVENT: &str = "com.beeper.message_send_status";

/// Why a message failed, as the status event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// The kind of event is not bridged.
    Unsupported,
    /// Anything else.
    Generic,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Unsupported => "m_unsupported",
            Reason::Generic => "m_generic_error",
        }
    }
}

async fn post_status(bridge: &Bridge, room: &str, event_id: &str, status: serde_json::Value) {
    let mut content = status;
    content["network"] = json!("whatsapp");
    content["m.relates_to"] = json!({"rel_type": "m.reference", "event_id": event_id});
    if let Err(e) = bridge
        .bot
        .send_message_event(room, STATUS_EVENT, &content, &txn_id(), None)
        .await
    {
        warn!(error = %e, "could not post a message status");
    }
}

/// The event reached the WhatsApp server.
pub(super) async fn delivered(bridge: &Bridge, room: &str, event_id: &str) {
    post_status(bridge, room, event_id, json!({"status": "SUCCESS"})).await;
}

/// The user's `what` (message, reaction, edit, ...) was not bridged: a
/// failed status, and a notice replying to it.
pub(super) async fn refused(
    bridge: &Bridge,
    room: &str,
    event: &Event,
    what: &str,
    why: &str,
    reason: Reason,
) {
    let mut content = json!({
        "msgtype": "m.notice",
        "body": format!("⚠️ Your {what} was not bridged: {why}"),
    });
    if let Some(id) = &event.event_id {
        content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": id}});
        let status = json!({
            "status": "FAIL_PERMANENT",
            "reason": reason.as_str(),
            "message": why,
        });
        post_status(bridge, room, id.as_str(), status).await;
    }
    if let Err(e) = bridge
        .bot
        .send_message_event(room, "m.room.message", &content, &txn_id(), None)
        .await
    {
        warn!(error = %e, "could not post an error notice");
    }
}
