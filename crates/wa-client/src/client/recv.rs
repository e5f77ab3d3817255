//! The connection task: every node the server sends, handled in order.
//! Messages are handled in [`message`], notifications in [`notification`].

mod message;
mod notification;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::event::{ChatState, ClientEvent, MessageAck, Receipt, ReceiptKind};
use super::{Shared, send};
use crate::crypto::CryptoError;
use crate::error::{AuthError, Error};
use crate::socket::{Connection, Event};

/// Why a connection's loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// [`Client::stop`](super::Client::stop), or every handle dropped.
    Stopped,
    /// 401: unlinked.
    LoggedOut,
    /// Refused for good without unlinking (403, 405, replaced).
    Refused(AuthError),
    /// The connection broke; reconnect.
    Lost(String),
}

/// The first wait before a store write a message needs (received or sent)
/// is tried again; it doubles up to [`STORE_RETRY_LAST`] (about half a
/// minute in all).
pub(super) const STORE_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(250);
pub(super) const STORE_RETRY_LAST: std::time::Duration = std::time::Duration::from_secs(16);

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Handles the nodes of one connection until it ends.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    conn: &Connection,
    mut events: mpsc::Receiver<Event>,
    stop: &mut watch::Receiver<bool>,
) -> End {
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = stop.wait_for(|s| *s) => return End::Stopped,
        };
        match event {
            None => return End::Lost("connection closed".to_owned()),
            Some(Event::Disconnected(e)) => {
                return match e {
                    Error::Auth(AuthError::LoggedOut) => End::LoggedOut,
                    Error::Auth(
                        a
                        @ (AuthError::Forbidden | AuthError::ClientOutdated | AuthError::Replaced),
                    ) => End::Refused(a),
                    e => End::Lost(e.to_string()),
                };
            }
            Some(Event::Node(node)) => {
                // A message that met a failing store (before anything of it
                // was kept) is tried again here, in order: the server would
                // hand it over again only after a reconnect.
                let mut delay = STORE_RETRY_FIRST;
                loop {
                    match handle(shared, conn, &node).await {
                        Ok(()) => break,
                        Err(HandleError::Crypto(CryptoError::Store(e)))
                            if node.tag == "message" && delay <= STORE_RETRY_LAST =>
                        {
                            warn!(error = %e, retry_in = ?delay, "could not handle a message yet (store)");
                            tokio::select! {
                                () = tokio::time::sleep(delay) => {}
                                _ = stop.wait_for(|s| *s) => return End::Stopped,
                            }
                            delay *= 2;
                        }
                        Err(e) => {
                            warn!(tag = %node.tag, error = %e, "could not handle a node");
                            break;
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error("connection: {0}")]
    Connection(#[from] Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Send(#[from] super::SendError),
}

impl From<crate::store::StoreError> for HandleError {
    fn from(e: crate::store::StoreError) -> Self {
        HandleError::Crypto(e.into())
    }
}

async fn handle(shared: &Arc<Shared>, conn: &Connection, node: &Node) -> Result<(), HandleError> {
    match node.tag.as_ref() {
        "message" => message::message(shared, conn, node).await,
        "receipt" => receipt(shared, conn, node).await,
        "ack" => {
            if node.attr_str("class") == Some("message")
                && let Some(id) = node.attr_str("id")
            {
                let t = node.attr_str("t").and_then(|t| t.parse().ok());
                shared.acked(id, t, node.attr_str("error").map(str::to_owned));
            }
            Ok(())
        }
        "notification" => notification::notification(shared, conn, node).await,
        "presence" => {
            if let Some(from) = node.attr_jid("from") {
                shared
                    .emit(ClientEvent::Presence {
                        from: from.clone(),
                        available: node.attr_str("type") != Some("unavailable"),
                        last_seen: node.attr_str("last").and_then(|l| l.parse().ok()),
                    })
                    .await;
            }
            Ok(())
        }
        "chatstate" => {
            let Some(chat) = node.attr_jid("from").cloned() else {
                return Ok(());
            };
            let from = node
                .attr_jid("participant")
                .cloned()
                .unwrap_or(chat.clone());
            let state = match node.child_nodes().first().map(|c| c.tag.as_ref()) {
                Some("composing") => {
                    if node
                        .child("composing")
                        .and_then(|c| c.attr_str("media"))
                        .is_some_and(|m| m == "audio")
                    {
                        ChatState::Recording
                    } else {
                        ChatState::Composing
                    }
                }
                Some("paused") => ChatState::Paused,
                _ => return Ok(()),
            };
            shared
                .emit(ClientEvent::ChatState { chat, from, state })
                .await;
            Ok(())
        }
        "call" => {
            ack(conn, node, "call").await?;
            if let Some(call) = super::calls::parse(node) {
                shared.emit(ClientEvent::Call(call)).await;
            }
            Ok(())
        }
        _ => {
            debug!(tag = %node.tag, "ignored node");
            Ok(())
        }
    }
}

/// `<ack class=.. id to [type] [participant]>` for a node we handled.
async fn ack(conn: &Connection, node: &Node, class: &'static str) -> Result<(), Error> {
    nack(conn, node, class, None).await
}

/// [`ack`] with `error` when the node was refused (whatsmeow `sendAck`
/// with a nack code, e.g. 495 for a bot reply whose secret we lack).
async fn nack(
    conn: &Connection,
    node: &Node,
    class: &'static str,
    error: Option<u16>,
) -> Result<(), Error> {
    let (Some(id), Some(from)) = (node.attr_str("id"), node.attr_jid("from")) else {
        return Ok(());
    };
    let mut a = Node::new("ack")
        .attr("class", class)
        .attr("id", id.to_owned())
        .attr("to", from.clone());
    if let Some(t) = node.attr_str("type") {
        a = a.attr("type", t.to_owned());
    }
    if let Some(p) = node.attr_jid("participant") {
        a = a.attr("participant", p.clone());
    }
    if let Some(code) = error {
        a = a.attr("error", code.to_string());
    }
    conn.send(&a).await
}

/// The (chat, sender) a message's kept copy is stored under: the stanza's
/// `from`, and its `participant` in groups (empty otherwise).
pub(crate) fn kept_key(ack: &MessageAck) -> (String, String) {
    (
        ack.to.to_string(),
        ack.participant
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    )
}

/// The delivery receipt `ack` stands for: `type="sender"` for copies of
/// our own messages, `inactive` while we have not told the server we are
/// available (whatsmeow `sendMessageReceipt`; Baileys does the same).
pub(crate) fn receipt_node(shared: &Shared, ack: &MessageAck) -> Node {
    let active = shared.active.load(std::sync::atomic::Ordering::Relaxed);
    delivery_receipt(ack, active)
}

fn delivery_receipt(ack: &MessageAck, active: bool) -> Node {
    if ack.peer {
        // whatsmeow `SendProtocolMessageReceipt` (to our bare JID) and
        // Baileys (`category === 'peer'`) answer peer messages so.
        return Node::new("receipt")
            .attr("id", ack.id.clone())
            .attr("to", ack.to.to_non_ad())
            .attr("type", "peer_msg");
    }
    let mut r = Node::new("receipt")
        .attr("id", ack.id.clone())
        .attr("to", ack.to.clone());
    if let Some(p) = &ack.participant {
        r = r.attr("participant", p.clone());
    }
    if let Some(recipient) = &ack.recipient {
        r = r
            .attr("type", "sender")
            .attr("recipient", recipient.clone());
    } else if !active {
        r = r.attr("type", "inactive");
    }
    r
}

/// `<receipt id to=<own bare JID> type="hist_sync"/>`: the history chunk
/// `ack` names was processed.
pub(crate) fn hist_sync_receipt(ack: &MessageAck, own: &Jid) -> Node {
    Node::new("receipt")
        .attr("id", ack.id.clone())
        .attr("to", own.to_non_ad())
        .attr("type", "hist_sync")
}

async fn receipt(shared: &Arc<Shared>, conn: &Connection, node: &Node) -> Result<(), HandleError> {
    ack(conn, node, "receipt").await?;
    let Some(from) = node.attr_jid("from").cloned() else {
        return Ok(());
    };
    let kind = match node.attr_str("type") {
        // A device whose user is not active sends "inactive": still delivered.
        None | Some("delivery" | "inactive") => ReceiptKind::Delivered,
        Some("read" | "read-self") => ReceiptKind::Read,
        Some("played" | "played-self") => ReceiptKind::Played,
        Some("sender") => ReceiptKind::Sender,
        Some("retry") => {
            return send::resend_on_retry(shared, conn, node)
                .await
                .map_err(HandleError::from);
        }
        Some(other) => ReceiptKind::Other(other.to_owned()),
    };
    let mut ids: Vec<String> = node.attr_str("id").map(str::to_owned).into_iter().collect();
    if let Some(list) = node.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attr_str("id"))
                .map(str::to_owned),
        );
    }
    let (chat, device) = if from.is_group() {
        (
            from.clone(),
            node.attr_jid("participant").cloned().unwrap_or(from),
        )
    } else {
        let chat = node
            .attr_jid("recipient")
            .map(Jid::to_non_ad)
            .unwrap_or_else(|| from.to_non_ad());
        (chat, from)
    };
    shared
        .emit(ClientEvent::Receipt(Receipt {
            ids,
            chat,
            from: device,
            kind,
            timestamp: node.attr_str("t").and_then(|t| t.parse().ok()),
        }))
        .await;
    Ok(())
}
