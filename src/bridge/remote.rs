//! What happens on the network, carried into Matrix by the core (the shape
//! of bridgev2's remote events). The network says what happened in its own
//! ids ([`RemoteEvent`]); the core finds the portal, the ghost and the
//! bridged messages, and acts in the room: receipts, typing, presence, a
//! chat's name and description, who is in it. A chat without a portal
//! gets nothing: these events never make rooms.

use std::time::Duration;

use ruma::events::StateEventContent;
use ruma::events::TimelineEventType;
use ruma::events::room::avatar::RoomAvatarEventContent;
use ruma::events::room::message::RoomMessageEventContent;
use ruma::events::room::name::RoomNameEventContent;
use ruma::events::room::power_levels::RoomPowerLevelsEventContent;
use ruma::events::room::topic::RoomTopicEventContent;
use ruma::{Int, UserId};
use tracing::debug;

use super::ghost::GhostId;
use super::{Bridge, Error, Network};
use crate::appservice::{ClientError, Intent};
use crate::store::{Login, Message, Portal};

/// The power level a network's chat admin has in the room: a moderator's
/// (they may redact, kick and change the room, as WhatsApp admins may).
pub const ADMIN_LEVEL: i32 = 50;

/// The power level of a portal's user in a group's room: enough to change
/// power levels (a ghost's level is how they make a member an admin) and to
/// demote a ghost at [`ADMIN_LEVEL`]; the network says whether it allows
/// what they do.
pub const OWNER_LEVEL: i32 = 100;

/// Something that happened in one of a login's chats, or to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEvent {
    /// The chat belongs to `community` (a space holding its room, made on
    /// first use), or to none.
    Parent {
        /// The chat's network id.
        chat_id: String,
        /// Its community.
        community: Option<super::space::Community>,
    },
    /// `reader` read messages of `chat_id` that the login's own account
    /// (`own_id`, a network id) sent: their ghost's read receipt goes on
    /// the newest of them that has a Matrix event.
    Read {
        /// The chat's network id.
        chat_id: String,
        /// Who read them.
        reader: GhostId,
        /// The login's own account, the sender of the messages read.
        own_id: String,
        /// The messages read (network ids).
        message_ids: Vec<String>,
    },
    /// `who` types in `chat_id` (for up to `timeout`), or stopped (`None`).
    Typing {
        /// The chat's network id.
        chat_id: String,
        /// Who types.
        who: GhostId,
        /// How long the typing lasts unless repeated; `None`: stopped.
        timeout: Option<Duration>,
    },
    /// `who` went online (`true`) or offline; only where presence is
    /// bridged (`bridge.presence.enabled`).
    Presence {
        /// Whose presence.
        who: GhostId,
        /// Online or not.
        online: bool,
    },
    /// The chat got a new name, from `by` if known.
    Renamed {
        /// The chat's network id.
        chat_id: String,
        /// The new name.
        name: String,
        /// Who renamed it.
        by: Option<GhostId>,
    },
    /// The chat's description changed (`None`: removed), by `by` if known.
    Described {
        /// The chat's network id.
        chat_id: String,
        /// The new description.
        topic: Option<String>,
        /// Who changed it.
        by: Option<GhostId>,
    },
    /// The chat's picture changed: the room's avatar is `avatar` (`None`:
    /// removed), set by `by` if known.
    Pictured {
        /// The chat's network id.
        chat_id: String,
        /// The picture, uploaded.
        avatar: Option<ruma::OwnedMxcUri>,
        /// Who changed it.
        by: Option<GhostId>,
    },
    /// People joined the chat: added by `by` (their ghost invites them),
    /// or by the chat's invite link (`by_link`: their join says so).
    Joined {
        /// The chat's network id.
        chat_id: String,
        /// Who joined.
        who: Vec<GhostId>,
        /// Who added them, if known.
        by: Option<GhostId>,
        /// They joined by the chat's invite link.
        by_link: bool,
    },
    /// People were made admins of the chat, or no longer are.
    Admins {
        /// The chat's network id.
        chat_id: String,
        /// Who is an admin now (or no longer, with `admin` false).
        who: Vec<GhostId>,
        /// Made admins, or not any more.
        admin: bool,
    },
    /// Who is in the chat now, and who of them are admins, as the network
    /// says when the room is made and at a reconnect: ghosts missing from
    /// the room join, ghosts no longer in the chat leave, admins' power
    /// levels follow, and the login's user may rename the room.
    Members {
        /// The chat's network id.
        chat_id: String,
        /// Everyone in the chat but the login's own account.
        members: Vec<GhostId>,
        /// Those of `members` who are admins.
        admins: Vec<GhostId>,
    },
    /// Who may send and who may change the chat's info: only its admins
    /// (`Some(true)`), everyone (`Some(false)`), or as it was (`None`).
    Settings {
        /// The chat's network id.
        chat_id: String,
        /// Only admins may send.
        only_admins_send: Option<bool>,
        /// Only admins may change the name, description and picture.
        only_admins_edit: Option<bool>,
    },
    /// The login's own account is no longer in the chat: the room says
    /// why and the user is taken out of it (nothing is bridged there now).
    Gone {
        /// The chat's network id.
        chat_id: String,
        /// Why.
        why: Gone,
    },
    /// The login's own account is in the chat again: the user is invited
    /// back into its room.
    Back {
        /// The chat's network id.
        chat_id: String,
    },
    /// Something about the chat the room is told in words (a change the
    /// room has no state for, say its disappearing-messages timer), from
    /// `by`'s ghost if known, else the bot.
    Notice {
        /// The chat's network id.
        chat_id: String,
        /// What is said.
        text: String,
        /// Who did it.
        by: Option<GhostId>,
    },
    /// People left the chat; `removed_by` when someone else removed them.
    Left {
        /// The chat's network id.
        chat_id: String,
        /// Who left.
        who: Vec<GhostId>,
        /// Who removed them, if they did not leave themselves.
        removed_by: Option<GhostId>,
    },
}

/// Why the login's own account is no longer in a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gone {
    /// The user left it (on another device, or from Matrix).
    Left,
    /// Someone removed the user, if the network says who.
    Removed(Option<GhostId>),
    /// The chat no longer exists.
    Deleted,
}

impl RemoteEvent {
    /// The chat it happened in (none for a contact's presence).
    fn chat_id(&self) -> Option<&str> {
        match self {
            RemoteEvent::Presence { .. } => None,
            RemoteEvent::Read { chat_id, .. }
            | RemoteEvent::Typing { chat_id, .. }
            | RemoteEvent::Renamed { chat_id, .. }
            | RemoteEvent::Described { chat_id, .. }
            | RemoteEvent::Pictured { chat_id, .. }
            | RemoteEvent::Joined { chat_id, .. }
            | RemoteEvent::Admins { chat_id, .. }
            | RemoteEvent::Members { chat_id, .. }
            | RemoteEvent::Settings { chat_id, .. }
            | RemoteEvent::Gone { chat_id, .. }
            | RemoteEvent::Back { chat_id }
            | RemoteEvent::Notice { chat_id, .. }
            | RemoteEvent::Parent { chat_id, .. }
            | RemoteEvent::Left { chat_id, .. } => Some(chat_id),
        }
    }
}

impl Gone {
    /// What the room is told.
    fn notice<N: Network>(&self) -> String {
        let net = N::NAME;
        match self {
            Gone::Left => format!("You left this group on {net}; it is no longer bridged."),
            Gone::Removed(Some(by)) => format!(
                "You were removed from this group on {net} by {}; it is no longer bridged.",
                by.fallback_name
            ),
            Gone::Removed(None) => {
                format!("You were removed from this group on {net}; it is no longer bridged.")
            }
            Gone::Deleted => format!("This group was deleted on {net}; it is no longer bridged."),
        }
    }
}

impl<N: Network> Bridge<N> {
    /// Carries `event` of `login` into Matrix.
    pub async fn handle_remote(&self, login: &Login, event: RemoteEvent) -> Result<(), Error> {
        let chat_id = match &event {
            RemoteEvent::Presence { who, online } => return self.presence(who, *online).await,
            other => other.chat_id().unwrap_or_default(),
        };
        let Some(portal) = self.db.portal(&login.login_id, chat_id).await? else {
            // A community has a space rather than a portal.
            if let RemoteEvent::Renamed { chat_id, name, .. } = &event {
                return self.space_renamed(login, chat_id, name).await;
            }
            return Ok(());
        };
        match event {
            RemoteEvent::Read {
                reader,
                own_id,
                message_ids,
                ..
            } => {
                let newest = self.newest_of(login, &portal, &own_id, &message_ids);
                let Some(newest) = newest.await? else {
                    return Ok(());
                };
                let ghost = self.joined_ghost(&portal, &reader).await?;
                ghost
                    .send_receipt(&portal.room_id, "m.read", &newest.event_id)
                    .await?;
            }
            RemoteEvent::Typing { who, timeout, .. } => {
                let ghost = self.joined_ghost(&portal, &who).await?;
                ghost.typing(&portal.room_id, timeout).await?;
            }
            RemoteEvent::Renamed { name, by, .. } if portal.name != name => {
                let content = RoomNameEventContent::new(name.clone());
                self.set_state_as(&portal, by.as_ref(), &content).await?;
                let (login, chat) = (&portal.login_id, &portal.chat_id);
                self.db.set_portal_name(login, chat, &name).await?;
            }
            RemoteEvent::Pictured { avatar, by, .. } => {
                let mut content = RoomAvatarEventContent::new();
                content.url = avatar;
                self.set_state_as(&portal, by.as_ref(), &content).await?;
            }
            RemoteEvent::Described { topic, by, .. } if portal.topic != topic => {
                let content = RoomTopicEventContent::new(topic.clone().unwrap_or_default());
                self.set_state_as(&portal, by.as_ref(), &content).await?;
                let (login, chat) = (&portal.login_id, &portal.chat_id);
                self.db
                    .set_portal_topic(login, chat, topic.as_deref())
                    .await?;
            }
            RemoteEvent::Joined {
                who, by, by_link, ..
            } => self.joined(&portal, &who, by.as_ref(), by_link).await?,
            RemoteEvent::Admins { who, admin, .. } => self.set_admins(&portal, &who, admin).await?,
            RemoteEvent::Members {
                members, admins, ..
            } => {
                let users = (&*login.mxid, members.as_slice(), admins.as_slice());
                self.sync_members(&portal, users).await?;
            }
            RemoteEvent::Left {
                who, removed_by, ..
            } => {
                for who in &who {
                    self.ghost_leaves(&portal, who, removed_by.as_ref()).await?;
                }
            }
            RemoteEvent::Settings {
                only_admins_send,
                only_admins_edit,
                ..
            } => {
                let settings = (only_admins_send, only_admins_edit);
                self.change_levels(&portal.room_id, |levels| apply_settings(levels, settings))
                    .await?;
            }
            RemoteEvent::Gone { why, .. } => {
                // Out of its space while the user still sees the room; a
                // failure there does not keep them in it.
                if let Err(e) = self.set_parent(login, &portal, None).await {
                    debug!(error = %e, "a room gone not taken out of its space");
                }
                self.user_gone(&portal, &login.mxid, &why).await?;
            }
            RemoteEvent::Parent { community, .. } => {
                self.set_parent(login, &portal, community.as_ref()).await?;
            }
            RemoteEvent::Notice { text, by, .. } => self.say(&portal, text, by.as_ref()).await?,
            RemoteEvent::Back { .. } => self.user_back(&portal, &login.mxid).await?,
            // Unchanged names and topics, and presence (above).
            RemoteEvent::Renamed { .. }
            | RemoteEvent::Described { .. }
            | RemoteEvent::Presence { .. } => {}
        }
        Ok(())
    }

    /// `who` went online or offline: so does their ghost, where presence
    /// is bridged.
    async fn presence(&self, who: &GhostId, online: bool) -> Result<(), Error> {
        if !self.config.bridge.presence.enabled {
            return Ok(());
        }
        let ghost = self.network_ghost(who).await?;
        let presence = if online { "online" } else { "offline" };
        ghost.set_presence(presence).await?;
        Ok(())
    }

    /// Sets a state event of `portal`'s room as the ghost of `by` when it
    /// may (it is in the room and has the power), else as the bot.
    async fn set_state_as<C: StateEventContent>(
        &self,
        portal: &Portal,
        by: Option<&GhostId>,
        content: &C,
    ) -> Result<(), Error> {
        if let Some(by) = by {
            let sent = match self.joined_ghost(portal, by).await {
                Ok(ghost) => ghost
                    .send_state(&portal.room_id, content, "", None)
                    .await
                    .map_err(Error::from),
                Err(e) => Err(e),
            };
            match sent {
                Ok(_) => return Ok(()),
                Err(e) => debug!(error = %e, "the ghost may not change the room; the bot does"),
            }
        }
        self.bot
            .send_state(&portal.room_id, content, "", None)
            .await?;
        Ok(())
    }

    /// Gives the ghosts of `who` the power level of a network admin
    /// ([`ADMIN_LEVEL`]), or takes it back (the room's default), as the bot.
    async fn set_admins(&self, portal: &Portal, who: &[GhostId], admin: bool) -> Result<(), Error> {
        let mut users = Vec::new();
        for who in who {
            // An admin is in the room; one no longer an admin need not be.
            let ghost = if admin {
                self.joined_ghost(portal, who).await?
            } else {
                self.network_ghost(who).await?
            };
            users.push(ghost.user_id().to_owned());
        }
        self.change_levels(&portal.room_id, |levels| {
            let levels = &mut levels.users;
            let mut changed = false;
            for user in users {
                changed |= if admin {
                    levels.insert(user, Int::from(ADMIN_LEVEL)) != Some(Int::from(ADMIN_LEVEL))
                } else {
                    levels.remove(&user).is_some()
                };
            }
            changed
        })
        .await
    }

    /// Makes the room's ghosts what the chat's member list says: missing
    /// ones join, those no longer in it leave, and admins are exactly the
    /// ghosts at [`ADMIN_LEVEL`] or above (at it). The portal's `owner` is
    /// at [`OWNER_LEVEL`]: it is their chat, whose name, topic and members
    /// they may change as far as the network lets them.
    async fn sync_members(
        &self,
        portal: &Portal,
        (owner, members, admins): (&UserId, &[GhostId], &[GhostId]),
    ) -> Result<(), Error> {
        let room = &portal.room_id;
        let in_room = self.bot.joined_members(room).await?;
        let mut wanted = Vec::new();
        for who in members {
            let user = self.ghost_user_id(who)?;
            if in_room.contains_key(&user) {
                self.note_joined(room, &user).await;
            } else {
                self.joined_ghost(portal, who).await?;
            }
            wanted.push(user);
        }
        for user in in_room.keys() {
            if self.is_ghost(user) && !wanted.contains(user) {
                let ghost = self.matrix.ghost_intent(user.localpart())?;
                if let Err(e) = ghost.leave(room).await {
                    debug!(error = %e, "a ghost did not leave a room");
                }
                self.note_left(room, user).await;
            }
        }
        let admin_ids = admins
            .iter()
            .map(|who| self.ghost_user_id(who))
            .collect::<Result<Vec<_>, _>>()?;
        let (admin, owner_level) = (Int::from(ADMIN_LEVEL), Int::from(OWNER_LEVEL));
        self.change_levels(&portal.room_id, |levels| {
            let levels = &mut levels.users;
            let before = levels.clone();
            levels.retain(|u, l| !(self.is_ghost(u) && *l >= admin && !admin_ids.contains(u)));
            for user in admin_ids {
                levels.insert(user, admin);
            }
            if levels.get(owner).is_none_or(|l| *l < owner_level) {
                levels.insert(owner.to_owned(), owner_level);
            }
            *levels != before
        })
        .await
    }

    /// Changes the power levels of `room` with `change` (which says
    /// whether it changed anything), as the bot.
    pub async fn change_levels(
        &self,
        room: &ruma::RoomId,
        change: impl FnOnce(&mut RoomPowerLevelsEventContent) -> bool,
    ) -> Result<(), Error> {
        let Some(current) = self
            .bot
            .get_state_event(room, "m.room.power_levels", "")
            .await?
        else {
            return Ok(());
        };
        let mut levels: RoomPowerLevelsEventContent = serde_json::from_value(current)
            .map_err(|e| ClientError::InvalidResponse(format!("power levels: {e}")))?;
        if change(&mut levels) {
            self.bot.send_state(room, &levels, "", None).await?;
        }
        Ok(())
    }

    /// The login's own account is out of `portal`'s chat: the room is told
    /// why and `owner` is taken out of it, once (not again while they are
    /// out).
    async fn user_gone(&self, portal: &Portal, owner: &UserId, why: &Gone) -> Result<(), Error> {
        if !self.is_in_room(portal, owner).await? {
            return Ok(());
        }
        let said = why.notice::<N>();
        self.notice(&portal.room_id, &said).await;
        self.bot.kick(&portal.room_id, owner, &said).await?;
        Ok(())
    }

    /// The login's own account is in the chat again: `owner` is invited
    /// back into its room, unless they are there.
    async fn user_back(&self, portal: &Portal, owner: &UserId) -> Result<(), Error> {
        if !self.is_in_room(portal, owner).await? {
            self.bot.invite(&portal.room_id, owner).await?;
        }
        Ok(())
    }

    /// Says `text` in `portal`'s room as a notice, from `by`'s ghost if
    /// given, else the bot.
    async fn say(&self, portal: &Portal, text: String, by: Option<&GhostId>) -> Result<(), Error> {
        let content = RoomMessageEventContent::notice_plain(text);
        let intent = match by {
            Some(by) => self.joined_ghost(portal, by).await?,
            None => self.bot.clone(),
        };
        intent
            .send(&portal.room_id, &content, &super::txn_id(), None)
            .await?;
        Ok(())
    }

    /// `user`'s membership of `room` as the room says it (`join`,
    /// `invite`, ...; the joined cache is empty after a restart).
    async fn membership(
        &self,
        room: &ruma::RoomId,
        user: &UserId,
    ) -> Result<Option<String>, Error> {
        let member = self
            .bot
            .get_state_event(room, "m.room.member", user.as_str())
            .await?;
        Ok(member.and_then(|m| m["membership"].as_str().map(str::to_owned)))
    }

    /// Whether `user` is in `portal`'s room or invited to it.
    pub(super) async fn is_in_room(&self, portal: &Portal, user: &UserId) -> Result<bool, Error> {
        let membership = self.membership(&portal.room_id, user).await?;
        Ok(matches!(membership.as_deref(), Some("join" | "invite")))
    }

    /// `who` is no longer in the chat: their ghost leaves the room, or is
    /// removed by the bot when `removed_by` removed them (ghosts have no
    /// power to kick), which the reason names.
    async fn ghost_leaves(
        &self,
        portal: &Portal,
        who: &GhostId,
        removed_by: Option<&GhostId>,
    ) -> Result<(), Error> {
        let ghost = self.network_ghost(who).await?;
        let room = &portal.room_id;
        let gone = match removed_by.filter(|by| *by != who) {
            Some(by) => {
                let reason = format!("Removed on {} by {}", N::NAME, by.fallback_name);
                self.bot.kick(room, ghost.user_id(), &reason).await
            }
            None => ghost.leave(room).await,
        };
        // A ghost that was not in the room is where it should be.
        if let Err(e) = gone {
            debug!(error = %e, "a ghost did not leave a room");
        }
        self.note_left(room, ghost.user_id()).await;
        Ok(())
    }

    /// The newest of `ids` (sent by `sender_id` in `portal`) that has a
    /// Matrix event.
    async fn newest_of(
        &self,
        login: &Login,
        portal: &Portal,
        sender_id: &str,
        ids: &[String],
    ) -> Result<Option<Message>, Error> {
        let mut newest: Option<Message> = None;
        for id in ids {
            let found = self
                .db
                .message_by_network_id(&login.login_id, &portal.chat_id, sender_id, id)
                .await?;
            if let Some(m) = found
                && newest.as_ref().is_none_or(|n| m.sent_at >= n.sent_at)
            {
                newest = Some(m);
            }
        }
        Ok(newest)
    }

    /// The ghost of `who`, in `portal`'s room.
    async fn joined_ghost(&self, portal: &Portal, who: &GhostId) -> Result<Intent, Error> {
        let ghost = self.network_ghost(who).await?;
        self.ensure_joined(&portal.room_id, &ghost).await?;
        Ok(ghost)
    }

    /// `who` joined `portal`'s chat: each ghost not in the room yet is
    /// invited by the ghost of `by` where it may (else the bot) and joins;
    /// one who came by the chat's link says so in their join.
    async fn joined(
        &self,
        portal: &Portal,
        who: &[GhostId],
        by: Option<&GhostId>,
        by_link: bool,
    ) -> Result<(), Error> {
        let room = &portal.room_id;
        // The adder's ghost invites where it is in the room; not joined for
        // it (the adder may be no member), and any failure is the bot's.
        let inviter = match by {
            Some(by) => self.network_ghost(by).await.ok(),
            None => None,
        };
        let reason = by_link.then(|| format!("joined by the chat's invite link on {}", N::NAME));
        for who in who {
            let ghost = self.network_ghost(who).await?;
            if self.is_joined(room, ghost.user_id()).await
                || self.membership(room, ghost.user_id()).await?.as_deref() == Some("join")
            {
                self.note_joined(room, ghost.user_id()).await;
                continue;
            }
            let invited = match &inviter {
                Some(inviter) => inviter.invite(room, ghost.user_id()).await,
                None => Err(ClientError::Content("no inviter".to_owned())),
            };
            if invited.is_err() {
                self.bot
                    .invite_saying(room, ghost.user_id(), reason.as_deref())
                    .await?;
            }
            ghost
                .join_saying((&**room).into(), reason.as_deref())
                .await?;
            self.note_joined(room, ghost.user_id()).await;
        }
        Ok(())
    }

    /// The ghost of `who` (its name as it was); the network hears of a
    /// rename (see [`Network::ghost_renamed`]).
    pub async fn network_ghost(&self, who: &GhostId) -> Result<Intent, Error> {
        self.named_ghost(who, None).await
    }

    /// The ghost of `who`, named `name` when one is given; the network
    /// hears of a rename (see [`Network::ghost_renamed`]).
    pub async fn named_ghost(&self, who: &GhostId, name: Option<&str>) -> Result<Intent, Error> {
        let ghosted = self.ghost(who, name).await?;
        if ghosted.renamed {
            N::ghost_renamed(self, who, &ghosted.intent).await;
        }
        Ok(ghosted.intent)
    }
}

/// The power-level requirements for who may send (`events_default`) and
/// who may change the room's name, topic and avatar, as a chat's settings
/// say: a network admin's level ([`ADMIN_LEVEL`]) when only admins may,
/// else everyone's. Returns whether anything changed.
fn apply_settings(
    levels: &mut RoomPowerLevelsEventContent,
    (only_admins_send, only_admins_edit): (Option<bool>, Option<bool>),
) -> bool {
    let before = serde_json::to_value(&*levels).ok();
    let level = |only_admins: bool| Int::from(if only_admins { ADMIN_LEVEL } else { 0 });
    if let Some(only) = only_admins_send {
        levels.events_default = level(only);
    }
    if let Some(only) = only_admins_edit {
        for kind in [
            TimelineEventType::RoomName,
            TimelineEventType::RoomTopic,
            TimelineEventType::RoomAvatar,
        ] {
            levels.events.insert(kind, level(only));
        }
    }
    serde_json::to_value(&*levels).ok() != before
}

/// Whether `levels` let only a network admin send, and only one change the
/// room's info (its name's requirement stands for the three).
pub fn settings_of(levels: &RoomPowerLevelsEventContent) -> (bool, bool) {
    let admin = Int::from(ADMIN_LEVEL);
    let name = levels
        .events
        .get(&TimelineEventType::RoomName)
        .copied()
        .unwrap_or(levels.state_default);
    (levels.events_default >= admin, name >= admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> RoomPowerLevelsEventContent {
        serde_json::from_value(serde_json::json!({
            "events": {"m.room.name": 50, "m.room.power_levels": 100},
            "events_default": 0,
            "state_default": 50,
        }))
        .unwrap_or_else(|e| panic!("power levels: {e}"))
    }

    /// A chat's settings become the levels to send and to change the
    /// room's info, and read back the same; what is not said stays.
    #[test]
    fn settings_are_levels_and_back() {
        let mut l = levels();
        assert_eq!(settings_of(&l), (false, true), "Synapse's name level");
        assert!(apply_settings(&mut l, (None, Some(false))));
        assert_eq!(settings_of(&l), (false, false));
        assert_eq!(l.events[&TimelineEventType::RoomTopic], Int::from(0));
        assert!(apply_settings(&mut l, (Some(true), None)));
        assert_eq!(settings_of(&l), (true, false));
        assert!(
            !apply_settings(&mut l, (Some(true), Some(false))),
            "no change"
        );
        assert_eq!(
            l.events[&TimelineEventType::RoomPowerLevels],
            Int::from(100),
            "other requirements stay"
        );
    }
}
