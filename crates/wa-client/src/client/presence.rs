//! Presence and chat states: being online or not, following a contact's
//! presence, and typing.

use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::{ChatState, Client};
use crate::error::Error;

impl Client {
    /// Tells `chat` that this account types, records a voice note, or
    /// stopped (`<chatstate to><composing/></chatstate>`; recording is
    /// `<composing media="audio"/>`).
    pub async fn send_chat_state(&self, chat: &Jid, state: ChatState) -> Result<(), Error> {
        let conn = self.connection()?;
        conn.send(&chat_state_node(chat, state)).await
    }

    /// Marks this device online (`<presence type="available"/>`) or not.
    /// While a companion is online the phone gets no notifications, and
    /// while it is not the server sends it no one's presence.
    pub async fn send_presence(&self, available: bool) -> Result<(), Error> {
        let kind = if available {
            "available"
        } else {
            "unavailable"
        };
        let conn = self.connection()?;
        conn.send(&Node::new("presence").attr("type", kind)).await
    }

    /// Asks for `user`'s presence (`<presence type="subscribe" to>`): the
    /// current state comes at once, changes as they happen
    /// ([`ClientEvent::Presence`](super::ClientEvent::Presence)), for this
    /// connection.
    pub async fn subscribe_presence(&self, user: &Jid) -> Result<(), Error> {
        let conn = self.connection()?;
        conn.send(
            &Node::new("presence")
                .attr("type", "subscribe")
                .attr("to", user.to_non_ad()),
        )
        .await
    }
}

/// The `<chatstate>` stanza for `state` in `chat`.
fn chat_state_node(chat: &Jid, state: ChatState) -> Node {
    let inner = match state {
        ChatState::Composing => Node::new("composing"),
        ChatState::Recording => Node::new("composing").attr("media", "audio"),
        ChatState::Paused => Node::new("paused"),
    };
    Node::new("chatstate")
        .attr("to", chat.to_non_ad())
        .children(vec![inner])
}
