//! Users (Matrix accounts that talk to the bridge) and their logins (remote
//! accounts; one per user for now).

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::{
    Database, StoreError, chat_settings, client, contacts, history, matrix_id, now_ms, people,
    pictures,
};

/// A Matrix user known to the bridge (`users` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The Matrix user id (`@alice:example.org`).
    pub mxid: OwnedUserId,
    /// The user's room with the bridge bot, once made.
    pub management_room: Option<OwnedRoomId>,
    /// When the bridge first saw the user (unix ms).
    pub created_at: i64,
}

/// A remote account logged in by a user (`logins` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The bridge's id for the login; also keys its
    /// [`client_store`](Database::client_store).
    pub login_id: String,
    /// Whose login it is (must be a [`User`]); unique: one per user for now.
    pub mxid: OwnedUserId,
    /// The account's phone number, once known.
    pub phone: Option<String>,
    /// Our device's network id (JID string), once paired.
    pub jid: Option<String>,
    /// When the login was made (unix ms); kept when the row is updated.
    pub created_at: i64,
}

type UserRow = (String, Option<String>, i64);
type LoginRow = (String, String, Option<String>, Option<String>, i64);

fn user(row: UserRow) -> Result<User, StoreError> {
    let (mxid, room, created_at) = row;
    let key = format!("user {mxid}");
    Ok(User {
        management_room: room
            .map(|r| matrix_id("users", "management_room", &key, r))
            .transpose()?,
        mxid: matrix_id("users", "mxid", &key, mxid)?,
        created_at,
    })
}

fn login(row: LoginRow) -> Result<Login, StoreError> {
    let (login_id, mxid, phone, jid, created_at) = row;
    Ok(Login {
        mxid: matrix_id("logins", "mxid", &format!("login {login_id}"), mxid)?,
        login_id,
        phone,
        jid,
        created_at,
    })
}

const SELECT_LOGIN: &str = "SELECT login_id, mxid, phone, jid, created_at FROM logins";

impl Database {
    /// The user `mxid`, created (now, without a management room) if new.
    pub async fn ensure_user(&self, mxid: &UserId) -> Result<User, StoreError> {
        let row: UserRow = with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO users (mxid, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(mxid.as_str())
            .bind(now_ms())
            .execute(p)
            .await
            .map_err(StoreError::on_write("users"))?;
            sqlx::query_as("SELECT mxid, management_room, created_at FROM users WHERE mxid = $1")
                .bind(mxid.as_str())
                .fetch_one(p)
                .await?
        });
        user(row)
    }

    /// The user `mxid`, if known.
    pub async fn user(&self, mxid: &UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT mxid, management_room, created_at FROM users WHERE mxid = $1")
                .bind(mxid.as_str())
                .fetch_optional(p)
                .await?
        });
        row.map(user).transpose()
    }

    /// Sets (or clears) the management room of user `mxid`; false if there
    /// is no such user.
    pub async fn set_management_room(
        &self,
        mxid: &UserId,
        room_id: Option<&RoomId>,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            // A room is one user's management room: whoever held it
            // before (and has left it, or the caller would not be here)
            // loses it.
            sqlx::query(
                "UPDATE users SET management_room = NULL \
                 WHERE management_room = $2 AND mxid <> $1",
            )
            .bind(mxid.as_str())
            .bind(room_id.map(RoomId::as_str))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::on_write("users"))?;
            let n = sqlx::query("UPDATE users SET management_room = $2 WHERE mxid = $1")
                .bind(mxid.as_str())
                .bind(room_id.map(RoomId::as_str))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::on_write("users"))?
                .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }

    /// Saves `login` (inserting, or updating the row with its `login_id`;
    /// `created_at` is kept on update). The user must exist; another login
    /// of the same user is [`StoreError::Duplicate`].
    pub async fn save_login(&self, login: &Login) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO logins (login_id, mxid, phone, jid, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (login_id) DO UPDATE \
                 SET mxid = excluded.mxid, phone = excluded.phone, jid = excluded.jid",
            )
            .bind(&login.login_id)
            .bind(login.mxid.as_str())
            .bind(login.phone.as_deref())
            .bind(login.jid.as_deref())
            .bind(login.created_at)
            .execute(p)
            .await
            .map_err(StoreError::on_write("logins"))?;
        });
        Ok(())
    }

    /// The login `login_id`.
    pub async fn login(&self, login_id: &str) -> Result<Option<Login>, StoreError> {
        let sql = format!("{SELECT_LOGIN} WHERE login_id = $1");
        let row: Option<LoginRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .fetch_optional(p)
                .await?
        });
        row.map(login).transpose()
    }

    /// The login of user `mxid`.
    pub async fn login_of_user(&self, mxid: &UserId) -> Result<Option<Login>, StoreError> {
        let sql = format!("{SELECT_LOGIN} WHERE mxid = $1");
        let row: Option<LoginRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(mxid.as_str())
                .fetch_optional(p)
                .await?
        });
        row.map(login).transpose()
    }

    /// Every login, oldest first: what to reconnect at start.
    pub async fn logins(&self) -> Result<Vec<Login>, StoreError> {
        let sql = format!("{SELECT_LOGIN} ORDER BY created_at, login_id");
        let rows: Vec<LoginRow> =
            with_pool!(&self.pool, |p| sqlx::query_as(&sql).fetch_all(p).await?);
        rows.into_iter().map(login).collect()
    }

    /// Forgets login `login_id` in one transaction: its row, its portals and
    /// messages, and its device's `wa_*` rows (keys, sessions, ...). True if
    /// the login row existed.
    pub async fn delete_login(&self, login_id: &str) -> Result<bool, StoreError> {
        let n = with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            for table in client::TABLES
                .iter()
                .chain(&history::TABLES)
                .chain(&chat_settings::TABLES)
                .chain(&contacts::TABLES)
                .chain(&people::TABLES)
                .chain(&pictures::TABLES)
            {
                // `table` comes from a fixed list, never from input.
                let sql = format!("DELETE FROM {table} WHERE login_id = $1");
                sqlx::query(&sql).bind(login_id).execute(&mut *tx).await?;
            }
            let n = sqlx::query("DELETE FROM logins WHERE login_id = $1")
                .bind(login_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }
}
