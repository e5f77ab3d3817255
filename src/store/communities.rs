//! `community_spaces`: the Matrix space of each community a login is in;
//! `community_children`: which of the login's group portals each holds.

use ruma::OwnedRoomId;

use super::{Database, StoreError, matrix_id, now_ms};

/// A community's space, for one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// The community's id on the network (its own group's).
    pub community_id: String,
    /// The space room.
    pub room_id: OwnedRoomId,
    /// The community's name, as the space shows it.
    pub name: String,
}

type SpaceRow = (String, String, String);

fn space(row: SpaceRow) -> Result<Space, StoreError> {
    let (community_id, room_id, name) = row;
    Ok(Space {
        room_id: matrix_id("community_spaces", "room_id", &community_id, room_id)?,
        community_id,
        name,
    })
}

impl Database {
    /// The space of community `community_id` in login `login_id`.
    pub async fn community_space(
        &self,
        login_id: &str,
        community_id: &str,
    ) -> Result<Option<Space>, StoreError> {
        let row: Option<SpaceRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT community_id, room_id, name FROM community_spaces \
                 WHERE login_id = $1 AND community_id = $2",
            )
            .bind(login_id)
            .bind(community_id)
            .fetch_optional(p)
            .await?
        });
        row.map(space).transpose()
    }

    /// The spaces of login `login_id`.
    pub async fn community_spaces(&self, login_id: &str) -> Result<Vec<Space>, StoreError> {
        let rows: Vec<SpaceRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT community_id, room_id, name FROM community_spaces \
                 WHERE login_id = $1 ORDER BY community_id",
            )
            .bind(login_id)
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(space).collect()
    }

    /// Records the space of a community (ending its creation record, as
    /// [`Database::save_portal`] does for a portal).
    pub async fn save_community_space(
        &self,
        login_id: &str,
        space: &Space,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO community_spaces \
                 (login_id, community_id, room_id, name, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (login_id, community_id) \
                 DO UPDATE SET room_id = excluded.room_id, name = excluded.name",
            )
            .bind(login_id)
            .bind(&space.community_id)
            .bind(space.room_id.as_str())
            .bind(&space.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::on_write("community_spaces"))?;
            sqlx::query("DELETE FROM portal_creations WHERE login_id = $1 AND chat_id = $2")
                .bind(login_id)
                .bind(&space.community_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Renames the space of a community.
    pub async fn set_community_name(
        &self,
        login_id: &str,
        community_id: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "UPDATE community_spaces SET name = $3 \
                 WHERE login_id = $1 AND community_id = $2",
            )
            .bind(login_id)
            .bind(community_id)
            .bind(name)
            .execute(p)
            .await
            .map_err(StoreError::on_write("community_spaces"))?;
        });
        Ok(())
    }

    /// The community whose space holds the portal of `chat_id`, if any.
    pub async fn community_of(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<Space>, StoreError> {
        let row: Option<SpaceRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT s.community_id, s.room_id, s.name FROM community_children c \
                 JOIN community_spaces s \
                 ON s.login_id = c.login_id AND s.community_id = c.community_id \
                 WHERE c.login_id = $1 AND c.chat_id = $2",
            )
            .bind(login_id)
            .bind(chat_id)
            .fetch_optional(p)
            .await?
        });
        row.map(space).transpose()
    }

    /// Puts the portal of `chat_id` in the space of `community_id`, or (with
    /// `None`) in none. Both the portal and the space must exist.
    pub async fn set_community_of(
        &self,
        login_id: &str,
        chat_id: &str,
        community_id: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            match community_id {
                Some(community) => sqlx::query(
                    "INSERT INTO community_children (login_id, chat_id, community_id) \
                     VALUES ($1, $2, $3) ON CONFLICT (login_id, chat_id) \
                     DO UPDATE SET community_id = excluded.community_id",
                )
                .bind(login_id)
                .bind(chat_id)
                .bind(community)
                .execute(p)
                .await
                .map_err(StoreError::on_write("community_children"))?,
                None => sqlx::query(
                    "DELETE FROM community_children WHERE login_id = $1 AND chat_id = $2",
                )
                .bind(login_id)
                .bind(chat_id)
                .execute(p)
                .await
                .map_err(StoreError::on_write("community_children"))?,
            };
        });
        Ok(())
    }
}
