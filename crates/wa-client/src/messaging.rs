//! A minimal 1:1 text path: pairwise Signal sessions with every device of a
//! peer (and our own other devices), client fan-out on send, decryption and
//! a delivery receipt on receive.
//!
//! Sessions live under the peer device's LID JID (`LID:D@lid`), the address
//! the phone and Baileys use. Companion devices are only encrypted to when
//! the account's signed key-index list names their key index and their ADV
//! identity (fetched with the prekey bundle) is signed by the account key.

use std::collections::HashMap;
use std::str::FromStr;

use prost::Message as _;
use tracing::{debug, warn};
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::message::DeviceSentMessage;
use wa_core::proto::{AdvSignedDeviceIdentity, AdvSignedKeyIndexList, Message};
use wa_core::signal::{
    self, BundlePreKey, BundleSignedPreKey, EncType, MemoryStore, PreKeyBundle, SignalAddress,
    SignalError,
};

use crate::device::DeviceState;
use crate::error::Error;
use crate::socket::Connection;

/// Why sending or reading a message failed.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The device state has no JID, LID or account identity: pair first.
    #[error("device is not paired")]
    NotPaired,
    /// The connection failed or an IQ was refused.
    #[error("connection: {0}")]
    Connection(#[from] Error),
    /// Signal failed.
    #[error("signal: {0}")]
    Signal(#[from] SignalError),
    /// A node without what it needs.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The recipient has no device we could encrypt to.
    #[error("no device of the recipient could be reached")]
    NoDevices,
}

/// A text message we received and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Message id.
    pub id: String,
    /// The sending device, as in the stanza's `from`.
    pub from: Jid,
    /// The chat: the other party (for copies of messages our own devices
    /// sent, the chat they wrote to).
    pub chat: Jid,
    /// The text, for text messages.
    pub text: Option<String>,
    /// True for copies of messages our own other devices sent.
    pub from_me: bool,
}

/// One account's devices from a usync answer.
#[derive(Debug)]
struct UserDevices {
    pn: Jid,
    lid: Option<Jid>,
    devices: Vec<(u16, Option<u32>)>,
    key_index_list: Option<AdvSignedKeyIndexList>,
}

/// Our Signal state and what we learned about other accounts.
pub struct Messenger {
    store: MemoryStore,
    own_pn: Jid,
    own_lid: Jid,
    account: AdvSignedDeviceIdentity,
    account_key: Vec<u8>,
    /// PN user -> LID user.
    lids: HashMap<String, String>,
}

impl std::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("own_pn", &self.own_pn.to_string())
            .field("own_lid", &self.own_lid.to_string())
            .field("known_lids", &self.lids.len())
            .finish_non_exhaustive()
    }
}

fn ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Messenger {
    /// Signal stores from a paired (and logged-in, for the LID) device.
    pub fn new(state: &DeviceState) -> Result<Messenger, MessagingError> {
        let (Some(jid), Some(lid), Some(account)) = (&state.jid, &state.lid, &state.account) else {
            return Err(MessagingError::NotPaired);
        };
        let account_key = account
            .account_signature_key
            .clone()
            .ok_or(MessagingError::NotPaired)?;
        let mut store = MemoryStore::new(&state.identity, state.registration_id)?;
        store
            .signed_prekeys
            .insert(&state.signed_prekey, ms_now())?;
        for key in &state.prekeys {
            store.prekeys.insert(key)?;
        }
        let mut lids = HashMap::new();
        lids.insert(jid.user().to_owned(), lid.user().to_owned());
        Ok(Messenger {
            store,
            own_pn: jid.clone(),
            own_lid: lid.clone(),
            account: account.clone(),
            account_key,
            lids,
        })
    }

    /// The LID user learned for a phone-number user, if any.
    pub fn lid_of(&self, pn_user: &str) -> Option<Jid> {
        self.lids
            .get(pn_user)
            .map(|l| Jid::new(l.clone(), Server::Lid))
    }

    /// Whether a pairwise session with `device` (a LID device JID) exists.
    pub async fn has_session(&mut self, device: &Jid) -> Result<bool, MessagingError> {
        let addr = SignalAddress::from_jid(device)?;
        Ok(signal::has_session(&mut self.store, &addr).await?)
    }

    /// Sends `text` to the phone-number user `to`: one `<enc>` per device of
    /// theirs and per other device of ours. Returns the message id. Does not
    /// wait for the server's `<ack>` (it arrives on the event stream).
    pub async fn send_text(
        &mut self,
        conn: &Connection,
        to: &Jid,
        text: &str,
    ) -> Result<String, MessagingError> {
        let to = to.to_non_ad();
        let own_user = self.own_pn.to_non_ad();
        let users = self.usync(conn, &[to.clone(), own_user.clone()]).await?;
        let peer = users
            .iter()
            .find(|u| u.pn.user() == to.user())
            .ok_or(MessagingError::NoDevices)?;
        let own = users.iter().find(|u| u.pn.user() == own_user.user());

        // Device 0 first: its identity is the key the account signs with.
        let mut targets: Vec<(Jid, bool)> = Vec::new();
        let peer_lid = peer
            .lid
            .clone()
            .ok_or(MessagingError::Malformed("recipient without a LID mapping"))?;
        let peer_key = self.account_key_of(conn, &peer_lid).await?;
        for device in self.signed_devices(peer, &peer_key) {
            targets.push((
                Jid::with_device(peer_lid.user(), device, Server::Lid),
                false,
            ));
        }
        if let Some(own) = own {
            let own_devices = self.signed_devices(own, &self.account_key.clone());
            for device in own_devices {
                if device == self.own_lid.device() {
                    continue;
                }
                targets.push((
                    Jid::with_device(self.own_lid.user(), device, Server::Lid),
                    true,
                ));
            }
        }

        // Sessions for the devices that lack one.
        let mut missing = Vec::new();
        for (jid, own) in &targets {
            if !self.has_session(jid).await? {
                missing.push((jid.clone(), *own));
            }
        }
        if !missing.is_empty() {
            let jids: Vec<Jid> = missing.iter().map(|(j, _)| j.clone()).collect();
            let bundles = fetch_bundles(conn, &jids).await?;
            let mut rng = rand::make_rng::<rand::rngs::StdRng>();
            for (jid, own) in &missing {
                let key = if *own {
                    self.account_key.clone()
                } else {
                    peer_key.clone()
                };
                let Some((bundle, identity)) = bundles.get(&jid.to_string()) else {
                    warn!(device = %jid, "no prekey bundle; skipping device");
                    continue;
                };
                if jid.device() != 0
                    && !companion_vouched(identity.as_ref(), &bundle.identity, &key)
                {
                    warn!(device = %jid, "companion identity not signed by the account; skipping");
                    continue;
                }
                let addr = SignalAddress::from_jid(jid)?;
                if let Err(e) =
                    signal::process_prekey_bundle(&mut self.store, &addr, bundle, &mut rng).await
                {
                    warn!(device = %jid, error = %e, "bad prekey bundle; skipping device");
                }
            }
        }

        let message = Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        let own_copy = Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some(to.to_string()),
                message: Some(Box::new(message.clone())),
                phash: None,
            })),
            ..Default::default()
        };
        let mut participants = Vec::new();
        let mut any_pkmsg = false;
        let mut reached_peer = false;
        for (jid, own) in &targets {
            let addr = SignalAddress::from_jid(jid)?;
            if !signal::has_session(&mut self.store, &addr).await? {
                continue;
            }
            let body = if *own { &own_copy } else { &message };
            let padded = signal::pad(&body.encode_to_vec(), rand::random::<u8>());
            let (kind, ciphertext) = signal::encrypt(&mut self.store, &addr, &padded).await?;
            any_pkmsg |= kind == EncType::Pkmsg;
            reached_peer |= !own;
            participants.push(Node::new("to").attr("jid", jid.clone()).children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", kind.as_str())
                    .bytes(ciphertext),
            ]));
        }
        if !reached_peer {
            return Err(MessagingError::NoDevices);
        }
        let id = conn.new_id();
        let mut children = vec![Node::new("participants").children(participants)];
        if any_pkmsg {
            children.push(Node::new("device-identity").bytes(self.account.encode_to_vec()));
        }
        let stanza = Node::new("message")
            .attr("id", id.clone())
            .attr("to", to)
            .attr("type", "text")
            .children(children);
        conn.send(&stanza).await?;
        debug!(%id, "message sent");
        Ok(id)
    }

    /// The identity key of the account whose LID user is `lid`: the identity
    /// of its device 0, from the session if there is one, else from its
    /// prekey bundle (the session is then built from that bundle).
    async fn account_key_of(
        &mut self,
        conn: &Connection,
        lid: &Jid,
    ) -> Result<Vec<u8>, MessagingError> {
        let primary = Jid::with_device(lid.user(), 0, Server::Lid);
        let addr = SignalAddress::from_jid(&primary)?;
        if signal::has_session(&mut self.store, &addr).await?
            && let Some(key) = self.store.identity.identity_of(&addr)
        {
            return Ok(key.to_vec());
        }
        let bundles = fetch_bundles(conn, std::slice::from_ref(&primary)).await?;
        let (bundle, _) = bundles
            .get(&primary.to_string())
            .ok_or(MessagingError::NoDevices)?;
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        signal::process_prekey_bundle(&mut self.store, &addr, bundle, &mut rng).await?;
        Ok(bundle.identity.clone())
    }

    /// Device ids of `user` we may encrypt to: device 0, and companions whose
    /// key index is in the list the account signed with `account_key`.
    fn signed_devices(&self, user: &UserDevices, account_key: &[u8]) -> Vec<u16> {
        let valid = match &user.key_index_list {
            Some(list) => match adv::verify_key_index_list(list, account_key) {
                Ok(list) => Some(list.valid_indexes),
                Err(e) => {
                    warn!(user = %user.pn, error = %e, "key-index list not signed by the account");
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
                warn!(user = %user.pn, device, "companion not in the signed key-index list; skipping");
            }
        }
        out
    }

    async fn usync(
        &mut self,
        conn: &Connection,
        users: &[Jid],
    ) -> Result<Vec<UserDevices>, MessagingError> {
        let list = users
            .iter()
            .map(|u| Node::new("user").attr("jid", u.clone()))
            .collect();
        let iq = Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "usync")
            .children(vec![
                Node::new("usync")
                    .attr("sid", conn.new_id())
                    .attr("mode", "query")
                    .attr("last", "true")
                    .attr("index", "0")
                    .attr("context", "message")
                    .children(vec![
                        Node::new("query").children(vec![
                            Node::new("devices").attr("version", "2"),
                            Node::new("lid"),
                        ]),
                        Node::new("list").children(list),
                    ]),
            ]);
        let answer = conn.iq(iq).await?;
        let list = answer
            .child("usync")
            .and_then(|u| u.child("list"))
            .ok_or(MessagingError::Malformed("usync answer without list"))?;
        let mut out = Vec::new();
        for user in list.children_by_tag("user") {
            let Some(pn) = user.attr_jid("jid").map(Jid::to_non_ad) else {
                continue;
            };
            let lid = user
                .child("lid")
                .and_then(|l| l.attr_jid("val"))
                .filter(|l| l.is_lid())
                .map(Jid::to_non_ad);
            if let Some(lid) = &lid {
                self.lids
                    .insert(pn.user().to_owned(), lid.user().to_owned());
            }
            let lid = lid.or_else(|| self.lid_of(pn.user()));
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
            out.push(UserDevices {
                pn,
                lid,
                devices,
                key_index_list,
            });
        }
        Ok(out)
    }

    /// Reads an incoming node. For a 1:1 `<message>` we can decrypt, sends a
    /// delivery receipt and returns the message; anything else gives `None`.
    pub async fn handle(
        &mut self,
        conn: &Connection,
        node: &Node,
    ) -> Result<Option<Received>, MessagingError> {
        if node.tag != "message" {
            return Ok(None);
        }
        let from = node
            .attr_jid("from")
            .cloned()
            .ok_or(MessagingError::Malformed("message without from"))?;
        if from.is_group() || from.is_broadcast() {
            return Ok(None);
        }
        let id = node
            .attr_str("id")
            .ok_or(MessagingError::Malformed("message without id"))?
            .to_owned();
        let sender = self.sender_lid(node, &from)?;
        let addr = SignalAddress::from_jid(&sender)?;
        let mut content = None;
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        for enc in node.children_by_tag("enc") {
            let Ok(kind) = EncType::from_str(enc.attr_str("type").unwrap_or_default()) else {
                continue;
            };
            let ciphertext = enc
                .content_bytes()
                .ok_or(MessagingError::Malformed("empty enc"))?;
            let padded =
                signal::decrypt(&mut self.store, &addr, kind, ciphertext, &mut rng).await?;
            let message = Message::decode(signal::unpad(&padded)?)
                .map_err(|_| MessagingError::Malformed("not a Message"))?;
            content = Some(message);
        }
        let Some(message) = content else {
            return Ok(None);
        };
        let from_me = from.user() == self.own_pn.user() || from.user() == self.own_lid.user();
        let (message, chat) = match message.device_sent_message {
            Some(dsm) if from_me => {
                let chat = dsm
                    .destination_jid
                    .as_deref()
                    .and_then(|j| j.parse::<Jid>().ok())
                    .ok_or(MessagingError::Malformed(
                        "deviceSentMessage without destination",
                    ))?;
                (dsm.message.map(|m| *m).unwrap_or_default(), chat)
            }
            _ => (message, from.to_non_ad()),
        };
        let text = message.conversation.clone().or_else(|| {
            message
                .extended_text_message
                .as_ref()
                .and_then(|e| e.text.clone())
        });
        let mut receipt = Node::new("receipt")
            .attr("id", id.clone())
            .attr("to", from.clone());
        if from_me {
            receipt = receipt
                .attr("type", "sender")
                .attr("recipient", chat.clone());
        }
        conn.send(&receipt).await?;
        Ok(Some(Received {
            id,
            from,
            chat,
            text,
            from_me,
        }))
    }

    /// The LID device JID a message's sender keeps its session under.
    fn sender_lid(&mut self, node: &Node, from: &Jid) -> Result<Jid, MessagingError> {
        if from.is_lid() {
            return Ok(from.clone());
        }
        if let Some(lid) = node.attr_jid("sender_lid").filter(|l| l.is_lid()) {
            self.lids
                .insert(from.user().to_owned(), lid.user().to_owned());
        }
        let lid = self
            .lids
            .get(from.user())
            .ok_or(MessagingError::Malformed("sender without a known LID"))?;
        Ok(Jid::with_device(lid.clone(), from.device(), Server::Lid))
    }
}

/// Whether a companion's ADV identity (from its bundle) is signed by the
/// account key and vouches for the bundle's identity key.
fn companion_vouched(
    signed: Option<&AdvSignedDeviceIdentity>,
    identity: &[u8],
    account_key: &[u8],
) -> bool {
    signed.is_some_and(|s| adv::verify_device_identity(s, identity, account_key).is_ok())
}

type Bundles = HashMap<String, (PreKeyBundle, Option<AdvSignedDeviceIdentity>)>;

/// Prekey bundles of `devices`, keyed by the JID string as asked.
async fn fetch_bundles(conn: &Connection, devices: &[Jid]) -> Result<Bundles, MessagingError> {
    let users = devices
        .iter()
        .map(|d| Node::new("user").attr("jid", d.clone()))
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

fn parse_bundle(user: &Node) -> Option<PreKeyBundle> {
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
