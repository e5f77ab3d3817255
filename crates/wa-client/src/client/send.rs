//! Sending: 1:1 client fan-out, groups with sender keys, and resends asked
//! for by retry receipts (in [`retry`]).

mod retry;

pub(crate) use retry::{resend_on_retry, retry_receipt};

use std::collections::BTreeSet;
use std::sync::Arc;

use prost::Message as _;
use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::content::{StanzaAttrs, stanza_attrs};
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message;
use wa_core::proto::message::{DeviceSentMessage, SenderKeyDistributionMessage};
use wa_core::reporting;
use wa_core::signal::{self, EncType};

use super::{SendError, Shared, groups, lock};
use crate::crypto::{PairwiseJob, PairwiseOut};
use crate::device_lists::{self, Target};
use crate::socket::Connection;

pub(crate) fn padded(message: &Message) -> Arc<Vec<u8>> {
    Arc::new(signal::pad(&message.encode_to_vec(), rand::random::<u8>()))
}

fn to_node(device: &Jid, kind: EncType, ciphertext: Vec<u8>, attrs: &EncAttrs) -> Node {
    let enc = attrs.apply(Node::new("enc").attr("v", "2").attr("type", kind.as_str()));
    Node::new("to")
        .attr("jid", device.clone())
        .children(vec![enc.bytes(ciphertext)])
}

/// What the `<enc>` nodes of a message carry besides `v` and `type`.
#[derive(Debug, Clone, Copy, Default)]
struct EncAttrs {
    media_type: Option<&'static str>,
    hide: bool,
}

impl EncAttrs {
    fn apply(self, mut enc: Node) -> Node {
        if let Some(m) = self.media_type {
            enc = enc.attr("mediatype", m);
        }
        if self.hide {
            enc = enc.attr("decrypt-fail", "hide");
        }
        enc
    }
}

/// The `<message>` node with the `type` (and `edit`) that `message` needs.
fn message_node(id: &str, to: &Jid, attrs: &StanzaAttrs) -> Node {
    let node = Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", to.clone())
        .attr("type", attrs.kind);
    match attrs.edit {
        Some(edit) => node.attr("edit", edit),
        None => node,
    }
}

/// `<meta polltype=…/>`, which a poll or a vote carries beside its
/// ciphertexts.
fn poll_meta(attrs: &StanzaAttrs) -> Option<Node> {
    attrs
        .poll_type
        .map(|kind| Node::new("meta").attr("polltype", kind))
}

/// Encrypts and writes one message; the server's ack arrives later.
pub(crate) async fn send(
    shared: &Arc<Shared>,
    conn: &Connection,
    id: &str,
    to: &Jid,
    message: &Message,
) -> Result<(), SendError> {
    let message = &with_secret(message, to);
    // Kept before it leaves: a bot's reply to it is sealed with it.
    super::secrets::keep(shared, to, &shared.own.pn, id, message).await?;
    if to.is_group() {
        send_group(shared, conn, id, to, message).await
    } else {
        send_direct(shared, conn, id, to, message).await
    }
}

/// `message` with a `messageSecret` when it is to carry a reporting token
/// or goes to a bot, which seals its reply with it (as whatsmeow adds one:
/// `send.go` `needsMessageSecret`); to a bot also with the bot's persona
/// (`botMetadata`, as whatsmeow sends it).
pub(crate) fn with_secret<'m>(message: &'m Message, to: &Jid) -> std::borrow::Cow<'m, Message> {
    let context = message.message_context_info.as_ref();
    let needs_secret = context.is_none_or(|c| c.message_secret.is_none())
        && (to.is_bot() || reporting::should_include(message));
    let needs_persona = to.is_bot() && context.is_none_or(|c| c.bot_metadata.is_none());
    if !needs_secret && !needs_persona {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut m = message.clone();
    let context = m.message_context_info.get_or_insert_with(Default::default);
    if needs_secret {
        context.message_secret = Some(rand::random::<[u8; 32]>().to_vec());
    }
    if needs_persona {
        context.bot_metadata = Some(wa_core::proto::BotMetadata {
            persona_id: Some(DEFAULT_BOT_PERSONA.to_owned()),
        });
    }
    std::borrow::Cow::Owned(m)
}

/// The persona whatsmeow names in every message to a bot that has none
/// (`send.go`, `BotMetadata.personaID`, 33cfac51): Meta AI's default.
const DEFAULT_BOT_PERSONA: &str = "867051314767696$760019659443059";

/// The `<reporting>` node (message franking) the official client and
/// Baileys send with most messages, computed as whatsmeow does: keyed by
/// the message id, our own bare JID in the chat's addressing and the chat,
/// over the unpadded message (`reportingtoken.go`).
fn reporting_node(message: &Message, id: &str, sender: &Jid, chat: &Jid) -> Option<Node> {
    let secret = message
        .message_context_info
        .as_ref()?
        .message_secret
        .as_ref()?;
    if !reporting::should_include(message) {
        return None;
    }
    let token = reporting::token(
        secret,
        id,
        &sender.to_non_ad().to_string(),
        &chat.to_non_ad().to_string(),
        &message.encode_to_vec(),
    );
    Some(reporting::node(token))
}

/// The own-devices copy of a 1:1 message.
fn own_copy(to: &Jid, message: &Message) -> Message {
    Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(to.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        ..Default::default()
    }
}

/// A 1:1 message, addressed as whatsmeow does since July 2026 (`send.go`
/// `SendMessage`, "always use LID for DMs"): to the peer's LID, with the
/// phone number beside it in `peer_recipient_pn`, fanned out to the LID
/// devices of both accounts. Without a known LID (after the device query
/// asked for it) nothing is sent.
async fn send_direct(
    shared: &Arc<Shared>,
    conn: &Connection,
    id: &str,
    to: &Jid,
    message: &Message,
) -> Result<(), SendError> {
    let own_user = shared.own.lid.to_non_ad();
    let targets = device_lists::resolve(
        conn,
        &*shared.store,
        &shared.crypto,
        &shared.own,
        &[to.clone(), own_user],
    )
    .await?;
    let Some(chat) = device_lists::lid_of(&*shared.store, to).await? else {
        warn!(%to, "no LID known for this phone number; not sent");
        return Err(SendError::NoDevices);
    };
    let peer_pn = if to.is_lid() {
        shared
            .store
            .pn_for_lid(to.user())
            .await?
            .map(|pn| Jid::new(pn, Server::User))
    } else {
        Some(to.to_non_ad())
    };
    let peer_plain = padded(message);
    let own_plain = padded(&own_copy(&chat, message));
    let jobs = targets
        .into_iter()
        .map(|t: Target| PairwiseJob {
            plaintext: if t.own {
                own_plain.clone()
            } else {
                peer_plain.clone()
            },
            device: t.device,
            bundle: t.bundle,
        })
        .collect();
    let (outs, changed) = shared.crypto.encrypt_pairwise(jobs).await?;
    identity_notices(shared, changed).await;
    let attrs = stanza_attrs(message);
    let enc = EncAttrs {
        media_type: attrs.media_type,
        hide: attrs.hide_decrypt_fail,
    };
    let (participants, any_pkmsg) = participants(outs, &enc);
    let reached_peer = participants
        .iter()
        .any(|p| p.attr_jid("jid").is_some_and(|j| j.user() == chat.user()));
    if !reached_peer {
        return Err(SendError::NoDevices);
    }
    let mut children = vec![Node::new("participants").children(participants)];
    if any_pkmsg {
        children.push(device_identity(shared).await);
    }
    children.extend(poll_meta(&attrs));
    children.extend(reporting_node(message, id, &shared.own.lid, &chat));
    // Last, as whatsmeow puts it: the contact's privacy token if we hold
    // one and the server wants it sent (prop 10518), else a cstoken if we
    // hold the salt.
    let tokens_on = lock(&shared.session).tokens_on_one_to_one();
    let token = match tokens_on {
        true => super::tokens::attach(shared, to, Some(&chat)).await?,
        false => None,
    };
    match token {
        Some(token) => children.push(token),
        None => children.extend(super::tokens::cstoken(shared, &chat).await),
    }
    let mut stanza = message_node(id, &chat, &attrs);
    if let Some(pn) = peer_pn {
        stanza = stanza.attr("peer_recipient_pn", pn);
    }
    let stanza = stanza.children(children);
    lock(&shared.recent).insert(id.to_owned(), chat.clone(), message.clone());
    conn.send(&stanza).await?;
    debug!(%id, "message sent");
    if chat.user() != shared.own.lid.user() && super::tokens::issues_for(to, message) {
        tokio::spawn(super::tokens::issue_if_due(
            shared.clone(),
            conn.clone(),
            to.to_non_ad(),
        ));
    }
    Ok(())
}

async fn identity_notices(shared: &Shared, changed: Vec<Jid>) {
    for device in changed {
        shared
            .emit(super::ClientEvent::IdentityChanged { device })
            .await;
    }
}

pub(crate) async fn device_identity(shared: &Shared) -> Node {
    let account = shared.state.lock().await.account.clone();
    Node::new("device-identity").bytes(account.unwrap_or_default().encode_to_vec())
}

/// `<to>` nodes for the devices that got a ciphertext, and whether any is a
/// `pkmsg` (then the message carries our device identity).
fn participants(outs: Vec<PairwiseOut>, enc: &EncAttrs) -> (Vec<Node>, bool) {
    let mut nodes = Vec::with_capacity(outs.len());
    let mut any_pkmsg = false;
    for o in outs {
        match o.result {
            Ok((kind, ct)) => {
                any_pkmsg |= kind == EncType::Pkmsg;
                nodes.push(to_node(&o.device, kind, ct, enc));
            }
            Err(e) => {
                warn!(device = %o.device, error = %e, "could not encrypt for a device; skipping")
            }
        }
    }
    (nodes, any_pkmsg)
}

async fn send_group(
    shared: &Arc<Shared>,
    conn: &Connection,
    id: &str,
    group: &Jid,
    message: &Message,
) -> Result<(), SendError> {
    let info = groups::members(shared, conn, group).await?;
    let mut users: Vec<Jid> = info.participants.clone();
    users.push(shared.own.pn.to_non_ad());
    let targets =
        device_lists::resolve(conn, &*shared.store, &shared.crypto, &shared.own, &users).await?;

    let (skdm, skmsg) = shared
        .crypto
        .group_encrypt(group, &shared.own.lid, &padded(message))
        .await?;
    let (outs, new_holders) = distribute_sender_key(shared, group, targets, skdm).await?;
    let (mut participants, any_pkmsg) = participants(outs, &EncAttrs::default());
    let lid_group = info.addressing == groups::Addressing::Lid;
    if !lid_group {
        // A phone-number group names devices by number (whatsmeow
        // `sendGroup`, Baileys `relayMessage`); our sessions stay the LIDs.
        by_number(shared, &mut participants).await?;
    }
    let attrs = stanza_attrs(message);
    let mut children = Vec::new();
    if !participants.is_empty() {
        children.push(Node::new("participants").children(participants));
    }
    let enc = EncAttrs {
        media_type: attrs.media_type,
        hide: attrs.hide_decrypt_fail,
    };
    children.push(
        enc.apply(Node::new("enc").attr("v", "2").attr("type", "skmsg"))
            .bytes(skmsg),
    );
    if any_pkmsg {
        children.push(device_identity(shared).await);
    }
    children.extend(poll_meta(&attrs));
    // We are named in the group's addressing (whatsmeow `sendGroup`).
    let own = if lid_group {
        &shared.own.lid
    } else {
        &shared.own.pn
    };
    children.extend(reporting_node(message, id, own, group));
    let mut stanza = message_node(id, group, &attrs);
    if lid_group {
        // Only LID groups are marked (whatsmeow; Baileys marks every group).
        stanza = stanza.attr("addressing_mode", "lid");
    }
    let stanza = stanza.children(children);
    lock(&shared.recent).insert(id.to_owned(), group.clone(), message.clone());
    conn.send(&stanza).await?;
    // The stanza is out: a failing store here must not make it a failed
    // (and resent) message; the holders not noted get the key again.
    if let Err(e) = shared
        .store
        .add_sender_key_holders(&group.to_string(), &new_holders)
        .await
    {
        warn!(%id, error = %e, "who got our sender key was not noted; they get it again");
    }
    debug!(%id, distributed = new_holders.len(), "group message sent");
    Ok(())
}

/// Encrypts our sender key for `group` to each of `targets` that does not
/// hold it yet. Returns the ciphertexts, and the devices that will hold the
/// key once the message is out.
async fn distribute_sender_key(
    shared: &Shared,
    group: &Jid,
    targets: Vec<Target>,
    skdm: Vec<u8>,
) -> Result<(Vec<PairwiseOut>, Vec<String>), SendError> {
    let holders: BTreeSet<String> = shared
        .store
        .sender_key_holders(&group.to_string())
        .await?
        .into_iter()
        .collect();
    let distribution = padded(&Message {
        sender_key_distribution_message: Some(SenderKeyDistributionMessage {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(skdm),
        }),
        ..Default::default()
    });
    let jobs: Vec<PairwiseJob> = targets
        .into_iter()
        .filter(|t| !holders.contains(&t.device.to_string()))
        .map(|t| PairwiseJob {
            device: t.device,
            bundle: t.bundle,
            plaintext: distribution.clone(),
        })
        .collect();
    let (outs, changed) = shared.crypto.encrypt_pairwise(jobs).await?;
    identity_notices(shared, changed).await;
    let new_holders: Vec<String> = outs
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.device.to_string())
        .collect();
    Ok((outs, new_holders))
}

/// Renames the LID devices of `<to>` nodes to their phone-number form.
/// A device whose number is unknown keeps its LID (the server then refuses
/// the stanza, which fails the send visibly).
async fn by_number(shared: &Shared, to_nodes: &mut [Node]) -> Result<(), SendError> {
    let mut numbers: std::collections::HashMap<String, Option<String>> = Default::default();
    for node in to_nodes.iter_mut() {
        let Some(device) = node.attr_jid("jid").cloned().filter(Jid::is_lid) else {
            continue;
        };
        let pn = if device.user() == shared.own.lid.user() {
            Some(shared.own.pn.user().to_owned())
        } else if let Some(known) = numbers.get(device.user()) {
            known.clone()
        } else {
            let found = shared.store.pn_for_lid(device.user()).await?;
            numbers.insert(device.user().to_owned(), found.clone());
            found
        };
        match pn {
            Some(pn) => node
                .attrs
                .insert("jid", Jid::with_device(pn, device.device(), Server::User)),
            None => warn!(%device, "no phone number known for a group member's device"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::proto::message::{ImageMessage, ReactionMessage};
    use wa_core::proto::{MessageKey, message::ProtocolMessage};

    fn stanza_for(message: &Message) -> (Node, Node) {
        let to: Jid = "15550001@s.whatsapp.net"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let attrs = stanza_attrs(message);
        let enc = EncAttrs {
            media_type: attrs.media_type,
            hide: attrs.hide_decrypt_fail,
        };
        let node = message_node("3EB0", &to, &attrs);
        (node, to_node(&to, EncType::Msg, vec![1], &enc))
    }

    fn enc_of(to: &Node) -> &Node {
        to.children_by_tag("enc")
            .next()
            .unwrap_or_else(|| unreachable!("to has an enc"))
    }

    #[test]
    fn media_stanza_has_type_media_and_a_mediatype() {
        let image = Message {
            image_message: Some(Box::new(ImageMessage::default())),
            ..Default::default()
        };
        let (node, to) = stanza_for(&image);
        assert_eq!(node.attr_str("type"), Some("media"));
        assert_eq!(node.attr_str("edit"), None);
        assert_eq!(enc_of(&to).attr_str("mediatype"), Some("image"));
        assert_eq!(enc_of(&to).attr_str("decrypt-fail"), None);
    }

    #[test]
    fn reactions_and_revokes_are_marked() {
        let removal = Message {
            reaction_message: Some(ReactionMessage {
                key: Some(MessageKey::default()),
                text: Some(String::new()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (node, to) = stanza_for(&removal);
        assert_eq!(node.attr_str("type"), Some("reaction"));
        assert_eq!(node.attr_str("edit"), Some("7"));
        assert_eq!(enc_of(&to).attr_str("decrypt-fail"), Some("hide"));
        assert_eq!(enc_of(&to).attr_str("mediatype"), None);

        let mut p = ProtocolMessage {
            key: Some(MessageKey {
                from_me: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        p.set_type(wa_core::proto::message::protocol_message::Type::Revoke);
        let revoke = Message {
            protocol_message: Some(Box::new(p)),
            ..Default::default()
        };
        let (node, _) = stanza_for(&revoke);
        assert_eq!(node.attr_str("type"), Some("text"));
        assert_eq!(node.attr_str("edit"), Some("7"));

        let (node, to) = stanza_for(&Message {
            conversation: Some("hi".into()),
            ..Default::default()
        });
        assert_eq!(node.attr_str("type"), Some("text"));
        assert_eq!(node.attr_str("edit"), None);
        assert_eq!(enc_of(&to).attr_str("decrypt-fail"), None);
    }

    #[test]
    fn polls_and_votes_carry_their_polltype() {
        use wa_core::proto::message::{PollCreationMessage, PollUpdateMessage};
        let poll = Message {
            poll_creation_message_v3: Some(Box::new(PollCreationMessage::default())),
            ..Default::default()
        };
        let meta = poll_meta(&stanza_attrs(&poll)).unwrap_or_else(|| unreachable!("a meta"));
        assert_eq!(meta.tag, "meta");
        assert_eq!(meta.attr_str("polltype"), Some("creation"));
        let vote = Message {
            poll_update_message: Some(PollUpdateMessage::default()),
            ..Default::default()
        };
        let meta = poll_meta(&stanza_attrs(&vote)).unwrap_or_else(|| unreachable!("a meta"));
        assert_eq!(meta.attr_str("polltype"), Some("vote"));
        let text = Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert!(poll_meta(&stanza_attrs(&text)).is_none());
    }
}
