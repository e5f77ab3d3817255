//! Who is in a group and who runs it, changed by the user in Matrix: a
//! ghost invited is added to the group, a ghost kicked is removed, the
//! user leaving the room leaves the group, and a ghost's power level
//! raised to a moderator's or lowered makes them an admin or not, and the
//! levels needed to send or to rename the room make the group's settings
//! (only admins send, only admins change its info). What
//! WhatsApp refuses gets a failed status and a notice saying why, and the
//! room is put back as the group has it.

use std::sync::Arc;

use ruma::events::room::member::{MembershipState, RoomMemberEventContent};
use ruma::events::room::power_levels::RoomPowerLevelsEventContent;
use ruma::{Int, RoomId, UserId};
use tracing::{debug, info};
use wa_client::{Client, GroupInfo, GroupSetting, MemberChange, MemberOutcome};
use wa_core::jid::Jid;

use super::super::relations::{jid_of_mxid, refuse, user_event};
use crate::appservice::Event;
use crate::bridge::remote::{ADMIN_LEVEL, settings_of};
use crate::connector::Bridge;
use crate::store::{Login, Portal, PortalKind, StoreError};

/// The user's change of a member of a group's room (`m.room.member`).
pub(in crate::connector) async fn member_from_matrix(
    bridge: &Arc<Bridge>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
) -> Result<(), StoreError> {
    let Some(target) = event
        .state_key
        .as_deref()
        .and_then(|k| UserId::parse(k).ok())
    else {
        return Ok(());
    };
    let Ok(member) = serde_json::from_value::<RoomMemberEventContent>(event.content.clone()) else {
        return Ok(());
    };
    if !is_group(bridge, room).await? {
        return Ok(());
    }
    let membership = member.membership;
    if target == sender {
        if membership == MembershipState::Leave && was_joined(event) {
            return user_leaves(bridge, (room, sender), event).await;
        }
        return Ok(());
    }
    let what = match membership {
        MembershipState::Invite => "invite",
        MembershipState::Leave | MembershipState::Ban => "removal",
        _ => return Ok(()),
    };
    let Some((portal, login, client, _)) = user_event(bridge, room, sender, event, what).await?
    else {
        return Ok(());
    };
    // The ghost of the user's own number is no member to add or remove.
    let who = jid_of_mxid(bridge, &login, &client, &target);
    let Some(who) = who.filter(|j| !super::super::addressing::is_own(&client, j)) else {
        return Ok(());
    };
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let change = match membership {
        MembershipState::Invite => MemberChange::Add,
        _ => MemberChange::Remove,
    };
    let refused = match client.change_members(&chat, change, &[who]).await {
        Ok(outcomes) => outcomes.iter().find_map(|o| refusal(change, o)),
        Err(e) => Some(format!("WhatsApp refused it: {e}")),
    };
    let Some(why) = refused else {
        info!(chat = %portal.chat_id, ?change, "a member change from Matrix reached the group");
        if change == MemberChange::Add {
            put_ghost_in(bridge, &portal, &target, false).await;
        }
        return Ok(());
    };
    refuse(bridge, room, event, what, &why).await;
    match change {
        MemberChange::Add => {
            // The ghost declines the invite: it is not in the group.
            if let Ok(ghost) = bridge.matrix().ghost_intent(target.localpart())
                && let Err(e) = ghost.leave(room).await
            {
                debug!(error = %e, "a ghost did not decline an invite");
            }
        }
        _ => put_ghost_in(bridge, &portal, &target, membership == MembershipState::Ban).await,
    }
    Ok(())
}

/// Why WhatsApp did not make `change` for one member, if it did not.
/// Already a member (409) on an add and not a member (404) on a removal
/// are what was asked for.
fn refusal(change: MemberChange, outcome: &MemberOutcome) -> Option<String> {
    let code = outcome.error?;
    Some(match (change, code) {
        (MemberChange::Add, 409) | (MemberChange::Remove, 404) => return None,
        (MemberChange::Add, 403) if outcome.invite_code.is_some() => {
            "their privacy settings let only an invite link add them".to_owned()
        }
        (_, 403) => "you are not allowed to (only the group's admins may)".to_owned(),
        (MemberChange::Add, 408) => {
            "they left the group recently and cannot be added yet".to_owned()
        }
        (MemberChange::Add, 500) => "the group is full".to_owned(),
        (_, code) => format!("WhatsApp refused it (error {code})"),
    })
}

/// Whether the event's member was in the room before (a leave, not an
/// invite declined), as the homeserver's `prev_content` says.
fn was_joined(event: &Event) -> bool {
    event.raw["unsigned"]["prev_content"]["membership"] == "join"
}

/// The user left a group's room: they leave the group. What WhatsApp
/// refuses is said in the room, to which they are invited back (they are
/// still in the group).
async fn user_leaves(
    bridge: &Arc<Bridge>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
) -> Result<(), StoreError> {
    let what = "leaving the group";
    let Some((portal, _, client, _)) = user_event(bridge, room, sender, event, what).await? else {
        return Ok(());
    };
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    match client.leave_group(&chat).await {
        Ok(()) => info!(chat = %portal.chat_id, "the user left a group from Matrix"),
        Err(e) => {
            // Still in the group: back into its room, where the notice is.
            if let Err(e) = bridge.bot().invite(room, sender).await {
                debug!(error = %e, "the user was not invited back after a refused leave");
            }
            let why = format!("WhatsApp refused it: {e}");
            refuse(bridge, room, event, what, &why).await;
        }
    }
    Ok(())
}

/// Brings the ghost `target` (back) into the portal's room, lifting its
/// ban first when `banned`.
async fn put_ghost_in(bridge: &Bridge, portal: &Portal, target: &UserId, banned: bool) {
    let room = &portal.room_id;
    if banned && let Err(e) = bridge.bot().unban(room, target).await {
        debug!(error = %e, "a ghost's ban was not lifted");
    }
    let joined = match bridge.matrix().ghost_intent(target.localpart()) {
        Ok(ghost) => bridge.ensure_joined(room, &ghost).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = joined {
        debug!(error = %e, "a ghost was not put back in its room");
    }
}

/// The user changed the power levels of a group's room: each member whose
/// ghost is now at a moderator's level ([`ADMIN_LEVEL`]) or above is made
/// an admin, each admin whose ghost is below it no longer is, and the
/// group's settings follow the levels needed to send and to rename.
pub(in crate::connector) async fn levels_from_matrix(
    bridge: &Arc<Bridge>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
) -> Result<(), StoreError> {
    if !is_group(bridge, room).await? {
        return Ok(());
    }
    let what = "power level change";
    let Some((portal, login, client, _)) = user_event(bridge, room, sender, event, what).await?
    else {
        return Ok(());
    };
    let Ok(levels) = serde_json::from_value::<RoomPowerLevelsEventContent>(event.content.clone())
    else {
        refuse(bridge, room, event, what, "they are not valid power levels").await;
        return Ok(());
    };
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let refused = match client.group_info(&chat).await {
        Ok(info) => {
            let before = previous(event);
            let levels_now = (before.as_ref(), &levels);
            let (promote, demote) = admin_changes(bridge, &client, &info, levels_now).await;
            let mut refused = None;
            for (change, who) in [
                (MemberChange::Promote, promote),
                (MemberChange::Demote, demote),
            ] {
                if who.is_empty() || refused.is_some() {
                    continue;
                }
                refused = match client.change_members(&chat, change, &who).await {
                    Ok(outcomes) => outcomes.iter().find_map(|o| refusal(change, o)),
                    Err(e) => Some(format!("WhatsApp refused it: {e}")),
                };
            }
            match refused {
                Some(why) => Some(why),
                None => change_settings(&client, &info, (previous(event).as_ref(), &levels)).await,
            }
        }
        Err(e) => Some(format!("the group could not be read: {e}")),
    };
    if let Some(why) = refused {
        refuse(bridge, room, event, what, &why).await;
        // The group's members and admins as WhatsApp has them.
        put_back_members(bridge, &login, &client, &chat).await;
    }
    Ok(())
}

/// The power levels the event replaced, as the homeserver gives them.
fn previous(event: &Event) -> Option<RoomPowerLevelsEventContent> {
    let prev = event.raw.get("unsigned")?.get("prev_content")?;
    serde_json::from_value(prev.clone()).ok()
}

/// The group's settings as `levels` have them (only admins send: sending
/// needs a moderator's level; only admins change its info: the room's name
/// does), for each one the user changed (from `before`) that differs from
/// `info`; why WhatsApp refused, if it did. Without the levels before,
/// nothing is taken for a change.
async fn change_settings(
    client: &Client,
    info: &GroupInfo,
    (before, levels): (
        Option<&RoomPowerLevelsEventContent>,
        &RoomPowerLevelsEventContent,
    ),
) -> Option<String> {
    let (send, edit) = settings_of(levels);
    let (sent, edited) = settings_of(before?);
    let mut wanted = Vec::new();
    if send != sent && send != info.announce {
        wanted.push(GroupSetting::Announce(send));
    }
    if edit != edited && edit != info.locked {
        wanted.push(GroupSetting::Locked(edit));
    }
    for setting in wanted {
        if let Err(e) = client.set_group_setting(&info.jid, setting).await {
            return Some(format!("WhatsApp refused it: {e}"));
        }
    }
    None
}

/// Who of the group's members the user made admins with `levels`, and
/// who they no longer do: the ghosts whose level crossed a moderator's
/// between `before` and `levels`, where the group (`info`) differs. An
/// unrelated change of the levels changes no one, even where the room is
/// behind the group; without the levels before, nobody changes.
async fn admin_changes(
    bridge: &Bridge,
    client: &Client,
    info: &GroupInfo,
    (before, levels): (
        Option<&RoomPowerLevelsEventContent>,
        &RoomPowerLevelsEventContent,
    ),
) -> (Vec<Jid>, Vec<Jid>) {
    let (mut promote, mut demote) = (Vec::new(), Vec::new());
    let Some(before) = before else {
        return (promote, demote);
    };
    let admin = Int::from(ADMIN_LEVEL);
    for member in &info.participants {
        if super::super::addressing::is_own(client, member) {
            continue;
        }
        let who = super::person(client, member).await;
        let Ok(ghost) = bridge.ghost_user_id(&who) else {
            continue;
        };
        let wanted = levels.users.get(&ghost).is_some_and(|l| *l >= admin);
        let was = before.users.get(&ghost).is_some_and(|l| *l >= admin);
        match (was, wanted, info.admins.contains(member)) {
            (false, true, false) => promote.push(member.clone()),
            (true, false, true) => demote.push(member.clone()),
            _ => {}
        }
    }
    (promote, demote)
}

/// The room's members, admins and settings set back to the group's, as
/// the server has them.
async fn put_back_members(bridge: &Bridge, login: &Login, client: &Client, chat: &Jid) {
    let info = match client.group_info(chat).await {
        Ok(info) => info,
        Err(e) => {
            debug!(error = %e, "the group was not read; its room stays as the user made it");
            return;
        }
    };
    for event in super::state_events(client, &info).await {
        if let Err(e) = bridge.handle_remote(login, event).await {
            debug!(error = %e, "the room was not put back as the group has it");
        }
    }
}

/// Whether `room` is a group's portal.
pub(in crate::connector) async fn is_group(
    bridge: &Bridge,
    room: &RoomId,
) -> Result<bool, StoreError> {
    let portal = bridge.db().portal_by_room(room).await?;
    Ok(portal.is_some_and(|p| p.kind == PortalKind::Group))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leave_after(before: Option<&str>) -> Event {
        let mut raw = json!({
            "type": "m.room.member",
            "event_id": "$e",
            "room_id": "!r:hs",
            "sender": "@alice:hs",
            "state_key": "@alice:hs",
            "content": {"membership": "leave"},
        });
        if let Some(before) = before {
            raw["unsigned"] = json!({"prev_content": {"membership": before}});
        }
        Event::from_json(raw).unwrap()
    }

    /// Leaving a room the user was in leaves the group; declining its
    /// invite, or a leave the homeserver says nothing before of, does not.
    #[test]
    fn only_a_joined_user_leaving_leaves_the_group() {
        assert!(was_joined(&leave_after(Some("join"))));
        assert!(!was_joined(&leave_after(Some("invite"))));
        assert!(!was_joined(&leave_after(None)));
    }

    #[test]
    fn refusals_say_why_and_what_was_asked_is_no_refusal() {
        let outcome = |error, invite: Option<&str>| MemberOutcome {
            jid: Jid::user_jid("1555"),
            error,
            invite_code: invite.map(str::to_owned),
        };
        assert_eq!(refusal(MemberChange::Add, &outcome(None, None)), None);
        assert_eq!(refusal(MemberChange::Add, &outcome(Some(409), None)), None);
        assert_eq!(
            refusal(MemberChange::Remove, &outcome(Some(404), None)),
            None
        );
        let privacy = refusal(MemberChange::Add, &outcome(Some(403), Some("c0de"))).unwrap();
        assert!(privacy.contains("privacy"), "{privacy}");
        let admin = refusal(MemberChange::Remove, &outcome(Some(403), None)).unwrap();
        assert!(admin.contains("admins"), "{admin}");
        let other = refusal(MemberChange::Promote, &outcome(Some(404), None)).unwrap();
        assert!(other.contains("404"), "{other}");
    }
}
