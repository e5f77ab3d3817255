//! Portals: a chat's Matrix room, made on first use, exactly once. The
//! network says what the chat is (its name, who makes the room, whom to
//! invite); the core makes and records the room.
//!
//! Making a room and recording it are two steps with no transaction across
//! them, so the core first records that it is about to make the room (with
//! a random marker, `portal_creations`), puts the marker in the room's
//! initial state, and ends the record in the transaction that saves the
//! portal. A record found on the next attempt means an earlier run may
//! have stopped in between: the room, if it was made, is among the rooms
//! its creator is in, and is adopted instead of making a second one.

use ruma::{OwnedRoomId, RoomId, UserId};
use serde::Deserialize as _;
use tracing::{debug, info};

use super::{Bridge, Error, Network};
use crate::appservice::custom::{
    BridgeEventContent, BridgeSection, HalfShotBridgeEventContent, PortalCreationEventContent,
};
use crate::appservice::{CreateRoom, InitialState, Intent};
use crate::config::generate_token;
use crate::store::Portal;

/// The state event (empty state key) that names the portal creation a room
/// was made for: `{"login", "chat", "marker"}`.
pub const CREATION_MARKER: &str = "fi.wabridge.portal_creation";

/// A portal room to make.
#[derive(Debug)]
pub struct NewPortal<'a> {
    /// The login whose chat it is.
    pub login_id: &'a str,
    /// The network's id of the chat.
    pub chat_id: &'a str,
    /// The chat's name (the room's, and the channel's in `m.bridge`).
    pub name: &'a str,
    /// Who makes the room: the contact's ghost for a chat with one
    /// person, the bot for a group.
    pub creator: &'a Intent,
    /// The room's name, invites, preset; the core adds the bridge info
    /// and the creation marker to its initial state.
    pub params: CreateRoom,
}

impl<N: Network> Bridge<N> {
    /// Makes the room of a new portal, or adopts the one an interrupted
    /// run made for it. Call it holding [`Bridge::creating_portal`], and
    /// record the portal with [`Bridge::save_portal`].
    pub async fn make_portal_room(&self, new: NewPortal<'_>) -> Result<OwnedRoomId, Error> {
        let (marker, resumed) = self
            .db
            .start_portal_creation(new.login_id, new.chat_id, &generate_token())
            .await?;
        let want = PortalCreationEventContent {
            login: new.login_id.to_owned(),
            chat: new.chat_id.to_owned(),
            marker,
        };
        if resumed && let Some(room) = self.made_before(new.creator, &want).await? {
            info!(%room, "adopting the room an interrupted run made for this chat");
            return Ok(room);
        }
        let mut params = new.params;
        params.initial_state = self.initial_state(new.chat_id, new.name, &want)?;
        Ok(new.creator.create_room(&params).await?)
    }

    /// Records `portal` (ending its creation record); with double
    /// puppeting its `owner` is in the room at once, as if they had
    /// accepted the invite.
    pub async fn save_portal(&self, portal: &Portal, owner: &UserId) -> Result<(), Error> {
        self.db.save_portal(portal).await?;
        if let Some(puppet) = self.puppet(owner)
            && let Err(e) = puppet.join((&*portal.room_id).into()).await
        {
            debug!(error = %e, "the user's puppet did not join a new portal");
        }
        Ok(())
    }

    /// Marks an existing room (one the user made, now a chat's portal) as
    /// bridged, `by` one of ours with the power to: the bridge info its
    /// state would have had from the start.
    pub async fn mark_bridged(
        &self,
        by: &Intent,
        room: &RoomId,
        (chat_id, name): (&str, &str),
    ) -> Result<(), Error> {
        let (info, key) = self.bridge_info(chat_id, name);
        by.send_state(room, &info, &key, None).await?;
        let half_shot = HalfShotBridgeEventContent::from(info);
        by.send_state(room, &half_shot, &key, None).await?;
        Ok(())
    }

    /// The room's initial state: the bridge info (`m.bridge` and its older
    /// name) and the creation marker.
    fn initial_state(
        &self,
        chat_id: &str,
        name: &str,
        creation: &PortalCreationEventContent,
    ) -> Result<Vec<InitialState>, Error> {
        let (info, key) = self.bridge_info(chat_id, name);
        Ok(vec![
            InitialState::of(&info, &key)?,
            InitialState::of(&HalfShotBridgeEventContent::from(info), &key)?,
            InitialState::of(creation, "")?,
        ])
    }

    /// The bridge info of chat `chat_id` named `name`, with its state key.
    fn bridge_info(&self, chat_id: &str, name: &str) -> (BridgeEventContent, String) {
        let bridgebot = self.bot.user_id().to_owned();
        let info = BridgeEventContent {
            bridgebot,
            protocol: BridgeSection {
                id: N::ID.to_owned(),
                displayname: N::NAME.to_owned(),
            },
            channel: BridgeSection {
                id: chat_id.to_owned(),
                displayname: name.to_owned(),
            },
        };
        let key = format!(
            "{}/{}",
            self.config.homeserver.domain, self.config.appservice.id
        );
        (info, key)
    }

    /// The room `creator` made for this creation in an earlier run, if
    /// any: a room it is in, not bridged yet, whose creation marker
    /// matches.
    async fn made_before(
        &self,
        creator: &Intent,
        want: &PortalCreationEventContent,
    ) -> Result<Option<OwnedRoomId>, Error> {
        for room in creator.joined_rooms().await? {
            if self.db.portal_by_room(&room).await?.is_some() {
                continue;
            }
            if creator
                .get_state_event(&room, CREATION_MARKER, "")
                .await?
                .and_then(|c| PortalCreationEventContent::deserialize(&c).ok())
                .is_some_and(|c| &c == want)
            {
                return Ok(Some(room));
            }
        }
        Ok(None)
    }
}
