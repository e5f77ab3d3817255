//! The core's error: what the homeserver or the database refused or could
//! not do, and whether trying again later may succeed.

use crate::appservice::ClientError;
use crate::store::StoreError;

/// Why the core could not do something in Matrix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The homeserver failed or refused.
    #[error("homeserver: {0}")]
    Matrix(#[from] ClientError),
}

impl Error {
    /// Whether trying again later may succeed: the homeserver unreachable,
    /// failing (5xx) or rate-limiting, the database's connection or a
    /// busy database. A refusal (4xx, bad input, a broken row) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store(e) => store_is_transient(e),
            Error::Matrix(e) => matrix_is_transient(e),
        }
    }
}

/// [`Error::is_transient`] for a homeserver error.
pub fn matrix_is_transient(e: &ClientError) -> bool {
    match e {
        ClientError::Network(_) => true,
        ClientError::Matrix(m) => m.status >= 500 || m.status == 429,
        _ => false,
    }
}

/// [`Error::is_transient`] for a database error: the connection or pool,
/// a busy or locked SQLite, PostgreSQL's connection, shutdown and
/// serialization classes (08, 57, 40). A bad value or a broken row does
/// not pass.
pub fn store_is_transient(e: &StoreError) -> bool {
    let StoreError::Database(e) = e else {
        return false;
    };
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            let message = d.message().to_ascii_lowercase();
            matches!(code.as_ref(), "5" | "6" | "261" | "262" | "517")
                || ["08", "57", "40"]
                    .iter()
                    .any(|class| code.starts_with(class) && code.len() == 5)
                || message.contains("database is locked")
                || message.contains("database is busy")
        }
        _ => false,
    }
}
