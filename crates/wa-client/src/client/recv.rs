//! The connection task: every node the server sends, handled in order.

use std::str::FromStr;
use std::sync::Arc;

use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message;
use wa_core::proto::message::{HistorySyncNotification, protocol_message};
use wa_core::signal::{self, EncType, SignalError};

use super::event::{
    ChatState, ClientEvent, GroupChange, GroupChangeKind, HistoryNotice, IncomingMessage,
    MessageAck, Receipt, ReceiptKind,
};
use super::{Shared, appstate, lock, secrets, send};
use crate::crypto::CryptoError;
use crate::error::{AuthError, Error};
use crate::login;
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

/// The nack code for a bot reply whose message secret we do not hold
/// (whatsmeow `receipt.go` `NackMissingMessageSecret`).
const NACK_MISSING_MESSAGE_SECRET: u16 = 495;

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
        "message" => message(shared, conn, node).await,
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
        "notification" => notification(shared, conn, node).await,
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

/// The LID device JID device `jid` keeps its session under; `hint` is a LID
/// the stanza gave for it. Records the mapping learned.
async fn lid_device(
    shared: &Shared,
    jid: &Jid,
    hint: Option<&Jid>,
) -> Result<Option<Jid>, HandleError> {
    if jid.is_lid() {
        return Ok(Some(jid.clone()));
    }
    if let Some(lid) = hint.filter(|l| l.is_lid()) {
        shared
            .store
            .store_lid_mapping(jid.user(), lid.user())
            .await?;
        return Ok(Some(Jid::with_device(
            lid.user(),
            jid.device(),
            Server::Lid,
        )));
    }
    Ok(shared
        .store
        .lid_for_pn(jid.user())
        .await?
        .map(|l| Jid::with_device(l, jid.device(), Server::Lid)))
}

/// Records the phone numbers a LID-addressed stanza gives: the sender's
/// (`sender_pn` in 1:1 chats, `participant_pn` in groups) and, in copies of
/// our own messages, the peer's (`peer_recipient_pn` for a `recipient` LID),
/// so that a chat or sender addressed by LID can be read by its number
/// ([`Client::pn_for_lid`](crate::Client::pn_for_lid)).
async fn learn_phone_numbers(
    shared: &Shared,
    node: &Node,
    sender: &Jid,
) -> Result<(), HandleError> {
    let sender_pn = node
        .attr_jid("participant_pn")
        .or_else(|| node.attr_jid("sender_pn"));
    let pairs = [
        (Some(sender), sender_pn),
        (
            node.attr_jid("recipient"),
            node.attr_jid("peer_recipient_pn"),
        ),
    ];
    for (lid, pn) in pairs {
        if let (Some(lid), Some(pn)) = (lid, pn)
            && lid.is_lid()
            && pn.server() == &Server::User
        {
            shared
                .store
                .store_lid_mapping(pn.user(), lid.user())
                .await?;
        }
    }
    Ok(())
}

/// Takes the history-sync notification out of a protocol message.
fn history_notification(m: &mut Message) -> Option<HistorySyncNotification> {
    let pm = m.protocol_message.as_deref_mut()?;
    if pm.r#type != Some(protocol_message::Type::HistorySyncNotification as i32) {
        return None;
    }
    pm.history_sync_notification.take()
}

fn is_only_key_distribution(m: &Message) -> bool {
    let mut rest = m.clone();
    rest.sender_key_distribution_message = None;
    rest.message_context_info = None;
    m.sender_key_distribution_message.is_some() && rest == Message::default()
}

async fn message(shared: &Arc<Shared>, conn: &Connection, node: &Node) -> Result<(), HandleError> {
    let from = node
        .attr_jid("from")
        .cloned()
        .ok_or(HandleError::Malformed("message without from"))?;
    let id = node
        .attr_str("id")
        .ok_or(HandleError::Malformed("message without id"))?
        .to_owned();
    let group = from.is_group();
    let (sender, lid_hint) = if group {
        let p = node
            .attr_jid("participant")
            .cloned()
            .ok_or(HandleError::Malformed("group message without participant"))?;
        (p, node.attr_jid("participant_lid").cloned())
    } else {
        let hint = node
            .attr_jid("sender_lid")
            .map(|l| Jid::with_device(l.user(), from.device(), Server::Lid));
        (from.clone(), hint)
    };
    if from.is_broadcast() {
        ack(conn, node, "message").await?;
        return Ok(());
    }
    let own = &shared.own;
    let from_me = sender.user() == own.pn.user() || sender.user() == own.lid.user();
    if !group && !from_me && lock(&shared.session).is_blocked(&sender) {
        // Blocked: the phone shows nothing and tells the sender nothing
        // (no delivery receipt), so neither do we.
        debug!(%sender, "message from a blocked contact dropped");
        ack(conn, node, "message").await?;
        return Ok(());
    }
    let mut chat = if group {
        from.clone()
    } else {
        from.to_non_ad()
    };
    if from_me
        && !group
        && let Some(r) = node.attr_jid("recipient")
    {
        chat = r.to_non_ad();
    }
    let message_ack = MessageAck {
        id: id.clone(),
        to: from.clone(),
        participant: group.then(|| sender.clone()),
        recipient: (from_me && !group).then(|| chat.clone()),
        peer: from_me && node.attr_str("category") == Some("peer"),
    };
    learn_phone_numbers(shared, node, &sender).await?;
    let Some(sender_lid) = lid_device(shared, &sender, lid_hint.as_ref()).await? else {
        warn!(%sender, "sender without a known LID; asking for a resend");
        return undecryptable(shared, conn, node, &chat, &sender, "unknown sender".into()).await;
    };

    // Decrypted before, but the receipt never went out (a stop, a crash, a
    // failed hand-over): the ratchet has moved on, so the copy kept then is
    // the only way to read it again.
    let keep = !shared.opts.auto_ack;
    let (kept_chat, kept_sender) = kept_key(&message_ack);
    let kept = if keep {
        shared.store.unacked(&kept_chat, &kept_sender, &id).await?
    } else {
        None
    };
    let redelivered = kept.is_some();
    let mut content: Option<Message> = None;
    let mut identity_changed = false;
    if let Some(bytes) = kept {
        match Message::decode(bytes.as_slice()) {
            Ok(m) => content = Some(m),
            Err(_) => {
                warn!(%id, "kept copy of a message is not a Message; dropped");
                shared
                    .store
                    .drop_unacked(&kept_chat, &kept_sender, &id)
                    .await?;
                conn.send(&receipt_node(shared, &message_ack)).await?;
                return Ok(());
            }
        }
    }
    for enc in node.children_by_tag("enc").filter(|_| !redelivered) {
        let kind = enc.attr_str("type").unwrap_or_default();
        let Some(ciphertext) = enc.content_bytes() else {
            continue;
        };
        if kind == "msmsg" {
            if !sender.is_bot() {
                continue;
            }
            // A bot's reply, sealed with our message's secret, not Signal.
            match secrets::open_bot_reply(shared, node, &chat, &sender, ciphertext).await {
                Ok(plain) => match Message::decode(plain.as_slice()) {
                    Ok(m) => content = Some(m),
                    Err(_) => {
                        let e = "bot reply is not a Message".to_owned();
                        return undecryptable(shared, conn, node, &chat, &sender, e).await;
                    }
                },
                Err(secrets::OpenError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    warn!(%id, error = %e, "bot reply not opened");
                    nack(conn, node, "message", Some(NACK_MISSING_MESSAGE_SECRET)).await?;
                    return Ok(());
                }
            }
            continue;
        }
        let result = match kind {
            "pkmsg" | "msg" => {
                let Ok(t) = EncType::from_str(kind) else {
                    continue;
                };
                let spk = shared.state.lock().await.signed_prekey.clone();
                match shared
                    .crypto
                    .decrypt(&sender_lid, t, ciphertext, &spk)
                    .await
                {
                    Ok(d) => {
                        identity_changed |= d.identity_changed;
                        Ok(d.plaintext)
                    }
                    Err(e) => Err(e),
                }
            }
            "skmsg" => {
                if !group {
                    continue;
                }
                shared
                    .crypto
                    .group_decrypt(&from, &sender_lid, ciphertext)
                    .await
            }
            _ => continue,
        };
        let padded = match result {
            Ok(p) => p,
            Err(CryptoError::Signal(SignalError::Duplicate)) => {
                debug!(%id, "duplicate ciphertext; acknowledging again");
                conn.send(&receipt_node(shared, &message_ack)).await?;
                return Ok(());
            }
            Err(e) => {
                return undecryptable(shared, conn, node, &chat, &sender, e.to_string()).await;
            }
        };
        let plain = match signal::unpad(&padded) {
            Ok(p) => p,
            Err(e) => {
                return undecryptable(shared, conn, node, &chat, &sender, e.to_string()).await;
            }
        };
        let Ok(m) = Message::decode(plain) else {
            return undecryptable(shared, conn, node, &chat, &sender, "not a Message".into()).await;
        };
        if let Some(skdm) = m
            .sender_key_distribution_message
            .as_ref()
            .and_then(|d| d.axolotl_sender_key_distribution_message.as_deref())
        {
            let gid = m
                .sender_key_distribution_message
                .as_ref()
                .and_then(|d| d.group_id.as_deref())
                .and_then(|g| g.parse::<Jid>().ok())
                .unwrap_or_else(|| from.clone());
            if let Err(e) = shared
                .crypto
                .process_sender_key(&gid, &sender_lid, skdm)
                .await
            {
                warn!(error = %e, "bad sender key distribution");
            }
        }
        if !is_only_key_distribution(&m) {
            content = Some(m);
        }
    }
    if keep
        && !redelivered
        && let Some(m) = content.as_mut()
    {
        // Its sender key is stored already; only the content is kept.
        m.sender_key_distribution_message = None;
        // The ratchet has moved on: this copy is now the only way to read
        // the message, so a failing store is waited out here rather than
        // leaving the message to a redelivery that can no longer decrypt.
        let bytes = m.encode_to_vec();
        let mut delay = STORE_RETRY_FIRST;
        loop {
            let kept = shared
                .store
                .keep_unacked(&kept_chat, &kept_sender, &id, &bytes, unix_now())
                .await;
            match kept {
                Ok(()) => break,
                Err(e) if delay <= STORE_RETRY_LAST => {
                    warn!(%id, error = %e, retry_in = ?delay, "could not keep a decrypted message yet");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    lock(&shared.retries).remove(&id);
    if identity_changed {
        shared
            .emit(ClientEvent::IdentityChanged {
                device: sender_lid.clone(),
            })
            .await;
    }
    let Some(mut message) = content else {
        conn.send(&receipt_node(shared, &message_ack)).await?;
        return Ok(());
    };
    if from_me && let Some(dsm) = message.device_sent_message.take() {
        if !group
            && let Some(dest) = dsm
                .destination_jid
                .as_deref()
                .and_then(|d| d.parse::<Jid>().ok())
        {
            chat = dest.to_non_ad();
        }
        message = dsm.message.map(|m| *m).unwrap_or_default();
    }
    if from_me && let Some(share) = appstate::take_key_share(&mut message) {
        // Only our phone hands out keys. Acknowledged at once: the user
        // never sees it, so it could not acknowledge it.
        if sender.device() == 0 {
            appstate::handle_key_share(shared, share).await?;
        } else {
            warn!(%sender, "app-state key share from a companion; ignored");
        }
        conn.send(&receipt_node(shared, &message_ack)).await?;
        if keep {
            shared
                .store
                .drop_unacked(&kept_chat, &kept_sender, &id)
                .await?;
        }
        return Ok(());
    }
    if from_me && let Some(notification) = history_notification(&mut message) {
        // Not marked seen: until the user acknowledges the chunk, a
        // redelivery must reach it again (it keeps chunks once by id).
        let notice = HistoryNotice {
            id,
            notification,
            ack: message_ack.clone(),
        };
        shared
            .emit(ClientEvent::HistorySync(Box::new(notice)))
            .await;
        if shared.opts.auto_ack {
            conn.send(&receipt_node(shared, &message_ack)).await?;
            conn.send(&hist_sync_receipt(&message_ack, &shared.own.pn))
                .await?;
        }
        return Ok(());
    }
    // Its secret opens later add-ons (edits, a bot's reply); an encrypted
    // edit it is itself is opened with an earlier one's.
    secrets::keep(shared, &chat, &sender, &id, &message).await?;
    secrets::open_edit(shared, &chat, &sender, &mut message).await?;
    let first = shared
        .store
        .mark_message_seen(&chat.to_string(), sender.user(), &id, unix_now())
        .await?;
    if !first && redelivered {
        debug!(%id, "message delivered again before its receipt; passed on again");
    } else if !first {
        debug!(%id, "message seen before; acknowledging again");
        conn.send(&receipt_node(shared, &message_ack)).await?;
        return Ok(());
    }
    let incoming = IncomingMessage {
        id,
        chat,
        sender,
        sender_lid: Some(sender_lid),
        from_me,
        timestamp: node
            .attr_str("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(unix_now),
        push_name: node.attr_str("notify").map(str::to_owned),
        message,
        ack: message_ack.clone(),
    };
    shared.emit(ClientEvent::Message(Box::new(incoming))).await;
    if shared.opts.auto_ack {
        conn.send(&receipt_node(shared, &message_ack)).await?;
    }
    Ok(())
}

/// A message we could not decrypt: ask the sender for it again (a few
/// times), and tell the user.
async fn undecryptable(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
    chat: &Jid,
    sender: &Jid,
    error: String,
) -> Result<(), HandleError> {
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let count = {
        let mut retries = lock(&shared.retries);
        let c = retries.entry(id.clone()).or_default();
        *c += 1;
        *c
    };
    warn!(%id, %sender, count, %error, "could not decrypt a message");
    if count <= wa_core::retry::MAX_COUNT {
        let receipt = send::retry_receipt(shared, node, count).await?;
        conn.send(&receipt).await?;
    }
    shared
        .emit(ClientEvent::Undecryptable {
            id,
            chat: chat.clone(),
            sender: sender.clone(),
            error,
        })
        .await;
    Ok(())
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

async fn notification(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let result = match node.attr_str("type") {
        Some("devices") => devices_changed(shared, node).await,
        Some("encrypt") if node.child("identity").is_some() => {
            identity_notification(shared, conn, node).await
        }
        Some("encrypt") => prekeys_low(shared, conn, node).await,
        Some("w:gp2") => group_changed(shared, node).await,
        Some("privacy_token") => super::tokens::received(shared, node)
            .await
            .map_err(HandleError::from),
        Some("server_sync") => {
            appstate::server_sync(shared, node).await;
            Ok(())
        }
        _ => Ok(()),
    };
    ack(conn, node, "notification").await?;
    result
}

async fn devices_changed(shared: &Arc<Shared>, node: &Node) -> Result<(), HandleError> {
    let Some(from) = node.attr_jid("from").map(Jid::to_non_ad) else {
        return Ok(());
    };
    let lid = crate::devices::lid_of(&*shared.store, &from).await?;
    for user in [Some(from.clone()), lid].into_iter().flatten() {
        shared.store.delete_devices(&user.to_string()).await?;
    }
    shared
        .emit(ClientEvent::DevicesChanged { user: from })
        .await;
    Ok(())
}

/// `<notification type="encrypt" from><identity/>`: the contact
/// reinstalled. Our token goes to them again (the sessions renew themselves
/// with their next `pkmsg`).
async fn identity_notification(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let Some(from) = node.attr_jid("from").map(Jid::to_non_ad) else {
        return Ok(());
    };
    if !matches!(from.server(), Server::User | Server::Lid) {
        return Ok(());
    }
    super::tokens::reissue(shared, conn, &from).await?;
    Ok(())
}

async fn prekeys_low(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let Some(count) = node
        .child("count")
        .and_then(|c| c.attr_str("value"))
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return Ok(());
    };
    if count >= login::MIN_PREKEY_COUNT {
        return Ok(());
    }
    info!(count, "server is low on our prekeys; uploading more");
    let mut state = shared.state.lock().await;
    login::upload_prekeys(conn, &mut state, &*shared.store, login::REFILL_PREKEY_COUNT)
        .await
        .map_err(|e| match e {
            login::LoginError::Store(s) => HandleError::from(s),
            login::LoginError::Connection(c) => HandleError::Connection(c),
            other => HandleError::Connection(Error::Network(other.to_string())),
        })
}

fn jids(node: &Node) -> Vec<Jid> {
    node.children_by_tag("participant")
        .filter_map(|p| p.attr_jid("jid").cloned())
        .collect()
}

async fn group_changed(shared: &Arc<Shared>, node: &Node) -> Result<(), HandleError> {
    let Some(group) = node.attr_jid("from").cloned() else {
        return Ok(());
    };
    lock(&shared.groups).remove(&group.to_string());
    let actor = node.attr_jid("participant").cloned();
    for child in node.child_nodes() {
        let kind = match child.tag.as_ref() {
            "create" => {
                let g = child.child("group");
                GroupChangeKind::Created {
                    subject: g
                        .and_then(|g| g.attr_str("subject"))
                        .unwrap_or_default()
                        .to_owned(),
                    participants: g.map(jids).unwrap_or_default(),
                }
            }
            "add" => GroupChangeKind::Added(jids(child)),
            "remove" => GroupChangeKind::Removed(jids(child)),
            "leave" => GroupChangeKind::Left(jids(child)),
            "promote" => GroupChangeKind::Promoted(jids(child)),
            "demote" => GroupChangeKind::Demoted(jids(child)),
            "subject" => {
                GroupChangeKind::Subject(child.attr_str("subject").unwrap_or_default().to_owned())
            }
            "description" => GroupChangeKind::Description(
                child
                    .child("body")
                    .and_then(Node::content_bytes)
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
            ),
            other => GroupChangeKind::Other(other.to_owned()),
        };
        if matches!(kind, GroupChangeKind::Removed(_) | GroupChangeKind::Left(_)) {
            // Whoever left must not read what we send next.
            shared
                .crypto
                .rotate_sender_key(&group, &shared.own.lid)
                .await?;
        }
        shared
            .emit(ClientEvent::GroupChange(GroupChange {
                group: group.clone(),
                actor: actor.clone(),
                kind,
            }))
            .await;
    }
    Ok(())
}
