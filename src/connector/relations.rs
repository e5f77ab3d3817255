//! Replies, mentions, edits, reactions and deletes, both ways.
//!
//! WhatsApp -> Matrix: a reaction becomes an `m.reaction` of the reactor's
//! ghost (a new emoji redacts the old event, an empty one just redacts), an
//! edit an `m.replace`, a revoke a redaction; a reply gets
//! `m.in_reply_to`, mentions become pills and `m.mentions`.
//! Matrix -> WhatsApp: the user's `m.reaction`, `m.replace` of their own
//! message, redaction of their own message or reaction, replies and pills.

use ruma::UserId;
use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tracing::debug;
use wa_client::Client;
use wa_core::content::{self, Action};
use wa_core::jid::{Jid, Server};
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::message::{FutureProofMessage, ProtocolMessage, ReactionMessage};
use wa_core::proto::{ContextInfo, Message as WaMessage, MessageKey};

mod outgoing;

use crate::connector::from_matrix::mentions::{pills, pills_to_numbers};
use crate::connector::from_matrix::text::{html_of, whatsapp_text};
use crate::connector::to_matrix::mentions::{escape_html, with_pills};
use crate::connector::to_matrix::merge;
pub(super) use outgoing::{
    Decoration, chat_of, decorate_outgoing, edit_from_matrix, key_of, message_in, new_user_event,
    refuse, user_event,
};
pub use outgoing::{reaction_from_matrix, redaction_from_matrix};

use super::acks;
use super::incoming::{Incoming, IncomingError, ghost_ids};
use ruma::OwnedEventId;
use ruma::events::Mentions;
use ruma::events::relation::Annotation;
use ruma::events::relation::InReplyTo;
use ruma::events::relation::Replacement;
use ruma::events::room::message::{
    FormattedBody, MessageType, Relation, RoomMessageEventContent,
    RoomMessageEventContentWithoutRelation,
};
use ruma::events::sticker::StickerEventContent;

use crate::appservice::Event;
use crate::bridge::{Actor, Change};
use crate::connector::Bridge;
use crate::store::{Login, Message, Portal, Reaction, StoreError, now_ms};

/// A WhatsApp reaction, edit or revoke, as the core's change of the
/// message it names, shown by `actor`. Returns the Matrix event made, if
/// any.
pub(super) async fn apply(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    portal: &Portal,
    m: &Incoming<'_>,
    actor: &Actor,
    action: Action<'_>,
) -> Result<Option<OwnedEventId>, IncomingError> {
    let Some(target_id) = action_key(&action).id.as_deref() else {
        return Ok(None);
    };
    let change = match action {
        Action::React { emoji, .. } => Change::React(emoji.to_owned()),
        Action::Edit { content, .. } => match edited(content) {
            Some(new) => Change::Edit(new),
            None => return Ok(None),
        },
        Action::Revoke { .. } => Change::Delete,
    };
    let admin = is_group_admin(client, m.chat, m.sender);
    Ok(bridge
        .change_remote(portal, &m.remote(login), actor, (target_id, change), admin)
        .await?)
}

/// An edit's new words (a text's or caption's; an event's details as the
/// event shows them), as Matrix content.
fn edited(content: &WaMessage) -> Option<MessageType> {
    let shown = || {
        crate::connector::to_matrix::structured::content(content)
            .and_then(|c| c["body"].as_str().map(str::to_owned))
    };
    let text = text_of(content).map(str::to_owned).or_else(shown)?;
    Some(
        match crate::connector::to_matrix::markup::whatsapp_to_html(&text) {
            Some(html) => MessageType::text_html(text, html),
            None => MessageType::text_plain(text),
        },
    )
}

/// Whether `who` is an admin of group `chat` (never, for a chat that is
/// not a group, or when the group cannot be read).
async fn is_group_admin(client: &Client, chat: &Jid, who: &Jid) -> bool {
    if !chat.is_group() {
        return false;
    }
    let info = match client.group_info(chat).await {
        Ok(info) => info,
        Err(e) => {
            debug!(error = %e, "group not read; the deletion is not trusted");
            return false;
        }
    };
    let who = super::addressing::by_number(client, who).await;
    for admin in &info.admins {
        let admin = super::addressing::by_number(client, admin).await;
        if admin.user() == who.user() {
            return true;
        }
    }
    false
}

fn action_key<'a>(action: &Action<'a>) -> &'a MessageKey {
    match action {
        Action::React { key, .. } | Action::Edit { key, .. } | Action::Revoke { key } => key,
    }
}

/// The text of a message: plain or extended text, or a media caption.
fn text_of(m: &WaMessage) -> Option<&str> {
    let m = content::unwrap(m);
    m.conversation
        .as_deref()
        .or_else(|| {
            m.extended_text_message
                .as_ref()
                .and_then(|e| e.text.as_deref())
        })
        .or_else(|| m.image_message.as_ref().and_then(|i| i.caption.as_deref()))
        .or_else(|| m.video_message.as_ref().and_then(|v| v.caption.as_deref()))
        .or_else(|| {
            m.document_message
                .as_ref()
                .and_then(|d| d.caption.as_deref())
        })
}

/// A WhatsApp reply and mentions onto the Matrix `content` of `m`.
pub(super) async fn decorate(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    portal: &Portal,
    m: &Incoming<'_>,
    content: &mut Value,
) -> Result<(), IncomingError> {
    let Some(info) = content::context_info(m.message) else {
        return Ok(());
    };
    if let Some(quoted) = info.stanza_id.as_deref()
        && let Some(target) = bridge
            .db()
            .message_by_id(&login.login_id, &portal.chat_id, quoted)
            .await?
    {
        let reply = ReplyTo {
            in_reply_to: InReplyTo::new(target.event_id),
        };
        merge(content, &WithRelation { relates_to: reply });
    }
    if info.mentioned_jid.is_empty() || content.get("body").is_none() {
        return Ok(());
    }
    let body = content["body"].as_str().unwrap_or_default().to_owned();
    let html = content
        .get("formatted_body")
        .and_then(Value::as_str)
        .map_or_else(|| escape_html(&body).replace('\n', "<br>"), str::to_owned);
    // At most MAX_MENTIONS distinct people, each looked up once.
    let mut people: HashMap<String, (String, String)> = HashMap::new();
    let mut user_ids = Vec::new();
    for jid in info
        .mentioned_jid
        .iter()
        .filter_map(|j| j.parse::<Jid>().ok())
    {
        if people.len() >= MAX_MENTIONS {
            break;
        }
        if people.contains_key(jid.user()) {
            continue;
        }
        // The text names the LID in a LID-addressed chat; the ghost is
        // the number's where the login knows it.
        let person = super::addressing::by_number(client, &jid).await;
        let own = super::addressing::is_own(client, &person)
            || login.phone.as_deref() == Some(person.user());
        let (mxid, name) = if own {
            (login.mxid.clone(), login.mxid.to_string())
        } else {
            let (network_id, localpart) = ghost_ids(bridge, &person);
            let Ok(mxid) = bridge.matrix().user_id(&localpart) else {
                continue;
            };
            let name = bridge
                .db()
                .ghost(&network_id)
                .await?
                .and_then(|g| g.display_name)
                .unwrap_or_else(|| super::incoming::ghost_id(&person).fallback_name);
            (mxid, name)
        };
        people.insert(jid.user().to_owned(), (mxid.to_string(), name));
        user_ids.push(mxid);
    }
    let mentioned = Mentioned {
        formatted: FormattedBody::html(with_pills(&html, &people)),
        mentions: Mentions::with_user_ids(user_ids),
    };
    merge(content, &mentioned);
    Ok(())
}

/// A reply, as `m.relates_to` of any content.
#[derive(Debug, Serialize)]
struct ReplyTo {
    #[serde(rename = "m.in_reply_to")]
    in_reply_to: InReplyTo,
}

/// `m.relates_to` to put onto a content.
#[derive(Debug, Serialize)]
struct WithRelation<R> {
    #[serde(rename = "m.relates_to")]
    relates_to: R,
}

/// The HTML with pills and `m.mentions` of a message that mentions people.
#[derive(Debug, Serialize)]
struct Mentioned {
    #[serde(flatten)]
    formatted: FormattedBody,
    #[serde(rename = "m.mentions")]
    mentions: Mentions,
}

/// The most people one message's mentions are shown for.
const MAX_MENTIONS: usize = 64;

/// Whether `sender_id` (a network id) is the logged-in account.
fn is_own(client: &Client, sender_id: &str) -> bool {
    sender_id
        .parse::<Jid>()
        .is_ok_and(|j| super::addressing::is_own(client, &j))
}

/// The WhatsApp JID of a Matrix user named in a message: one of our ghosts,
/// or the user themself.
pub(in crate::connector) fn jid_of_mxid(
    bridge: &Bridge,
    login: &Login,
    client: &Client,
    mxid: &UserId,
) -> Option<Jid> {
    if mxid == login.mxid {
        return Some(client.jid().to_non_ad());
    }
    let local = mxid.localpart();
    if mxid.server_name() != bridge.config().homeserver.domain.as_str() {
        return None;
    }
    let id = bridge.config().appservice.ghost_id(local)?;
    match id.strip_prefix("lid-") {
        Some(lid) => Some(Jid::new(lid, Server::Lid)),
        None if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) => {
            Some(Jid::user_jid(&id))
        }
        None => None,
    }
}
