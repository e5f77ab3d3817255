//! The app-state role of [`ClientStore`]: the sync keys our phone shared
//! (`wa_app_state_keys`) and each collection's synced state
//! (`wa_app_state_collections`).

use async_trait::async_trait;
use wa_client::store::{AppStateKey, AppStateStore};

use super::bytes_col;
use super::client::{ClientStore, WaError, backend};

const KEYS: &str = "wa_app_state_keys";

/// A `wa_app_state_keys` row: key id, key data, creation (unix ms).
type KeyRow = (Vec<u8>, Vec<u8>, i64);

impl ClientStore {
    fn decode_key(&self, (id, data, created): KeyRow) -> Result<AppStateKey, WaError> {
        let key = || self.key(&format!("app-state key {}", hex(&id)));
        let data = bytes_col(KEYS, &key, "key_data", &data)?;
        Ok(AppStateKey {
            id,
            data,
            timestamp: created,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl AppStateStore for ClientStore {
    async fn store_app_state_keys(&self, keys: &[AppStateKey]) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await.map_err(backend)?;
            for k in keys {
                sqlx::query(
                    "INSERT INTO wa_app_state_keys (login_id, key_id, key_data, created_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, key_id) DO UPDATE \
                     SET key_data = excluded.key_data, created_ms = excluded.created_ms",
                )
                .bind(&self.login_id)
                .bind(k.id.as_slice())
                .bind(k.data.as_slice())
                .bind(k.timestamp)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    async fn app_state_key(&self, id: &[u8]) -> Result<Option<AppStateKey>, WaError> {
        let row: Option<KeyRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT key_id, key_data, created_ms FROM wa_app_state_keys \
                 WHERE login_id = $1 AND key_id = $2",
            )
            .bind(&self.login_id)
            .bind(id)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        row.map(|r| self.decode_key(r)).transpose()
    }

    async fn latest_app_state_key(&self) -> Result<Option<AppStateKey>, WaError> {
        let row: Option<KeyRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT key_id, key_data, created_ms FROM wa_app_state_keys \
                 WHERE login_id = $1 ORDER BY created_ms DESC, key_id DESC LIMIT 1",
            )
            .bind(&self.login_id)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        row.map(|r| self.decode_key(r)).transpose()
    }

    async fn app_state(&self, name: &str) -> Result<Option<Vec<u8>>, WaError> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT state FROM wa_app_state_collections \
                 WHERE login_id = $1 AND collection = $2",
            )
            .bind(&self.login_id)
            .bind(name)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        Ok(row.map(|(s,)| s))
    }

    async fn store_app_state(&self, name: &str, state: &[u8]) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_app_state_collections (login_id, collection, state) \
                 VALUES ($1, $2, $3) ON CONFLICT (login_id, collection) DO UPDATE \
                 SET state = excluded.state",
            )
            .bind(&self.login_id)
            .bind(name)
            .bind(state)
            .execute(p)
            .await
            .map(drop)
        })
        .map_err(backend)
    }

    async fn delete_app_state(&self, name: &str) -> Result<(), WaError> {
        self.delete_where("wa_app_state_collections", &[("collection", name)])
            .await
            .map(drop)
    }
}
