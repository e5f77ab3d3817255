//! WhatsApp chat state mirrored into Matrix (`chat_settings`,
//! `starred_messages` tables): what app state said about each chat, kept
//! until (and after) the chat has a room.

use ruma::{EventId, OwnedEventId};

use super::{Database, StoreError, matrix_id, now_ms};

/// What WhatsApp said about one chat; `None` where it said nothing yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatSettings {
    /// Archived.
    pub archived: Option<bool>,
    /// Pinned.
    pub pinned: Option<bool>,
    /// Muted until (unix ms); -1 forever, 0 not muted.
    pub mute_until: Option<i64>,
    /// Read (`false`: marked unread).
    pub read: Option<bool>,
}

impl ChatSettings {
    /// `self` with every field `newer` has replaced.
    pub fn merged(self, newer: ChatSettings) -> ChatSettings {
        ChatSettings {
            archived: newer.archived.or(self.archived),
            pinned: newer.pinned.or(self.pinned),
            mute_until: newer.mute_until.or(self.mute_until),
            read: newer.read.or(self.read),
        }
    }

    /// Whether the chat is muted at `now_ms`, if known.
    pub fn muted_at(&self, now_ms: i64) -> Option<bool> {
        self.mute_until.map(|t| t == -1 || t > now_ms)
    }
}

/// The tables keyed by login, emptied on logout.
pub(super) const TABLES: [&str; 2] = ["chat_settings", "starred_messages"];

type SettingsRow = (Option<bool>, Option<bool>, Option<i64>, Option<bool>);

impl Database {
    /// Records what WhatsApp said about a chat: the fields `update` has are
    /// replaced, the others kept.
    pub async fn update_chat_settings(
        &self,
        login_id: &str,
        chat_id: &str,
        update: ChatSettings,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO chat_settings (login_id, chat_id, archived, pinned, mute_until, \
                 read, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (login_id, chat_id) DO UPDATE SET \
                 archived = COALESCE(excluded.archived, chat_settings.archived), \
                 pinned = COALESCE(excluded.pinned, chat_settings.pinned), \
                 mute_until = COALESCE(excluded.mute_until, chat_settings.mute_until), \
                 read = COALESCE(excluded.read, chat_settings.read), \
                 updated_at = excluded.updated_at",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(update.archived)
            .bind(update.pinned)
            .bind(update.mute_until)
            .bind(update.read)
            .bind(now_ms())
            .execute(p)
            .await
            .map_err(StoreError::on_write("chat_settings"))?;
        });
        Ok(())
    }

    /// What WhatsApp said about a chat, if anything.
    pub async fn chat_settings(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<ChatSettings>, StoreError> {
        let row: Option<SettingsRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT archived, pinned, mute_until, read FROM chat_settings \
                 WHERE login_id = $1 AND chat_id = $2",
            )
            .bind(login_id)
            .bind(chat_id)
            .fetch_optional(p)
            .await?
        });
        Ok(
            row.map(|(archived, pinned, mute_until, read)| ChatSettings {
                archived,
                pinned,
                mute_until,
                read,
            }),
        )
    }

    /// Records the Matrix event that shows a message's star.
    pub async fn save_star(
        &self,
        login_id: &str,
        chat_id: &str,
        message_id: &str,
        event_id: &EventId,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO starred_messages (login_id, chat_id, message_id, event_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, chat_id, message_id) \
                 DO UPDATE SET event_id = excluded.event_id",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(message_id)
            .bind(event_id.as_str())
            .execute(p)
            .await
            .map_err(StoreError::on_write("starred_messages"))?;
        });
        Ok(())
    }

    /// The event showing a message's star, if it is starred.
    pub async fn star(
        &self,
        login_id: &str,
        chat_id: &str,
        message_id: &str,
    ) -> Result<Option<OwnedEventId>, StoreError> {
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT event_id FROM starred_messages \
                 WHERE login_id = $1 AND chat_id = $2 AND message_id = $3",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(message_id)
            .fetch_optional(p)
            .await?
        });
        let key = || format!("login {login_id}, chat {chat_id}, message {message_id}");
        row.map(|r| matrix_id("starred_messages", "event_id", &key(), r.0))
            .transpose()
    }

    /// Forgets a message's star; true if it was starred.
    pub async fn delete_star(
        &self,
        login_id: &str,
        chat_id: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(&self.pool, |p| {
            sqlx::query(
                "DELETE FROM starred_messages \
                 WHERE login_id = $1 AND chat_id = $2 AND message_id = $3",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(message_id)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
