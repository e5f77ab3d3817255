//! The privacy-token role of [`ClientStore`]: the trusted-contact tokens
//! contacts gave us, and when we last issued ours to each.

use async_trait::async_trait;
use wa_client::store::{PrivacyToken, PrivacyTokenStore};

use super::client::{ClientStore, WaError, backend};
use super::{int_col, to_i64};

#[async_trait]
impl PrivacyTokenStore for ClientStore {
    async fn store_privacy_token(
        &self,
        user: &str,
        token: &[u8],
        timestamp: u64,
    ) -> Result<bool, WaError> {
        // A token the contact issued earlier than the stored one is stale.
        let stored = with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_privacy_tokens (login_id, user_id, token, issued_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, user_id) DO UPDATE \
                 SET token = excluded.token, issued_at = excluded.issued_at \
                 WHERE wa_privacy_tokens.issued_at <= excluded.issued_at",
            )
            .bind(&self.login_id)
            .bind(user)
            .bind(token)
            .bind(to_i64(timestamp))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(backend)?;
        Ok(stored == 1)
    }

    async fn privacy_token(&self, user: &str) -> Result<Option<PrivacyToken>, WaError> {
        let row: Option<(Vec<u8>, i64)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT token, issued_at FROM wa_privacy_tokens \
                 WHERE login_id = $1 AND user_id = $2",
            )
            .bind(&self.login_id)
            .bind(user)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        let Some((token, issued_at)) = row else {
            return Ok(None);
        };
        let key = || self.key(&format!("user {user}"));
        Ok(Some(PrivacyToken {
            token,
            timestamp: int_col("wa_privacy_tokens", &key, "issued_at", issued_at)?,
        }))
    }

    async fn token_issued_at(&self, user: &str) -> Result<Option<u64>, WaError> {
        let row: Option<(i64,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT issued_at FROM wa_issued_privacy_tokens \
                 WHERE login_id = $1 AND user_id = $2",
            )
            .bind(&self.login_id)
            .bind(user)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        let key = || self.key(&format!("user {user}"));
        Ok(row
            .map(|(at,)| int_col("wa_issued_privacy_tokens", &key, "issued_at", at))
            .transpose()?)
    }

    async fn set_token_issued_at(&self, user: &str, at: u64) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_issued_privacy_tokens (login_id, user_id, issued_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (login_id, user_id) DO UPDATE \
                 SET issued_at = excluded.issued_at",
            )
            .bind(&self.login_id)
            .bind(user)
            .bind(to_i64(at))
            .execute(p)
            .await
            .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn prune_privacy_tokens(&self, before: u64) -> Result<usize, WaError> {
        let deleted = with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM wa_privacy_tokens WHERE login_id = $1 AND issued_at < $2")
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
