//! `portal_pictures`: which WhatsApp picture a portal's room shows;
//! `contact_pictures`: which picture of a contact a login sees.

use ruma::OwnedMxcUri;

use super::{Database, StoreError};

/// This module's tables keyed by login (dropped with the login).
pub(super) const TABLES: [&str; 1] = ["contact_pictures"];

/// A contact's picture as one login sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPicture {
    /// The picture's id; empty: none, or hidden from the login.
    pub picture_id: String,
    /// The picture on the homeserver, when there is one.
    pub avatar_url: Option<OwnedMxcUri>,
}

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

    /// The picture of contact `network_id` login `login_id` saw last, if
    /// it ever looked.
    pub async fn contact_picture(
        &self,
        login_id: &str,
        network_id: &str,
    ) -> Result<Option<ContactPicture>, StoreError> {
        let row: Option<(String, Option<String>)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT picture_id, avatar_url FROM contact_pictures \
                 WHERE login_id = $1 AND network_id = $2",
            )
            .bind(login_id)
            .bind(network_id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(picture_id, url)| ContactPicture {
            picture_id,
            avatar_url: url.map(OwnedMxcUri::from),
        }))
    }

    /// Records the picture of contact `network_id` login `login_id` sees.
    pub async fn set_contact_picture(
        &self,
        login_id: &str,
        network_id: &str,
        picture: &ContactPicture,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO contact_pictures (login_id, network_id, picture_id, avatar_url) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, network_id) DO UPDATE \
                 SET picture_id = excluded.picture_id, avatar_url = excluded.avatar_url",
            )
            .bind(login_id)
            .bind(network_id)
            .bind(&picture.picture_id)
            .bind(picture.avatar_url.as_ref().map(|u| u.as_str()))
            .execute(p)
            .await
            .map_err(StoreError::on_write("contact_pictures"))?;
        });
        Ok(())
    }

    /// The homeserver's copy of contact `network_id`'s picture
    /// `picture_id`, if some login uploaded it already (ids are only
    /// unique per owner).
    pub async fn uploaded_picture(
        &self,
        network_id: &str,
        picture_id: &str,
    ) -> Result<Option<OwnedMxcUri>, StoreError> {
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT avatar_url FROM contact_pictures WHERE network_id = $1 \
                 AND picture_id = $2 AND avatar_url IS NOT NULL LIMIT 1",
            )
            .bind(network_id)
            .bind(picture_id)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(u,)| OwnedMxcUri::from(u)))
    }

    /// The chats (JID strings) of login `login_id`'s direct chats whose
    /// contact's picture it never looked at (a direct chat is keyed by its
    /// contact's network id).
    pub async fn dm_contacts_without_picture(
        &self,
        login_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT chat_id FROM portals p WHERE login_id = $1 AND kind = 'dm' \
                 AND NOT EXISTS (SELECT 1 FROM contact_pictures c \
                 WHERE c.login_id = p.login_id AND c.network_id = p.chat_id)",
            )
            .bind(login_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|(c,)| c).collect())
    }
}
