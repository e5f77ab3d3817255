//! Communities as spaces: a network that groups chats (WhatsApp's
//! communities) gets one Matrix space per login and community, made by the
//! bot on first use with the user invited, holding the rooms of the
//! community's chats the login is in (`m.space.child` in the space,
//! `m.space.parent` in each room, both set by the bot). A room leaves the
//! space when its chat is unlinked or the user is out of it. The space is
//! the user's alone, as the portals are: nobody else is invited, and it
//! names no one.

use ruma::events::space::child::SpaceChildEventContent;
use ruma::events::space::parent::SpaceParentEventContent;
use ruma::{OwnedServerName, RoomId};
use serde_json::json;
use tracing::debug;

use super::portal::NewPortal;
use super::{Bridge, Error, Network};
use crate::appservice::{ClientError, CreateRoom, RoomPreset};
use crate::store::{Login, Portal, Space};

/// A community a chat belongs to, as the network names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Community {
    /// The community's network id.
    pub id: String,
    /// Its name.
    pub name: String,
}

impl<N: Network> Bridge<N> {
    /// Puts `portal`'s room in the space of `community` (made on first
    /// use), taking it out of the one it was in; with `None`, out of any.
    /// A room the user is no longer in (they left the chat) goes into no
    /// space. Returns whether the space was made now.
    pub async fn set_parent(
        &self,
        login: &Login,
        portal: &Portal,
        community: Option<&Community>,
    ) -> Result<bool, Error> {
        let (login_id, chat_id) = (&login.login_id, &portal.chat_id);
        let current = self.db.community_of(login_id, chat_id).await?;
        if current.as_ref().map(|s| &s.community_id) == community.map(|c| &c.id) {
            return Ok(false);
        }
        if community.is_some() && !self.is_in_room(portal, &login.mxid).await? {
            return Ok(false);
        }
        if let Some(old) = &current {
            self.unlink_rooms(&old.room_id, &portal.room_id).await;
        }
        let Some(community) = community else {
            self.db.set_community_of(login_id, chat_id, None).await?;
            return Ok(false);
        };
        let (space, made) = self.space(login, community).await?;
        self.link_rooms(&space.room_id, &portal.room_id).await?;
        let id = Some(space.community_id.as_str());
        self.db.set_community_of(login_id, chat_id, id).await?;
        Ok(made)
    }

    /// The space of `community` for `login`, made now if there is none
    /// (then `true`).
    async fn space(&self, login: &Login, community: &Community) -> Result<(Space, bool), Error> {
        let login_id = &login.login_id;
        if let Some(space) = self.db.community_space(login_id, &community.id).await? {
            return Ok((space, false));
        }
        let _making = self.creating_portal(login_id, &community.id).await;
        if let Some(space) = self.db.community_space(login_id, &community.id).await? {
            return Ok((space, false));
        }
        let new = NewPortal {
            login_id,
            chat_id: &community.id,
            name: &community.name,
            creator: &self.bot,
            params: CreateRoom {
                name: Some(community.name.clone()),
                invite: vec![login.mxid.clone()],
                preset: Some(RoomPreset::PrivateChat),
                creation_content: Some(json!({ "type": "m.space" })),
                ..CreateRoom::default()
            },
        };
        let room_id = self.make_portal_room(new).await?;
        let space = Space {
            community_id: community.id.clone(),
            room_id,
            name: community.name.clone(),
        };
        self.db.save_community_space(login_id, &space).await?;
        if let Some(puppet) = self.puppet(&login.mxid)
            && let Err(e) = puppet.join((&*space.room_id).into()).await
        {
            debug!(error = %e, "the user's puppet did not join a new space");
        }
        Ok((space, true))
    }

    /// A community was renamed: so is its space, if the login has one.
    pub(super) async fn space_renamed(
        &self,
        login: &Login,
        community_id: &str,
        name: &str,
    ) -> Result<(), Error> {
        let login_id = &login.login_id;
        let Some(space) = self.db.community_space(login_id, community_id).await? else {
            return Ok(());
        };
        if space.name == name {
            return Ok(());
        }
        let content = ruma::events::room::name::RoomNameEventContent::new(name.to_owned());
        self.bot
            .send_state(&space.room_id, &content, "", None)
            .await?;
        self.db
            .set_community_name(login_id, community_id, name)
            .await?;
        Ok(())
    }

    /// The servers to reach a room through: ours (checked a server name
    /// when the config was read).
    fn via(&self) -> Result<Vec<OwnedServerName>, Error> {
        let domain = &self.config.homeserver.domain;
        let server = OwnedServerName::try_from(domain.as_str())
            .map_err(|e| ClientError::Content(format!("homeserver.domain {domain}: {e}")))?;
        Ok(vec![server])
    }

    /// `child` in `space`, and `space` as `child`'s parent. The parent
    /// link is best effort: in a room the user made (bound to a chat
    /// later) the bot may lack the power, and the space holds it anyway.
    async fn link_rooms(&self, space: &RoomId, child: &RoomId) -> Result<(), Error> {
        let via = self.via()?;
        let content = SpaceChildEventContent::new(via.clone());
        self.bot
            .send_state(space, &content, child.as_str(), None)
            .await?;
        let mut parent = SpaceParentEventContent::new(via);
        parent.canonical = true;
        let linked = self.bot.send_state(child, &parent, space.as_str(), None);
        if let Err(e) = linked.await {
            debug!(error = %e, "the room does not name its space");
        }
        Ok(())
    }

    /// Undoes [`Bridge::link_rooms`]: empty contents end both links (the
    /// spec's way to remove a child or parent). Best effort: a room the
    /// bot can no longer change keeps a stale link, nothing worse.
    async fn unlink_rooms(&self, space: &RoomId, child: &RoomId) {
        let empty = json!({});
        let ends = [
            (space, "m.space.child", child.as_str()),
            (child, "m.space.parent", space.as_str()),
        ];
        for (room, kind, key) in ends {
            if let Err(e) = self
                .bot
                .send_state_event(room, kind, key, &empty, None)
                .await
            {
                debug!(error = %e, %kind, "a space link not ended");
            }
        }
    }
}
