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
use tracing::{debug, info, warn};
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
use ruma::events::Mentions;
use ruma::events::MessageLikeEventContent;
use ruma::events::reaction::ReactionEventContent;
use ruma::events::relation::Annotation;
use ruma::events::relation::InReplyTo;
use ruma::events::relation::Replacement;
use ruma::events::room::message::{
    FormattedBody, MessageType, Relation, RoomMessageEventContent,
    RoomMessageEventContentWithoutRelation,
};
use ruma::events::sticker::StickerEventContent;
use ruma::{EventId, OwnedEventId};

use crate::appservice::{Event, Intent};
use crate::connector::Bridge;
use crate::store::{Login, Message, Portal, Reaction, StoreError, now_ms};

/// The transaction id of the Matrix event for WhatsApp message `id`
/// (the same message always gives the same one).
fn wa_txn(login: &Login, id: &str, what: &str) -> String {
    format!(
        "wa{}{}{what}",
        login.login_id,
        id.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    )
}

/// Applies a WhatsApp reaction, edit or revoke to the portal; `intent` is
/// who sent `m` on Matrix. Returns the Matrix event made, if any.
pub(super) async fn apply(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    portal: &Portal,
    m: &Incoming<'_>,
    intent: &Intent,
    action: Action<'_>,
) -> Result<Option<OwnedEventId>, IncomingError> {
    let Some(target_id) = action_key(&action).id.as_deref() else {
        return Ok(None);
    };
    let Some(target) = bridge
        .db()
        .message_by_id(&login.login_id, &portal.chat_id, target_id)
        .await?
    else {
        debug!(id = %m.id, "the target of a reaction, edit or revoke is not bridged");
        return Ok(None);
    };
    let puppet = m.from_me && bridge.puppet(&login.mxid).is_some();
    let sender = m.sender.to_non_ad().to_string();
    match action {
        Action::React { emoji, .. } => {
            react(bridge, login, portal, m, intent, puppet, &target, emoji).await
        }
        Action::Edit { content, .. } => {
            if target.sender_id != sender && !m.from_me {
                debug!(id = %m.id, "an edit of someone else's message; ignored");
                return Ok(None);
            }
            edit(bridge, login, portal, m, intent, puppet, &target, content).await
        }
        Action::Revoke { .. } => {
            if target.sender_id != sender
                && !m.from_me
                && !is_group_admin(client, m.chat, m.sender).await
            {
                // WhatsApp lets only the sender (or a group admin) delete a
                // message: anyone else's revoke deletes nothing (issue 18).
                info!(id = %m.id, "a deletion of someone else's message by a non-admin; ignored");
                return Ok(None);
            }
            revoke(bridge, login, portal, m, intent, puppet, &target).await
        }
    }
}

/// A WhatsApp edit of `target` as an `m.replace` of its event, with the new
/// words (a text's or caption's; an event's details as the event shows).
#[allow(clippy::too_many_arguments)]
async fn edit(
    bridge: &Bridge,
    login: &Login,
    portal: &Portal,
    m: &Incoming<'_>,
    intent: &Intent,
    puppet: bool,
    target: &Message,
    content: &WaMessage,
) -> Result<Option<OwnedEventId>, IncomingError> {
    let shown = || {
        crate::connector::to_matrix::structured::content(content)
            .and_then(|c| c["body"].as_str().map(str::to_owned))
    };
    let Some(text) = text_of(content).map(str::to_owned).or_else(shown) else {
        return Ok(None);
    };
    let target_id = target.event_id.clone();
    let (body, html) = (
        text.as_str(),
        crate::connector::to_matrix::markup::whatsapp_to_html(&text),
    );
    let shown = |prefix: &str| match &html {
        Some(html) => MessageType::text_html(format!("{prefix}{body}"), format!("{prefix}{html}")),
        None => MessageType::text_plain(format!("{prefix}{body}")),
    };
    let mut content = RoomMessageEventContent::new(shown("* "));
    content.relates_to = Some(Relation::Replacement(Replacement::new(
        target_id,
        RoomMessageEventContentWithoutRelation::new(shown("")),
    )));
    let event_id = send_for(intent, (login, portal), m, &content, puppet).await?;
    record(bridge, login, portal, m, &event_id).await?;
    Ok(Some(event_id))
}

/// A WhatsApp revoke of `target` as a redaction of its event. The user's
/// own revoke with double puppeting is redacted by the bot, so its echo is
/// not taken for a new redaction; a sender that may not redact leaves it to
/// the bot.
async fn revoke(
    bridge: &Bridge,
    login: &Login,
    portal: &Portal,
    m: &Incoming<'_>,
    intent: &Intent,
    puppet: bool,
    target: &Message,
) -> Result<Option<OwnedEventId>, IncomingError> {
    let by = if puppet { bridge.bot() } else { intent };
    let txn = wa_txn(login, m.id, "");
    let event_id = match by
        .redact(&portal.room_id, &target.event_id, None, &txn)
        .await
    {
        Ok(id) => id,
        Err(e) => {
            debug!(error = %e, "the sender could not redact; the bot does");
            bridge
                .bot()
                .redact(&portal.room_id, &target.event_id, None, &txn)
                .await?
        }
    };
    record(bridge, login, portal, m, &event_id).await?;
    Ok(Some(event_id))
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

/// Records `m` as bridged to `event_id` (so a redelivery is recognised).
/// Sends `content` as `intent` into the portal for WhatsApp message `m`
/// (at its time, under the transaction id the message always gives),
/// marked as the user's own when it is sent as the user (`puppet`).
async fn send_for<C: MessageLikeEventContent>(
    intent: &Intent,
    (login, portal): (&Login, &Portal),
    m: &Incoming<'_>,
    content: &C,
    puppet: bool,
) -> Result<OwnedEventId, IncomingError> {
    let (kind, content) = super::incoming::marked(content, puppet)?;
    Ok(intent
        .send_message_event(
            &portal.room_id,
            &kind,
            &content,
            &wa_txn(login, m.id, ""),
            Some(m.ts_ms),
        )
        .await?)
}

async fn record(
    bridge: &Bridge,
    login: &Login,
    portal: &Portal,
    m: &Incoming<'_>,
    event_id: &EventId,
) -> Result<(), IncomingError> {
    let record = Message {
        login_id: login.login_id.clone(),
        chat_id: portal.chat_id.clone(),
        sender_id: m.sender.to_non_ad().to_string(),
        message_id: m.id.to_owned(),
        room_id: portal.room_id.clone(),
        event_id: event_id.to_owned(),
        sent_at: i64::try_from(m.ts_ms).unwrap_or(i64::MAX),
    };
    match bridge.db().save_message(&record).await {
        Ok(()) | Err(StoreError::Duplicate { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn react(
    bridge: &Bridge,
    login: &Login,
    portal: &Portal,
    m: &Incoming<'_>,
    intent: &Intent,
    puppet: bool,
    target: &Message,
    emoji: &str,
) -> Result<Option<OwnedEventId>, IncomingError> {
    let reactor = m.sender.to_non_ad().to_string();
    let old = bridge
        .db()
        .reaction(
            &login.login_id,
            &portal.chat_id,
            &target.sender_id,
            &target.message_id,
            &reactor,
        )
        .await?;
    if let Some(old) = &old {
        if old.emoji == emoji {
            return Ok(Some(old.event_id.clone()));
        }
        let txn = wa_txn(login, m.id, "r");
        if let Err(e) = intent
            .redact(&portal.room_id, &old.event_id, None, &txn)
            .await
        {
            warn!(error = %e, "could not redact a replaced reaction");
        }
        bridge.db().delete_reaction(&old.event_id).await?;
    }
    if emoji.is_empty() {
        return Ok(None);
    }
    let target_id = target.event_id.clone();
    let reaction = ReactionEventContent::new(Annotation::new(target_id, emoji.to_owned()));
    let event_id = send_for(intent, (login, portal), m, &reaction, puppet).await?;
    bridge
        .db()
        .save_reaction(&Reaction {
            login_id: login.login_id.clone(),
            chat_id: portal.chat_id.clone(),
            target_sender_id: target.sender_id.clone(),
            target_message_id: target.message_id.clone(),
            reactor_id: reactor,
            emoji: emoji.to_owned(),
            room_id: portal.room_id.clone(),
            event_id: event_id.clone(),
            sent_at: i64::try_from(m.ts_ms).unwrap_or(i64::MAX),
        })
        .await?;
    Ok(Some(event_id))
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
    login: &Login,
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
        let own = login.phone.as_deref() == Some(jid.user())
            || login
                .jid
                .as_deref()
                .and_then(|j| j.parse::<Jid>().ok())
                .is_some_and(|j| j.user() == jid.user());
        let (mxid, name) = if own {
            (login.mxid.clone(), login.mxid.to_string())
        } else {
            let (network_id, localpart) = ghost_ids(bridge, &jid);
            let Ok(mxid) = bridge.matrix().user_id(&localpart) else {
                continue;
            };
            let name = bridge
                .db()
                .ghost(&network_id)
                .await?
                .and_then(|g| g.display_name)
                .unwrap_or_else(|| format!("+{}", jid.user()));
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
        .is_ok_and(|j| j.user() == client.jid().user() || j.user() == client.lid().user())
}

/// The WhatsApp JID of a Matrix user named in a message: one of our ghosts,
/// or the user themself.
fn jid_of_mxid(bridge: &Bridge, login: &Login, client: &Client, mxid: &UserId) -> Option<Jid> {
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
