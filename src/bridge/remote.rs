//! What happens on the network, carried into Matrix by the core (the shape
//! of bridgev2's remote events). The network says what happened in its own
//! ids ([`RemoteEvent`]); the core finds the portal, the ghost and the
//! bridged messages, and acts in the room. A chat without a portal gets
//! nothing: these events never make rooms.

use std::time::Duration;

use super::ghost::GhostId;
use super::{Bridge, Error, Network};
use crate::appservice::Intent;
use crate::store::{Login, Message, Portal};

/// Something that happened in one of a login's chats, or to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEvent {
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
}

impl<N: Network> Bridge<N> {
    /// Carries `event` of `login` into Matrix.
    pub async fn handle_remote(&self, login: &Login, event: RemoteEvent) -> Result<(), Error> {
        match event {
            RemoteEvent::Read {
                chat_id,
                reader,
                own_id,
                message_ids,
            } => {
                let Some(portal) = self.db.portal(&login.login_id, &chat_id).await? else {
                    return Ok(());
                };
                let Some(newest) = self
                    .newest_of(login, &portal, &own_id, &message_ids)
                    .await?
                else {
                    return Ok(());
                };
                let ghost = self.joined_ghost(&portal, &reader).await?;
                ghost
                    .send_receipt(&portal.room_id, "m.read", &newest.event_id)
                    .await?;
            }
            RemoteEvent::Typing {
                chat_id,
                who,
                timeout,
            } => {
                let Some(portal) = self.db.portal(&login.login_id, &chat_id).await? else {
                    return Ok(());
                };
                let ghost = self.joined_ghost(&portal, &who).await?;
                ghost.typing(&portal.room_id, timeout).await?;
            }
            RemoteEvent::Presence { who, online } => {
                if !self.config.bridge.presence.enabled {
                    return Ok(());
                }
                let ghost = self.network_ghost(&who).await?;
                let presence = if online { "online" } else { "offline" };
                ghost.set_presence(presence).await?;
            }
        }
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
