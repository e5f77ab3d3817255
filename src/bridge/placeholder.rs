//! Placeholders: a network message that cannot be read yet (WhatsApp: not
//! decrypted, asked for again) gets a notice in its place at once, from
//! its sender, so the conversation is not silent. When the message comes,
//! it replaces the notice in place (an edit of the same event, which then
//! stands for the message: replies, reactions and receipts find it); when
//! the network gives up, the notice says the message was lost. A message
//! that cannot be an edit of a notice (a poll, a sticker, a reply: an edit
//! cannot change the type or add a relation) takes the notice away and
//! comes as an event of its own.

use ruma::events::room::message::RoomMessageEventContent;
use ruma::{OwnedEventId, RoomId};
use serde_json::Value;
use tracing::debug;

use super::ghost::GhostId;
use super::message::{RemoteMessage, notice_edit, replacement};
use super::{Bridge, Error, Network};
use crate::appservice::Intent;
use crate::store::Placeholder;

impl RemoteMessage {
    /// Its key in the store.
    fn key(&self) -> (&str, &str, &str, &str) {
        (
            &self.login_id,
            &self.chat_id,
            &self.sender_id,
            &self.message_id,
        )
    }
}

impl<N: Network> Bridge<N> {
    /// `m` cannot be read yet: a notice in its place, from `intent`, once
    /// (then kept). With `lost`, the network gave up: the notice says so
    /// (it is edited if it was shown waiting).
    pub async fn placeholder(
        &self,
        room: &RoomId,
        intent: &Intent,
        m: &RemoteMessage,
        lost: bool,
    ) -> Result<(), Error> {
        let key = m.key();
        if self
            .db
            .message_by_network_id(key.0, key.1, key.2, key.3)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let waiting = format!(
            "Waiting for this message; it may take a while. Opening {} on your phone can help.",
            N::NAME
        );
        let lost_text = format!(
            "This message could not be decrypted. Open {} on your phone to read it.",
            N::NAME
        );
        let event_id = match self.db.placeholder(key).await? {
            None => {
                let text = if lost { lost_text } else { waiting };
                let content = RoomMessageEventContent::notice_plain(text);
                let txn = m.txn_id("-waiting");
                intent.send(room, &content, &txn, Some(m.ts_ms)).await?
            }
            Some(p) if lost && !p.failed && p.room_id == room => {
                let edit = notice_edit(&p.event_id, lost_text);
                intent.send(room, &edit, &m.txn_id("-lost"), None).await?;
                p.event_id
            }
            Some(_) => return Ok(()),
        };
        let placeholder = Placeholder {
            room_id: room.to_owned(),
            event_id,
            failed: lost,
        };
        let now = crate::store::now_ms() / 1000;
        self.db.save_placeholder(key, &placeholder, now).await?;
        Ok(())
    }

    /// `m` was read and shown (or applied) in some other way: a
    /// placeholder still standing for it is taken away by its sender `by`
    /// (who sent it, so may redact it).
    pub async fn clear_placeholder(&self, m: &RemoteMessage, by: &GhostId) -> Result<(), Error> {
        let Some(p) = self.db.placeholder(m.key()).await? else {
            return Ok(());
        };
        let ghost = self.network_ghost(by).await?;
        self.take_away(m, &p, &ghost).await
    }

    /// Redacts placeholder `p` of `m` as `intent` (best effort) and forgets
    /// it.
    async fn take_away(
        &self,
        m: &RemoteMessage,
        p: &Placeholder,
        intent: &Intent,
    ) -> Result<(), Error> {
        let txn = m.txn_id("-unwait");
        if let Err(e) = intent.redact(&p.room_id, &p.event_id, None, &txn).await {
            debug!(error = %e, "a placeholder not taken away");
        }
        self.db.drop_placeholder(m.key()).await?;
        Ok(())
    }

    /// Sends `m` in place of its placeholder, if one stands in `room`:
    /// `Some(event)` (the placeholder's, which now stands for `m`, or a new
    /// one); `None` when there is none and `m` is sent as usual.
    pub(super) async fn replace_placeholder(
        &self,
        room: &RoomId,
        intent: &Intent,
        m: &RemoteMessage,
        (event_type, content): (&str, &Value),
    ) -> Result<Option<OwnedEventId>, Error> {
        let Some(p) = self.db.placeholder(m.key()).await? else {
            return Ok(None);
        };
        // The chat moved (a merged contact), or the message is not an edit
        // of a notice (another type, or a reply: an edit cannot add the
        // relation): the notice goes, the message comes on its own.
        let moved = p.room_id != room;
        if moved || event_type != "m.room.message" || content.get("m.relates_to").is_some() {
            self.take_away(m, &p, intent).await?;
            return Ok(None);
        }
        let edit = replacement(&p.event_id, content);
        intent
            .send_message_event(room, event_type, &edit, &m.txn_id("-read"), None)
            .await?;
        self.record_remote(room, m, &p.event_id).await?;
        self.db.drop_placeholder(m.key()).await?;
        Ok(Some(p.event_id))
    }
}
