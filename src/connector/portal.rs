//! A chat's portal: its Matrix room made on first use, exactly once.
//!
//! Making a room and recording it are two steps with no transaction across
//! them, so the bridge first records that it is about to make the room
//! (with a random marker, `portal_creations`), puts the marker in the
//! room's initial state, and ends the record in the transaction that saves
//! the portal. A record found on the next attempt means an earlier run may
//! have stopped in between: the room, if it was made, is among the rooms
//! its creator (the contact's ghost for a chat with one person, the bot for
//! a group) is in, and is adopted instead of making a second one.

use std::sync::Arc;

use ruma::OwnedUserId;
use serde::Deserialize as _;
use tracing::{debug, info};
use wa_client::Client;
use wa_core::jid::Jid;

use super::incoming::{IncomingError, ghost};
use crate::appservice::custom::{
    BridgeEventContent, BridgeSection, HalfShotBridgeEventContent, PortalCreationEventContent,
};
use crate::appservice::{CreateRoom, InitialState, Intent, RoomPreset};
use crate::config::generate_token;
use crate::connector::Bridge;
use crate::store::{Login, Portal, PortalKind, now_ms};

/// The state event (empty state key) that names the portal creation a room
/// was made for: `{"login", "chat", "marker"}`.
pub const CREATION_MARKER: &str = "fi.wabridge.portal_creation";

/// The room's initial state: the bridge info (`m.bridge` and its older
/// name) and the creation marker.
fn initial_state(
    bridge: &Bridge,
    login: &Login,
    chat: &Jid,
    name: &str,
    marker: &str,
) -> Result<Vec<InitialState>, IncomingError> {
    let bridgebot = OwnedUserId::try_from(bridge.bot().user_id()).map_err(|e| {
        IncomingError::Matrix(crate::appservice::ClientError::Content(e.to_string()))
    })?;
    let info = BridgeEventContent {
        bridgebot,
        protocol: BridgeSection {
            id: "whatsapp".to_owned(),
            displayname: "WhatsApp".to_owned(),
        },
        channel: BridgeSection {
            id: chat.to_string(),
            displayname: name.to_owned(),
        },
    };
    let key = format!(
        "{}/{}",
        bridge.config().homeserver.domain,
        bridge.config().appservice.id
    );
    Ok(vec![
        InitialState::of(&info, &key)?,
        InitialState::of(&HalfShotBridgeEventContent::from(info), &key)?,
        InitialState::of(&creation_content(login, chat, marker), "")?,
    ])
}

fn creation_content(login: &Login, chat: &Jid, marker: &str) -> PortalCreationEventContent {
    PortalCreationEventContent {
        login: login.login_id.clone(),
        chat: chat.to_string(),
        marker: marker.to_owned(),
    }
}

/// The room `creator` made for this creation in an earlier run, if any: a
/// room it is in, not bridged yet, whose creation marker matches.
async fn made_before(
    bridge: &Bridge,
    creator: &Intent,
    login: &Login,
    chat: &Jid,
    marker: &str,
) -> Result<Option<String>, IncomingError> {
    let want = creation_content(login, chat, marker);
    for room in creator.joined_rooms().await? {
        if bridge.db().portal_by_room(&room).await?.is_some() {
            continue;
        }
        if creator
            .get_state_event(&room, CREATION_MARKER, "")
            .await?
            .and_then(|c| PortalCreationEventContent::deserialize(&c).ok())
            .is_some_and(|c| c == want)
        {
            return Ok(Some(room));
        }
    }
    Ok(None)
}

/// The room of this creation: the one an earlier run made (when
/// `resumed`), or a new one made by `creator` with `params`.
async fn room(
    bridge: &Bridge,
    creator: &Intent,
    login: &Login,
    chat: &Jid,
    (marker, resumed): (&str, bool),
    params: &CreateRoom,
) -> Result<String, IncomingError> {
    if resumed && let Some(room) = made_before(bridge, creator, login, chat, marker).await? {
        info!(%room, "adopting the room an interrupted run made for this chat");
        return Ok(room);
    }
    Ok(creator.create_room(params).await?)
}

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
    let (marker, resumed) = bridge
        .db()
        .start_portal_creation(&login.login_id, &chat_id, &generate_token())
        .await?;
    let creation = (marker.as_str(), resumed);
    let (room, kind, name) = if chat.is_group() {
        let info = client.group_info(chat).await?;
        let params = CreateRoom {
            name: Some(info.subject.clone()),
            invite: vec![login.mxid.clone()],
            preset: Some(RoomPreset::PrivateChat),
            initial_state: initial_state(bridge, login, chat, &info.subject, &marker)?,
            ..CreateRoom::default()
        };
        let room = room(bridge, bridge.bot(), login, chat, creation, &params).await?;
        let own = client.jid().user().to_owned();
        for member in info.participants.iter().filter(|m| m.user() != own) {
            let g = ghost(bridge, member, None).await?;
            bridge.ensure_joined(&room, &g).await?;
            super::incoming::contact_nick(bridge, login, &room, (member, &g)).await;
        }
        (room, PortalKind::Group, info.subject)
    } else {
        let contact = ghost(bridge, chat, push_name).await?;
        // The user's own name for the contact (this login's), then theirs.
        let (network_id, _) = super::incoming::ghost_ids(bridge, chat);
        let saved = bridge
            .db()
            .contact_name(&login.login_id, &network_id)
            .await?;
        let name = saved
            .or_else(|| push_name.map(str::to_owned))
            .unwrap_or_else(|| format!("+{}", chat.user()));
        let params = CreateRoom {
            name: Some(name.clone()),
            invite: vec![login.mxid.clone(), bridge.bot().user_id().to_owned()],
            is_direct: true,
            preset: Some(RoomPreset::TrustedPrivateChat),
            initial_state: initial_state(bridge, login, chat, &name, &marker)?,
            ..CreateRoom::default()
        };
        let room = room(bridge, &contact, login, chat, creation, &params).await?;
        bridge.bot().join(&room).await?;
        super::incoming::contact_nick(bridge, login, &room, (chat, &contact)).await;
        bridge.note_joined(&room, contact.user_id()).await;
        (room, PortalKind::Dm, name)
    };
    let portal = Portal {
        login_id: login.login_id.clone(),
        chat_id,
        room_id: room,
        kind,
        name,
        topic: None,
        created_at: now_ms(),
    };
    bridge.db().save_portal(&portal).await?;
    // With double puppeting the user is in the room at once, as if they
    // had accepted the invite.
    if let Some(puppet) = bridge.puppet(&login.mxid)
        && let Err(e) = puppet.join(&portal.room_id).await
    {
        debug!(error = %e, "the user's puppet did not join a new portal");
    }
    super::appstate::on_new_portal(bridge, login, &portal).await;
    super::presence::subscribe(bridge, client, &portal).await;
    Ok(portal)
}
