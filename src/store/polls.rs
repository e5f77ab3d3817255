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
    /// How many options a voter may choose; 0 for any number.
    pub selectable: u32,
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
        // A JSON array: an option may hold any character. Rows written
        // before hold one option per line (see `options_of`).
        let options = serde_json::Value::from(poll.options.clone()).to_string();
        let answer_ids = poll
            .matrix
            .as_ref()
            .map(|m| serde_json::Value::from(m.answer_ids.clone()).to_string());
        let response_type = poll.matrix.as_ref().map(|m| m.response_type.as_str());
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO polls (login_id, chat_id, sender_id, poll_id, secret, options, \
                 answer_ids, response_type, selectable) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (login_id, chat_id, poll_id) DO UPDATE SET \
                 sender_id = excluded.sender_id, secret = excluded.secret, \
                 options = excluded.options, answer_ids = excluded.answer_ids, \
                 response_type = excluded.response_type, selectable = excluded.selectable",
            )
            .bind(&poll.login_id)
            .bind(&poll.chat_id)
            .bind(&poll.sender_id)
            .bind(&poll.poll_id)
            .bind(&poll.secret)
            .bind(&options)
            .bind(&answer_ids)
            .bind(response_type)
            .bind(i64::from(poll.selectable))
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
                 response_type, selectable FROM polls \
                 WHERE login_id = $1 AND chat_id = $2 AND poll_id = $3",
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
    Option<i64>,
);

/// The poll of a row; answer ids that are not one per option are corrupt.
fn poll_of(row: PollRow) -> Result<Poll, StoreError> {
    let (
        login_id,
        chat_id,
        sender_id,
        poll_id,
        secret,
        options,
        answer_ids,
        response_type,
        selectable,
    ) = row;
    let options = options_of(&options);
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
        // Out of range is as good as "any number".
        selectable: selectable.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        matrix,
    })
}

/// The option names of an `options` column: a JSON array of strings, or in
/// rows written before that, one name per line.
fn options_of(column: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(column)
        .unwrap_or_else(|_| column.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_json_and_old_rows_are_lines() {
        let names = vec!["two\nlines".to_owned(), String::new(), "x\r".to_owned()];
        let column = serde_json::Value::from(names.clone()).to_string();
        assert_eq!(options_of(&column), names);
        assert_eq!(
            options_of("Tuesday\nFriday, late"),
            ["Tuesday", "Friday, late"]
        );
    }
}
