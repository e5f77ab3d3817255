//! Network messages into their portals: sent once and recorded. The
//! transaction id is derived from the network's message id, so a send
//! repeated after a crash is the same event to the homeserver, and the
//! record maps the message to its event for replies, edits, reactions,
//! redactions and receipts.

use ruma::{OwnedEventId, RoomId};
use serde_json::Value;

use super::{Bridge, Error, Network};
use crate::appservice::Intent;
use crate::store::{Message, StoreError};

/// What the transaction ids of network messages start with. Kept from the
/// first release: another prefix would make a send repeated across an
/// upgrade a second event.
const TXN_PREFIX: &str = "wa";

/// A network message, as the core keys it.
#[derive(Debug, Clone, Copy)]
pub struct RemoteMessage<'a> {
    /// The login that receives it.
    pub login_id: &'a str,
    /// The chat's network id.
    pub chat_id: &'a str,
    /// The sender's network id.
    pub sender_id: &'a str,
    /// The message's network id.
    pub message_id: &'a str,
    /// When it was sent (unix ms).
    pub ts_ms: u64,
}

impl<N: Network> Bridge<N> {
    /// Sends `m`'s converted event (`event_type`, `content`) into `room`
    /// as `intent`, with the message's own time, and records it; returns
    /// the event id. A record already there is fine (a repeat).
    pub async fn send_remote(
        &self,
        room: &RoomId,
        intent: &Intent,
        m: &RemoteMessage<'_>,
        (event_type, content): (&str, &Value),
    ) -> Result<OwnedEventId, Error> {
        let id: String = m
            .message_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let txn = format!("{TXN_PREFIX}{}{id}", m.login_id);
        let event_id = intent
            .send_message_event(room, event_type, content, &txn, Some(m.ts_ms))
            .await?;
        let record = Message {
            login_id: m.login_id.to_owned(),
            chat_id: m.chat_id.to_owned(),
            sender_id: m.sender_id.to_owned(),
            message_id: m.message_id.to_owned(),
            room_id: room.to_owned(),
            event_id: event_id.clone(),
            sent_at: i64::try_from(m.ts_ms).unwrap_or(i64::MAX),
        };
        match self.db.save_message(&record).await {
            Ok(()) | Err(StoreError::Duplicate { .. }) => Ok(event_id),
            Err(e) => Err(e.into()),
        }
    }
}
