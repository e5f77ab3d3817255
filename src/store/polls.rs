//! Polls bridged from WhatsApp (`polls` table): what it takes to read the
//! votes that come later.

use super::{Database, StoreError};

/// A poll: its message secret and option names.
#[derive(Clone, PartialEq, Eq)]
pub struct Poll {
    /// The login that bridged it.
    pub login_id: String,
    /// The chat's network id (with `login_id`, an existing portal).
    pub chat_id: String,
    /// Who sent the poll (network id, bare).
    pub sender_id: String,
    /// The poll message's id.
    pub poll_id: String,
    /// Its `messageSecret`, the key votes are sealed with.
    pub secret: Vec<u8>,
    /// The option names, in order.
    pub options: Vec<String>,
}

impl std::fmt::Debug for Poll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poll")
            .field("chat_id", &self.chat_id)
            .field("poll_id", &self.poll_id)
            .field("options", &self.options.len())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Records `poll` (replacing a row for the same message). Its portal
    /// must exist ([`StoreError::MissingReference`]).
    pub async fn save_poll(&self, poll: &Poll) -> Result<(), StoreError> {
        let options = poll.options.join("\n");
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO polls (login_id, chat_id, sender_id, poll_id, secret, options) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (login_id, chat_id, poll_id) DO UPDATE SET \
                 sender_id = excluded.sender_id, secret = excluded.secret, \
                 options = excluded.options",
            )
            .bind(&poll.login_id)
            .bind(&poll.chat_id)
            .bind(&poll.sender_id)
            .bind(&poll.poll_id)
            .bind(&poll.secret)
            .bind(&options)
            .execute(p)
            .await
            .map_err(StoreError::on_write("polls"))?;
        });
        Ok(())
    }

    /// The poll `poll_id` of a chat.
    pub async fn poll(
        &self,
        login_id: &str,
        chat_id: &str,
        poll_id: &str,
    ) -> Result<Option<Poll>, StoreError> {
        let row: Option<(String, String, String, String, Vec<u8>, String)> =
            with_pool!(&self.pool, |p| {
                sqlx::query_as(
                    "SELECT login_id, chat_id, sender_id, poll_id, secret, options FROM polls \
                     WHERE login_id = $1 AND chat_id = $2 AND poll_id = $3",
                )
                .bind(login_id)
                .bind(chat_id)
                .bind(poll_id)
                .fetch_optional(p)
                .await?
            });
        Ok(row.map(
            |(login_id, chat_id, sender_id, poll_id, secret, options)| Poll {
                login_id,
                chat_id,
                sender_id,
                poll_id,
                secret,
                options: options.lines().map(str::to_owned).collect(),
            },
        ))
    }
}
