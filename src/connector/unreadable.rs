//! WhatsApp messages the client could not decrypt (issue 21, point 2): the
//! client asks the sender for them again; meanwhile the core's placeholder
//! stands in the chat, from the sender, and the message replaces it when
//! a retry brings it; when the retries are used up, it says the message
//! was lost. A message that turns out to be no chat message of its own (a
//! reaction, an edit, a vote) takes the placeholder away. The user's own
//! messages from their phone get none. Nothing is silent.

use std::sync::Arc;

use tracing::debug;
use wa_client::{Client, ClientEvent};
use wa_core::jid::Jid;

use super::incoming::{Incoming, IncomingError, ghost_id};
use crate::connector::Bridge;
use crate::store::Login;
use wa_core::proto::Message as WaMessage;

/// Shows the placeholder of the message an `Undecryptable` event names
/// (made once; said lost when the client gave up), in the chat's portal
/// (made now if need be).
pub(super) async fn undecryptable(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    event: ClientEvent,
) {
    let ClientEvent::Undecryptable {
        id,
        chat,
        sender,
        timestamp,
        gave_up,
        ..
    } = event
    else {
        return;
    };
    let u = Unreadable {
        id,
        chat,
        sender,
        timestamp,
        gave_up,
    };
    if let Err(e) = placeholder(bridge, (login, client), u).await {
        debug!(error = %e, "no placeholder for a message not decrypted");
    }
}

/// What the client says of a message it could not read.
struct Unreadable {
    id: String,
    chat: Jid,
    sender: Jid,
    /// Unix seconds.
    timestamp: u64,
    gave_up: bool,
}

async fn placeholder(
    bridge: &Arc<Bridge>,
    (login, client): (&Login, &Client),
    u: Unreadable,
) -> Result<(), IncomingError> {
    let chat = super::addressing::by_number(client, &u.chat)
        .await
        .to_non_ad();
    let sender = super::addressing::by_number(client, &u.sender).await;
    // The user's own, from their phone: they know what they sent, and not
    // every such stanza is a chat message (key shares, history notices);
    // a stand-in shown as theirs could even go back out with double
    // puppeting.
    if super::addressing::is_own(client, &sender) {
        return Ok(());
    }
    // Keyed as the message will be when it comes; the core shows nothing
    // if it has come already.
    let nothing = WaMessage::default();
    let m = Incoming {
        chat: &chat,
        sender: &sender,
        id: &u.id,
        from_me: false,
        push_name: None,
        message: &nothing,
        ts_ms: u.timestamp.saturating_mul(1000),
    };
    let portal = super::portal::portal(bridge, login, client, &chat, None).await?;
    let remote = m.remote(login);
    let ghost = bridge.network_ghost(&ghost_id(&sender)).await?;
    bridge.ensure_joined(&portal.room_id, &ghost).await?;
    bridge
        .placeholder(&portal.room_id, &ghost, &remote, u.gave_up)
        .await?;
    Ok(())
}
