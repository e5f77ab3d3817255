//! `create-group`: a new WhatsApp group made from Matrix. In the
//! management room its members are phone numbers and a new portal is made;
//! in a room of the user's own with contacts' ghosts invited (the bridgev2
//! way), those are the members and the room becomes the group's portal.

use std::sync::Arc;

use ruma::events::room::member::MembershipState;
use ruma::events::room::name::RoomNameEventContent;
use ruma::{OwnedRoomId, RoomId, UserId};
use tracing::debug;
use wa_client::{Client, GroupInfo};
use wa_core::jid::Jid;

use super::super::incoming::ghost;
use super::super::login::account_of;
use super::super::relations::jid_of_mxid;
use crate::bridge::ResolveError;
use crate::connector::Bridge;
use crate::store::{Login, Portal, PortalKind, now_ms};

/// The longest group subject WhatsApp takes (its apps stop at 100).
const SUBJECT_MAX: usize = 100;

/// Makes the group for `user` (see the module's comment); returns its
/// portal's room.
pub(in crate::connector) async fn create_group(
    bridge: &Arc<Bridge>,
    user: &UserId,
    room: Option<&RoomId>,
    (name, numbers): (&str, &[&str]),
) -> Result<OwnedRoomId, ResolveError> {
    let (login, client) = account_of(bridge, user).await?;
    let members = match room {
        Some(room) => ghosts_in(bridge, (&login, &client), room).await?,
        None => on_whatsapp(&client, numbers).await?,
    };
    if members.is_empty() {
        return Err(ResolveError::Invalid(
            "name at least one person: `create-group NAME +NUMBER` in your management room, or \
             invite their ghosts to this room first"
                .to_owned(),
        ));
    }
    let name = match (name.trim(), room) {
        ("", Some(room)) => room_name(bridge, room).await,
        (given, _) => given.to_owned(),
    };
    if name.is_empty() || name.chars().count() > SUBJECT_MAX {
        return Err(ResolveError::Invalid(format!(
            "give the group a name of 1 to {SUBJECT_MAX} characters"
        )));
    }
    let info = client
        .create_group(&name, &members)
        .await
        .map_err(ResolveError::failed)?;
    let portal = match room {
        Some(room) => bind(bridge, (&login, &client), room, &info).await?,
        None => super::super::portal::portal(bridge, &login, &client, &info.jid, None)
            .await
            .map_err(ResolveError::failed)?,
    };
    Ok(portal.room_id)
}

/// Each of `numbers` on WhatsApp, by phone number; one that is not is an
/// error naming it.
async fn on_whatsapp(client: &Client, numbers: &[&str]) -> Result<Vec<Jid>, ResolveError> {
    let digits: Vec<String> = numbers
        .iter()
        .map(|n| n.chars().filter(char::is_ascii_digit).collect())
        .collect();
    let asked: Vec<&str> = digits.iter().map(String::as_str).collect();
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let answers = client
        .on_whatsapp(&asked)
        .await
        .map_err(ResolveError::failed)?;
    let mut members = Vec::new();
    for number in &digits {
        let query = format!("+{number}");
        let found = answers.iter().find(|a| a.query == query && a.is_in);
        match found.and_then(|a| a.phone.clone()) {
            Some(phone) => members.push(phone),
            None => return Err(ResolveError::NotFound(query, "WhatsApp")),
        }
    }
    Ok(members)
}

/// The people whose ghosts are in `room` or invited to it. The room must
/// not be bridged yet, and be private to the user (see
/// `portal::not_private`): its members would read the group.
async fn ghosts_in(
    bridge: &Bridge,
    (login, client): (&Login, &Client),
    room: &RoomId,
) -> Result<Vec<Jid>, ResolveError> {
    if bridge
        .db()
        .portal_by_room(room)
        .await
        .map_err(ResolveError::failed)?
        .is_some()
    {
        return Err(ResolveError::Invalid(
            "this room is a chat's room already".to_owned(),
        ));
    }
    let bot = bridge.bot();
    let refused = super::super::portal::not_private(bridge, bot, room, &login.mxid).await;
    if let Some(why) = refused.map_err(ResolveError::failed)? {
        return Err(ResolveError::Invalid(format!(
            "{why}: make the group in an invite-only room with just you, me and your \
             contacts' ghosts"
        )));
    }
    let members = bot.members(room).await.map_err(ResolveError::failed)?;
    let mut people = Vec::new();
    for (who, membership) in members {
        let present = matches!(membership, MembershipState::Join | MembershipState::Invite);
        if !present || who == login.mxid || !bridge.is_ghost(&who) {
            continue;
        }
        // The ghost of the user's own number is no one to add.
        let jid = jid_of_mxid(bridge, login, client, &who);
        if let Some(jid) = jid.filter(|j| !super::super::addressing::is_own(client, j)) {
            people.push(jid);
        }
    }
    Ok(people)
}

/// The room's name, if it has one.
async fn room_name(bridge: &Bridge, room: &RoomId) -> String {
    let state = bridge.bot().get_state_event(room, "m.room.name", "").await;
    state
        .ok()
        .flatten()
        .and_then(|c| serde_json::from_value::<RoomNameEventContent>(c).ok())
        .map(|c| c.name)
        .unwrap_or_default()
}

/// Makes `room` the portal of the new group `info`: recorded, marked as
/// bridged, its members' ghosts in, then admins and settings as the group
/// has them (the bot needs the power to set them; the room is told when
/// it has not).
async fn bind(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    room: &RoomId,
    info: &GroupInfo,
) -> Result<Portal, ResolveError> {
    let chat_id = info.jid.to_string();
    let _creating = bridge.creating_portal(&login.login_id, &chat_id).await;
    let portal = Portal {
        login_id: login.login_id.clone(),
        chat_id: chat_id.clone(),
        room_id: room.to_owned(),
        kind: PortalKind::Group,
        name: info.subject.clone(),
        topic: None,
        created_at: now_ms(),
    };
    bridge
        .save_portal(&portal, &login.mxid)
        .await
        .map_err(ResolveError::failed)?;
    let own = client.jid().user().to_owned();
    for member in info.participants.iter().filter(|m| m.user() != own) {
        let joined = match ghost(bridge, member, None).await {
            Ok(g) => bridge
                .ensure_joined(room, &g)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = joined {
            debug!(error = %e, "a new group's member did not join its room");
        }
    }
    let marked = bridge.mark_bridged(bridge.bot(), room, (&chat_id, &info.subject));
    let mut managed = marked.await.is_ok();
    for event in super::state_events(client, info).await {
        managed &= bridge.handle_remote(login, event).await.is_ok();
    }
    if !managed {
        let bot = bridge.bot().user_id();
        let hint = format!(
            "I could not mark this room as bridged or set its power levels: give me ({bot}) \
             power level 100 here, so the room follows the group's name and admins."
        );
        bridge.notice(room, &hint).await;
    }
    Ok(portal)
}
