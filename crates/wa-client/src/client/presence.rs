//! Presence and chat states: being online or not, following a contact's
//! presence, and typing.

use std::sync::atomic::Ordering;

use tracing::{debug, warn};
use wa_core::appstate::Action;
use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::appstate::AppStateSyncError;
use super::{AppStateChange, ChatState, Client, Shared};
use crate::error::Error;
use crate::socket::Connection;

impl Client {
    /// Tells `chat` that this account types, records a voice note, or
    /// stopped (`<chatstate to><composing/></chatstate>`; recording is
    /// `<composing media="audio"/>`).
    pub async fn send_chat_state(&self, chat: &Jid, state: ChatState) -> Result<(), Error> {
        let conn = self.connection()?;
        conn.send(&chat_state_node(chat, state)).await
    }

    /// Marks this device online (`<presence type="available" name>`) or
    /// not. The server names this device's messages with the name of its
    /// last presence, so, like whatsmeow (`ErrNoPushName`) and Baileys,
    /// nothing is sent before app state has told us the push name: the
    /// state asked for is kept and sent as soon as the name is known.
    /// While a companion is online the phone gets no notifications, and
    /// while it is not the server sends it no one's presence.
    pub async fn send_presence(&self, available: bool) -> Result<(), Error> {
        let conn = self.connection()?;
        let mut last = self.shared.available.lock().await;
        *last = available;
        let name = self.shared.state.lock().await.push_name.clone();
        let Some(name) = name else {
            debug!(available, "no push name yet: the presence waits for it");
            return Ok(());
        };
        send_named(&self.shared, &conn, available, &name).await
    }

    /// Asks for `user`'s presence (`<presence type="subscribe" to>`): the
    /// current state comes at once, changes as they happen
    /// ([`ClientEvent::Presence`](super::ClientEvent::Presence)), for this
    /// connection.
    pub async fn subscribe_presence(&self, user: &Jid) -> Result<(), Error> {
        let conn = self.connection()?;
        // With the contact's privacy token, when we hold one (whatsmeow
        // presence.go SubscribePresence).
        let token = super::tokens::attach(&self.shared, user, None)
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "privacy token not readable; subscribing without");
                None
            });
        let mut node = Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", user.to_non_ad());
        if let Some(token) = token {
            node = node.children(vec![token]);
        }
        conn.send(&node).await
    }
}

/// Notes the server's clock from a `<success t>` (unix seconds).
pub(super) fn clock_from(shared: &Shared, success: &Node) {
    if let Some(t) = success.attr_str("t").and_then(|t| t.parse::<i64>().ok()) {
        let offset = t
            .saturating_mul(1000)
            .saturating_sub(super::appstate::now_ms());
        shared
            .server_offset_ms
            .store(offset, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A week, and the three days the session id is shifted by (ms).
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
const SHIFT_MS: i64 = 3 * 24 * 3600 * 1000;

/// The unified session id: (server time + 3 days) modulo a week, in ms
/// (Baileys `Socket/socket.js` and whatsmeow `client.go`
/// `getUnifiedSessionID` agree).
fn unified_session_id(server_ms: i64) -> i64 {
    server_ms.saturating_add(SHIFT_MS).rem_euclid(WEEK_MS)
}

/// `<ib><unified_session id/></ib>`, sent with an available presence as
/// the official clients do.
fn unified_session(shared: &Shared) -> Node {
    let offset = shared
        .server_offset_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    unified_session_node(super::appstate::now_ms().saturating_add(offset))
}

/// `<ib><unified_session id/></ib>` for the server time `server_ms`.
pub(crate) fn unified_session_node(server_ms: i64) -> Node {
    let id = unified_session_id(server_ms);
    Node::new("ib").children(vec![
        Node::new("unified_session").attr("id", id.to_string()),
    ])
}

/// `<presence type="available|unavailable" name/>`.
fn presence_node(available: bool, name: &str) -> Node {
    let kind = if available {
        "available"
    } else {
        "unavailable"
    };
    Node::new("presence")
        .attr("type", kind)
        .attr("name", name.to_owned())
}

/// Keeps a new push name from app state `changes`, and tells the server
/// at once (with the presence last sent), so our next message already
/// carries it. A failure is logged: the changes are applied already.
pub(super) async fn learn_push_name(shared: &Shared, changes: &[AppStateChange]) {
    if let Err(e) = keep_push_name(shared, changes).await {
        warn!(error = %e, "the push name could not be kept");
    }
}

async fn keep_push_name(
    shared: &Shared,
    changes: &[AppStateChange],
) -> Result<(), AppStateSyncError> {
    let Some(name) = changes.iter().rev().find_map(|c| match &c.action {
        Action::PushName { name } if !name.is_empty() => Some(name.clone()),
        _ => None,
    }) else {
        return Ok(());
    };
    {
        let mut state = shared.state.lock().await;
        if state.push_name.as_deref() == Some(name.as_str()) {
            return Ok(());
        }
        state.push_name = Some(name.clone());
        shared.store.save(&state).await?;
    }
    debug!("push name learned from app state");
    announce_name(shared, true).await;
    Ok(())
}

/// Tells the server the push name (it names our messages with it, and
/// forgets it with the connection): at login, with the presence last asked
/// for, as Baileys does at connect (`unavailable` unless marked online);
/// when the name is learned or changes, with "available" if that was asked
/// for, else as `<presence name>` alone (Baileys; whatsmeow sends nothing).
pub(super) async fn announce_name(shared: &Shared, changed: bool) {
    let last = shared.available.lock().await;
    let Some(name) = shared.state.lock().await.push_name.clone() else {
        return;
    };
    let Ok(conn) = shared.connection() else {
        return;
    };
    let sent = if *last || !changed {
        send_named(shared, &conn, *last, &name).await
    } else {
        conn.send(&Node::new("presence").attr("name", name)).await
    };
    if let Err(e) = sent {
        warn!(error = %e, "could not send the push name");
    }
}

/// `<presence type name>`, after the unified session when going online;
/// delivery receipts follow the state sent.
async fn send_named(
    shared: &Shared,
    conn: &Connection,
    available: bool,
    name: &str,
) -> Result<(), Error> {
    if available {
        conn.send(&unified_session(shared)).await?;
    }
    conn.send(&presence_node(available, name)).await?;
    shared.active.store(available, Ordering::Relaxed);
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_session_id_is_three_days_on_modulo_a_week() {
        assert_eq!(unified_session_id(0), SHIFT_MS);
        assert_eq!(unified_session_id(4 * 24 * 3600 * 1000), 0);
        assert_eq!(unified_session_id(WEEK_MS + 5), SHIFT_MS + 5);
    }

    #[test]
    fn presence_carries_the_push_name() {
        let node = presence_node(true, "Dora");
        assert_eq!(node.attr_str("type"), Some("available"));
        assert_eq!(node.attr_str("name"), Some("Dora"));
        let node = presence_node(false, "Dora");
        assert_eq!(node.attr_str("type"), Some("unavailable"));
    }
}
