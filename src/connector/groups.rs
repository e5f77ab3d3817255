//! A group's life after its portal is made: WhatsApp's changes into the
//! room as they come (`group_change`) and, for what was missed, at each
//! reconnect (`resync_groups`); the user's changes in Matrix out to
//! WhatsApp (`from_matrix`, and `members` for who is in the group and who
//! runs it).

mod create;
mod members;

use std::sync::Arc;

use tracing::debug;
use wa_client::{Client, Error as WaError, GroupChange, GroupChangeKind, GroupInfo, SendError};
use wa_core::jid::Jid;

use ruma::events::room::name::RoomNameEventContent;
use ruma::events::room::topic::RoomTopicEventContent;
use ruma::{RoomId, UserId};

use super::relations::{refuse, user_event};
use crate::appservice::Event;
use crate::bridge::ghost::GhostId;
use crate::bridge::remote::Gone;
use crate::bridge::{MatrixEvent, RemoteEvent};
use crate::connector::Bridge;
use crate::store::{Login, Portal, PortalKind, StoreError};

pub(super) use create::create_group;
pub(super) use members::{is_group, levels_from_matrix, member_from_matrix};

/// A change to group `change.group`, as the core's events: name,
/// description, who joined and who left, who is an admin, who may send and
/// change its info; the login's own account leaving, removed or added
/// again, and the group's end. Others' changes name them by their ghosts;
/// the user's own account has none.
pub(super) async fn group_change(client: &Client, change: GroupChange) -> Vec<RemoteEvent> {
    let chat_id = change.group.to_string();
    let own = |j: &Jid| super::addressing::is_own(client, j);
    // The user's own change (from the phone) is the bot's in Matrix: the
    // user has no ghost.
    let by = match change.actor.as_ref().filter(|a| !own(a)) {
        Some(actor) => Some(person(client, actor).await),
        None => None,
    };
    let (others, includes_own) = people_of(client, &change.kind).await;
    let mut events = Vec::new();
    let settings = |send, edit| RemoteEvent::Settings {
        chat_id: chat_id.clone(),
        only_admins_send: send,
        only_admins_edit: edit,
    };
    let gone = |why| RemoteEvent::Gone {
        chat_id: chat_id.clone(),
        why,
    };
    match change.kind {
        // A notification without its subject renames nothing.
        GroupChangeKind::Subject(name) if name.is_empty() => {}
        GroupChangeKind::Subject(name) => events.push(RemoteEvent::Renamed {
            chat_id: chat_id.clone(),
            name,
            by,
        }),
        GroupChangeKind::Description(topic) => events.push(RemoteEvent::Described {
            chat_id: chat_id.clone(),
            topic,
            by,
        }),
        GroupChangeKind::Added(_) | GroupChangeKind::JoinedByLink(_) => {
            if includes_own {
                events.push(RemoteEvent::Back {
                    chat_id: chat_id.clone(),
                });
            }
            let by_link = matches!(change.kind, GroupChangeKind::JoinedByLink(_));
            events.push(RemoteEvent::Joined {
                chat_id: chat_id.clone(),
                who: others,
                by: by.clone().filter(|_| !by_link),
                by_link,
            });
        }
        GroupChangeKind::Removed(_) | GroupChangeKind::Left(_) => {
            let removed = matches!(change.kind, GroupChangeKind::Removed(_));
            events.push(RemoteEvent::Left {
                chat_id: chat_id.clone(),
                who: others,
                removed_by: by.clone().filter(|_| removed),
            });
            // Removed by someone else, or left (from the phone or Matrix).
            if includes_own {
                let actor_is_own = change.actor.as_ref().map(&own);
                events.push(gone(match (removed, actor_is_own) {
                    (true, Some(false)) => Gone::Removed(by),
                    (true, None) => Gone::Removed(None),
                    _ => Gone::Left,
                }));
            }
        }
        GroupChangeKind::Promoted(_) | GroupChangeKind::Demoted(_) => {
            let admin = matches!(change.kind, GroupChangeKind::Promoted(_));
            events.push(RemoteEvent::Admins {
                chat_id: chat_id.clone(),
                who: others,
                admin,
            });
        }
        GroupChangeKind::Announce(on) => events.push(settings(Some(on), None)),
        GroupChangeKind::Locked(on) => events.push(settings(None, Some(on))),
        GroupChangeKind::Deleted => events.push(gone(Gone::Deleted)),
        GroupChangeKind::Timer(timer) => events.push(RemoteEvent::Notice {
            chat_id: chat_id.clone(),
            text: super::to_matrix::structured::timer_changed(timer.unwrap_or(0)),
            by,
        }),
        // The subject and members of a new group are the portal's when it
        // is made.
        GroupChangeKind::Created { .. } => {}
        // A community's links are the connector's (`communities.rs`).
        GroupChangeKind::Linked { .. } | GroupChangeKind::Unlinked { .. } => {}
        GroupChangeKind::Other(tag) => debug!(%tag, "a group change not shown in Matrix yet"),
    }
    events
}

/// The people a member change names, as the core knows them, but for the
/// login's own account: whether that is among them is said apart.
async fn people_of(client: &Client, kind: &GroupChangeKind) -> (Vec<GhostId>, bool) {
    let people = match kind {
        GroupChangeKind::Added(p)
        | GroupChangeKind::JoinedByLink(p)
        | GroupChangeKind::Removed(p)
        | GroupChangeKind::Left(p)
        | GroupChangeKind::Promoted(p)
        | GroupChangeKind::Demoted(p) => p.as_slice(),
        _ => &[],
    };
    let (mut others, mut includes_own) = (Vec::new(), false);
    for j in people {
        if super::addressing::is_own(client, j) {
            includes_own = true;
            continue;
        }
        others.push(person(client, j).await);
    }
    (others, includes_own)
}

/// A group member as the core knows people: by phone number where the
/// client knows it (one ghost per person).
async fn person(client: &Client, jid: &Jid) -> GhostId {
    super::incoming::ghost_id(&super::addressing::by_number(client, jid).await)
}

/// The group as `info` describes it, as the core's events: its members
/// and admins, and its settings.
pub(super) async fn state_events(client: &Client, info: &GroupInfo) -> [RemoteEvent; 2] {
    let settings = RemoteEvent::Settings {
        chat_id: info.jid.to_string(),
        only_admins_send: Some(info.announce),
        only_admins_edit: Some(info.locked),
    };
    [members_event(client, info).await, settings]
}

/// Everyone in the group `info` describes (but the login's own account),
/// and its admins, as the core's event.
pub(super) async fn members_event(client: &Client, info: &GroupInfo) -> RemoteEvent {
    let (mut members, mut admins) = (Vec::new(), Vec::new());
    let others = info.participants.iter();
    for j in others.filter(|j| !super::addressing::is_own(client, j)) {
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
/// the bridge was away. Run on the login's event loop, so the group
/// changes that come meanwhile are applied after it, not undone by it.
pub(super) async fn resync_groups(bridge: &Arc<Bridge>, login: &Login, client: &Client) {
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
                // Out of the group while away (refused) or the group gone.
                let why = match &e {
                    SendError::Connection(WaError::Iq { code: 403, .. }) => {
                        Some(Gone::Removed(None))
                    }
                    SendError::Connection(WaError::Iq { code: 404, .. }) => Some(Gone::Deleted),
                    _ => None,
                };
                debug!(error = %e, "a group not read; its room stays as it was");
                if let Some(why) = why {
                    let chat_id = portal.chat_id.clone();
                    let gone = RemoteEvent::Gone { chat_id, why };
                    if let Err(e) = bridge.handle_remote(login, gone).await {
                        debug!(error = %e, "a group's end not shown");
                    }
                }
                continue;
            }
        };
        let [members, settings] = state_events(client, &info).await;
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
            members,
            settings,
        ];
        for event in events {
            if let Err(e) = bridge.handle_remote(login, event).await {
                debug!(error = %e, "a group not brought up to date");
            }
        }
        super::pictures::group_picture(bridge, (login, client), &chat, (None, None)).await;
        let parent = info.parent.as_ref().map(|p| (p, None));
        super::communities::place(bridge, (login, client), &chat, parent).await;
    }
    super::communities::refill(bridge, login, client).await;
}

/// The user renamed a group's room or changed its topic: the group's
/// subject or description follows on WhatsApp. What WhatsApp refuses gets a
/// failed status and a notice saying why, and the room is put back as the
/// group has it. A direct chat's room keeps what the user gave it.
pub(super) async fn from_matrix(
    bridge: &Arc<Bridge>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
    kind: MatrixEvent,
) -> Result<(), StoreError> {
    let what = match kind {
        MatrixEvent::Name => "name change",
        _ => "topic change",
    };
    // A direct chat's room: nothing to tell WhatsApp, nor the user.
    if !members::is_group(bridge, room).await? {
        return Ok(());
    }
    let Some((portal, _, client, _)) = user_event(bridge, room, sender, event, what).await? else {
        return Ok(());
    };
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let (login_id, chat_id) = (&portal.login_id, &portal.chat_id);
    let refused = if kind == MatrixEvent::Name {
        let Ok(name) = serde_json::from_value::<RoomNameEventContent>(event.content.clone()) else {
            refuse(bridge, room, event, what, "it is not a valid room name").await;
            return Ok(());
        };
        if name.name == portal.name {
            return Ok(());
        }
        match client.set_group_subject(&chat, &name.name).await {
            // The portal row says it now, so WhatsApp's echo changes nothing.
            Ok(()) => {
                return bridge
                    .db()
                    .set_portal_name(login_id, chat_id, &name.name)
                    .await;
            }
            Err(e) => e,
        }
    } else {
        let Ok(topic) = serde_json::from_value::<RoomTopicEventContent>(event.content.clone())
        else {
            refuse(bridge, room, event, what, "it is not a valid topic").await;
            return Ok(());
        };
        let topic = Some(topic.topic).filter(|t| !t.is_empty());
        if topic == portal.topic {
            return Ok(());
        }
        match client.set_group_description(&chat, topic.as_deref()).await {
            Ok(()) => {
                let db = bridge.db();
                return db
                    .set_portal_topic(login_id, chat_id, topic.as_deref())
                    .await;
            }
            Err(e) => e,
        }
    };
    let why = format!("WhatsApp refused it: {refused}");
    refuse(bridge, room, event, what, &why).await;
    put_back(bridge, &portal, kind).await;
    Ok(())
}

/// Sets the room's name or topic back to the group's, as the bot.
async fn put_back(bridge: &Bridge, portal: &Portal, kind: MatrixEvent) {
    let room = &portal.room_id;
    let done = if kind == MatrixEvent::Name {
        let name = RoomNameEventContent::new(portal.name.clone());
        bridge.bot().send_state(room, &name, "", None).await
    } else {
        let topic = RoomTopicEventContent::new(portal.topic.clone().unwrap_or_default());
        bridge.bot().send_state(room, &topic, "", None).await
    };
    if let Err(e) = done {
        debug!(error = %e, "the room was not put back as the group has it");
    }
}
