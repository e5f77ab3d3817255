//! The Signal roles of [`ClientStore`]: peers' identities, our prekeys and
//! signed prekeys, pairwise sessions and group sender keys.
//!
//! Batches (identities, sessions, sender-key holders) are read in one query
//! and written in one transaction: on PostgreSQL one statement over arrays
//! (`unnest`), on SQLite one prepared statement per row inside the
//! transaction (in-process, so that costs no round trips). Reads pass the
//! addresses as one array (PostgreSQL) or one JSON array (SQLite), so a
//! batch of any size is one query.

use std::collections::HashMap;

use async_trait::async_trait;
use wa_client::store::{
    IdentityStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
};
use wa_core::keys::KeyPair;
use wa_core::signal::{PreKey, SignedPreKey};

use super::client::{ClientStore, WaError, backend};
use super::{Pool, StoreError, bytes_col, int_col};

impl ClientStore {
    /// The `(key, value)` rows of `table` for this login whose `key_col` is
    /// one of `keys`, in one query.
    async fn load_many(
        &self,
        table: &str,
        key_col: &str,
        value_col: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, WaError> {
        // Table and column names are constants of this module, never input.
        let rows: Vec<(String, Vec<u8>)> = match &self.pool {
            Pool::Sqlite(p) => {
                let sql = format!(
                    "SELECT {key_col}, {value_col} FROM {table} WHERE login_id = $1 \
                     AND {key_col} IN (SELECT value FROM json_each($2))"
                );
                let json = serde_json::to_string(keys)
                    .map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))?;
                sqlx::query_as(&sql)
                    .bind(&self.login_id)
                    .bind(json)
                    .fetch_all(p)
                    .await
            }
            Pool::Postgres(p) => {
                let sql = format!(
                    "SELECT {key_col}, {value_col} FROM {table} WHERE login_id = $1 \
                     AND {key_col} = ANY($2)"
                );
                sqlx::query_as(&sql)
                    .bind(&self.login_id)
                    .bind(keys)
                    .fetch_all(p)
                    .await
            }
        }
        .map_err(backend)?;
        Ok(rows.into_iter().collect())
    }

    /// Writes `(key, value)` rows of `table` (replacing), all or none. Each
    /// key at most once (the caller keeps the last of duplicates).
    async fn store_many(
        &self,
        table: &str,
        key_col: &str,
        value_col: &str,
        rows: &[(&str, &[u8])],
    ) -> Result<(), WaError> {
        let conflict = format!(
            "ON CONFLICT (login_id, {key_col}) DO UPDATE SET {value_col} = excluded.{value_col}"
        );
        match &self.pool {
            Pool::Sqlite(p) => {
                let sql = format!(
                    "INSERT INTO {table} (login_id, {key_col}, {value_col}) VALUES ($1, $2, $3) \
                     {conflict}"
                );
                let mut tx = p.begin().await.map_err(backend)?;
                for (key, value) in rows {
                    sqlx::query(&sql)
                        .bind(&self.login_id)
                        .bind(key)
                        .bind(value)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)
            }
            Pool::Postgres(p) => {
                let sql = format!(
                    "INSERT INTO {table} (login_id, {key_col}, {value_col}) \
                     SELECT $1, k, v FROM unnest($2::text[], $3::bytea[]) AS t (k, v) {conflict}"
                );
                let keys: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
                let values: Vec<&[u8]> = rows.iter().map(|(_, v)| *v).collect();
                sqlx::query(&sql)
                    .bind(&self.login_id)
                    .bind(keys)
                    .bind(values)
                    .execute(p)
                    .await
                    .map(|_| ())
                    .map_err(backend)
            }
        }
    }

    /// Deletes this login's rows of `table` where every `(column, value)`
    /// matches.
    pub(super) async fn delete_where(
        &self,
        table: &str,
        filter: &[(&str, &str)],
    ) -> Result<u64, WaError> {
        let mut sql = format!("DELETE FROM {table} WHERE login_id = $1");
        for (i, (column, _)) in filter.iter().enumerate() {
            sql.push_str(&format!(" AND {column} = ${}", i + 2));
        }
        with_pool!(&self.pool, |p| {
            let mut q = sqlx::query(&sql).bind(&self.login_id);
            for (_, value) in filter {
                q = q.bind(*value);
            }
            q.execute(p).await.map(|r| r.rows_affected())
        })
        .map_err(backend)
    }
}

/// Keeps the last of each key, in first-seen order.
fn last_of_each<'a>(rows: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<(&'a str, &'a [u8])> {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(&str, &[u8])> = Vec::new();
    for (k, v) in rows {
        match at.get(k) {
            Some(&i) => out[i].1 = v,
            None => {
                at.insert(k, out.len());
                out.push((k, v));
            }
        }
    }
    out
}

#[async_trait]
impl IdentityStore for ClientStore {
    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>, WaError> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT identity_key FROM wa_identities WHERE login_id = $1 AND address = $2",
            )
            .bind(&self.login_id)
            .bind(address)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        let key = || self.key(&format!("address {address}"));
        Ok(row
            .map(|(k,)| bytes_col("wa_identities", &key, "identity_key", &k))
            .transpose()?)
    }

    async fn save_identities(&self, keys: &[(String, [u8; 32])]) -> Result<Vec<bool>, WaError> {
        let addresses: Vec<String> = keys.iter().map(|(a, _)| a.clone()).collect();
        let mut known = self
            .load_many("wa_identities", "address", "identity_key", &addresses)
            .await?;
        let changed = keys
            .iter()
            .map(|(address, key)| {
                let old = known.insert(address.clone(), key.to_vec());
                old.is_some_and(|o| o.as_slice() != key.as_slice())
            })
            .collect();
        let rows = last_of_each(keys.iter().map(|(a, k)| (a.as_str(), k.as_slice())));
        self.store_many("wa_identities", "address", "identity_key", &rows)
            .await?;
        Ok(changed)
    }

    async fn delete_identity(&self, address: &str) -> Result<(), WaError> {
        self.delete_where("wa_identities", &[("address", address)])
            .await
            .map(drop)
    }
}

#[async_trait]
impl PreKeyStore for ClientStore {
    async fn store_prekeys(&self, keys: &[PreKey]) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await.map_err(backend)?;
            for k in keys {
                sqlx::query(
                    "INSERT INTO wa_prekeys (login_id, prekey_id, private_key) VALUES ($1, $2, $3) \
                     ON CONFLICT (login_id, prekey_id) DO UPDATE SET private_key = excluded.private_key",
                )
                .bind(&self.login_id)
                .bind(i64::from(k.id()))
                .bind(k.key_pair().private().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<PreKey>, WaError> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT private_key FROM wa_prekeys WHERE login_id = $1 AND prekey_id = $2",
            )
            .bind(&self.login_id)
            .bind(i64::from(id))
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        let key = || self.key(&format!("prekey {id}"));
        Ok(row
            .map(|(k,)| {
                let private = bytes_col("wa_prekeys", &key, "private_key", &k)?;
                Ok::<_, StoreError>(PreKey::from_parts(id, KeyPair::from_private(private)))
            })
            .transpose()?)
    }

    async fn remove_prekey(&self, id: u32) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM wa_prekeys WHERE login_id = $1 AND prekey_id = $2")
                .bind(&self.login_id)
                .bind(i64::from(id))
                .execute(p)
                .await
                .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn prekey_count(&self) -> Result<usize, WaError> {
        let (n,): (i64,) = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT COUNT(*) FROM wa_prekeys WHERE login_id = $1")
                .bind(&self.login_id)
                .fetch_one(p)
                .await
        })
        .map_err(backend)?;
        Ok(int_col("wa_prekeys", &|| self.key(""), "count", n)?)
    }
}

#[async_trait]
impl SignedPreKeyStore for ClientStore {
    async fn store_signed_prekey(&self, key: &SignedPreKey) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_signed_prekeys (login_id, prekey_id, private_key, signature) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, prekey_id) DO UPDATE \
                 SET private_key = excluded.private_key, signature = excluded.signature",
            )
            .bind(&self.login_id)
            .bind(i64::from(key.id()))
            .bind(key.key_pair().private().as_slice())
            .bind(key.signature().as_slice())
            .execute(p)
            .await
            .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, WaError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT private_key, signature FROM wa_signed_prekeys \
                 WHERE login_id = $1 AND prekey_id = $2",
            )
            .bind(&self.login_id)
            .bind(i64::from(id))
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        let key = || self.key(&format!("signed prekey {id}"));
        const T: &str = "wa_signed_prekeys";
        Ok(row
            .map(|(private, signature)| {
                Ok::<_, StoreError>(SignedPreKey::from_parts(
                    id,
                    KeyPair::from_private(bytes_col(T, &key, "private_key", &private)?),
                    bytes_col(T, &key, "signature", &signature)?,
                ))
            })
            .transpose()?)
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM wa_signed_prekeys WHERE login_id = $1 AND prekey_id = $2")
                .bind(&self.login_id)
                .bind(i64::from(id))
                .execute(p)
                .await
                .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for ClientStore {
    async fn load_sessions(&self, addresses: &[String]) -> Result<Vec<Option<Vec<u8>>>, WaError> {
        let found = self
            .load_many("wa_sessions", "address", "record", addresses)
            .await?;
        Ok(addresses.iter().map(|a| found.get(a).cloned()).collect())
    }

    async fn store_sessions(&self, records: &[(String, Vec<u8>)]) -> Result<(), WaError> {
        let rows = last_of_each(records.iter().map(|(a, r)| (a.as_str(), r.as_slice())));
        self.store_many("wa_sessions", "address", "record", &rows)
            .await
    }

    async fn delete_session(&self, address: &str) -> Result<(), WaError> {
        self.delete_where("wa_sessions", &[("address", address)])
            .await
            .map(drop)
    }
}

#[async_trait]
impl SenderKeyStore for ClientStore {
    async fn load_sender_key(&self, group: &str, sender: &str) -> Result<Option<Vec<u8>>, WaError> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT record FROM wa_sender_keys \
                 WHERE login_id = $1 AND group_id = $2 AND sender = $3",
            )
            .bind(&self.login_id)
            .bind(group)
            .bind(sender)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        Ok(row.map(|(r,)| r))
    }

    async fn store_sender_key(
        &self,
        group: &str,
        sender: &str,
        record: &[u8],
    ) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_sender_keys (login_id, group_id, sender, record) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, group_id, sender) \
                 DO UPDATE SET record = excluded.record",
            )
            .bind(&self.login_id)
            .bind(group)
            .bind(sender)
            .bind(record)
            .execute(p)
            .await
            .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_sender_key(&self, group: &str, sender: &str) -> Result<(), WaError> {
        self.delete_where("wa_sender_keys", &[("group_id", group), ("sender", sender)])
            .await
            .map(drop)
    }

    async fn sender_key_holders(&self, group: &str) -> Result<Vec<String>, WaError> {
        let rows: Vec<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT device FROM wa_sender_key_holders \
                 WHERE login_id = $1 AND group_id = $2 ORDER BY device",
            )
            .bind(&self.login_id)
            .bind(group)
            .fetch_all(p)
            .await
        })
        .map_err(backend)?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    async fn add_sender_key_holders(&self, group: &str, devices: &[String]) -> Result<(), WaError> {
        const INSERT: &str = "INSERT INTO wa_sender_key_holders (login_id, group_id, device)";
        const IGNORE: &str = "ON CONFLICT (login_id, group_id, device) DO NOTHING";
        match &self.pool {
            Pool::Sqlite(p) => {
                let sql = format!("{INSERT} VALUES ($1, $2, $3) {IGNORE}");
                let mut tx = p.begin().await.map_err(backend)?;
                for device in devices {
                    sqlx::query(&sql)
                        .bind(&self.login_id)
                        .bind(group)
                        .bind(device)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)
            }
            Pool::Postgres(p) => {
                let sql = format!(
                    "{INSERT} SELECT DISTINCT $1, $2, d FROM unnest($3::text[]) AS t (d) {IGNORE}"
                );
                sqlx::query(&sql)
                    .bind(&self.login_id)
                    .bind(group)
                    .bind(devices)
                    .execute(p)
                    .await
                    .map(drop)
                    .map_err(backend)
            }
        }
    }

    async fn clear_sender_key_holders(&self, group: &str) -> Result<(), WaError> {
        self.delete_where("wa_sender_key_holders", &[("group_id", group)])
            .await
            .map(drop)
    }
}
