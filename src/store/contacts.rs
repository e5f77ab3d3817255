//! The names users gave their contacts (`contact_names`): each user's own,
//! shown in their rooms only.

use super::{Database, StoreError};

/// The tables keyed by login, emptied on logout.
pub(super) const TABLES: [&str; 1] = ["contact_names"];

impl Database {
    /// Sets (or, with `None`, forgets) the name login `login_id`'s user
    /// gave the contact `network_id`.
    pub async fn set_contact_name(
        &self,
        login_id: &str,
        network_id: &str,
        name: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| {
            match name {
                Some(name) => sqlx::query(
                    "INSERT INTO contact_names (login_id, network_id, name) VALUES ($1, $2, $3) \
                     ON CONFLICT (login_id, network_id) DO UPDATE SET name = excluded.name",
                )
                .bind(login_id)
                .bind(network_id)
                .bind(name)
                .execute(p)
                .await
                .map_err(StoreError::on_write("contact_names"))?,
                None => {
                    sqlx::query("DELETE FROM contact_names WHERE login_id = $1 AND network_id = $2")
                        .bind(login_id)
                        .bind(network_id)
                        .execute(p)
                        .await
                        .map_err(StoreError::on_write("contact_names"))?
                }
            };
        });
        Ok(())
    }

    /// The name login `login_id`'s user gave the contact `network_id`.
    pub async fn contact_name(
        &self,
        login_id: &str,
        network_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT name FROM contact_names WHERE login_id = $1 AND network_id = $2")
                .bind(login_id)
                .bind(network_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(name,)| name))
    }

    /// The logins whose users gave the contact `network_id` a name.
    pub async fn logins_naming(&self, network_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT login_id FROM contact_names WHERE network_id = $1 UNION \
                 SELECT login_id FROM contact_pictures WHERE network_id = $1 \
                 AND avatar_url IS NOT NULL",
            )
            .bind(network_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|(l,)| l).collect())
    }
}
