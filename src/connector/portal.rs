//! A WhatsApp chat's portal: what the core needs to make its room (the
//! group's subject and members, or the contact), then the members joined
//! and WhatsApp told to follow the chat. The room itself is made and
//! recorded exactly once by the core (`crate::bridge::portal`). A group's
//! changes later (name, description, members) become the core's events.

use ruma::OwnedRoomId;
use std::sync::Arc;

use tracing::debug;
use wa_client::{Client, GroupChange, GroupChangeKind, GroupInfo};
use wa_core::jid::Jid;

use super::incoming::{IncomingError, ghost};
use crate::appservice::{CreateRoom, RoomPreset};
use crate::bridge::RemoteEvent;
use crate::bridge::ghost::GhostId;
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
    let chat_id = chat.to_string();
    if let Some(p) = bridge.db().portal(&login.login_id, &chat_id).await? {
        return Ok(p);
    }
    let _creating = bridge.creating_portal(&login.login_id, &chat_id).await;
    if let Some(p) = bridge.db().portal(&login.login_id, &chat_id).await? {
        return Ok(p);
    }
    let (room, kind, name, group) = if chat.is_group() {
        let (room, info) = group_room(bridge, login, client, chat).await?;
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
        // The members are in; their admins' power levels follow.
        let members = members_event(client, info).await;
        if let Err(e) = bridge.handle_remote(login, members).await {
            debug!(error = %e, "a new group's admins not shown");
        }
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
    login: &Login,
    client: &Client,
    chat: &Jid,
) -> Result<(OwnedRoomId, GroupInfo), IncomingError> {
    let info = client.group_info(chat).await?;
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
    super::incoming::contact_nick(bridge, login, &room, (chat, &contact)).await;
    bridge.note_joined(&room, contact.user_id()).await;
    Ok((room, name))
}

/// A change to group `change.group`, as the core's events: name,
/// description, who joined and who left, who is an admin. The login's own
/// account is left out (its ghost is no one); what is not shown yet
/// (settings, the group's end, the user removed) is logged.
pub(super) async fn group_change(client: &Client, change: GroupChange) -> Option<RemoteEvent> {
    let chat_id = change.group.to_string();
    let own = |j: &Jid| j.user() == client.jid().user() || j.user() == client.lid().user();
    // The user's own change (from the phone) is the bot's in Matrix: the
    // user has no ghost.
    let by = match change.actor.as_ref().filter(|a| !own(a)) {
        Some(actor) => Some(person(client, actor).await),
        None => None,
    };
    let mut others = Vec::new();
    let people = match &change.kind {
        GroupChangeKind::Added(p)
        | GroupChangeKind::Removed(p)
        | GroupChangeKind::Left(p)
        | GroupChangeKind::Promoted(p)
        | GroupChangeKind::Demoted(p) => p.as_slice(),
        _ => &[],
    };
    for j in people {
        if own(j) {
            debug!(chat = %chat_id, "a group change of the user's own membership; not shown yet");
            continue;
        }
        others.push(person(client, j).await);
    }
    Some(match change.kind {
        GroupChangeKind::Subject(name) => RemoteEvent::Renamed { chat_id, name, by },
        GroupChangeKind::Description(topic) => RemoteEvent::Described { chat_id, topic, by },
        GroupChangeKind::Added(_) => RemoteEvent::Joined {
            chat_id,
            who: others,
        },
        GroupChangeKind::Removed(_) => RemoteEvent::Left {
            chat_id,
            who: others,
            removed_by: by,
        },
        GroupChangeKind::Left(_) => RemoteEvent::Left {
            chat_id,
            who: others,
            removed_by: None,
        },
        GroupChangeKind::Promoted(_) => RemoteEvent::Admins {
            chat_id,
            who: others,
            admin: true,
        },
        GroupChangeKind::Demoted(_) => RemoteEvent::Admins {
            chat_id,
            who: others,
            admin: false,
        },
        // The subject and members of a new group are the portal's when it
        // is made; other kinds (settings, the group's end) are not shown.
        GroupChangeKind::Created { .. } => return None,
        GroupChangeKind::Other(tag) => {
            debug!(%tag, "a group change not shown in Matrix yet");
            return None;
        }
    })
}

/// A group member as the core knows people: by phone number where the
/// client knows it (one ghost per person).
async fn person(client: &Client, jid: &Jid) -> GhostId {
    super::incoming::ghost_id(&super::addressing::by_number(client, jid).await)
}

/// Everyone in the group `info` describes (but the login's own account),
/// and its admins, as the core's event.
async fn members_event(client: &Client, info: &GroupInfo) -> RemoteEvent {
    let own = |j: &Jid| j.user() == client.jid().user() || j.user() == client.lid().user();
    let (mut members, mut admins) = (Vec::new(), Vec::new());
    for j in info.participants.iter().filter(|j| !own(j)) {
        let who = person(client, j).await;
        if info.admins.contains(j) {
            admins.push(who.clone());
        }
        members.push(who);
    }
    RemoteEvent::Members {
        chat_id: info.jid.to_string(),
        members,
        admins,
    }
}

/// At a reconnect: each group portal of `login` as the server has the
/// group now (name, description, members, admins), for what changed while
/// the bridge was away.
pub(super) async fn resync_groups(bridge: Arc<Bridge>, login: Login, client: Client) {
    let portals = match bridge.db().portals_of_login(&login.login_id).await {
        Ok(p) => p,
        Err(e) => {
            debug!(error = %e, "portals not read; groups not brought up to date");
            return;
        }
    };
    for portal in portals.iter().filter(|p| p.kind == PortalKind::Group) {
        let Ok(chat) = portal.chat_id.parse::<Jid>() else {
            continue;
        };
        let info = match client.group_info(&chat).await {
            Ok(info) => info,
            Err(e) => {
                debug!(error = %e, "a group not read; its room stays as it was");
                continue;
            }
        };
        let events = [
            RemoteEvent::Renamed {
                chat_id: portal.chat_id.clone(),
                name: info.subject.clone(),
                by: None,
            },
            RemoteEvent::Described {
                chat_id: portal.chat_id.clone(),
                topic: info.description.clone(),
                by: None,
            },
            members_event(&client, &info).await,
        ];
        for event in events {
            if let Err(e) = bridge.handle_remote(&login, event).await {
                debug!(error = %e, "a group not brought up to date");
            }
        }
    }
}
