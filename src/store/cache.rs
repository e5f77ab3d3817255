//! The caching roles of [`ClientStore`]: device lists, the LID <-> phone
//! number mapping, and message dedupe.

use async_trait::async_trait;
use wa_client::store::{CachedDevices, DedupeStore, DeviceListStore, LidStore};

use super::client::{ClientStore, LidLearned, WaError, backend};
use super::{StoreError, int_col, to_i64};

/// Device ids as stored: comma-separated decimals.
fn encode_devices(devices: &[u16]) -> String {
    devices
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_devices(text: &str) -> Result<Vec<u16>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|d| {
            d.parse::<u16>()
                .map_err(|_| format!("devices: {d:?} is not a device id"))
        })
        .collect()
}

#[async_trait]
impl DeviceListStore for ClientStore {
    async fn load_devices(&self, user: &str) -> Result<Option<CachedDevices>, WaError> {
        let row: Option<(String, i64)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT devices, fetched_at FROM wa_device_lists \
                 WHERE login_id = $1 AND user_id = $2",
            )
            .bind(&self.login_id)
            .bind(user)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        let Some((devices, fetched)) = row else {
            return Ok(None);
        };
        const T: &str = "wa_device_lists";
        let key = || self.key(&format!("user {user}"));
        let devices = decode_devices(&devices).map_err(|reason| StoreError::Corrupt {
            table: T,
            key: key(),
            reason,
        })?;
        Ok(Some(CachedDevices {
            devices,
            fetched: int_col(T, &key, "fetched_at", fetched)?,
        }))
    }

    async fn store_devices(&self, user: &str, devices: &CachedDevices) -> Result<(), WaError> {
        let list = encode_devices(&devices.devices);
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_device_lists (login_id, user_id, devices, fetched_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (login_id, user_id) DO UPDATE \
                 SET devices = excluded.devices, fetched_at = excluded.fetched_at",
            )
            .bind(&self.login_id)
            .bind(user)
            .bind(&list)
            .bind(to_i64(devices.fetched))
            .execute(p)
            .await
            .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_devices(&self, user: &str) -> Result<(), WaError> {
        self.delete_where("wa_device_lists", &[("user_id", user)])
            .await
            .map(drop)
    }
}

#[async_trait]
impl LidStore for ClientStore {
    async fn store_lid_mapping(&self, pn: &str, lid: &str) -> Result<(), WaError> {
        // Most stanzas repeat a pairing already known: nothing to write.
        if self.lid_for_pn(pn).await?.as_deref() == Some(lid) {
            return Ok(());
        }
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await.map_err(backend)?;
            // Either side may have moved: forget both old pairings first.
            sqlx::query(
                "DELETE FROM wa_lid_mappings WHERE login_id = $1 AND (pn = $2 OR lid = $3)",
            )
            .bind(&self.login_id)
            .bind(pn)
            .bind(lid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query("INSERT INTO wa_lid_mappings (login_id, pn, lid) VALUES ($1, $2, $3)")
                .bind(&self.login_id)
                .bind(pn)
                .bind(lid)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)
        })?;
        if let Some(learned) = &self.learned {
            let _ = learned.send(LidLearned {
                pn: pn.to_owned(),
                lid: lid.to_owned(),
            });
        }
        Ok(())
    }

    async fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, WaError> {
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT lid FROM wa_lid_mappings WHERE login_id = $1 AND pn = $2")
                .bind(&self.login_id)
                .bind(pn)
                .fetch_optional(p)
                .await
        })
        .map_err(backend)?;
        Ok(row.map(|(l,)| l))
    }

    async fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, WaError> {
        let row: Option<(String,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT pn FROM wa_lid_mappings WHERE login_id = $1 AND lid = $2")
                .bind(&self.login_id)
                .bind(lid)
                .fetch_optional(p)
                .await
        })
        .map_err(backend)?;
        Ok(row.map(|(n,)| n))
    }
}

#[async_trait]
impl DedupeStore for ClientStore {
    async fn mark_message_seen(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        at: u64,
    ) -> Result<bool, WaError> {
        let inserted = with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_seen_messages (login_id, chat_id, sender, message_id, seen_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (login_id, chat_id, sender, message_id) DO NOTHING",
            )
            .bind(&self.login_id)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .bind(to_i64(at))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(backend)?;
        Ok(inserted == 1)
    }

    async fn prune_seen(&self, before: u64) -> Result<usize, WaError> {
        let deleted = with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM wa_seen_messages WHERE login_id = $1 AND seen_at < $2")
                .bind(&self.login_id)
                .bind(to_i64(before))
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(backend)?;
        let kept = with_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM wa_unacked_messages WHERE login_id = $1 AND kept_at < $2")
                .bind(&self.login_id)
                .bind(to_i64(before))
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(backend)?;
        Ok(usize::try_from(deleted.saturating_add(kept)).unwrap_or(usize::MAX))
    }

    async fn keep_unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        plaintext: &[u8],
        at: u64,
    ) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO wa_unacked_messages \
                 (login_id, chat_id, sender, message_id, plaintext, kept_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (login_id, chat_id, sender, message_id) \
                 DO UPDATE SET plaintext = excluded.plaintext, kept_at = excluded.kept_at",
            )
            .bind(&self.login_id)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .bind(plaintext)
            .bind(to_i64(at))
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, WaError> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT plaintext FROM wa_unacked_messages \
                 WHERE login_id = $1 AND chat_id = $2 AND sender = $3 AND message_id = $4",
            )
            .bind(&self.login_id)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .fetch_optional(p)
            .await
        })
        .map_err(backend)?;
        Ok(row.map(|(p,)| p))
    }

    async fn drop_unacked(&self, chat: &str, sender: &str, id: &str) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            sqlx::query(
                "DELETE FROM wa_unacked_messages \
                 WHERE login_id = $1 AND chat_id = $2 AND sender = $3 AND message_id = $4",
            )
            .bind(&self.login_id)
            .bind(chat)
            .bind(sender)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_round_trip_as_text() {
        for list in [vec![], vec![0], vec![0, 3, 17, u16::MAX]] {
            assert_eq!(decode_devices(&encode_devices(&list)), Ok(list));
        }
        assert!(decode_devices("0,,3").is_err());
        assert!(decode_devices("70000").is_err());
    }
}
