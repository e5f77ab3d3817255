//! What became of a Matrix event the user sent: a
//! `com.beeper.message_send_status` event (MATRIX.md section 4) for every
//! message, and on failure also a visible notice that says why, as a reply
//! to it (clients that do not show the status still tell the user).

use ruma::events::relation::{InReplyTo, Reference, Reply};
use ruma::events::room::message::{Relation, RoomMessageEventContent};
use ruma::{EventId, RoomId};
use tracing::warn;

use super::{Bridge, Network, txn_id};
use crate::appservice::Event;
use crate::appservice::custom::{MessageSendStatusEventContent, SendStatus, StatusRelation};

/// Why a message failed, as the status event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
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

async fn post_status<N: Network>(
    bridge: &Bridge<N>,
    room: &RoomId,
    event_id: &EventId,
    status: Status,
) {
    let content = MessageSendStatusEventContent {
        network: N::ID.to_owned(),
        relates_to: StatusRelation {
            reference: Reference::new(event_id.to_owned()),
        },
        status: status.status,
        reason: status.reason.map(|r| r.as_str().to_owned()),
        message: status.message,
    };
    if let Err(e) = bridge.bot.send(room, &content, &txn_id(), None).await {
        warn!(error = %e, "could not post a message status");
    }
}

/// A status, and why when it failed.
struct Status {
    status: SendStatus,
    reason: Option<Reason>,
    message: Option<String>,
}

/// The event reached the network's server.
pub async fn delivered<N: Network>(bridge: &Bridge<N>, room: &RoomId, event_id: &EventId) {
    let status = Status {
        status: SendStatus::Success,
        reason: None,
        message: None,
    };
    post_status(bridge, room, event_id, status).await;
}

/// The user's `what` (message, reaction, edit, ...) was not bridged: a
/// failed status, and a notice replying to it.
pub async fn refused<N: Network>(
    bridge: &Bridge<N>,
    room: &RoomId,
    event: &Event,
    what: &str,
    why: &str,
    reason: Reason,
) {
    let mut content =
        RoomMessageEventContent::notice_plain(format!("⚠️ Your {what} was not bridged: {why}"));
    if let Some(id) = &event.event_id {
        content.relates_to = Some(Relation::Reply(Reply::new(InReplyTo::new(id.clone()))));
        let status = Status {
            status: SendStatus::FailPermanent,
            reason: Some(reason),
            message: Some(why.to_owned()),
        };
        post_status(bridge, room, id, status).await;
    }
    if let Err(e) = bridge.bot.send(room, &content, &txn_id(), None).await {
        warn!(error = %e, "could not post an error notice");
    }
}
