//! Retry receipts: how a device that could not decrypt a message asks its
//! sender to encrypt it again.
//!
//! The receiver answers the undecryptable `<message>` with
//!
//! ```text
//! <receipt id=(message id) to=(message from) [participant=..] [recipient=..] type="retry">
//!   <retry count=N id=(message id) t=(message t) v="1"/>
//!   <registration>(4-byte big-endian registration id)</registration>
//!   [<keys><type>05</type><identity/><key><id/><value/></key>
//!          <skey><id/><value/><signature/></skey><device-identity/></keys>]
//! </receipt>
//! ```
//!
//! `count` starts at 1 for the first request of a message and grows with each
//! further one; `<keys>` (a fresh one-time prekey, the signed prekey, the
//! identity, and the device's `ADVSignedDeviceIdentity`) is added from the
//! second request on, or at once when the receiver knows it has no session
//! (whatsmeow `retry.go` `sendRetryReceipt`; Baileys `Socket/messages-recv.js`
//! `sendRetryRequest`). In a group the receipt goes `to` the group with the
//! sending device as `participant`; for a copy of our own message,
//! `recipient` names the chat. Both copy those attributes from the message.
//!
//! The sender answers by encrypting the message again to that one device:
//! `<message id to=(that device) type device_fanout="false"><enc v="2"
//! type count=N/>[<device-identity/>]</message>`, see [`resend_enc`].

use crate::binary::Node;
use crate::jid::Jid;
use crate::signal::{
    BundlePreKey, BundleSignedPreKey, KEY_TYPE_DJB, PreKeyBundle, decode_key_id,
    decode_registration_id, encode_registration_id,
};

/// The receipt `type` of retry requests.
pub const RECEIPT_TYPE: &str = "retry";

/// The highest `count` real clients send: whatsmeow stops before its 5th
/// request, Baileys after `maxMsgRetryCount` (5) requests.
pub const MAX_COUNT: u32 = 5;

/// Whether a request with this count carries `<keys>` (both clients add them
/// from the second request on; a receiver that knows it lacks the session may
/// add them to the first).
pub fn keys_expected(count: u32) -> bool {
    count > 1
}

/// Why a node is not a well-formed retry receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    /// The node is not a `<receipt type="retry">`.
    #[error("not a retry receipt")]
    NotARetry,
    /// A required element or attribute is absent.
    #[error("retry receipt without {0}")]
    Missing(&'static str),
    /// An element or attribute has the wrong form or size.
    #[error("retry receipt with a malformed {0}")]
    Malformed(&'static str),
}

/// The key material of a retry receipt's `<keys>`: enough to build a new
/// session with the requesting device without fetching its bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryKeys {
    /// The requesting device's bundle. Its `registration` is the receipt's
    /// `<registration>` (which sits outside `<keys>`).
    pub bundle: PreKeyBundle,
    /// `<device-identity>`: the device's `ADVSignedDeviceIdentity`, encoded.
    /// Both reference clients always send it; a primary device has none.
    pub device_identity: Option<Vec<u8>>,
}

/// A retry request, sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRequest {
    /// The message id (`<retry id>`; the receipt's `id` is the same).
    pub id: String,
    /// The other side of the receipt: its `to` when we send it, its `from`
    /// when we receive it (the message's sender device, or the group).
    pub peer: Jid,
    /// `participant`: in groups, the device that sent the message (on the
    /// way out) or that asks for it again (on the way in).
    pub participant: Option<Jid>,
    /// `recipient`: the chat, for copies of our own messages.
    pub recipient: Option<Jid>,
    /// `<retry count>`, 1 for the first request of a message.
    pub count: u32,
    /// `<retry t>`: the message's timestamp, as the message carried it.
    pub timestamp: Option<u64>,
    /// `<registration>`: the requesting device's registration id.
    pub registration_id: u32,
    /// `<keys>`, if included.
    pub keys: Option<RetryKeys>,
}

impl RetryRequest {
    /// The request answering the undecryptable `message` (its `id`, `from`,
    /// `t`, `participant` and `recipient` are copied).
    pub fn for_message(
        message: &Node,
        count: u32,
        registration_id: u32,
        keys: Option<RetryKeys>,
    ) -> Result<RetryRequest, RetryError> {
        Ok(RetryRequest {
            id: message
                .attr_str("id")
                .ok_or(RetryError::Missing("message id"))?
                .to_owned(),
            peer: jid_attr(message, "from")?.ok_or(RetryError::Missing("message from"))?,
            participant: jid_attr(message, "participant")?,
            recipient: jid_attr(message, "recipient")?,
            count,
            timestamp: message
                .attr_str("t")
                .map(|t| t.parse().map_err(|_| RetryError::Malformed("t")))
                .transpose()?,
            registration_id,
            keys,
        })
    }

    /// The device that asks (received) or is asked (sent): `participant` in
    /// groups, else the peer.
    pub fn device(&self) -> &Jid {
        match &self.participant {
            Some(p) if self.peer.is_group() => p,
            _ => &self.peer,
        }
    }

    /// The `<receipt type="retry">` to send.
    pub fn to_node(&self) -> Node {
        let mut receipt = Node::new("receipt")
            .attr("id", self.id.clone())
            .attr("to", self.peer.clone())
            .attr("type", RECEIPT_TYPE);
        if let Some(p) = &self.participant {
            receipt = receipt.attr("participant", p.clone());
        }
        if let Some(r) = &self.recipient {
            receipt = receipt.attr("recipient", r.clone());
        }
        let mut retry = Node::new("retry")
            .attr("count", self.count.to_string())
            .attr("id", self.id.clone());
        if let Some(t) = self.timestamp {
            retry = retry.attr("t", t.to_string());
        }
        let mut children = vec![
            retry.attr("v", "1"),
            Node::new("registration").bytes(encode_registration_id(self.registration_id).to_vec()),
        ];
        if let Some(keys) = &self.keys {
            children.push(keys_node(keys));
        }
        receipt.children(children)
    }

    /// Reads a received `<receipt type="retry">`. Every field is checked;
    /// unknown attributes (Baileys adds `error="0"` to `<retry>`) are ignored.
    pub fn parse(node: &Node) -> Result<RetryRequest, RetryError> {
        if node.tag != "receipt" || node.attr_str("type") != Some(RECEIPT_TYPE) {
            return Err(RetryError::NotARetry);
        }
        let retry = node.child("retry").ok_or(RetryError::Missing("retry"))?;
        let id = retry
            .attr_str("id")
            .or_else(|| node.attr_str("id"))
            .filter(|id| !id.is_empty())
            .ok_or(RetryError::Missing("retry id"))?
            .to_owned();
        let count = retry
            .attr_str("count")
            .ok_or(RetryError::Missing("retry count"))?
            .parse::<u32>()
            .ok()
            .filter(|c| *c >= 1)
            .ok_or(RetryError::Malformed("retry count"))?;
        let timestamp = retry
            .attr_str("t")
            .map(|t| t.parse().map_err(|_| RetryError::Malformed("retry t")))
            .transpose()?;
        let registration = node
            .child("registration")
            .ok_or(RetryError::Missing("registration"))?
            .content_bytes()
            .ok_or(RetryError::Malformed("registration"))?;
        let registration_id = decode_registration_id(registration)
            .map_err(|_| RetryError::Malformed("registration"))?;
        let keys = node
            .child("keys")
            .map(|k| parse_keys(k, registration))
            .transpose()?;
        Ok(RetryRequest {
            id,
            peer: jid_attr(node, "from")?.ok_or(RetryError::Missing("from"))?,
            participant: jid_attr(node, "participant")?,
            recipient: jid_attr(node, "recipient")?,
            count,
            timestamp,
            registration_id,
            keys,
        })
    }
}

/// Attributes of the `<enc>` of a resend: `v="2"`, the Signal type, and the
/// request's `count` (whatsmeow `retry.go` `handleRetryReceipt`; Baileys
/// `Socket/messages-send.js` `relayMessage` with a `participant`).
pub fn resend_enc(enc_type: &str, count: u32, ciphertext: Vec<u8>) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", enc_type.to_owned())
        .attr("count", count.to_string())
        .bytes(ciphertext)
}

fn keys_node(keys: &RetryKeys) -> Node {
    let b = &keys.bundle;
    let mut children = vec![
        Node::new("type").bytes(b.key_type.clone()),
        Node::new("identity").bytes(b.identity.clone()),
    ];
    if let Some(k) = &b.prekey {
        children.push(Node::new("key").children(vec![
            Node::new("id").bytes(k.id.clone()),
            Node::new("value").bytes(k.value.clone()),
        ]));
    }
    let s = &b.signed_prekey;
    children.push(Node::new("skey").children(vec![
        Node::new("id").bytes(s.id.clone()),
        Node::new("value").bytes(s.value.clone()),
        Node::new("signature").bytes(s.signature.clone()),
    ]));
    if let Some(di) = &keys.device_identity {
        children.push(Node::new("device-identity").bytes(di.clone()));
    }
    Node::new("keys").children(children)
}

fn parse_keys(keys: &Node, registration: &[u8]) -> Result<RetryKeys, RetryError> {
    let key_type = bytes(keys, "type", "keys/type")?;
    if key_type != [KEY_TYPE_DJB] {
        return Err(RetryError::Malformed("keys/type"));
    }
    let identity = sized(keys, "identity", "keys/identity", 32)?;
    let skey = keys.child("skey").ok_or(RetryError::Missing("keys/skey"))?;
    let signed_prekey = BundleSignedPreKey {
        id: key_id(skey, "keys/skey/id")?,
        value: sized(skey, "value", "keys/skey/value", 32)?,
        signature: sized(skey, "signature", "keys/skey/signature", 64)?,
    };
    let prekey = keys
        .child("key")
        .map(|k| {
            Ok::<_, RetryError>(BundlePreKey {
                id: key_id(k, "keys/key/id")?,
                value: sized(k, "value", "keys/key/value", 32)?,
            })
        })
        .transpose()?;
    let device_identity = keys
        .child("device-identity")
        .map(|d| {
            d.content_bytes()
                .filter(|b| !b.is_empty())
                .map(<[u8]>::to_vec)
                .ok_or(RetryError::Malformed("keys/device-identity"))
        })
        .transpose()?;
    Ok(RetryKeys {
        bundle: PreKeyBundle {
            registration: registration.to_vec(),
            key_type: key_type.to_vec(),
            identity,
            signed_prekey,
            prekey,
        },
        device_identity,
    })
}

fn bytes<'a>(parent: &'a Node, tag: &str, what: &'static str) -> Result<&'a [u8], RetryError> {
    parent
        .child(tag)
        .ok_or(RetryError::Missing(what))?
        .content_bytes()
        .ok_or(RetryError::Malformed(what))
}

fn sized(parent: &Node, tag: &str, what: &'static str, len: usize) -> Result<Vec<u8>, RetryError> {
    let b = bytes(parent, tag, what)?;
    if b.len() != len {
        return Err(RetryError::Malformed(what));
    }
    Ok(b.to_vec())
}

fn key_id(parent: &Node, what: &'static str) -> Result<Vec<u8>, RetryError> {
    let b = bytes(parent, "id", what)?;
    decode_key_id(b).map_err(|_| RetryError::Malformed(what))?;
    Ok(b.to_vec())
}

/// A JID attribute, in either attribute form (decoded stanzas carry JIDs,
/// hand-built ones may carry strings).
fn jid_attr(node: &Node, key: &'static str) -> Result<Option<Jid>, RetryError> {
    match node.attrs.get(key) {
        None => Ok(None),
        Some(v) => match (v.as_jid(), v.as_str()) {
            (Some(j), _) => Ok(Some(j.clone())),
            (None, Some(s)) => s.parse().map(Some).map_err(|_| RetryError::Malformed(key)),
            (None, None) => Err(RetryError::Malformed(key)),
        },
    }
}

#[cfg(test)]
mod tests;
