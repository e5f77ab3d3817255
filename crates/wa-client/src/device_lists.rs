//! Device lists: which devices of which accounts a message is encrypted
//! for, fetched with `usync`, verified against each account's key, cached.
//!
//! A companion device is only encrypted to when the account's signed
//! key-index list names its key index and, when a bundle is fetched for it,
//! its ADV identity is signed by the account key and vouches for the
//! bundle's identity key. The account key is the identity of the account's
//! device 0. A device that fails is skipped with a warning, never encrypted
//! to: the server alone cannot add a device to anyone's conversation.
//!
//! Sessions live under LID device JIDs (`LID:D@lid`), the address phones and
//! Baileys use.

use std::collections::{BTreeSet, HashMap};

use prost::Message as _;
use tracing::warn;
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::{AdvSignedDeviceIdentity, AdvSignedKeyIndexList};
use wa_core::signal::{BundlePreKey, BundleSignedPreKey, PreKeyBundle};

use crate::crypto::{Crypto, CryptoError};
use crate::error::Error;
use crate::socket::Connection;
use crate::store::{CachedDevices, Store, StoreError};

/// Why the devices of a recipient could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// The connection failed or an IQ was refused.
    #[error("connection: {0}")]
    Connection(#[from] Error),
    /// The store or Signal failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// An answer without what it needs.
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
}

impl From<StoreError> for DevicesError {
    fn from(e: StoreError) -> Self {
        DevicesError::Crypto(e.into())
    }
}

/// A device to encrypt for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `LID:D@lid`.
    pub(crate) device: Jid,
    /// One of our own devices (gets the sent-message copy in 1:1 chats).
    pub(crate) own: bool,
    /// A fetched bundle: there is no session yet.
    pub(crate) bundle: Option<PreKeyBundle>,
}

/// Who we are, for resolving our own devices.
#[derive(Debug, Clone)]
pub(crate) struct Own {
    pub(crate) pn: Jid,
    pub(crate) lid: Jid,
    pub(crate) account_key: Vec<u8>,
}

/// One account's devices from a usync answer.
#[derive(Debug)]
struct Listed {
    lid: Jid,
    devices: Vec<(u16, Option<u32>)>,
    key_index_list: Option<AdvSignedKeyIndexList>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The LID user of `user` (a PN or LID user JID), from the store.
pub(crate) async fn lid_of(store: &dyn Store, user: &Jid) -> Result<Option<Jid>, StoreError> {
    if user.is_lid() {
        return Ok(Some(user.to_non_ad()));
    }
    Ok(store
        .lid_for_pn(user.user())
        .await?
        .map(|l| Jid::new(l, Server::Lid)))
}

/// Every device of `users` (PN or LID user JIDs; ours included if wanted)
/// we may encrypt to, with bundles for those without a session.
pub(crate) async fn resolve(
    conn: &Connection,
    store: &dyn Store,
    crypto: &Crypto,
    own: &Own,
    users: &[Jid],
) -> Result<Vec<Target>, DevicesError> {
    // LID user -> devices, from the cache or fetched.
    let (cached, ask) = cached_or_asked(store, users).await?;
    let listed = if ask.is_empty() {
        Vec::new()
    } else {
        usync(conn, store, &ask).await?
    };
    let (missing, bundles) = session_bundles(conn, crypto, own, &cached, &listed).await?;
    let account_keys = account_keys(crypto, own, &cached, &listed, &bundles).await?;

    // Fresh lists: keep device 0 and the companions the account signed.
    let mut verified: Vec<(Jid, Vec<u16>)> = cached;
    for l in listed {
        let Some(key) = account_keys.get(l.lid.user()) else {
            warn!(user = %l.lid, "no account key; sending to no device of this user");
            continue;
        };
        let devices = signed_devices(&l, key);
        store
            .store_devices(
                &l.lid.to_string(),
                &CachedDevices {
                    devices: devices.clone(),
                    fetched: now(),
                },
            )
            .await?;
        verified.push((l.lid, devices));
    }
    Ok(targets(verified, own, &account_keys, bundles, &missing))
}

/// Splits `users` (once each) into the LID users whose device lists are
/// cached, with those lists, and the users to ask the server about.
async fn cached_or_asked(
    store: &dyn Store,
    users: &[Jid],
) -> Result<(Vec<(Jid, Vec<u16>)>, Vec<Jid>), DevicesError> {
    let mut cached: Vec<(Jid, Vec<u16>)> = Vec::new();
    let mut ask = Vec::new();
    let mut seen = BTreeSet::new();
    for user in users {
        let user = user.to_non_ad();
        if !seen.insert(user.to_string()) {
            continue;
        }
        match lid_of(store, &user).await? {
            Some(lid) => match store.load_devices(&lid.to_string()).await? {
                Some(c) => cached.push((lid, c.devices)),
                None => ask.push(user),
            },
            None => ask.push(user),
        }
    }
    Ok((cached, ask))
}

/// Devices without a session get a bundle: returns those devices, and the
/// bundles fetched for them (keyed by device JID).
async fn session_bundles(
    conn: &Connection,
    crypto: &Crypto,
    own: &Own,
    cached: &[(Jid, Vec<u16>)],
    listed: &[Listed],
) -> Result<(Vec<Jid>, Bundles), DevicesError> {
    let mut all: Vec<Jid> = Vec::new();
    for (lid, devices) in cached {
        all.extend(
            devices
                .iter()
                .map(|d| Jid::with_device(lid.user(), *d, Server::Lid)),
        );
    }
    for l in listed {
        all.extend(
            l.devices
                .iter()
                .map(|(d, _)| Jid::with_device(l.lid.user(), *d, Server::Lid)),
        );
    }
    all.retain(|d| d != &own.lid);
    let have = crypto.have_sessions(&all).await?;
    let missing: Vec<Jid> = all
        .iter()
        .zip(&have)
        .filter(|(_, h)| !**h)
        .map(|(d, _)| d.clone())
        .collect();
    let bundles = if missing.is_empty() {
        HashMap::new()
    } else {
        fetch_bundles(conn, &missing).await?
    };
    Ok((missing, bundles))
}

/// The account key of each user, by LID user: ours, a known device-0
/// identity, or the identity in device 0's fresh bundle.
async fn account_keys(
    crypto: &Crypto,
    own: &Own,
    cached: &[(Jid, Vec<u16>)],
    listed: &[Listed],
    bundles: &Bundles,
) -> Result<HashMap<String, Vec<u8>>, DevicesError> {
    let mut account_keys: HashMap<String, Vec<u8>> = HashMap::new();
    account_keys.insert(own.lid.user().to_owned(), own.account_key.clone());
    let users_seen: BTreeSet<String> = cached
        .iter()
        .map(|(l, _)| l.user().to_owned())
        .chain(listed.iter().map(|l| l.lid.user().to_owned()))
        .collect();
    for user in users_seen {
        if account_keys.contains_key(&user) {
            continue;
        }
        let primary = Jid::with_device(&user, 0, Server::Lid);
        let key = match crypto.identity_of(&primary).await? {
            Some(k) => Some(k.to_vec()),
            None => bundles
                .get(&primary.to_string())
                .map(|(b, _)| b.identity.clone()),
        };
        if let Some(k) = key {
            account_keys.insert(user, k);
        }
    }
    Ok(account_keys)
}

/// The devices of the `verified` lists to encrypt for, except this one. A
/// companion with a fresh bundle is kept only if its account vouches for
/// it; a device that needed a bundle and got none is skipped.
fn targets(
    verified: Vec<(Jid, Vec<u16>)>,
    own: &Own,
    account_keys: &HashMap<String, Vec<u8>>,
    mut bundles: Bundles,
    missing: &[Jid],
) -> Vec<Target> {
    let mut out = Vec::new();
    for (lid, devices) in verified {
        let is_own = lid.user() == own.lid.user();
        let key = account_keys.get(lid.user());
        for d in devices {
            let device = Jid::with_device(lid.user(), d, Server::Lid);
            if device == own.lid {
                continue;
            }
            let bundle = match bundles.remove(&device.to_string()) {
                Some((bundle, identity)) => {
                    if d != 0 && !key.is_some_and(|k| vouched(identity.as_ref(), &bundle, k)) {
                        warn!(%device, "companion identity not signed by the account; skipping");
                        continue;
                    }
                    Some(bundle)
                }
                None => {
                    if missing.contains(&device) {
                        warn!(%device, "no prekey bundle; skipping device");
                        continue;
                    }
                    None
                }
            };
            out.push(Target {
                device,
                own: is_own,
                bundle,
            });
        }
    }
    out
}

/// Whether a companion's ADV identity (from its bundle) is signed by the
/// account key and vouches for the bundle's identity key.
fn vouched(
    signed: Option<&AdvSignedDeviceIdentity>,
    bundle: &PreKeyBundle,
    account_key: &[u8],
) -> bool {
    signed.is_some_and(|s| adv::verify_device_identity(s, &bundle.identity, account_key).is_ok())
}

/// Device ids we may encrypt to: device 0, and companions whose key index is
/// in the list the account signed with `account_key`.
fn signed_devices(user: &Listed, account_key: &[u8]) -> Vec<u16> {
    let valid = match &user.key_index_list {
        Some(list) => match adv::verify_key_index_list(list, account_key) {
            Ok(list) => Some(list.valid_indexes),
            Err(e) => {
                warn!(user = %user.lid, error = %e, "key-index list not signed by the account");
                None
            }
        },
        None => None,
    };
    let mut out = Vec::new();
    for (device, key_index) in &user.devices {
        if *device == 0 {
            out.push(0);
            continue;
        }
        let vouched = match (&valid, key_index) {
            (Some(valid), Some(k)) => valid.contains(k),
            _ => false,
        };
        if vouched {
            out.push(*device);
        } else {
            warn!(user = %user.lid, device, "companion not in the signed key-index list; skipping");
        }
    }
    out
}

/// A `usync` IQ in query mode (whatsmeow `usync`): `<iq xmlns=usync
/// type=get to=s.whatsapp.net><usync sid mode=query last=true index=0
/// context><query>QUERY</query><list>USERS</list>`.
pub(crate) fn usync_query(
    conn: &Connection,
    context: &'static str,
    query: Vec<Node>,
    users: Vec<Node>,
) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "get")
        .attr("xmlns", "usync")
        .children(vec![
            Node::new("usync")
                .attr("sid", conn.new_id())
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", context)
                .children(vec![
                    Node::new("query").children(query),
                    Node::new("list").children(users),
                ]),
        ])
}

/// `usync` of `users` (devices and LID); records the LID mappings learned.
async fn usync(
    conn: &Connection,
    store: &dyn Store,
    users: &[Jid],
) -> Result<Vec<Listed>, DevicesError> {
    let list = users
        .iter()
        .map(|u| Node::new("user").attr("jid", u.clone()))
        .collect();
    let query = vec![Node::new("devices").attr("version", "2"), Node::new("lid")];
    let answer = conn.iq(usync_query(conn, "message", query, list)).await?;
    let list = answer
        .child("usync")
        .and_then(|u| u.child("list"))
        .ok_or(DevicesError::Malformed("usync answer without list"))?;
    let mut out = Vec::new();
    for user in list.children_by_tag("user") {
        let Some(jid) = user.attr_jid("jid").map(Jid::to_non_ad) else {
            continue;
        };
        let lid = if jid.is_lid() {
            Some(jid.clone())
        } else {
            let lid = user
                .child("lid")
                .and_then(|l| l.attr_jid("val"))
                .filter(|l| l.is_lid())
                .map(Jid::to_non_ad);
            if let Some(lid) = &lid {
                store.store_lid_mapping(jid.user(), lid.user()).await?;
            }
            match lid {
                Some(l) => Some(l),
                None => lid_of(store, &jid).await?,
            }
        };
        let Some(lid) = lid else {
            warn!(user = %jid, "no LID for user; skipping");
            continue;
        };
        let devices_node = user.child("devices");
        let devices = devices_node
            .and_then(|d| d.child("device-list"))
            .map(|l| {
                l.children_by_tag("device")
                    .filter_map(|d| {
                        let id = d.attr_str("id")?.parse().ok()?;
                        let key_index = d.attr_str("key-index").and_then(|k| k.parse().ok());
                        Some((id, key_index))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key_index_list = devices_node
            .and_then(|d| d.child("key-index-list"))
            .and_then(Node::content_bytes)
            .and_then(|b| AdvSignedKeyIndexList::decode(b).ok());
        out.push(Listed {
            lid,
            devices,
            key_index_list,
        });
    }
    Ok(out)
}

type Bundles = HashMap<String, (PreKeyBundle, Option<AdvSignedDeviceIdentity>)>;

/// Prekey bundles of `devices`, keyed by the JID string as asked.
pub(crate) async fn fetch_bundles(
    conn: &Connection,
    devices: &[Jid],
) -> Result<Bundles, DevicesError> {
    let users = devices
        .iter()
        // whatsmeow `fetchPreKeys` gives every user reason="identity";
        // Baileys only when it forces a fetch for a new LID mapping.
        .map(|d| {
            Node::new("user")
                .attr("jid", d.clone())
                .attr("reason", "identity")
        })
        .collect();
    let iq = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "get")
        .attr("xmlns", "encrypt")
        .children(vec![Node::new("key").children(users)]);
    let answer = conn.iq(iq).await?;
    let mut out = HashMap::new();
    let Some(list) = answer.child("list") else {
        return Ok(out);
    };
    for user in list.children_by_tag("user") {
        let Some(jid) = user.attr_jid("jid") else {
            continue;
        };
        let Some(bundle) = parse_bundle(user) else {
            warn!(device = %jid, "malformed prekey bundle");
            continue;
        };
        let identity = user
            .child("device-identity")
            .and_then(Node::content_bytes)
            .and_then(|b| AdvSignedDeviceIdentity::decode(b).ok());
        out.insert(jid.to_string(), (bundle, identity));
    }
    Ok(out)
}

/// A bundle in the `<user>` layout of prekey fetches and retry receipts'
/// `<keys>`.
pub(crate) fn parse_bundle(user: &Node) -> Option<PreKeyBundle> {
    let bytes = |n: &Node, tag: &str| Some(n.child(tag)?.content_bytes()?.to_vec());
    let skey = user.child("skey")?;
    let prekey = match user.child("key") {
        Some(key) => Some(BundlePreKey {
            id: bytes(key, "id")?,
            value: bytes(key, "value")?,
        }),
        None => None,
    };
    Some(PreKeyBundle {
        registration: bytes(user, "registration")?,
        key_type: bytes(user, "type")?,
        identity: bytes(user, "identity")?,
        signed_prekey: BundleSignedPreKey {
            id: bytes(skey, "id")?,
            value: bytes(skey, "value")?,
            signature: bytes(skey, "signature")?,
        },
        prekey,
    })
}
