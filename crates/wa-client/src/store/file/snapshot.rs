//! The snapshot file's format: its JSON layout, the contents of a store
//! written to it ([`encode`]) and read back from it ([`decode`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use wa_core::keys::KeyPair;
use wa_core::proto::AdvSignedDeviceIdentity;
use wa_core::signal::{PreKey, SignedPreKey};

use super::super::memory::Inner;
use super::super::{AppStateKey, CachedDevices, PrivacyToken, StoreError};
use crate::own_device::DeviceState;

/// The snapshot format this build writes and reads.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    device: Option<DeviceFile>,
    identities: BTreeMap<String, String>,
    prekeys: Vec<PreKeyFile>,
    signed_prekeys: Vec<SignedPreKeyFile>,
    sessions: BTreeMap<String, String>,
    sender_keys: Vec<SenderKeyFile>,
    sender_key_holders: BTreeMap<String, Vec<String>>,
    device_lists: BTreeMap<String, CachedDevicesFile>,
    pn_to_lid: BTreeMap<String, String>,
    lid_to_pn: BTreeMap<String, String>,
    seen: Vec<SeenFile>,
    /// Absent in files written before app-state sync.
    #[serde(default)]
    app_state_keys: Vec<AppStateKeyFile>,
    /// Collection states (base64) by collection name.
    #[serde(default)]
    app_states: BTreeMap<String, String>,
    /// Absent in files written before messages were kept until acknowledged.
    #[serde(default)]
    unacked: Vec<UnackedFile>,
    /// Privacy tokens contacts gave us, by user. Absent in files written
    /// before privacy tokens were kept.
    #[serde(default)]
    privacy_tokens: BTreeMap<String, PrivacyTokenFile>,
    /// When we last issued our privacy token (unix seconds), by user.
    #[serde(default)]
    tokens_issued: BTreeMap<String, u64>,
    /// Absent in files written before message secrets were kept.
    #[serde(default)]
    message_secrets: Vec<SecretFile>,
}

#[derive(Serialize, Deserialize)]
struct SecretFile {
    chat: String,
    sender: String,
    id: String,
    /// Base64 of the secret.
    secret: String,
    at: u64,
}

#[derive(Serialize, Deserialize)]
struct PrivacyTokenFile {
    /// Base64 of the token.
    token: String,
    timestamp: u64,
}

#[derive(Serialize, Deserialize)]
struct UnackedFile {
    chat: String,
    sender: String,
    id: String,
    /// Base64 of the encoded `Message`.
    plaintext: String,
    at: u64,
}

#[derive(Serialize, Deserialize)]
struct AppStateKeyFile {
    id: String,
    data: String,
    timestamp: i64,
}

#[derive(Serialize, Deserialize)]
struct DeviceFile {
    noise_private: String,
    identity_private: String,
    registration_id: u32,
    signed_prekey: SignedPreKeyFile,
    signed_prekey_created: u64,
    adv_secret: String,
    next_prekey_id: u32,
    jid: Option<String>,
    lid: Option<String>,
    /// The encoded `AdvSignedDeviceIdentity`.
    account: Option<String>,
    platform: Option<String>,
    /// Absent in files written before push names were kept.
    #[serde(default)]
    push_name: Option<String>,
    /// Base64; absent in files written before cstoken salts were kept.
    #[serde(default)]
    nct_salt: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PreKeyFile {
    id: u32,
    private: String,
}

#[derive(Serialize, Deserialize)]
struct SignedPreKeyFile {
    id: u32,
    private: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
struct SenderKeyFile {
    group: String,
    sender: String,
    record: String,
}

#[derive(Serialize, Deserialize)]
struct CachedDevicesFile {
    devices: Vec<u16>,
    fetched: u64,
}

#[derive(Serialize, Deserialize)]
struct SeenFile {
    chat: String,
    sender: String,
    id: String,
    at: u64,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}
/// The file contents for `inner`: deterministic (sorted) JSON.
pub(super) fn encode(inner: &Inner) -> Result<Vec<u8>, StoreError> {
    let sorted = |m: &HashMap<String, String>| -> BTreeMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let snapshot = Snapshot {
        version: VERSION,
        device: inner.device.as_ref().map(device_file),
        identities: inner
            .identities
            .iter()
            .map(|(a, k)| (a.clone(), b64(k)))
            .collect(),
        prekeys: inner
            .prekeys
            .values()
            .map(|k| PreKeyFile {
                id: k.id(),
                private: b64(k.key_pair().private()),
            })
            .collect(),
        signed_prekeys: inner.signed_prekeys.values().map(signed_file).collect(),
        sessions: inner
            .sessions
            .iter()
            .map(|(a, r)| (a.clone(), b64(r)))
            .collect(),
        sender_keys: sender_key_files(inner),
        sender_key_holders: inner
            .holders
            .iter()
            .map(|(g, h)| {
                let mut h: Vec<String> = h.iter().cloned().collect();
                h.sort();
                (g.clone(), h)
            })
            .collect(),
        device_lists: inner
            .devices
            .iter()
            .map(|(u, d)| {
                let file = CachedDevicesFile {
                    devices: d.devices.clone(),
                    fetched: d.fetched,
                };
                (u.clone(), file)
            })
            .collect(),
        pn_to_lid: sorted(&inner.pn_to_lid),
        lid_to_pn: sorted(&inner.lid_to_pn),
        seen: seen_files(inner),
        app_state_keys: inner
            .app_state_keys
            .values()
            .map(|k| AppStateKeyFile {
                id: b64(&k.id),
                data: b64(&k.data),
                timestamp: k.timestamp,
            })
            .collect(),
        app_states: inner
            .app_states
            .iter()
            .map(|(name, state)| (name.clone(), b64(state)))
            .collect(),
        unacked: unacked_files(inner),
        privacy_tokens: privacy_token_files(inner),
        tokens_issued: inner
            .tokens_issued
            .iter()
            .map(|(user, at)| (user.clone(), *at))
            .collect(),
        message_secrets: secret_files(inner),
    };
    let mut out = serde_json::to_vec(&snapshot).map_err(|e| StoreError::Backend(Box::new(e)))?;
    out.push(b'\n');
    Ok(out)
}

/// Standard base64 of `b`, as the file holds every byte string.
fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

/// A signed prekey as the file holds it.
fn signed_file(k: &SignedPreKey) -> SignedPreKeyFile {
    SignedPreKeyFile {
        id: k.id(),
        private: b64(k.key_pair().private()),
        signature: b64(k.signature()),
    }
}

/// The account's own state as the file holds it.
fn device_file(d: &DeviceState) -> DeviceFile {
    DeviceFile {
        noise_private: b64(d.noise.private()),
        identity_private: b64(d.identity.private()),
        registration_id: d.registration_id,
        signed_prekey: signed_file(&d.signed_prekey),
        signed_prekey_created: d.signed_prekey_created,
        adv_secret: b64(&d.adv_secret),
        next_prekey_id: d.next_prekey_id,
        jid: d.jid.as_ref().map(ToString::to_string),
        lid: d.lid.as_ref().map(ToString::to_string),
        account: d.account.as_ref().map(|a| b64(&a.encode_to_vec())),
        platform: d.platform.clone(),
        push_name: d.push_name.clone(),
        nct_salt: d.nct_salt.as_deref().map(b64),
    }
}

/// The sender keys, sorted by (group, sender).
fn sender_key_files(inner: &Inner) -> Vec<SenderKeyFile> {
    let mut sender_keys: Vec<SenderKeyFile> = inner
        .sender_keys
        .iter()
        .map(|((group, sender), record)| SenderKeyFile {
            group: group.clone(),
            sender: sender.clone(),
            record: b64(record),
        })
        .collect();
    sender_keys.sort_by(|a, b| (&a.group, &a.sender).cmp(&(&b.group, &b.sender)));
    sender_keys
}

/// The messages seen, sorted by (chat, sender, id).
fn seen_files(inner: &Inner) -> Vec<SeenFile> {
    let mut seen: Vec<SeenFile> = inner
        .seen
        .iter()
        .map(|((chat, sender, id), at)| SeenFile {
            chat: chat.clone(),
            sender: sender.clone(),
            id: id.clone(),
            at: *at,
        })
        .collect();
    seen.sort_by(|a, b| (&a.chat, &a.sender, &a.id).cmp(&(&b.chat, &b.sender, &b.id)));
    seen
}

/// The messages kept until acknowledged, sorted by (chat, sender, id).
fn unacked_files(inner: &Inner) -> Vec<UnackedFile> {
    let mut unacked: Vec<UnackedFile> = inner
        .unacked
        .iter()
        .map(|((chat, sender, id), (plaintext, at))| UnackedFile {
            chat: chat.clone(),
            sender: sender.clone(),
            id: id.clone(),
            plaintext: b64(plaintext),
            at: *at,
        })
        .collect();
    unacked.sort_by(|a, b| (&a.chat, &a.sender, &a.id).cmp(&(&b.chat, &b.sender, &b.id)));
    unacked
}

/// The message secrets, sorted by (chat, sender, id).
fn secret_files(inner: &Inner) -> Vec<SecretFile> {
    let mut message_secrets: Vec<SecretFile> = inner
        .message_secrets
        .iter()
        .map(|((chat, sender, id), (secret, at))| SecretFile {
            chat: chat.clone(),
            sender: sender.clone(),
            id: id.clone(),
            secret: b64(secret),
            at: *at,
        })
        .collect();
    message_secrets.sort_by(|a, b| (&a.chat, &a.sender, &a.id).cmp(&(&b.chat, &b.sender, &b.id)));
    message_secrets
}

/// The privacy tokens contacts gave us, by user.
fn privacy_token_files(inner: &Inner) -> BTreeMap<String, PrivacyTokenFile> {
    inner
        .privacy_tokens
        .iter()
        .map(|(user, t)| {
            let file = PrivacyTokenFile {
                token: b64(&t.token),
                timestamp: t.timestamp,
            };
            (user.clone(), file)
        })
        .collect()
}

/// Reads file contents back; the error says what is wrong, without
/// quoting stored values.
pub(super) fn decode(bytes: &[u8]) -> Result<Inner, String> {
    let version: VersionOnly = serde_json::from_slice(bytes).map_err(json_error)?;
    if version.version != VERSION {
        return Err(format!(
            "format version {} is not supported (this build reads {VERSION})",
            version.version
        ));
    }
    let s: Snapshot = serde_json::from_slice(bytes).map_err(json_error)?;
    let device = s.device.map(read_device).transpose()?;
    let mut inner = Inner {
        device,
        ..Inner::default()
    };
    for (address, key) in &s.identities {
        let key = unb64_array(&format!("identity of {address}"), key)?;
        inner.identities.insert(address.clone(), key);
    }
    for k in &s.prekeys {
        let private = unb64_array(&format!("prekey {}", k.id), &k.private)?;
        let key = PreKey::from_parts(k.id, KeyPair::from_private(private));
        inner.prekeys.insert(k.id, key);
    }
    for k in &s.signed_prekeys {
        let key = read_signed(&format!("signed prekey {}", k.id), k)?;
        inner.signed_prekeys.insert(k.id, key);
    }
    for (address, record) in &s.sessions {
        let record = unb64(&format!("session {address}"), record)?;
        inner.sessions.insert(address.clone(), record);
    }
    for k in s.sender_keys {
        let record = unb64(
            &format!("sender key of {} in {}", k.sender, k.group),
            &k.record,
        )?;
        inner.sender_keys.insert((k.group, k.sender), record);
    }
    for (group, holders) in s.sender_key_holders {
        let holders: HashSet<String> = holders.into_iter().collect();
        inner.holders.insert(group, holders);
    }
    for (user, d) in s.device_lists {
        let cached = CachedDevices {
            devices: d.devices,
            fetched: d.fetched,
        };
        inner.devices.insert(user, cached);
    }
    inner.pn_to_lid = s.pn_to_lid.into_iter().collect();
    inner.lid_to_pn = s.lid_to_pn.into_iter().collect();
    for (user, t) in s.privacy_tokens {
        let token = PrivacyToken {
            token: unb64(&format!("privacy token of {user}"), &t.token)?,
            timestamp: t.timestamp,
        };
        inner.privacy_tokens.insert(user, token);
    }
    inner.tokens_issued = s.tokens_issued.into_iter().collect();
    read_messages(&mut inner, s.message_secrets, s.seen, s.unacked)?;
    read_app_state(&mut inner, &s.app_state_keys, s.app_states)?;
    Ok(inner)
}

/// A signed prekey from the file; `field` names it in errors.
fn read_signed(field: &str, k: &SignedPreKeyFile) -> Result<SignedPreKey, String> {
    Ok(SignedPreKey::from_parts(
        k.id,
        KeyPair::from_private(unb64_array(&format!("{field}.private"), &k.private)?),
        unb64_array(&format!("{field}.signature"), &k.signature)?,
    ))
}

/// The account's own state from the file.
fn read_device(d: DeviceFile) -> Result<DeviceState, String> {
    Ok(DeviceState {
        noise: KeyPair::from_private(unb64_array("device.noise_private", &d.noise_private)?),
        identity: KeyPair::from_private(unb64_array(
            "device.identity_private",
            &d.identity_private,
        )?),
        registration_id: d.registration_id,
        signed_prekey: read_signed("device.signed_prekey", &d.signed_prekey)?,
        signed_prekey_created: d.signed_prekey_created,
        adv_secret: unb64_array("device.adv_secret", &d.adv_secret)?,
        next_prekey_id: d.next_prekey_id,
        jid: d
            .jid
            .map(|j| j.parse().map_err(|e| format!("device.jid: {e}")))
            .transpose()?,
        lid: d
            .lid
            .map(|j| j.parse().map_err(|e| format!("device.lid: {e}")))
            .transpose()?,
        account: d
            .account
            .map(|a| {
                let bytes = unb64("device.account", &a)?;
                AdvSignedDeviceIdentity::decode(bytes.as_slice())
                    .map_err(|e| format!("device.account: {e}"))
            })
            .transpose()?,
        platform: d.platform,
        push_name: d.push_name,
        nct_salt: d
            .nct_salt
            .map(|s| unb64("device.nct_salt", &s))
            .transpose()?,
    })
}

/// The rows kept by (chat, sender, id): message secrets, messages seen,
/// and messages kept until acknowledged, read in that order.
fn read_messages(
    inner: &mut Inner,
    message_secrets: Vec<SecretFile>,
    seen: Vec<SeenFile>,
    unacked: Vec<UnackedFile>,
) -> Result<(), String> {
    for m in message_secrets {
        let secret = unb64("message secret", &m.secret)?;
        inner
            .message_secrets
            .insert((m.chat, m.sender, m.id), (secret, m.at));
    }
    for m in seen {
        inner.seen.insert((m.chat, m.sender, m.id), m.at);
    }
    for m in unacked {
        let plaintext = unb64("kept message", &m.plaintext)?;
        inner
            .unacked
            .insert((m.chat, m.sender, m.id), (plaintext, m.at));
    }
    Ok(())
}

/// App-state sync keys, then collection states.
fn read_app_state(
    inner: &mut Inner,
    app_state_keys: &[AppStateKeyFile],
    app_states: BTreeMap<String, String>,
) -> Result<(), String> {
    for k in app_state_keys {
        let id = unb64("app-state key id", &k.id)?;
        let data = unb64_array("app-state key data", &k.data)?;
        let key = AppStateKey {
            id: id.clone(),
            data,
            timestamp: k.timestamp,
        };
        inner.app_state_keys.insert(id, key);
    }
    for (name, state) in app_states {
        let state = unb64(&format!("app state {name}"), &state)?;
        inner.app_states.insert(name, state);
    }
    Ok(())
}

/// A JSON error without the input it quotes (which may be a key).
fn json_error(e: serde_json::Error) -> String {
    let message = e.to_string();
    if message.contains('"') {
        let what = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected value",
            serde_json::error::Category::Eof => "cut short",
        };
        format!("{what} at line {} column {}", e.line(), e.column())
    } else {
        message
    }
}

fn unb64(field: &str, s: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(s)
        .map_err(|_| format!("{field}: not base64"))
}

fn unb64_array<const N: usize>(field: &str, s: &str) -> Result<[u8; N], String> {
    let bytes = unb64(field, s)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("{field}: {} bytes, expected {N}", bytes.len()))
}
