//! Bridged messages (remote message <-> Matrix event) and handled appservice
//! transactions.

use ruma::{EventId, OwnedEventId, OwnedRoomId};

use super::{Database, StoreError, matrix_id, now_ms};

/// A remote message and the Matrix event it became or came from
/// (`messages` table). Unique by (login, chat, sender, message id), and by
/// event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The login that bridged it.
    pub login_id: String,
    /// The chat's network id; with `login_id`, names an existing [`Portal`](super::Portal).
    pub chat_id: String,
    /// The sender's network id.
    pub sender_id: String,
    /// The message's network id.
    pub message_id: String,
    /// The Matrix room (the portal's).
    pub room_id: OwnedRoomId,
    /// The Matrix event.
    pub event_id: OwnedEventId,
    /// When it was sent (unix ms).
    pub sent_at: i64,
}

type MessageRow = (String, String, String, String, String, String, i64);

const SELECT_MESSAGE: &str = "SELECT login_id, chat_id, sender_id, message_id, room_id, \
     event_id, sent_at FROM messages";

fn message(row: MessageRow) -> Result<Message, StoreError> {
    let (login_id, chat_id, sender_id, message_id, room_id, event_id, sent_at) = row;
    let key = format!("login {login_id}, chat {chat_id}, message {message_id}");
    Ok(Message {
        room_id: matrix_id("messages", "room_id", &key, room_id)?,
        event_id: matrix_id("messages", "event_id", &key, event_id)?,
        login_id,
        chat_id,
        sender_id,
        message_id,
        sent_at,
    })
}

impl Database {
    /// Records a bridged message. Its portal must exist
    /// ([`StoreError::MissingReference`]); the same remote message or event
    /// twice is [`StoreError::Duplicate`].
    pub async fn save_message(&self, m: &Message) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO messages (login_id, chat_id, sender_id, message_id, room_id, \
                 event_id, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&m.login_id)
            .bind(&m.chat_id)
            .bind(&m.sender_id)
            .bind(&m.message_id)
            .bind(m.room_id.as_str())
            .bind(m.event_id.as_str())
            .bind(m.sent_at)
            .execute(p)
            .await
            .map_err(StoreError::on_write("messages"))?;
        });
        Ok(())
    }

    /// The message `message_id` from `sender_id` in chat `chat_id` of login
    /// `login_id`.
    pub async fn message_by_network_id(
        &self,
        login_id: &str,
        chat_id: &str,
        sender_id: &str,
        message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let sql = format!(
            "{SELECT_MESSAGE} WHERE login_id = $1 AND chat_id = $2 AND sender_id = $3 \
             AND message_id = $4"
        );
        let row: Option<MessageRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .bind(sender_id)
                .bind(message_id)
                .fetch_optional(p)
                .await?
        });
        row.map(message).transpose()
    }

    /// The message `message_id` in chat `chat_id` of login `login_id`,
    /// whoever sent it (WhatsApp message ids are random; a reply's or a
    /// reaction's key does not always name the sender the same way).
    pub async fn message_by_id(
        &self,
        login_id: &str,
        chat_id: &str,
        message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let sql = format!(
            "{SELECT_MESSAGE} WHERE login_id = $1 AND chat_id = $2 AND message_id = $3 \
             ORDER BY sent_at LIMIT 1"
        );
        let row: Option<MessageRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .bind(message_id)
                .fetch_optional(p)
                .await?
        });
        row.map(message).transpose()
    }

    /// When the newest bridged message of a chat was sent (unix ms).
    pub async fn newest_message_ts(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let (ts,): (Option<i64>,) = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT MAX(sent_at) FROM messages WHERE login_id = $1 AND chat_id = $2")
                .bind(login_id)
                .bind(chat_id)
                .fetch_one(p)
                .await?
        });
        Ok(ts)
    }

    /// The newest bridged message of a chat (by time sent).
    pub async fn newest_message(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let sql = format!(
            "{SELECT_MESSAGE} WHERE login_id = $1 AND chat_id = $2 AND event_id <> '' \
             ORDER BY sent_at DESC, event_id DESC LIMIT 1"
        );
        let row: Option<MessageRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .fetch_optional(p)
                .await?
        });
        row.map(message).transpose()
    }

    /// A chat's messages not sent by `not_from`, sent after `after` and up
    /// to `up_to` (unix ms), newest first, at most `limit`.
    pub async fn messages_between(
        &self,
        login_id: &str,
        chat_id: &str,
        not_from: &str,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "{SELECT_MESSAGE} WHERE login_id = $1 AND chat_id = $2 AND sender_id <> $3 \
             AND sent_at > $4 AND sent_at <= $5 ORDER BY sent_at DESC, message_id LIMIT $6"
        );
        let rows: Vec<MessageRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .bind(not_from)
                .bind(after)
                .bind(up_to)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(message).collect()
    }

    /// The message bridged as Matrix event `event_id`.
    pub async fn message_by_event(
        &self,
        event_id: &EventId,
    ) -> Result<Option<Message>, StoreError> {
        let sql = format!("{SELECT_MESSAGE} WHERE event_id = $1");
        let row: Option<MessageRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(event_id.as_str())
                .fetch_optional(p)
                .await?
        });
        row.map(message).transpose()
    }

    /// True if appservice transaction `txn_id` was already handled.
    pub async fn transaction_processed(&self, txn_id: &str) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT processed_at FROM appservice_transactions WHERE txn_id = $1")
                .bind(txn_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.is_some())
    }

    /// Records that appservice transaction `txn_id` was handled (now);
    /// marking it again keeps the first time.
    pub async fn mark_transaction_processed(&self, txn_id: &str) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO appservice_transactions (txn_id, processed_at) VALUES ($1, $2) \
                 ON CONFLICT (txn_id) DO NOTHING",
            )
            .bind(txn_id)
            .bind(now_ms())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Forgets transactions handled before `before` (unix ms); returns how
    /// many. The homeserver retries a transaction for hours, not weeks.
    pub async fn prune_transactions(&self, before: i64) -> Result<u64, StoreError> {
        Ok(with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM appservice_transactions WHERE processed_at < $1")
                .bind(before)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }
}
