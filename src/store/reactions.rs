//! Bridged reactions (`reactions` table): one per reactor per message, with
//! the Matrix `m.reaction` event that shows it.

use ruma::{EventId, OwnedEventId, OwnedRoomId};

use super::{Database, StoreError, matrix_id};

/// A reaction and its Matrix event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// The login that bridged it.
    pub login_id: String,
    /// The chat's network id (with `login_id`, an existing portal).
    pub chat_id: String,
    /// The reacted-to message's sender (network id).
    pub target_sender_id: String,
    /// The reacted-to message's network id.
    pub target_message_id: String,
    /// Who reacted (network id).
    pub reactor_id: String,
    /// The emoji.
    pub emoji: String,
    /// The Matrix room.
    pub room_id: OwnedRoomId,
    /// The `m.reaction` event.
    pub event_id: OwnedEventId,
    /// When it was made (unix ms).
    pub sent_at: i64,
}

type ReactionRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
);

const SELECT_REACTION: &str = "SELECT login_id, chat_id, target_sender_id, target_message_id, \
     reactor_id, emoji, room_id, event_id, sent_at FROM reactions";

fn reaction(row: ReactionRow) -> Result<Reaction, StoreError> {
    let (
        login_id,
        chat_id,
        target_sender_id,
        target_message_id,
        reactor_id,
        emoji,
        room_id,
        event_id,
        sent_at,
    ) = row;
    let key = format!("login {login_id}, chat {chat_id}, message {target_message_id}");
    Ok(Reaction {
        room_id: matrix_id("reactions", "room_id", &key, room_id)?,
        event_id: matrix_id("reactions", "event_id", &key, event_id)?,
        login_id,
        chat_id,
        target_sender_id,
        target_message_id,
        reactor_id,
        emoji,
        sent_at,
    })
}

impl Database {
    /// Records `r`, replacing the reactor's earlier reaction to the same
    /// message. Its portal must exist ([`StoreError::MissingReference`]); an
    /// event id already used by another reaction is [`StoreError::Duplicate`].
    pub async fn save_reaction(&self, r: &Reaction) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO reactions (login_id, chat_id, target_sender_id, target_message_id, \
                 reactor_id, emoji, room_id, event_id, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (login_id, chat_id, target_sender_id, target_message_id, reactor_id) \
                 DO UPDATE SET emoji = excluded.emoji, room_id = excluded.room_id, \
                 event_id = excluded.event_id, sent_at = excluded.sent_at",
            )
            .bind(&r.login_id)
            .bind(&r.chat_id)
            .bind(&r.target_sender_id)
            .bind(&r.target_message_id)
            .bind(&r.reactor_id)
            .bind(&r.emoji)
            .bind(r.room_id.as_str())
            .bind(r.event_id.as_str())
            .bind(r.sent_at)
            .execute(p)
            .await
            .map_err(StoreError::on_write("reactions"))?;
        });
        Ok(())
    }

    /// The reaction of `reactor_id` to message `target_message_id` (from
    /// `target_sender_id`) in a chat.
    pub async fn reaction(
        &self,
        login_id: &str,
        chat_id: &str,
        target_sender_id: &str,
        target_message_id: &str,
        reactor_id: &str,
    ) -> Result<Option<Reaction>, StoreError> {
        let sql = format!(
            "{SELECT_REACTION} WHERE login_id = $1 AND chat_id = $2 AND target_sender_id = $3 \
             AND target_message_id = $4 AND reactor_id = $5"
        );
        let row: Option<ReactionRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .bind(target_sender_id)
                .bind(target_message_id)
                .bind(reactor_id)
                .fetch_optional(p)
                .await?
        });
        row.map(reaction).transpose()
    }

    /// The reaction shown by Matrix event `event_id`.
    pub async fn reaction_by_event(
        &self,
        event_id: &EventId,
    ) -> Result<Option<Reaction>, StoreError> {
        let sql = format!("{SELECT_REACTION} WHERE event_id = $1");
        let row: Option<ReactionRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(event_id.as_str())
                .fetch_optional(p)
                .await?
        });
        row.map(reaction).transpose()
    }

    /// Forgets the reaction shown by `event_id`; true if there was one.
    pub async fn delete_reaction(&self, event_id: &EventId) -> Result<bool, StoreError> {
        Ok(with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM reactions WHERE event_id = $1")
                .bind(event_id.as_str())
                .execute(p)
                .await?
                .rows_affected()
        }) > 0)
    }
}
