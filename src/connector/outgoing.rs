//! Messages and stickers the user sends into a portal, out to WhatsApp:
//! read as ruma's content, converted (text, location, attachment, edit),
//! given the reply and mentions, recorded and queued on the client's
//! outbox, with a failed status and notice for what cannot go.

use ruma::{RoomId, UserId};
use std::sync::Arc;

use ruma::events::room::message::{MessageType, Relation, RoomMessageEventContent};
use tracing::warn;
use wa_client::Client;
use wa_core::jid::Jid;
use wa_core::proto::Message as WaMessage;

use super::{media, relations};
use crate::appservice::Event;
use crate::bridge::status;
use crate::connector::Bridge;
use crate::store::{Portal, StoreError};

/// A Matrix message or sticker in a portal, out to WhatsApp, read as
/// ruma's content. Database failures are errors (the homeserver retries
/// the transaction); the rest is told to the user in the room.
pub async fn from_matrix(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) -> Result<(), StoreError> {
    let what = "message";
    let Some((portal, login, client, _, resend)) =
        relations::new_user_event(bridge, room, sender, event, what).await?
    else {
        return Ok(());
    };
    let message = event.message();
    if let Some(Relation::Replacement(edit)) = message.as_ref().and_then(|m| m.relates_to.as_ref())
    {
        return relations::edit_from_matrix(bridge, &portal, &client, event, (edit, resend)).await;
    }
    let Some(chat) = relations::chat_of(bridge, room, event, what, &portal).await else {
        return Ok(());
    };
    let outgoing = match message.as_ref().map(|m| &m.msgtype) {
        Some(msgtype @ (MessageType::Text(_) | MessageType::Notice(_) | MessageType::Emote(_))) => {
            let text = crate::connector::from_matrix::text::whatsapp_text(msgtype);
            let text = if matches!(msgtype, MessageType::Emote(_)) {
                format!("_* {text}_")
            } else {
                text
            };
            WaMessage {
                conversation: Some(text),
                ..WaMessage::default()
            }
        }
        Some(MessageType::Location(location)) => {
            match crate::connector::from_matrix::location::location_from_matrix(location) {
                Ok(m) => m,
                Err(why) => {
                    fail(bridge, room, event, why).await;
                    return Ok(());
                }
            }
        }
        _ => match crate::connector::from_matrix::media::Outgoing::from_event(
            &event.kind,
            &event.content,
        ) {
            // The transfer holds up this transaction, and so keeps the
            // order of the room's messages.
            Some(Ok(attachment)) => match media::to_whatsapp(bridge, &client, &attachment).await {
                Ok(m) => m,
                Err(e) => {
                    warn!(kind = attachment.name(), error = %e, "attachment not sent");
                    fail(bridge, room, event, &e.to_string()).await;
                    return Ok(());
                }
            },
            Some(Err(e)) => {
                fail(bridge, room, event, &e.to_string()).await;
                return Ok(());
            }
            None => {
                fail(bridge, room, event, &not_sendable(event, message.as_ref())).await;
                return Ok(());
            }
        },
    };
    let mut outgoing = outgoing;
    let sticker = event.sticker();
    let decoration = match (&message, &sticker) {
        (Some(message), _) => Some(relations::Decoration::of_message(message)),
        (None, Some(sticker)) => Some(relations::Decoration::of_sticker(sticker)),
        (None, None) => None,
    };
    if let Some(decoration) = decoration {
        relations::decorate_outgoing(bridge, &login, &client, event, decoration, &mut outgoing)
            .await?;
    }
    let id = super::acks::SendId::or_new(resend);
    queue_and_record(bridge, &portal, &client, event, &chat, (id, outgoing)).await;
    Ok(())
}

/// Why `event` (with `message`, its content as ruma read it, if it could)
/// does not go to WhatsApp.
fn not_sendable(event: &Event, message: Option<&RoomMessageEventContent>) -> String {
    match message {
        Some(m) => format!("{} messages are not bridged yet", m.msgtype.msgtype()),
        None => match event
            .content
            .get("msgtype")
            .and_then(serde_json::Value::as_str)
        {
            Some("m.location") => "the location has no valid geo_uri".to_owned(),
            Some(kind) => format!("its content is not a valid {kind} message"),
            None => "it is not a valid message (no msgtype)".to_owned(),
        },
    }
}

/// Records the user's `outgoing` to `chat` against `event` and queues it
/// (under `id`); the event gets its status once the server has it.
/// Returns the message id, or `None` when it could not be queued (the
/// user was told).
pub(super) async fn queue_and_record(
    bridge: &Arc<Bridge>,
    portal: &Portal,
    client: &Client,
    event: &Event,
    chat: &Jid,
    (id, outgoing): (super::acks::SendId, WaMessage),
) -> Option<String> {
    let room: &RoomId = &portal.room_id;
    let id = id.resolve(bridge, portal, client, event).await;
    let pending = match client.queue_message_as(chat, id, outgoing) {
        Ok(p) => p,
        Err(e) => {
            fail(bridge, room, event, &e.to_string()).await;
            return None;
        }
    };
    let id = pending.id.clone();
    // The outbox keeps the order; the ack is awaited in the background so a
    // slow WhatsApp does not hold up the homeserver's transactions.
    super::acks::until_acked(bridge, room, event, pending, super::acks::Report::Status);
    Some(id)
}

pub(super) async fn fail(bridge: &Bridge, room: &RoomId, event: &Event, why: &str) {
    let reason = if why.contains("not bridged yet") {
        status::Reason::Unsupported
    } else {
        status::Reason::Generic
    };
    status::refused(bridge, room, event, "message", why, reason).await;
}
