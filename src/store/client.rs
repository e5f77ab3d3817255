//! [`wa_client::Store`] over the `wa_*` tables, for one login: the struct,
//! and its device role (the [`DeviceState`] row). The other roles are in
//! `signal.rs` (keys, sessions, sender keys), `cache.rs` (device lists,
//! LIDs, dedupe), `tokens.rs` (privacy tokens) and `appstate.rs` (app-state
//! sync).

use async_trait::async_trait;
use prost::Message as _;
use wa_client::DeviceState;
use wa_client::store::DeviceStore;
use wa_core::keys::KeyPair;
use wa_core::proto::AdvSignedDeviceIdentity;
use wa_core::signal::SignedPreKey;

use super::{Pool, StoreError, bytes_col, int_col, to_i64};

/// The error type of the wa-client store traits.
pub(super) type WaError = wa_client::StoreError;

/// Every wa-client store role for one login, over the shared pool.
///
/// Made by [`Database::client_store`](super::Database::client_store).
/// `Debug` prints the backend and login id only.
pub struct ClientStore {
    pub(super) pool: Pool,
    pub(super) login_id: String,
    /// Told each LID <-> phone-number pairing that was not stored before.
    pub(super) learned: Option<tokio::sync::mpsc::UnboundedSender<LidLearned>>,
}

/// A pairing of a LID with a phone number the store had not known (both
/// are the JIDs' user parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LidLearned {
    /// The phone number (digits).
    pub pn: String,
    /// The LID (digits).
    pub lid: String,
}

impl std::fmt::Debug for ClientStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStore")
            .field("backend", &self.pool.backend())
            .field("login_id", &self.login_id)
            .finish()
    }
}

impl ClientStore {
    pub(super) fn new(pool: Pool, login_id: &str) -> ClientStore {
        ClientStore {
            pool,
            login_id: login_id.to_owned(),
            learned: None,
        }
    }

    /// The row key for corrupt-row errors: the login and, if any, more.
    pub(super) fn key(&self, more: &str) -> String {
        if more.is_empty() {
            format!("login {}", self.login_id)
        } else {
            format!("login {}, {more}", self.login_id)
        }
    }
}

/// A database failure, as the wa-client traits report it.
pub(super) fn backend(e: sqlx::Error) -> WaError {
    StoreError::from(e).into()
}

/// The `wa_*` tables, each holding rows of one login (all go on delete).
pub(super) const TABLES: [&str; 16] = [
    "wa_devices",
    "wa_identities",
    "wa_prekeys",
    "wa_signed_prekeys",
    "wa_sessions",
    "wa_sender_keys",
    "wa_sender_key_holders",
    "wa_device_lists",
    "wa_lid_mappings",
    "wa_privacy_tokens",
    "wa_issued_privacy_tokens",
    "wa_message_secrets",
    "wa_seen_messages",
    "wa_unacked_messages",
    "wa_app_state_keys",
    "wa_app_state_collections",
];

/// A `wa_devices` row, in column order.
type DeviceRow = (
    Vec<u8>,         // noise_private
    Vec<u8>,         // identity_private
    i64,             // registration_id
    i64,             // signed_prekey_id
    Vec<u8>,         // signed_prekey_private
    Vec<u8>,         // signed_prekey_signature
    i64,             // signed_prekey_created
    Vec<u8>,         // adv_secret
    i64,             // next_prekey_id
    Option<String>,  // jid
    Option<String>,  // lid
    Option<Vec<u8>>, // account
    Option<String>,  // platform
    Option<String>,  // push_name
    Option<Vec<u8>>, // nct_salt
);

const SELECT_DEVICE: &str = "SELECT noise_private, identity_private, registration_id, \
     signed_prekey_id, signed_prekey_private, signed_prekey_signature, signed_prekey_created, \
     adv_secret, next_prekey_id, jid, lid, account, platform, push_name, nct_salt \
     FROM wa_devices WHERE login_id = $1";

const UPSERT_DEVICE: &str = "INSERT INTO wa_devices (login_id, noise_private, identity_private, \
     registration_id, signed_prekey_id, signed_prekey_private, signed_prekey_signature, \
     signed_prekey_created, adv_secret, next_prekey_id, jid, lid, account, platform, push_name, \
     nct_salt) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
     ON CONFLICT (login_id) DO UPDATE SET noise_private = excluded.noise_private, \
     identity_private = excluded.identity_private, registration_id = excluded.registration_id, \
     signed_prekey_id = excluded.signed_prekey_id, \
     signed_prekey_private = excluded.signed_prekey_private, \
     signed_prekey_signature = excluded.signed_prekey_signature, \
     signed_prekey_created = excluded.signed_prekey_created, adv_secret = excluded.adv_secret, \
     next_prekey_id = excluded.next_prekey_id, jid = excluded.jid, lid = excluded.lid, \
     account = excluded.account, platform = excluded.platform, push_name = excluded.push_name, \
     nct_salt = excluded.nct_salt";

impl ClientStore {
    /// Rebuilds the state from its row; a bad column is a corrupt-row error.
    fn decode_device(&self, row: DeviceRow) -> Result<DeviceState, StoreError> {
        const T: &str = "wa_devices";
        let key = || self.key("");
        let (noise, identity, reg, spk_id, spk_private, spk_sig, spk_created, adv, next, jid, lid) = (
            row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10,
        );
        let (account, platform, push_name, nct_salt) = (row.11, row.12, row.13, row.14);
        let corrupt = |reason: String| StoreError::Corrupt {
            table: T,
            key: key(),
            reason,
        };
        let jid_col = |column: &str, v: Option<String>| {
            v.map(|j| {
                j.parse()
                    .map_err(|e| corrupt(format!("{column}: not a JID: {e}")))
            })
            .transpose()
        };
        Ok(DeviceState {
            noise: KeyPair::from_private(bytes_col(T, &key, "noise_private", &noise)?),
            identity: KeyPair::from_private(bytes_col(T, &key, "identity_private", &identity)?),
            registration_id: int_col(T, &key, "registration_id", reg)?,
            signed_prekey: SignedPreKey::from_parts(
                int_col(T, &key, "signed_prekey_id", spk_id)?,
                KeyPair::from_private(bytes_col(T, &key, "signed_prekey_private", &spk_private)?),
                bytes_col(T, &key, "signed_prekey_signature", &spk_sig)?,
            ),
            signed_prekey_created: int_col(T, &key, "signed_prekey_created", spk_created)?,
            adv_secret: bytes_col(T, &key, "adv_secret", &adv)?,
            next_prekey_id: int_col(T, &key, "next_prekey_id", next)?,
            jid: jid_col("jid", jid)?,
            lid: jid_col("lid", lid)?,
            account: account
                .map(|a| {
                    AdvSignedDeviceIdentity::decode(a.as_slice()).map_err(|e| {
                        corrupt(format!("account: not an AdvSignedDeviceIdentity: {e}"))
                    })
                })
                .transpose()?,
            platform,
            push_name,
            nct_salt,
        })
    }
}

#[async_trait]
impl DeviceStore for ClientStore {
    async fn load(&self) -> Result<Option<DeviceState>, WaError> {
        let row: Option<DeviceRow> = with_pool!(&self.pool, |p| {
            sqlx::query_as(SELECT_DEVICE)
                .bind(&self.login_id)
                .fetch_optional(p)
                .await
        })
        .map_err(backend)?;
        Ok(row.map(|r| self.decode_device(r)).transpose()?)
    }

    async fn save(&self, s: &DeviceState) -> Result<(), WaError> {
        let jid = s.jid.as_ref().map(ToString::to_string);
        let lid = s.lid.as_ref().map(ToString::to_string);
        let account = s.account.as_ref().map(|a| a.encode_to_vec());
        with_pool!(&self.pool, |p| {
            sqlx::query(UPSERT_DEVICE)
                .bind(&self.login_id)
                .bind(s.noise.private().as_slice())
                .bind(s.identity.private().as_slice())
                .bind(i64::from(s.registration_id))
                .bind(i64::from(s.signed_prekey.id()))
                .bind(s.signed_prekey.key_pair().private().as_slice())
                .bind(s.signed_prekey.signature().as_slice())
                .bind(to_i64(s.signed_prekey_created))
                .bind(s.adv_secret.as_slice())
                .bind(i64::from(s.next_prekey_id))
                .bind(jid.as_deref())
                .bind(lid.as_deref())
                .bind(account.as_deref())
                .bind(s.platform.as_deref())
                .bind(s.push_name.as_deref())
                .bind(s.nct_salt.as_deref())
                .execute(p)
                .await
                .map(drop)
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn delete(&self) -> Result<(), WaError> {
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await.map_err(backend)?;
            for table in TABLES {
                // `table` comes from the fixed list above, never from input.
                let sql = format!("DELETE FROM {table} WHERE login_id = $1");
                sqlx::query(&sql)
                    .bind(&self.login_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }
}
