//! `portal_pictures`: which WhatsApp picture a portal's room shows.

use super::{Database, StoreError};

impl Database {
    /// The id of the picture the room of `chat_id` (login `login_id`)
    /// shows, if one was set from WhatsApp.
    pub async fn portal_picture(
        &self,
        login_id: &str,
        chat_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT picture_id FROM portal_pictures WHERE login_id = $1 AND chat_id = $2",
            )
            .bind(login_id)
            .bind(chat_id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(id,)| id))
    }

    /// Records that the room of `chat_id` shows picture `picture_id`
    /// (`None`: none). The portal must exist.
    pub async fn set_portal_picture(
        &self,
        login_id: &str,
        chat_id: &str,
        picture_id: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            match picture_id {
                Some(id) => sqlx::query(
                    "INSERT INTO portal_pictures (login_id, chat_id, picture_id) \
                     VALUES ($1, $2, $3) ON CONFLICT (login_id, chat_id) \
                     DO UPDATE SET picture_id = excluded.picture_id",
                )
                .bind(login_id)
                .bind(chat_id)
                .bind(id)
                .execute(p)
                .await
                .map_err(StoreError::on_write("portal_pictures"))?,
                None => {
                    sqlx::query("DELETE FROM portal_pictures WHERE login_id = $1 AND chat_id = $2")
                        .bind(login_id)
                        .bind(chat_id)
                        .execute(p)
                        .await
                        .map_err(StoreError::on_write("portal_pictures"))?
                }
            };
        });
        Ok(())
    }
}
