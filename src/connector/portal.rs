//! A WhatsApp chat's portal: what the core needs to make its room (the
//! group's subject and members, or the contact), then the members joined
//! and WhatsApp told to follow the chat. The room itself is made and
//! recorded exactly once by the core (`crate::bridge::portal`). A group's
//! changes later are `groups.rs`'.

use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, RoomId, UserId};
use std::sync::Arc;

use tracing::debug;
use wa_client::{Client, GroupInfo};
use wa_core::jid::Jid;

use super::incoming::{IncomingError, ghost};
use crate::appservice::{ClientError, CreateRoom, Intent, RoomPreset};
use crate::bridge::portal::NewPortal;
use crate::connector::Bridge;
use crate::store::{Login, Portal, PortalKind, now_ms};

/// The portal of `chat`, created (room, members, invite) on first use.
pub(super) async fn portal(
    bridge: &Arc<Bridge>,
    login: &Login,
    client: &Client,
    chat: &Jid,
    push_name: Option<&str>,
) -> Result<Portal, IncomingError> {
    open(bridge, (login, client), chat, (push_name, None)).await
}

/// [`portal`] of a group whose info the caller has just read: the room, if
/// made, is made of it without asking the server again.
pub(super) async fn group_portal(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    info: &GroupInfo,
) -> Result<Portal, IncomingError> {
    open(bridge, (login, client), &info.jid, (None, Some(info))).await
}

/// [`portal`], with the group's info when it is known already.
async fn open(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    chat: &Jid,
    (push_name, known): (Option<&str>, Option<&GroupInfo>),
) -> Result<Portal, IncomingError> {
    let chat_id = chat.to_string();
    if let Some(p) = bridge.db().portal(&login.login_id, &chat_id).await? {
        return Ok(p);
    }
    let _creating = bridge.creating_portal(&login.login_id, &chat_id).await;
    if let Some(p) = bridge.db().portal(&login.login_id, &chat_id).await? {
        return Ok(p);
    }
    let (room, kind, name, group) = if chat.is_group() {
        let (room, info) = group_room(bridge, (login, client), chat, known).await?;
        (room, PortalKind::Group, info.subject.clone(), Some(info))
    } else {
        let (room, name) = dm_room(bridge, login, chat, push_name).await?;
        (room, PortalKind::Dm, name, None)
    };
    let portal = Portal {
        login_id: login.login_id.clone(),
        chat_id,
        room_id: room,
        kind,
        name,
        topic: group.as_ref().and_then(|g| g.description.clone()),
        created_at: now_ms(),
    };
    bridge.save_portal(&portal, &login.mxid).await?;
    if let Some(info) = &group {
        // The members are in; their admins' power levels and the
        // group's settings follow.
        for event in super::groups::state_events(client, info).await {
            if let Err(e) = bridge.handle_remote(login, event).await {
                debug!(error = %e, "a new group's admins or settings not shown");
            }
        }
        if let Some(parent) = &info.parent {
            let on = (login, client);
            super::communities::place(bridge, on, chat, Some((parent, None))).await;
        }
        // Its picture and its members', off the message's way.
        let (bridge, login, client, chat) =
            (bridge.clone(), login.clone(), client.clone(), chat.clone());
        let members = info.participants.clone();
        tokio::spawn(async move {
            let (no_notice, on) = ((None, None), (&login, &client));
            super::pictures::group_picture(&bridge, on, &chat, no_notice).await;
            super::pictures::group_members(&bridge, on, &members).await;
        });
    }
    if group.is_none() {
        // The contact's picture as this user may see it, off the way.
        let (bridge, login, client, chat) =
            (bridge.clone(), login.clone(), client.clone(), chat.clone());
        tokio::spawn(async move {
            super::pictures::contact_picture(&bridge, (&login, &client), &chat, None).await;
        });
    }
    super::appstate::on_new_portal(bridge, login, &portal).await;
    super::presence::subscribe(bridge, client, &portal).await;
    Ok(portal)
}

/// A group's room: made by the bot, named by the subject, described by
/// the description, with every member's ghost in it; and what the server
/// said of the group.
async fn group_room(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    chat: &Jid,
    known: Option<&GroupInfo>,
) -> Result<(OwnedRoomId, GroupInfo), IncomingError> {
    let info = match known {
        Some(info) => info.clone(),
        None => client.group_info(chat).await?,
    };
    if info.is_community {
        // Its groups are the chats; it is their space.
        let why = "a community has no chat of its own".to_owned();
        return Err(IncomingError::WhatsApp(wa_client::SendError::Refused(why)));
    }
    let chat_id = chat.to_string();
    let new = NewPortal {
        login_id: &login.login_id,
        chat_id: &chat_id,
        name: &info.subject,
        creator: bridge.bot(),
        params: CreateRoom {
            name: Some(info.subject.clone()),
            topic: info.description.clone(),
            invite: vec![login.mxid.clone()],
            preset: Some(RoomPreset::PrivateChat),
            ..CreateRoom::default()
        },
    };
    let room = bridge.make_portal_room(new).await?;
    let own = client.jid().user().to_owned();
    for member in info.participants.iter().filter(|m| m.user() != own) {
        let g = ghost(bridge, member, None).await?;
        bridge.ensure_joined(&room, &g).await?;
        super::incoming::contact_nick(bridge, login, &room, (member, &g)).await;
    }
    Ok((room, info))
}

/// A chat with one person: a direct room made by the contact's ghost,
/// named by the user's own name for the contact, else theirs.
async fn dm_room(
    bridge: &Bridge,
    login: &Login,
    chat: &Jid,
    push_name: Option<&str>,
) -> Result<(OwnedRoomId, String), IncomingError> {
    let contact = ghost(bridge, chat, push_name).await?;
    let (network_id, _) = super::incoming::ghost_ids(bridge, chat);
    let saved = bridge
        .db()
        .contact_name(&login.login_id, &network_id)
        .await?;
    let name = saved
        .or_else(|| push_name.map(str::to_owned))
        .unwrap_or_else(|| format!("+{}", chat.user()));
    let chat_id = chat.to_string();
    let new = NewPortal {
        login_id: &login.login_id,
        chat_id: &chat_id,
        name: &name,
        creator: &contact,
        params: CreateRoom {
            name: Some(name.clone()),
            invite: vec![login.mxid.clone(), bridge.bot().user_id().to_owned()],
            is_direct: true,
            preset: Some(RoomPreset::TrustedPrivateChat),
            ..CreateRoom::default()
        },
    };
    let room = bridge.make_portal_room(new).await?;
    bridge.bot().join((&*room).into()).await?;
    // Noted first: a contact name stored meanwhile finds the room.
    bridge.note_joined(&room, contact.user_id()).await;
    super::incoming::contact_nick(bridge, login, &room, (chat, &contact)).await;
    Ok((room, name))
}

/// Why `room`, a room the user made, may not become one of their chats'
/// portals, if it may not: it must be invite-only, its history not
/// world-readable, and nobody but `owner` and the bridge's own users may be
/// in it, invited or knocking (they would read the chat, or let others
/// in). Read as `by`, one of ours in the room.
pub(super) async fn not_private(
    bridge: &Bridge,
    by: &Intent,
    room: &RoomId,
    owner: &UserId,
) -> Result<Option<String>, ClientError> {
    let join_rule = by.get_state_event(room, "m.room.join_rules", "").await?;
    let join_rule = join_rule.as_ref().and_then(|c| c["join_rule"].as_str());
    if !matches!(join_rule, Some("invite" | "private")) {
        return Ok(Some("this room is not invite-only".to_owned()));
    }
    let history = by
        .get_state_event(room, "m.room.history_visibility", "")
        .await?;
    let history = history
        .as_ref()
        .and_then(|c| c["history_visibility"].as_str());
    if history == Some("world_readable") {
        return Ok(Some("anyone may read this room's history".to_owned()));
    }
    for (who, membership) in by.members(room).await? {
        let present = matches!(
            membership,
            MembershipState::Join | MembershipState::Invite | MembershipState::Knock
        );
        if present && who != owner && !bridge.is_ours(&who) {
            return Ok(Some(format!(
                "{who} is in this room too and would read the chat"
            )));
        }
    }
    Ok(None)
}
