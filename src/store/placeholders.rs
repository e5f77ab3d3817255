//! `placeholders`: the notice shown in place of a network message that
//! cannot be read yet, by the message's key.

use ruma::{OwnedEventId, OwnedRoomId};

use super::{Database, StoreError, matrix_id};

/// A placeholder notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Its room.
    pub room_id: OwnedRoomId,
    /// Its event.
    pub event_id: OwnedEventId,
    /// It says the message could not be read (no more waiting).
    pub failed: bool,
}

/// A network message's key: (login, chat, sender, message id).
pub type MessageKey<'a> = (&'a str, &'a str, &'a str, &'a str);

impl Database {
    /// The placeholder of the message `key`, if one stands in its place.
    pub async fn placeholder(
        &self,
        key: MessageKey<'_>,
    ) -> Result<Option<Placeholder>, StoreError> {
        let (login, chat, sender, id) = key;
        let row: Option<(String, String, bool)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT room_id, event_id, failed FROM placeholders WHERE login_id = $1 \
                 AND chat_id = $2 AND sender_id = $3 AND message_id = $4",
            )
            .bind(login)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .fetch_optional(p)
            .await?
        });
        let Some((room_id, event_id, failed)) = row else {
            return Ok(None);
        };
        Ok(Some(Placeholder {
            room_id: matrix_id("placeholders", "room_id", id, room_id)?,
            event_id: matrix_id("placeholders", "event_id", id, event_id)?,
            failed,
        }))
    }

    /// Records (or replaces) the placeholder of the message `key`;
    /// `created_at` is unix seconds.
    pub async fn save_placeholder(
        &self,
        key: MessageKey<'_>,
        placeholder: &Placeholder,
        created_at: i64,
    ) -> Result<(), StoreError> {
        let (login, chat, sender, id) = key;
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO placeholders (login_id, chat_id, sender_id, message_id, room_id, \
                 event_id, failed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (login_id, chat_id, sender_id, message_id) DO UPDATE SET \
                 room_id = excluded.room_id, event_id = excluded.event_id, \
                 failed = excluded.failed",
            )
            .bind(login)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .bind(placeholder.room_id.as_str())
            .bind(placeholder.event_id.as_str())
            .bind(placeholder.failed)
            .bind(created_at)
            .execute(p)
            .await
            .map_err(StoreError::on_write("placeholders"))?;
        });
        Ok(())
    }

    /// Forgets the placeholder of the message `key` (the message took its
    /// place).
    pub async fn drop_placeholder(&self, key: MessageKey<'_>) -> Result<(), StoreError> {
        let (login, chat, sender, id) = key;
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "DELETE FROM placeholders WHERE login_id = $1 AND chat_id = $2 \
                 AND sender_id = $3 AND message_id = $4",
            )
            .bind(login)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .execute(p)
            .await
            .map_err(StoreError::on_write("placeholders"))?;
        });
        Ok(())
    }
}
