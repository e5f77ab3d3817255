//! Matrix -> WhatsApp: the user's `m.reaction`, `m.replace` of their own
//! message, redaction of their own message or reaction, replies and pills.

#[allow(clippy::wildcard_imports)]
use super::*;
use ruma::{EventId, OwnedUserId, RoomId, UserId};

/// The event a message replies to: its `m.in_reply_to`, also inside a
/// thread unless that is only the thread's fallback.
fn reply_target<C>(relation: Option<&Relation<C>>) -> Option<&EventId> {
    match relation? {
        Relation::Reply(reply) => Some(&reply.in_reply_to.event_id),
        Relation::Thread(thread) if !thread.is_falling_back => {
            thread.in_reply_to.as_ref().map(|r| &*r.event_id)
        }
        _ => None,
    }
}

/// What a Matrix message or sticker says beyond its content: the event it
/// replies to, whom it mentions, its HTML and whether it is text.
#[derive(Debug, Default)]
pub(in crate::connector) struct Decoration<'m> {
    reply: Option<&'m EventId>,
    mentions: Vec<OwnedUserId>,
    html: Option<&'m str>,
    text: bool,
}

impl<'m> Decoration<'m> {
    /// A message's reply, `m.mentions`, HTML and kind.
    pub(in crate::connector) fn of_message(message: &'m RoomMessageEventContent) -> Self {
        Decoration {
            reply: reply_target(message.relates_to.as_ref()),
            mentions: message
                .mentions
                .as_ref()
                .map(|m| m.user_ids.iter().cloned().collect())
                .unwrap_or_default(),
            html: html_of(&message.msgtype),
            text: matches!(
                message.msgtype,
                MessageType::Text(_) | MessageType::Notice(_)
            ),
        }
    }

    /// A sticker's reply (a sticker has no mentions or text).
    pub(in crate::connector) fn of_sticker(sticker: &'m StickerEventContent) -> Self {
        Decoration {
            reply: reply_target(sticker.relates_to.as_ref()),
            ..Decoration::default()
        }
    }
}

/// A Matrix reply and mentions onto the outgoing WhatsApp message.
pub(in crate::connector) async fn decorate_outgoing(
    bridge: &Bridge,
    login: &Login,
    client: &Client,
    event: &Event,
    decoration: Decoration<'_>,
    out: &mut WaMessage,
) -> Result<(), StoreError> {
    let mut info = ContextInfo::default();
    if let Some(reply) = decoration.reply
        && let Some(room) = event.room_id.as_deref()
        && let Some(target) = message_in(bridge, room, reply).await?
    {
        info.stanza_id = Some(target.message_id);
        info.participant = Some(target.sender_id);
        // Clients show the quote from their own copy; an empty one is what
        // bridges send when they do not keep the text.
        info.quoted_message = Some(Box::new(WaMessage {
            conversation: Some(String::new()),
            ..WaMessage::default()
        }));
    }
    let mut mxids = decoration.mentions;
    let html = decoration.html;
    if let Some(html) = html {
        for p in pills(html).iter().filter_map(|p| UserId::parse(p).ok()) {
            if !mxids.contains(&p) {
                mxids.push(p);
            }
        }
    }
    let mut numbers = Vec::new();
    for mxid in mxids {
        if let Some(jid) = jid_of_mxid(bridge, login, client, &mxid) {
            info.mentioned_jid.push(jid.to_string());
            numbers.push((mxid.to_string(), jid.user().to_owned()));
        }
    }
    if !numbers.is_empty()
        && decoration.text
        && let Some(html) = html
    {
        let text = crate::connector::from_matrix::markup::html_to_whatsapp(&pills_to_numbers(
            html, &numbers,
        ));
        if out.conversation.is_some() {
            out.conversation = Some(text);
        }
    }
    if info != ContextInfo::default() && !content::set_context_info(out, info) {
        debug!("a reply or mention on content that cannot carry one");
    }
    Ok(())
}

/// Who the Matrix event concerns: its portal, login and running client,
/// if the sender is that portal's user and logged in.
async fn context(
    bridge: &Bridge,
    room: &RoomId,
    sender: &UserId,
) -> Result<Option<(Portal, Login, Option<Client>)>, StoreError> {
    let Some(portal) = bridge.db().portal_by_room(room).await? else {
        return Ok(None);
    };
    let Some(login) = bridge.db().login(&portal.login_id).await? else {
        return Ok(None);
    };
    if login.mxid != sender {
        return Ok(None);
    }
    let client = bridge
        .network()
        .logins
        .lock()
        .await
        .get(sender)
        .map(|h| h.client.clone());
    Ok(Some((portal, login, client)))
}

/// The portal, login, client and event id of the user's `event` (about
/// `what`) in a portal: `None` when the sender is not the portal's user,
/// the event has no id, or the user is not logged in (then told).
pub(in crate::connector) async fn user_event<'e>(
    bridge: &Bridge,
    room: &RoomId,
    sender: &UserId,
    event: &'e Event,
    what: &str,
) -> Result<Option<(Portal, Login, Client, &'e EventId)>, StoreError> {
    let Some((portal, login, client)) = context(bridge, room, sender).await? else {
        return Ok(None);
    };
    let Some(client) = logged_in(bridge, room, event, what, client).await else {
        return Ok(None);
    };
    Ok(event
        .event_id
        .as_ref()
        .map(|id| (portal, login, client, &**id)))
}

/// What [`new_user_event`] finds: the portal, login, client and event id,
/// and the recorded message id when the event is to be sent again.
pub(in crate::connector) type NewEvent<'e> = (Portal, Login, Client, &'e EventId, Option<String>);

/// [`user_event`] for an event that becomes a new WhatsApp message: also
/// `None` (and nothing said) when it was sent already, a replayed
/// transaction. An event recorded but never acknowledged by the server
/// (the last run ended first) comes with its recorded message id, to be
/// sent again under it.
pub(in crate::connector) async fn new_user_event<'e>(
    bridge: &Bridge,
    room: &RoomId,
    sender: &UserId,
    event: &'e Event,
    what: &str,
) -> Result<Option<NewEvent<'e>>, StoreError> {
    let Some((portal, login, client)) = context(bridge, room, sender).await? else {
        return Ok(None);
    };
    let Some(event_id) = event.event_id.as_deref() else {
        return Ok(None);
    };
    let mut resend = None;
    if let Some(sent) = bridge.db().message_by_event(event_id).await? {
        if sent.room_id != room || !acks::unacked_replay(bridge, event_id).await? {
            return Ok(None);
        }
        resend = Some(sent.message_id);
    }
    let Some(client) = logged_in(bridge, room, event, what, client).await else {
        return Ok(None);
    };
    Ok(Some((portal, login, client, event_id, resend)))
}

/// The bridged message of Matrix event `event_id`, if it is in `room`
/// (a relation naming an event of another room names nothing here).
pub(in crate::connector) async fn message_in(
    bridge: &Bridge,
    room: &RoomId,
    event_id: &EventId,
) -> Result<Option<Message>, StoreError> {
    Ok(bridge
        .db()
        .message_by_event(event_id)
        .await?
        .filter(|m| m.room_id == room))
}

/// The client of a logged-in user; otherwise the user is told and `None`.
async fn logged_in(
    bridge: &Bridge,
    room: &RoomId,
    event: &Event,
    what: &str,
    client: Option<Client>,
) -> Option<Client> {
    if client.is_none() {
        refuse(
            bridge,
            room,
            event,
            what,
            "you are not logged in to WhatsApp",
        )
        .await;
    }
    client
}

/// The portal's WhatsApp chat; if its id does not parse, the user is told
/// and `None`.
pub(in crate::connector) async fn chat_of(
    bridge: &Bridge,
    room: &RoomId,
    event: &Event,
    what: &str,
    portal: &Portal,
) -> Option<Jid> {
    let chat = portal.chat_id.parse::<Jid>().ok();
    if chat.is_none() {
        refuse(
            bridge,
            room,
            event,
            what,
            "this room's chat id is not valid",
        )
        .await;
    }
    chat
}

pub(in crate::connector) async fn refuse(
    bridge: &Bridge,
    room: &RoomId,
    event: &Event,
    what: &str,
    why: &str,
) {
    crate::bridge::status::refused(
        bridge,
        room,
        event,
        what,
        why,
        crate::bridge::status::Reason::Generic,
    )
    .await;
}

/// Queues `message` to `chat` for the user's `event`; a failure of the
/// send is told in the room.
fn send(
    bridge: &Arc<Bridge>,
    client: &Client,
    (chat, room): (&Jid, &RoomId),
    event: &Event,
    message: WaMessage,
) {
    send_reporting(
        bridge,
        client,
        (chat, room),
        event,
        message,
        acks::Report::Notice("change"),
    );
}

/// [`send`], with what to do once the server has it.
fn send_reporting(
    bridge: &Arc<Bridge>,
    client: &Client,
    (chat, room): (&Jid, &RoomId),
    event: &Event,
    message: WaMessage,
    report: acks::Report,
) {
    match client.queue_message(chat, message) {
        Ok(pending) => acks::until_acked(bridge, room, event, pending, report),
        Err(e) => {
            let (bridge, room) = (bridge.clone(), room.to_owned());
            tokio::spawn(async move {
                bridge
                    .notice(&room, &format!("⚠️ Your change was not bridged: {e}"))
                    .await;
            });
        }
    }
}

/// The key of bridged message `target` as the logged-in account names it.
pub(in crate::connector) fn key_of(client: &Client, chat: &Jid, target: &Message) -> MessageKey {
    key_of_id(client, chat, (&target.sender_id, &target.message_id))
}

/// The key of the message `message_id` sent by `sender_id` (network ids).
fn key_of_id(client: &Client, chat: &Jid, (sender_id, message_id): (&str, &str)) -> MessageKey {
    let own = is_own(client, sender_id);
    MessageKey {
        remote_jid: Some(chat.to_string()),
        from_me: Some(own),
        id: Some(message_id.to_owned()),
        participant: (chat.is_group() && !own).then(|| sender_id.to_owned()),
    }
}

/// The user's `m.reaction` in a portal, out to WhatsApp.
pub async fn reaction_from_matrix(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) -> Result<(), StoreError> {
    let what = "reaction";
    let Some((portal, login, client, event_id)) =
        user_event(bridge, room, sender, event, what).await?
    else {
        return Ok(());
    };
    let annotation = event.reaction().map(|r| r.relates_to);
    let Some(Annotation {
        event_id: target,
        key: emoji,
        ..
    }) = annotation.filter(|a| !a.key.is_empty())
    else {
        refuse(bridge, room, event, what, "it is not a valid annotation").await;
        return Ok(());
    };
    let (target, emoji) = (&*target, emoji.as_str());
    let replayed = bridge.db().reaction_by_event(event_id).await?.is_some();
    if replayed && !acks::unacked_replay(bridge, event_id).await? {
        return Ok(()); // a replayed transaction
    }
    let Some(target) = message_in(bridge, room, target).await? else {
        refuse(bridge, room, event, what, "that message is not on WhatsApp").await;
        return Ok(());
    };
    let Some(chat) = chat_of(bridge, room, event, what, &portal).await else {
        return Ok(());
    };
    let reaction = WaMessage {
        reaction_message: Some(ReactionMessage {
            key: Some(key_of(&client, &chat, &target)),
            text: Some(emoji.to_owned()),
            grouping_key: None,
            sender_timestamp_ms: Some(now_ms()),
        }),
        ..WaMessage::default()
    };
    send(bridge, &client, (&chat, room), event, reaction);
    if replayed {
        return Ok(()); // sent again, as recorded
    }
    bridge
        .db()
        .save_reaction(&Reaction {
            login_id: login.login_id.clone(),
            chat_id: portal.chat_id.clone(),
            target_sender_id: target.sender_id.clone(),
            target_message_id: target.message_id.clone(),
            reactor_id: client.jid().to_non_ad().to_string(),
            emoji: emoji.to_owned(),
            room_id: room.to_owned(),
            event_id: event_id.to_owned(),
            sent_at: now_ms(),
        })
        .await
}

/// The user's redaction in a portal: of their reaction, a removal; of their
/// own message, a revoke; of anyone else's message, a notice.
pub async fn redaction_from_matrix(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    event: &Event,
) -> Result<(), StoreError> {
    let Some((portal, _login, client)) = context(bridge, room, sender).await? else {
        return Ok(());
    };
    let what = "deletion";
    let Some(redacts) = event.redacts() else {
        refuse(bridge, room, event, what, "it names no event").await;
        return Ok(());
    };
    let redacts = &*redacts;
    let reaction = bridge
        .db()
        .reaction_by_event(redacts)
        .await?
        .filter(|r| r.room_id == room);
    let message = match reaction {
        Some(_) => None,
        None => message_in(bridge, room, redacts).await?,
    };
    if reaction.is_none() && message.is_none() {
        return Ok(()); // not something WhatsApp has
    }
    let Some(client) = logged_in(bridge, room, event, what, client).await else {
        return Ok(());
    };
    let Some(chat) = chat_of(bridge, room, event, what, &portal).await else {
        return Ok(());
    };
    if let Some(r) = reaction {
        if !is_own(&client, &r.reactor_id) {
            return Ok(()); // a ghost's reaction: nothing to say on WhatsApp
        }
        let target = (r.target_sender_id.as_str(), r.target_message_id.as_str());
        let removal = WaMessage {
            reaction_message: Some(ReactionMessage {
                key: Some(key_of_id(&client, &chat, target)),
                text: Some(String::new()),
                grouping_key: None,
                sender_timestamp_ms: Some(now_ms()),
            }),
            ..WaMessage::default()
        };
        let report = acks::Report::RemoveReaction(redacts.to_owned());
        send_reporting(bridge, &client, (&chat, room), event, removal, report);
        return Ok(());
    }
    let Some(target) = message else {
        return Ok(());
    };
    if !is_own(&client, &target.sender_id) {
        refuse(
            bridge,
            room,
            event,
            what,
            "WhatsApp only lets you delete your own messages",
        )
        .await;
        return Ok(());
    }
    let mut revoke = ProtocolMessage {
        key: Some(key_of(&client, &chat, &target)),
        ..ProtocolMessage::default()
    };
    revoke.set_type(ProtocolType::Revoke);
    send(
        bridge,
        &client,
        (&chat, room),
        event,
        WaMessage {
            protocol_message: Some(Box::new(revoke)),
            ..WaMessage::default()
        },
    );
    Ok(())
}

/// The user's `m.replace` of their own bridged message, out as a WhatsApp
/// edit. `portal` and `client` are the event's.
pub(in crate::connector) async fn edit_from_matrix(
    bridge: &Arc<Bridge>,
    portal: &Portal,
    client: &Client,
    event: &Event,
    (edit, resend): (
        &Replacement<RoomMessageEventContentWithoutRelation>,
        Option<String>,
    ),
) -> Result<(), StoreError> {
    let room: &RoomId = &portal.room_id;
    let what = "edit";
    let Some(target) = message_in(bridge, room, &edit.event_id).await? else {
        refuse(bridge, room, event, what, "that message is not on WhatsApp").await;
        return Ok(());
    };
    if !is_own(client, &target.sender_id) {
        refuse(
            bridge,
            room,
            event,
            what,
            "you can only edit your own messages",
        )
        .await;
        return Ok(());
    }
    let Some(chat) = chat_of(bridge, room, event, what, portal).await else {
        return Ok(());
    };
    let text = whatsapp_text(&edit.new_content.msgtype);
    let mut edit = ProtocolMessage {
        key: Some(MessageKey {
            remote_jid: Some(chat.to_string()),
            from_me: Some(true),
            id: Some(target.message_id.clone()),
            participant: None,
        }),
        edited_message: Some(Box::new(WaMessage {
            conversation: Some(text),
            ..WaMessage::default()
        })),
        timestamp_ms: Some(now_ms()),
        ..ProtocolMessage::default()
    };
    edit.set_type(ProtocolType::MessageEdit);
    let wrapped = WaMessage {
        edited_message: Some(Box::new(FutureProofMessage {
            message: Some(Box::new(WaMessage {
                protocol_message: Some(Box::new(edit)),
                ..WaMessage::default()
            })),
        })),
        ..WaMessage::default()
    };
    let id = acks::SendId::or_new(resend)
        .resolve(bridge, portal, client, event)
        .await;
    match client.queue_message_as(&chat, id, wrapped) {
        Ok(pending) => {
            acks::until_acked(bridge, room, event, pending, acks::Report::Notice("edit"))
        }
        Err(e) => refuse(bridge, room, event, what, &e.to_string()).await,
    }
    Ok(())
}
