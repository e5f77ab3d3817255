//! The bridge's storage (sqlx): SQLite by default, PostgreSQL for larger
//! installs.
//!
//! One [`Database`] holds two groups of tables, created by numbered,
//! forward-only migrations (`migrations/sqlite`, `migrations/postgres`, run
//! by [`Database::connect`]):
//!
//! - the bridge's own tables, with a typed API on [`Database`]: users and
//!   logins ([`User`], [`Login`]), portals ([`Portal`]), ghosts ([`Ghost`]),
//!   bridged messages ([`Message`]) and handled appservice transactions;
//! - the `wa_*` tables behind [`Database::client_store`], which implements
//!   every role of [`wa_client::Store`] for one login. Their rows are keyed by
//!   the login id, so many users' devices share one database.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` and foreign keys on, so a
//! write is durable when the call returns. Times in the bridge tables are
//! unix milliseconds.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Runs `$body` with `$p` bound to the pool of whichever backend `$pool` is.
/// The body is written once and compiled for each backend, so it may only
/// use SQL and types both understand.
macro_rules! with_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

mod accounts;
pub use prune::{Pruned, SEEN_KEPT_SECONDS, TRANSACTIONS_KEPT_MS};
mod appstate;
mod cache;
mod chat_settings;
mod client;
mod communities;
mod contacts;
mod history;
mod messages;
mod outbound;
mod people;
mod pictures;
mod placeholders;
mod polls;
mod portals;
mod prune;
mod reactions;
mod secrets;
mod signal;
mod tokens;

pub use accounts::{Login, User};
pub use chat_settings::ChatSettings;
pub use client::{ClientStore, LidLearned};
pub use communities::Space;
pub use history::{HistoryChat, HistoryChunk, HistoryMessage};
pub use messages::Message;
pub use people::DirectChat;
pub use pictures::ContactPicture;
pub use placeholders::Placeholder;
pub use polls::{MatrixPoll, Poll};
pub use portals::{Ghost, Portal, PortalKind};
pub use reactions::Reaction;

/// A failure of the bridge's storage.
///
/// Messages name tables, columns and row keys, never stored values or the
/// database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URI is neither `sqlite:…` nor `postgres://…`.
    #[error("unsupported database uri: expected sqlite:PATH, sqlite::memory: or postgres://…")]
    UnsupportedUri,
    /// The database failed (connection, I/O, SQL).
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying the schema migrations failed (or the database was migrated
    /// by a newer or different build).
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row with the same unique key already exists.
    #[error("{table}: a row with this key already exists")]
    Duplicate {
        /// Where the write went.
        table: &'static str,
    },
    /// The row refers to one that does not exist (a message without its
    /// portal, a login without its user).
    #[error("{table}: refers to a row that does not exist")]
    MissingReference {
        /// Where the write went.
        table: &'static str,
    },
    /// A stored row cannot be read back as a valid value.
    #[error("corrupt row in {table} ({key}): {reason}")]
    Corrupt {
        /// The table the row is in.
        table: &'static str,
        /// Which row: its key columns (ids, never secrets).
        key: String,
        /// What is wrong, naming the column.
        reason: String,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Database(e)
    }
}

impl StoreError {
    /// Maps a failed write into `table`: constraint violations get their
    /// own variants.
    fn on_write(table: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate { table },
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::MissingReference { table }
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Reads a Matrix identifier (user, room or event id) back from `table`'s
/// `column`; a value that is not one is [`StoreError::Corrupt`] naming the
/// row by `key`.
fn matrix_id<T>(
    table: &'static str,
    column: &str,
    key: &str,
    value: String,
) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = ruma::IdParseError>,
{
    T::try_from(value).map_err(|e| StoreError::Corrupt {
        table,
        key: key.to_owned(),
        reason: format!("{column}: not a Matrix id ({e})"),
    })
}

impl From<StoreError> for wa_client::StoreError {
    fn from(e: StoreError) -> wa_client::StoreError {
        match e {
            StoreError::Corrupt { .. } => wa_client::StoreError::Corrupt(e.to_string()),
            _ => wa_client::StoreError::Backend(Box::new(e)),
        }
    }
}

/// A pool of one backend; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    fn backend(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }
}

/// The bridge's database: a connection pool with the schema migrated.
/// Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Database {
    pool: Pool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.pool.backend())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects to `uri` and applies any migrations not yet applied.
    ///
    /// `sqlite:PATH` (the file is created if missing), `sqlite::memory:`
    /// (one private in-memory database, for tests) or
    /// `postgres://USER@HOST:PORT/DB` (also `postgresql://`).
    pub async fn connect(uri: &str) -> Result<Database, StoreError> {
        let pool = if uri.starts_with("sqlite:") {
            Pool::Sqlite(connect_sqlite(uri).await?)
        } else if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(uri)?;
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::UnsupportedUri);
        };
        let db = Database { pool };
        db.migrate().await?;
        Ok(db)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.pool.backend()
    }

    /// The wa-client store of one login: every role, rows keyed by
    /// `login_id`. Stores of different logins never see each other's rows.
    pub fn client_store(&self, login_id: &str) -> Arc<dyn wa_client::Store> {
        Arc::new(ClientStore::new(self.pool.clone(), login_id))
    }

    /// [`Database::client_store`], and the pairings of LIDs with phone
    /// numbers it learns from then on, each once, as they are stored.
    pub fn watched_client_store(
        &self,
        login_id: &str,
    ) -> (
        Arc<dyn wa_client::Store>,
        tokio::sync::mpsc::UnboundedReceiver<LidLearned>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut store = ClientStore::new(self.pool.clone(), login_id);
        store.learned = Some(tx);
        (Arc::new(store), rx)
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        with_pool!(&self.pool, |p| p.close().await)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                Migrator::new(Embedded(SQLITE_MIGRATIONS))
                    .await?
                    .run(p)
                    .await?
            }
            Pool::Postgres(p) => {
                Migrator::new(Embedded(POSTGRES_MIGRATIONS))
                    .await?
                    .run(p)
                    .await?
            }
        }
        Ok(())
    }
}

/// Makes the database file, if it does not exist yet, readable by its
/// owner only (0600): it holds every login's keys and messages. SQLite
/// gives its `-wal` and `-shm` files the database file's mode. An existing
/// file readable by others is left as it is, with a warning.
fn private_file(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                tracing::warn!(
                    path = %path.display(),
                    "the database file is readable by other users; it holds every login's keys"
                );
            }
            Ok(_) => {}
            Err(_) => {
                if let Err(e) = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    tracing::debug!(error = %e, "database file not made here");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

async fn connect_sqlite(uri: &str) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(uri)?
        .create_if_missing(true)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30));
    let in_memory = uri.contains(":memory:") || uri.contains("mode=memory");
    if !in_memory {
        private_file(options.get_filename());
    }
    if in_memory {
        // The database lives as long as a connection to it: keep exactly one.
        Ok(SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?)
    } else {
        Ok(SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.journal_mode(SqliteJournalMode::Wal))
            .await?)
    }
}

/// One backend's migrations: (version, description, SQL).
type MigrationList = &'static [(i64, &'static str, &'static str)];

/// `migrations/sqlite`, compiled in.
const SQLITE_MIGRATIONS: MigrationList = &[
    (
        1,
        "bridge",
        include_str!("../migrations/sqlite/0001_bridge.sql"),
    ),
    (
        2,
        "whatsapp store",
        include_str!("../migrations/sqlite/0002_whatsapp_store.sql"),
    ),
    (
        3,
        "app state",
        include_str!("../migrations/sqlite/0003_app_state.sql"),
    ),
    (
        4,
        "history",
        include_str!("../migrations/sqlite/0004_history.sql"),
    ),
    (
        5,
        "chat settings",
        include_str!("../migrations/sqlite/0005_chat_settings.sql"),
    ),
    (
        6,
        "reactions",
        include_str!("../migrations/sqlite/0006_reactions.sql"),
    ),
    (
        7,
        "unacked messages",
        include_str!("../migrations/sqlite/0007_unacked_messages.sql"),
    ),
    (
        8,
        "portal creations",
        include_str!("../migrations/sqlite/0008_portal_creations.sql"),
    ),
    (
        9,
        "polls",
        include_str!("../migrations/sqlite/0009_polls.sql"),
    ),
    (
        10,
        "outbound events",
        include_str!("../migrations/sqlite/0010_outbound_events.sql"),
    ),
    (
        11,
        "matrix polls",
        include_str!("../migrations/sqlite/0011_matrix_polls.sql"),
    ),
    (
        12,
        "push name",
        include_str!("../migrations/sqlite/0012_push_name.sql"),
    ),
    (
        13,
        "poll selectable",
        include_str!("../migrations/sqlite/0013_poll_selectable.sql"),
    ),
    (
        14,
        "privacy tokens",
        include_str!("../migrations/sqlite/0014_privacy_tokens.sql"),
    ),
    (
        15,
        "cstoken salt",
        include_str!("../migrations/sqlite/0015_nct_salt.sql"),
    ),
    (
        16,
        "contact names per login",
        include_str!("../migrations/sqlite/0016_contact_names.sql"),
    ),
    (
        17,
        "message secrets",
        include_str!("../migrations/sqlite/0017_message_secrets.sql"),
    ),
    (
        18,
        "people merged from LID to phone number",
        include_str!("../migrations/sqlite/0018_merged_people.sql"),
    ),
    (
        19,
        "portal pictures",
        include_str!("../migrations/sqlite/0019_portal_pictures.sql"),
    ),
    (
        20,
        "contact pictures per login",
        include_str!("../migrations/sqlite/0020_contact_pictures.sql"),
    ),
    (
        21,
        "communities as spaces",
        include_str!("../migrations/sqlite/0021_community_spaces.sql"),
    ),
    (
        22,
        "placeholders of unreadable messages",
        include_str!("../migrations/sqlite/0022_placeholders.sql"),
    ),
];

/// `migrations/postgres`, compiled in.
const POSTGRES_MIGRATIONS: MigrationList = &[
    (
        1,
        "bridge",
        include_str!("../migrations/postgres/0001_bridge.sql"),
    ),
    (
        2,
        "whatsapp store",
        include_str!("../migrations/postgres/0002_whatsapp_store.sql"),
    ),
    (
        3,
        "app state",
        include_str!("../migrations/postgres/0003_app_state.sql"),
    ),
    (
        4,
        "history",
        include_str!("../migrations/postgres/0004_history.sql"),
    ),
    (
        5,
        "chat settings",
        include_str!("../migrations/postgres/0005_chat_settings.sql"),
    ),
    (
        6,
        "reactions",
        include_str!("../migrations/postgres/0006_reactions.sql"),
    ),
    (
        7,
        "unacked messages",
        include_str!("../migrations/postgres/0007_unacked_messages.sql"),
    ),
    (
        8,
        "portal creations",
        include_str!("../migrations/postgres/0008_portal_creations.sql"),
    ),
    (
        9,
        "polls",
        include_str!("../migrations/postgres/0009_polls.sql"),
    ),
    (
        10,
        "outbound events",
        include_str!("../migrations/postgres/0010_outbound_events.sql"),
    ),
    (
        11,
        "matrix polls",
        include_str!("../migrations/postgres/0011_matrix_polls.sql"),
    ),
    (
        12,
        "push name",
        include_str!("../migrations/postgres/0012_push_name.sql"),
    ),
    (
        13,
        "poll selectable",
        include_str!("../migrations/postgres/0013_poll_selectable.sql"),
    ),
    (
        14,
        "privacy tokens",
        include_str!("../migrations/postgres/0014_privacy_tokens.sql"),
    ),
    (
        15,
        "cstoken salt",
        include_str!("../migrations/postgres/0015_nct_salt.sql"),
    ),
    (
        16,
        "contact names per login",
        include_str!("../migrations/postgres/0016_contact_names.sql"),
    ),
    (
        17,
        "message secrets",
        include_str!("../migrations/postgres/0017_message_secrets.sql"),
    ),
    (
        18,
        "people merged from LID to phone number",
        include_str!("../migrations/postgres/0018_merged_people.sql"),
    ),
    (
        19,
        "portal pictures",
        include_str!("../migrations/postgres/0019_portal_pictures.sql"),
    ),
    (
        20,
        "contact pictures per login",
        include_str!("../migrations/postgres/0020_contact_pictures.sql"),
    ),
    (
        21,
        "communities as spaces",
        include_str!("../migrations/postgres/0021_community_spaces.sql"),
    ),
    (
        22,
        "placeholders of unreadable messages",
        include_str!("../migrations/postgres/0022_placeholders.sql"),
    ),
];

/// Migrations compiled into the binary (sqlx checks their checksums against
/// what was applied, so an edited migration is refused).
#[derive(Debug)]
struct Embedded(MigrationList);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        let list = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    (*sql).into(),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(list) })
    }
}

/// The boxed future [`MigrationSource::resolve`] returns.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A `u64` for a BIGINT column; times past `i64::MAX` saturate.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads an integer column back as `T`, or says which row is corrupt.
fn int_col<T: TryFrom<i64>>(
    table: &'static str,
    key: &dyn Fn() -> String,
    column: &str,
    v: i64,
) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt {
        table,
        key: key(),
        reason: format!("{column}: {v} is out of range"),
    })
}

/// Reads a fixed-size bytes column back, or says which row is corrupt
/// (without quoting the bytes: they may be key material).
fn bytes_col<const N: usize>(
    table: &'static str,
    key: &dyn Fn() -> String,
    column: &str,
    v: &[u8],
) -> Result<[u8; N], StoreError> {
    <[u8; N]>::try_from(v).map_err(|_| StoreError::Corrupt {
        table,
        key: key(),
        reason: format!("{column}: expected {N} bytes, found {}", v.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in a migrations folder is compiled in, in order.
    #[test]
    fn embedded_migrations_match_the_folders() {
        for (dir, list) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            assert_eq!(files.len(), list.len(), "{dir}: {files:?}");
            for (file, (version, _, sql)) in files.iter().zip(list) {
                assert!(file.starts_with(&format!("{version:04}_")), "{dir}/{file}");
                let on_disk = std::fs::read_to_string(path.join(file)).unwrap_or_default();
                assert_eq!(&on_disk, sql, "{dir}/{file}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_uri_is_refused() {
        let err = Database::connect("mysql://secret@host/db").await.err();
        assert!(matches!(err, Some(StoreError::UnsupportedUri)), "{err:?}");
        assert!(!format!("{:?}", err).contains("secret"));
    }
}
