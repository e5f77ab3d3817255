//! Network messages into their portals: sent once and recorded. The
//! transaction id is derived from the network's message id, so a send
//! repeated after a crash is the same event to the homeserver, and the
//! record maps the message to its event for replies, edits, reactions,
//! redactions and receipts.

use ruma::events::room::message::{MessageType, ReplacementMetadata, RoomMessageEventContent};
use ruma::{EventId, OwnedEventId, RoomId};
use serde_json::{Value, json};

use super::{Bridge, Error, Network};
use crate::appservice::Intent;
use crate::store::{Message, StoreError};

/// What the transaction ids of network messages start with. Kept from the
/// first release: another prefix would make a send repeated across an
/// upgrade a second event.
const TXN_PREFIX: &str = "wa";

/// A network message, as the core keys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMessage {
    /// The login that receives it.
    pub login_id: String,
    /// The chat's network id.
    pub chat_id: String,
    /// The sender's network id.
    pub sender_id: String,
    /// The message's network id.
    pub message_id: String,
    /// When it was sent (unix ms).
    pub ts_ms: u64,
    /// Whether the login's own account sent it (from another device).
    pub from_me: bool,
}

impl RemoteMessage {
    /// The transaction id of the Matrix event `m` becomes (with `suffix`
    /// for a second event of the same message): the same message always
    /// gives the same one.
    pub fn txn_id(&self, suffix: &str) -> String {
        let id: String = self
            .message_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        format!("{TXN_PREFIX}{}{id}{suffix}", self.login_id)
    }

    /// When it was sent, as the database keeps it.
    fn sent_at(&self) -> i64 {
        i64::try_from(self.ts_ms).unwrap_or(i64::MAX)
    }
}

impl<N: Network> Bridge<N> {
    /// Sends `m`'s converted event (`event_type`, `content`) into `room`
    /// as `intent`, with the message's own time, and records it; returns
    /// the event id. A record already there is fine (a repeat). A
    /// placeholder standing in its place is replaced (see
    /// [`super::placeholder`]).
    pub async fn send_remote(
        &self,
        room: &RoomId,
        intent: &Intent,
        m: &RemoteMessage,
        (event_type, content): (&str, &Value),
    ) -> Result<OwnedEventId, Error> {
        // A notice stood in its place while it could not be read.
        let replaced = self.replace_placeholder(room, intent, m, (event_type, content));
        if let Some(event_id) = replaced.await? {
            return Ok(event_id);
        }
        let event_id = intent
            .send_message_event(room, event_type, content, &m.txn_id(""), Some(m.ts_ms))
            .await?;
        self.record_remote(room, m, &event_id).await?;
        Ok(event_id)
    }

    /// Records that `m` became `event_id` in `room` (so a redelivery is
    /// known); a record already there is fine.
    pub async fn record_remote(
        &self,
        room: &RoomId,
        m: &RemoteMessage,
        event_id: &EventId,
    ) -> Result<(), Error> {
        let record = Message {
            login_id: m.login_id.clone(),
            chat_id: m.chat_id.clone(),
            sender_id: m.sender_id.clone(),
            message_id: m.message_id.clone(),
            room_id: room.to_owned(),
            event_id: event_id.to_owned(),
            sent_at: m.sent_at(),
        };
        match self.db.save_message(&record).await {
            Ok(()) | Err(StoreError::Duplicate { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// An edit of the notice `original` to say `text`, plain (ruma's fallback
/// would carry an empty HTML body, "* ", which reads worse where edits are
/// not understood).
pub fn notice_edit(original: &EventId, text: String) -> RoomMessageEventContent {
    let metadata = ReplacementMetadata::new(original.to_owned(), None);
    let mut content = RoomMessageEventContent::notice_plain(text).make_replacement(metadata);
    if let MessageType::Notice(notice) = &mut content.msgtype {
        notice.formatted = None;
    }
    content
}

/// An edit (`m.replace`) of `event` to `content`: the new content under
/// `m.new_content` (without relations: an edit cannot change them), with a
/// fallback body marked as an edit for clients that show edits as
/// messages.
pub fn replacement(event: &ruma::EventId, content: &Value) -> Value {
    let mut new_content = content.clone();
    if let Some(obj) = new_content.as_object_mut() {
        obj.remove("m.relates_to");
    }
    let mut edit = new_content.clone();
    let body = content["body"].as_str().unwrap_or_default();
    edit["body"] = json!(format!("* {body}"));
    if let Some(formatted) = content["formatted_body"].as_str() {
        edit["formatted_body"] = json!(format!("* {formatted}"));
    }
    edit["m.new_content"] = new_content;
    edit["m.relates_to"] = json!({ "rel_type": "m.replace", "event_id": event });
    edit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_carries_the_new_content_without_its_relations() {
        let event = ruma::event_id!("$placeholder:x");
        let content = json!({
            "msgtype": "m.text",
            "body": "hello",
            "m.relates_to": { "m.in_reply_to": { "event_id": "$other:x" } },
        });
        let edit = replacement(event, &content);
        assert_eq!(edit["body"], "* hello");
        assert_eq!(edit["msgtype"], "m.text");
        assert_eq!(edit["m.new_content"]["body"], "hello");
        assert!(edit["m.new_content"]["m.relates_to"].is_null());
        assert_eq!(edit["m.relates_to"]["rel_type"], "m.replace");
        assert_eq!(edit["m.relates_to"]["event_id"], "$placeholder:x");
    }
}
