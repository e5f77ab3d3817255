//! One person, one key: a WhatsApp account seen first by its LID (its
//! number hidden) and later by its phone number is moved, for one login,
//! from the LID's key to the number's (see `connector/people.rs` for why
//! the number is the key). Rows made by any earlier version are moved the
//! same way, so a database from before this module needs no migration of
//! its own.

use super::{Database, StoreError};

/// This module's tables keyed by login (dropped with the login).
pub(super) const TABLES: [&str; 1] = ["merged_people"];

/// A column holding a chat or user network id, in a table keyed by login:
/// the table, the column, and, when the column is part of the primary key,
/// the key's other columns (a row that would collide with one already
/// under the new id is dropped; the one kept is the one made under the
/// number).
struct IdColumn {
    table: &'static str,
    column: &'static str,
    rest_of_key: Option<&'static [&'static str]>,
}

const fn col(
    table: &'static str,
    column: &'static str,
    rest_of_key: &'static [&'static str],
) -> IdColumn {
    IdColumn {
        table,
        column,
        rest_of_key: Some(rest_of_key),
    }
}

/// Every column of the bridge's own tables naming a chat or a person.
/// (The `wa_*` tables are the client's, keyed as the wire addresses them.)
const ID_COLUMNS: &[IdColumn] = &[
    col("messages", "chat_id", &["sender_id", "message_id"]),
    col("messages", "sender_id", &["chat_id", "message_id"]),
    col(
        "reactions",
        "chat_id",
        &["target_sender_id", "target_message_id", "reactor_id"],
    ),
    col(
        "reactions",
        "target_sender_id",
        &["chat_id", "target_message_id", "reactor_id"],
    ),
    col(
        "reactions",
        "reactor_id",
        &["chat_id", "target_sender_id", "target_message_id"],
    ),
    col("polls", "chat_id", &["poll_id"]),
    IdColumn {
        table: "polls",
        column: "sender_id",
        rest_of_key: None,
    },
    col("history_chats", "chat_id", &[]),
    col("history_messages", "chat_id", &["sender_id", "message_id"]),
    col("history_messages", "sender_id", &["chat_id", "message_id"]),
    col("chat_settings", "chat_id", &[]),
    col("starred_messages", "chat_id", &["message_id"]),
    col("portal_creations", "chat_id", &[]),
    col("contact_names", "network_id", &[]),
    col("contact_pictures", "network_id", &[]),
];

/// What moving a person's rows did to their direct chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectChat {
    /// The login had no chat under the LID.
    None,
    /// The chat (and its room) now has the number's key.
    Moved { room_id: String },
    /// Both keys had a chat: the LID's row is gone, its room is to be
    /// retired in favour of the number's.
    Retired { old_room: String, room_id: String },
}

impl Database {
    /// Moves everything login `login_id` keeps under `lid` (a LID JID) to
    /// `pn` (the same person's phone-number JID), in one transaction: its
    /// direct chat's portal (unless the number has one: then the LID's is
    /// dropped, see [`DirectChat::Retired`]), the messages, reactions,
    /// polls, history, settings and contact names naming either. Other
    /// logins' rows are untouched. Running it twice changes nothing more.
    pub async fn merge_person(
        &self,
        login_id: &str,
        lid: &str,
        pn: &str,
    ) -> Result<DirectChat, StoreError> {
        let mut outcome = DirectChat::None;
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            // A write first, so SQLite takes its write lock now (waiting its
            // turn) rather than failing to upgrade a read later. The room
            // id is unique: the LID's row parks its own while the number's
            // row is added.
            const PARKED: &str = "#moving";
            sqlx::query(&format!(
                "UPDATE portals SET room_id = room_id || '{PARKED}' \
                 WHERE login_id = $1 AND chat_id = $2"
            ))
            .bind(login_id)
            .bind(lid)
            .execute(&mut *tx)
            .await?;
            let room = |chat: &str| {
                sqlx::query_as::<_, (String,)>(
                    "SELECT room_id FROM portals WHERE login_id = $1 AND chat_id = $2",
                )
                .bind(login_id.to_owned())
                .bind(chat.to_owned())
            };
            let old = room(lid).fetch_optional(&mut *tx).await?;
            let old = old.map(|(r,)| r.trim_end_matches(PARKED).to_owned());
            let new = room(pn).fetch_optional(&mut *tx).await?;
            match (old, new) {
                (Some(old_room), Some((room_id,))) => {
                    // Cascades to the rows that hang off the portal.
                    sqlx::query("DELETE FROM portals WHERE login_id = $1 AND chat_id = $2")
                        .bind(login_id)
                        .bind(lid)
                        .execute(&mut *tx)
                        .await?;
                    outcome = DirectChat::Retired { old_room, room_id };
                }
                (Some(room_id), None) => {
                    // The new row; what hangs off the old one moves below,
                    // then the old row goes.
                    sqlx::query(
                        "INSERT INTO portals (login_id, chat_id, room_id, kind, name, topic, \
                         created_at) SELECT login_id, $3, $4, kind, name, topic, created_at \
                         FROM portals WHERE login_id = $1 AND chat_id = $2",
                    )
                    .bind(login_id)
                    .bind(lid)
                    .bind(pn)
                    .bind(&room_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::on_write("portals"))?;
                    outcome = DirectChat::Moved { room_id };
                }
                _ => {}
            }
            for c in ID_COLUMNS {
                let (t, col) = (c.table, c.column);
                // Rows that would collide keep the number's version.
                let drop_clashes = c.rest_of_key.map(|rest| {
                    let clash: String = rest
                        .iter()
                        .map(|k| format!(" AND o.{k} = {t}.{k}"))
                        .collect();
                    format!(
                        "DELETE FROM {t} WHERE login_id = $1 AND {col} = $2 AND EXISTS \
                         (SELECT 1 FROM {t} o WHERE o.login_id = $1 AND o.{col} = $3{clash})"
                    )
                });
                let update =
                    format!("UPDATE {t} SET {col} = $3 WHERE login_id = $1 AND {col} = $2");
                for sql in drop_clashes.iter().chain([&update]) {
                    sqlx::query(sql)
                        .bind(login_id)
                        .bind(lid)
                        .bind(pn)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::on_write(t))?;
                }
            }
            sqlx::query("DELETE FROM portals WHERE login_id = $1 AND chat_id = $2")
                .bind(login_id)
                .bind(lid)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(outcome)
    }

    /// The LIDs (JID strings) login `login_id` may still keep rows under:
    /// its chats keyed by a LID, and the ghosts keyed by a LID whose number
    /// the login knows (ghosts are shared; whether this login shows one is
    /// for the caller to see), less those [merged](Database::merged_person)
    /// for it. Read through the login's own pairings, so a start does not
    /// walk every LID ghost of the bridge.
    pub async fn lid_keyed(&self, login_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT chat_id FROM portals WHERE login_id = $1 AND chat_id LIKE '%@lid' \
                 UNION SELECT g.network_id FROM wa_lid_mappings m \
                 JOIN ghosts g ON g.network_id = m.lid || '@lid' WHERE m.login_id = $1 \
                 AND g.network_id NOT IN (SELECT lid FROM merged_people WHERE login_id = $1)",
            )
            .bind(login_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Records that login `login_id` is done moving `lid` to `pn`: its rows
    /// and its rooms (the ghost swapped), so starts skip it.
    pub async fn merged_person(
        &self,
        login_id: &str,
        lid: &str,
        pn: &str,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO merged_people (login_id, lid, pn) VALUES ($1, $2, $3) \
                 ON CONFLICT (login_id, lid) DO UPDATE SET pn = excluded.pn",
            )
            .bind(login_id)
            .bind(lid)
            .bind(pn)
            .execute(p)
            .await
            .map_err(StoreError::on_write("merged_people"))?;
        });
        Ok(())
    }
}
