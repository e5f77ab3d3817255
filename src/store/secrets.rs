//! The message-secret role of [`ClientStore`]: the `messageSecret` of each
//! message that carried one, which opens the add-ons sealed with it later.

use async_trait::async_trait;
use wa_client::store::{MessageSecret, MessageSecretStore};

use super::client::{ClientStore, WaError, backend};
use super::to_i64;

#[async_trait]
impl MessageSecretStore for ClientStore {
    async fn store_message_secrets(&self, secrets: &[MessageSecret]) -> Result<(), WaError> {
        if secrets.is_empty() {
            return Ok(());
        }
        // One transaction for a history chunk's worth; the first secret of
        // a message stays.
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await.map_err(backend)?;
            for m in secrets {
                sqlx::query(
                    "INSERT INTO wa_message_secrets \
                     (login_id, chat_id, sender_id, message_id, secret, stored_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (login_id, chat_id, sender_id, message_id) DO NOTHING",
                )
                .bind(&self.login_id)
                .bind(&m.chat)
                .bind(&m.sender)
                .bind(&m.id)
                .bind(&m.secret)
                .bind(to_i64(m.at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    async fn message_secret(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, WaError> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT secret FROM wa_message_secrets WHERE login_id = $1 \
                 AND chat_id = $2 AND sender_id = $3 AND message_id = $4",
            )
            .bind(&self.login_id)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        Ok(row.map(|(s,)| s))
    }

    async fn prune_message_secrets(&self, before: u64) -> Result<usize, WaError> {
        let deleted = with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM wa_message_secrets WHERE login_id = $1 AND stored_at < $2")
                .bind(&self.login_id)
                .bind(to_i64(before))
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(backend)?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }
}
