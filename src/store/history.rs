//! WhatsApp history received at login (`history_*` tables), kept until the
//! backfill has bridged it.
//!
//! A chunk is written in one transaction before the phone's notification is
//! acknowledged: the phone never sends it again. The backfill reads chats
//! and messages from here, and records per chat the newest message it has
//! bridged, so a restart picks up where it stopped.

use super::{Database, StoreError, now_ms};

/// A chat of the history, merged over the chunks that mention it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryChat {
    /// The chat's network id.
    pub chat_id: String,
    /// Its name (group subject or contact name), if the phone sent one.
    pub name: Option<String>,
    /// Newest activity (unix ms).
    pub last_ts: i64,
    /// Unread messages.
    pub unread: i64,
    /// Archived on the phone.
    pub archived: bool,
    /// Pinned on the phone.
    pub pinned: bool,
    /// Muted until (unix ms; -1 forever), if muted.
    pub mute_until: Option<i64>,
    /// Newest message already bridged (unix ms), if any.
    pub bridged_ts: Option<i64>,
}

/// A message of the history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryMessage {
    /// The chat's network id.
    pub chat_id: String,
    /// The sender's network id.
    pub sender_id: String,
    /// The message's network id.
    pub message_id: String,
    /// Sent by the logged-in account (from any of its devices).
    pub from_me: bool,
    /// When it was sent (unix ms).
    pub ts: i64,
    /// The sender's push name, if known.
    pub push_name: Option<String>,
    /// The message as the network encodes it.
    pub payload: Vec<u8>,
}

/// What a chunk carried, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryChunk {
    /// Id of the notification that announced the chunk.
    pub chunk_id: String,
    /// The network's sync type.
    pub sync_type: i64,
    /// Its place in the sequence, if numbered.
    pub chunk_order: Option<i64>,
    /// Percent of the whole sync, if reported.
    pub progress: Option<i64>,
    /// Chats it mentions.
    pub chats: Vec<HistoryChat>,
    /// Messages it carries.
    pub messages: Vec<HistoryMessage>,
}

type ChatRow = (
    String,
    Option<String>,
    i64,
    i64,
    bool,
    bool,
    Option<i64>,
    Option<i64>,
);

fn chat(row: ChatRow) -> HistoryChat {
    let (chat_id, name, last_ts, unread, archived, pinned, mute_until, bridged_ts) = row;
    HistoryChat {
        chat_id,
        name,
        last_ts,
        unread,
        archived,
        pinned,
        mute_until,
        bridged_ts,
    }
}

type MessageRow = (String, String, String, bool, i64, Option<String>, Vec<u8>);

fn message(row: MessageRow) -> HistoryMessage {
    let (chat_id, sender_id, message_id, from_me, ts, push_name, payload) = row;
    HistoryMessage {
        chat_id,
        sender_id,
        message_id,
        from_me,
        ts,
        push_name,
        payload,
    }
}

const SELECT_CHAT: &str = "SELECT chat_id, name, last_ts, unread, archived, pinned, \
     mute_until, bridged_ts FROM history_chats";

impl Database {
    /// Stores a chunk in one transaction. Returns `false` (and changes
    /// nothing) if a chunk with this id of this login was stored before.
    /// Chats merge with what earlier chunks said (newest activity wins, a
    /// name is kept once known); a message stored before is not doubled.
    pub async fn save_history_chunk(
        &self,
        login_id: &str,
        chunk: &HistoryChunk,
    ) -> Result<bool, StoreError> {
        let stored = with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            let new = sqlx::query(
                "INSERT INTO history_chunks (login_id, chunk_id, sync_type, chunk_order, \
                 progress, stored_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (login_id, chunk_id) DO NOTHING",
            )
            .bind(login_id)
            .bind(&chunk.chunk_id)
            .bind(chunk.sync_type)
            .bind(chunk.chunk_order)
            .bind(chunk.progress)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::on_write("history_chunks"))?
            .rows_affected()
                == 1;
            if new {
                for c in &chunk.chats {
                    sqlx::query(
                        "INSERT INTO history_chats (login_id, chat_id, name, last_ts, unread, \
                         archived, pinned, mute_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (login_id, chat_id) DO UPDATE SET \
                         name = COALESCE(excluded.name, history_chats.name), \
                         last_ts = CASE WHEN excluded.last_ts > history_chats.last_ts \
                           THEN excluded.last_ts ELSE history_chats.last_ts END, \
                         unread = excluded.unread, archived = excluded.archived, \
                         pinned = excluded.pinned, mute_until = excluded.mute_until",
                    )
                    .bind(login_id)
                    .bind(&c.chat_id)
                    .bind(&c.name)
                    .bind(c.last_ts)
                    .bind(c.unread)
                    .bind(c.archived)
                    .bind(c.pinned)
                    .bind(c.mute_until)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::on_write("history_chats"))?;
                }
                for m in &chunk.messages {
                    sqlx::query(
                        "INSERT INTO history_messages (login_id, chat_id, sender_id, \
                         message_id, from_me, ts, push_name, payload) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (login_id, chat_id, sender_id, message_id) DO NOTHING",
                    )
                    .bind(login_id)
                    .bind(&m.chat_id)
                    .bind(&m.sender_id)
                    .bind(&m.message_id)
                    .bind(m.from_me)
                    .bind(m.ts)
                    .bind(&m.push_name)
                    .bind(&m.payload)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::on_write("history_messages"))?;
                }
            }
            tx.commit().await?;
            new
        });
        Ok(stored)
    }

    /// Whether the chunk `chunk_id` of `login_id` was stored before (a
    /// redelivered notification needs no download).
    pub async fn history_chunk_stored(
        &self,
        login_id: &str,
        chunk_id: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = with_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT 1 FROM history_chunks WHERE login_id = $1 AND chunk_id = $2")
                .bind(login_id)
                .bind(chunk_id)
                .fetch_optional(p)
                .await?
        });
        Ok(found.is_some())
    }

    /// The `limit` chats of `login_id` with the newest activity, newest
    /// first.
    pub async fn recent_history_chats(
        &self,
        login_id: &str,
        limit: u32,
    ) -> Result<Vec<HistoryChat>, StoreError> {
        let sql =
            format!("{SELECT_CHAT} WHERE login_id = $1 ORDER BY last_ts DESC, chat_id LIMIT $2");
        let rows: Vec<ChatRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(chat).collect())
    }

    /// One chat of the history.
    pub async fn history_chat(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<HistoryChat>, StoreError> {
        let sql = format!("{SELECT_CHAT} WHERE login_id = $1 AND chat_id = $2");
        let row: Option<ChatRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(chat))
    }

    /// The newest `limit` messages of a chat sent after `after_ts` (unix
    /// ms; `None`: from the start), oldest first (ties by id, so the order
    /// is the same on every run).
    pub async fn history_messages(
        &self,
        login_id: &str,
        chat_id: &str,
        after_ts: Option<i64>,
        limit: u32,
    ) -> Result<Vec<HistoryMessage>, StoreError> {
        let sql = "SELECT chat_id, sender_id, message_id, from_me, ts, push_name, payload \
                   FROM history_messages WHERE login_id = $1 AND chat_id = $2 AND ts > $3 \
                   ORDER BY ts DESC, message_id DESC LIMIT $4";
        let rows: Vec<MessageRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(sql)
                .bind(login_id)
                .bind(chat_id)
                .bind(after_ts.unwrap_or(i64::MIN))
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        let mut messages: Vec<HistoryMessage> = rows.into_iter().map(message).collect();
        messages.reverse();
        Ok(messages)
    }

    /// Records that a chat's history is bridged up to `ts` (unix ms); an
    /// older `ts` than recorded changes nothing.
    pub async fn set_history_bridged(
        &self,
        login_id: &str,
        chat_id: &str,
        ts: i64,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "UPDATE history_chats SET bridged_ts = $3 WHERE login_id = $1 \
                 AND chat_id = $2 AND (bridged_ts IS NULL OR bridged_ts < $3)",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(ts)
            .execute(p)
            .await
            .map_err(StoreError::on_write("history_chats"))?;
        });
        Ok(())
    }

    /// How many chunks, chats and messages of history `login_id` has stored.
    pub async fn history_counts(&self, login_id: &str) -> Result<(i64, i64, i64), StoreError> {
        let mut counts = [0i64; 3];
        for (i, table) in ["history_chunks", "history_chats", "history_messages"]
            .iter()
            .enumerate()
        {
            // `table` comes from the fixed list above, never from input.
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE login_id = $1");
            let (n,): (i64,) = with_pool!(&self.pool, |p| {
                sqlx::query_as(&sql).bind(login_id).fetch_one(p).await?
            });
            if let Some(slot) = counts.get_mut(i) {
                *slot = n;
            }
        }
        Ok((counts[0], counts[1], counts[2]))
    }
}

/// The history tables, emptied per login when it logs out.
pub(super) const TABLES: [&str; 3] = ["history_chunks", "history_chats", "history_messages"];
