//! Portals (a login's remote chat <-> a Matrix room) and ghosts (a remote
//! user <-> a puppet Matrix user).

use ruma::{OwnedMxcUri, OwnedRoomId, RoomId};

use super::{Database, StoreError, matrix_id, now_ms};

/// What kind of chat a portal bridges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalKind {
    /// A chat with one other person.
    Dm,
    /// A group chat.
    Group,
}

impl PortalKind {
    /// The stored form: `dm` or `group`.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalKind::Dm => "dm",
            PortalKind::Group => "group",
        }
    }

    fn parse(s: &str) -> Option<PortalKind> {
        match s {
            "dm" => Some(PortalKind::Dm),
            "group" => Some(PortalKind::Group),
            _ => None,
        }
    }
}

/// A remote chat of one login bridged to a Matrix room (`portals` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    /// The login whose chat it is.
    pub login_id: String,
    /// The chat's network id (a JID string for WhatsApp).
    pub chat_id: String,
    /// The Matrix room; unique.
    pub room_id: OwnedRoomId,
    /// One-to-one or group.
    pub kind: PortalKind,
    /// The room name.
    pub name: String,
    /// The room topic, if any.
    pub topic: Option<String>,
    /// When the portal was made (unix ms); kept when the row is updated.
    pub created_at: i64,
}

/// A remote user puppeted on Matrix (`ghosts` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ghost {
    /// The remote user's network id (string); the key.
    pub network_id: String,
    /// The ghost's Matrix localpart (no `@`, no server); unique.
    pub localpart: String,
    /// The display name last set or to set.
    pub display_name: Option<String>,
    /// The avatar (`mxc://` URL), if any.
    pub avatar_url: Option<OwnedMxcUri>,
    /// True once `display_name` was set on the Matrix profile.
    pub name_set: bool,
    /// The name a user saved for this contact in their address book, if
    /// any: it wins over the contact's own push name.
    pub contact_name: Option<String>,
}

type PortalRow = (String, String, String, String, String, Option<String>, i64);
type GhostRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    bool,
    Option<String>,
);

const SELECT_PORTAL: &str =
    "SELECT login_id, chat_id, room_id, kind, name, topic, created_at FROM portals";
const SELECT_GHOST: &str =
    "SELECT network_id, localpart, display_name, avatar_url, name_set, contact_name FROM ghosts";

fn portal(row: PortalRow) -> Result<Portal, StoreError> {
    let (login_id, chat_id, room_id, kind, name, topic, created_at) = row;
    let key = format!("login {login_id}, chat {chat_id}");
    let Some(kind) = PortalKind::parse(&kind) else {
        return Err(StoreError::Corrupt {
            table: "portals",
            key,
            reason: format!("kind: {kind:?} is neither dm nor group"),
        });
    };
    let room_id = matrix_id("portals", "room_id", &key, room_id)?;
    Ok(Portal {
        login_id,
        chat_id,
        room_id,
        kind,
        name,
        topic,
        created_at,
    })
}

fn ghost(row: GhostRow) -> Ghost {
    Ghost {
        network_id: row.0,
        localpart: row.1,
        display_name: row.2,
        avatar_url: row.3.map(OwnedMxcUri::from),
        name_set: row.4,
        contact_name: row.5,
    }
}

impl Database {
    /// Saves `portal` (inserting, or updating the row of its login and chat;
    /// `created_at` is kept on update) and, in the same transaction, ends
    /// its [creation](Database::start_portal_creation) if one was under
    /// way. The login must exist; a room already bridged to another chat is
    /// [`StoreError::Duplicate`].
    pub async fn save_portal(&self, portal: &Portal) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO portals (login_id, chat_id, room_id, kind, name, topic, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (login_id, chat_id) DO UPDATE \
                 SET room_id = excluded.room_id, kind = excluded.kind, name = excluded.name, \
                 topic = excluded.topic",
            )
            .bind(&portal.login_id)
            .bind(&portal.chat_id)
            .bind(portal.room_id.as_str())
            .bind(portal.kind.as_str())
            .bind(&portal.name)
            .bind(portal.topic.as_deref())
            .bind(portal.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::on_write("portals"))?;
            sqlx::query("DELETE FROM portal_creations WHERE login_id = $1 AND chat_id = $2")
                .bind(&portal.login_id)
                .bind(&portal.chat_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Sets the name of the portal of `chat_id` in login `login_id`, and
    /// nothing else of its row (others may change the rest meanwhile).
    pub async fn set_portal_name(
        &self,
        login_id: &str,
        chat_id: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query("UPDATE portals SET name = $3 WHERE login_id = $1 AND chat_id = $2")
                .bind(login_id)
                .bind(chat_id)
                .bind(name)
                .execute(p)
                .await
                .map_err(StoreError::on_write("portals"))?;
        });
        Ok(())
    }

    /// Sets (or clears) the topic of the portal of `chat_id` in login
    /// `login_id`, and nothing else of its row.
    pub async fn set_portal_topic(
        &self,
        login_id: &str,
        chat_id: &str,
        topic: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query("UPDATE portals SET topic = $3 WHERE login_id = $1 AND chat_id = $2")
                .bind(login_id)
                .bind(chat_id)
                .bind(topic)
                .execute(p)
                .await
                .map_err(StoreError::on_write("portals"))?;
        });
        Ok(())
    }

    /// Records that a room is about to be made for chat `chat_id` of login
    /// `login_id`, carrying `marker` (random), unless a creation is already
    /// recorded. Returns the recorded marker and whether it was already
    /// there: then an earlier run may have made the room and stopped before
    /// [`Database::save_portal`].
    pub async fn start_portal_creation(
        &self,
        login_id: &str,
        chat_id: &str,
        marker: &str,
    ) -> Result<(String, bool), StoreError> {
        let recorded: String = with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO portal_creations (login_id, chat_id, marker, started_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, chat_id) DO NOTHING",
            )
            .bind(login_id)
            .bind(chat_id)
            .bind(marker)
            .bind(now_ms())
            .execute(p)
            .await
            .map_err(StoreError::on_write("portal_creations"))?;
            sqlx::query_scalar(
                "SELECT marker FROM portal_creations WHERE login_id = $1 AND chat_id = $2",
            )
            .bind(login_id)
            .bind(chat_id)
            .fetch_one(p)
            .await?
        });
        let resumed = recorded != marker;
        Ok((recorded, resumed))
    }

    /// The portal of `chat_id` in login `login_id`.
    pub async fn portal(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<Portal>, StoreError> {
        let sql = format!("{SELECT_PORTAL} WHERE login_id = $1 AND chat_id = $2");
        let row: Option<PortalRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(login_id)
                .bind(chat_id)
                .fetch_optional(p)
                .await?
        });
        row.map(portal).transpose()
    }

    /// The portal bridged to Matrix room `room_id`.
    pub async fn portal_by_room(&self, room_id: &RoomId) -> Result<Option<Portal>, StoreError> {
        let sql = format!("{SELECT_PORTAL} WHERE room_id = $1");
        let row: Option<PortalRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(room_id.as_str())
                .fetch_optional(p)
                .await?
        });
        row.map(portal).transpose()
    }

    /// Every portal of login `login_id`, oldest first.
    pub async fn portals_of_login(&self, login_id: &str) -> Result<Vec<Portal>, StoreError> {
        let sql = format!("{SELECT_PORTAL} WHERE login_id = $1 ORDER BY created_at, chat_id");
        let rows: Vec<PortalRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql).bind(login_id).fetch_all(p).await?
        });
        rows.into_iter().map(portal).collect()
    }

    /// Forgets a portal and its messages; true if it existed.
    pub async fn delete_portal(&self, login_id: &str, chat_id: &str) -> Result<bool, StoreError> {
        let n = with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM portals WHERE login_id = $1 AND chat_id = $2")
                .bind(login_id)
                .bind(chat_id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Saves `ghost` (inserting, or updating the row of its network id). A
    /// localpart already used by another ghost is [`StoreError::Duplicate`].
    pub async fn save_ghost(&self, ghost: &Ghost) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO ghosts (network_id, localpart, display_name, avatar_url, name_set, \
                 contact_name) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (network_id) \
                 DO UPDATE SET localpart = excluded.localpart, \
                 display_name = excluded.display_name, avatar_url = excluded.avatar_url, \
                 name_set = excluded.name_set, contact_name = excluded.contact_name",
            )
            .bind(&ghost.network_id)
            .bind(&ghost.localpart)
            .bind(ghost.display_name.as_deref())
            .bind(ghost.avatar_url.as_ref().map(|u| u.as_str()))
            .bind(ghost.name_set)
            .bind(ghost.contact_name.as_deref())
            .execute(p)
            .await
            .map_err(StoreError::on_write("ghosts"))?;
        });
        Ok(())
    }

    /// The ghost of remote user `network_id`.
    pub async fn ghost(&self, network_id: &str) -> Result<Option<Ghost>, StoreError> {
        let sql = format!("{SELECT_GHOST} WHERE network_id = $1");
        let row: Option<GhostRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(network_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(ghost))
    }

    /// The ghost whose Matrix localpart is `localpart`.
    pub async fn ghost_by_localpart(&self, localpart: &str) -> Result<Option<Ghost>, StoreError> {
        let sql = format!("{SELECT_GHOST} WHERE localpart = $1");
        let row: Option<GhostRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(&sql)
                .bind(localpart)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(ghost))
    }
}
