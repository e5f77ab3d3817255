//! Polls bridged either way (`polls` table): what it takes to read and to
//! seal the votes that come later.

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
    /// For a poll started in Matrix: its answers' ids and how votes on it
    /// are shown there.
    pub matrix: Option<MatrixPoll>,
}

/// What the Matrix side of a poll started there names things by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixPoll {
    /// The answer ids, one per option, in order.
    pub answer_ids: Vec<String>,
    /// The event type of a vote on it (unstable or stable MSC3381).
    pub response_type: String,
}

impl std::fmt::Debug for Poll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poll")
            .field("chat_id", &self.chat_id)
            .field("poll_id", &self.poll_id)
            .field("options", &self.options.len())
            .field("matrix", &self.matrix.is_some())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Records `poll` (replacing a row for the same message). Its portal
    /// must exist ([`StoreError::MissingReference`]).
    pub async fn save_poll(&self, poll: &Poll) -> Result<(), StoreError> {
        let options = poll.options.join("\n");
        let answer_ids = poll
            .matrix
            .as_ref()
            .map(|m| serde_json::Value::from(m.answer_ids.clone()).to_string());
        let response_type = poll.matrix.as_ref().map(|m| m.response_type.as_str());
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO polls (login_id, chat_id, sender_id, poll_id, secret, options, \
                 answer_ids, response_type) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (login_id, chat_id, poll_id) DO UPDATE SET \
                 sender_id = excluded.sender_id, secret = excluded.secret, \
                 options = excluded.options, answer_ids = excluded.answer_ids, \
                 response_type = excluded.response_type",
            )
            .bind(&poll.login_id)
            .bind(&poll.chat_id)
            .bind(&poll.sender_id)
            .bind(&poll.poll_id)
            .bind(&poll.secret)
            .bind(&options)
            .bind(&answer_ids)
            .bind(response_type)
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
        let row: Option<PollRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT login_id, chat_id, sender_id, poll_id, secret, options, answer_ids, \
                 response_type FROM polls WHERE login_id = $1 AND chat_id = $2 AND poll_id = $3",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(poll_id)
            .fetch_optional(p)
            .await?
        });
        row.map(poll_of).transpose()
    }
}

type PollRow = (
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    Option<String>,
    Option<String>,
);

/// The poll of a row; answer ids that are not one per option are corrupt.
fn poll_of(row: PollRow) -> Result<Poll, StoreError> {
    let (login_id, chat_id, sender_id, poll_id, secret, options, answer_ids, response_type) = row;
    let options: Vec<String> = options.lines().map(str::to_owned).collect();
    let matrix = match (answer_ids, response_type) {
        (Some(ids), Some(response_type)) => {
            let answer_ids = serde_json::from_str::<Vec<String>>(&ids)
                .ok()
                .filter(|ids| ids.len() == options.len())
                .ok_or_else(|| StoreError::Corrupt {
                    table: "polls",
                    key: format!("{login_id} {chat_id} {poll_id}"),
                    reason: "answer_ids is not one id per option".to_owned(),
                })?;
            Some(MatrixPoll {
                answer_ids,
                response_type,
            })
        }
        _ => None,
    };
    Ok(Poll {
        login_id,
        chat_id,
        sender_id,
        poll_id,
        secret,
        options,
        matrix,
    })
}
