//! Message stanzas: who sent them, their decryption (or the copy kept of
//! them), and what their plaintext asks of us.

use std::str::FromStr;
use std::sync::Arc;

use prost::Message as _;
use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message;
use wa_core::proto::message::{AppStateSyncKeyShare, HistorySyncNotification, protocol_message};
use wa_core::signal::{self, EncType, SignalError};

use super::super::event::{ClientEvent, HistoryNotice, IncomingMessage, MessageAck};
use super::super::{Shared, appstate, lock, secrets, send};
use super::{HandleError, ack, hist_sync_receipt, kept_key, nack, receipt_node, unix_now};
use crate::crypto::{CryptoError, Opening};
use crate::socket::Connection;

/// The nack code for a bot reply whose message secret we do not hold
/// (whatsmeow `receipt.go` `NackMissingMessageSecret`).
const NACK_MISSING_MESSAGE_SECRET: u16 = 495;

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

/// Handles one `<message>`: reads who sent it, decrypts it (or reads the
/// copy kept of it), and passes its content on or acts on it.
pub(super) async fn message(
    shared: &Arc<Shared>,
    conn: &Connection,
    node: &Node,
) -> Result<(), HandleError> {
    let s = Stanza::parse(shared, conn, node)?;
    if s.dropped().await? {
        return Ok(());
    }
    learn_phone_numbers(shared, node, &s.sender).await?;
    let Some(sender_lid) = lid_device(shared, &s.sender, s.lid_hint.as_ref()).await? else {
        let sender = &s.sender;
        warn!(%sender, "sender without a known LID; asking for a resend");
        return s.undecryptable("unknown sender".into()).await;
    };

    // Decrypted before, but the receipt never went out (a stop, a crash, a
    // failed hand-over): the ratchet has moved on, so the copy kept then is
    // the only way to read it again.
    let keep = !shared.opts.auto_ack;
    let kept = if keep {
        let (kept_chat, kept_sender) = kept_key(&s.message_ack);
        shared
            .store
            .unacked(&kept_chat, &kept_sender, &s.id)
            .await?
    } else {
        None
    };
    let redelivered = kept.is_some();
    let opened = match kept {
        Some(bytes) => s.read_kept(&bytes).await?,
        None => {
            // The copy is kept before the moved ratchet is stored: stopped
            // in between, the redelivery is read from the copy; the other
            // way round it would meet an "old counter" and be lost.
            let mut opening = shared.crypto.opening().await;
            let mut opened = s.decrypt(&mut opening, &sender_lid).await?;
            if keep && let Some(m) = opened.as_mut().and_then(|o| o.content.as_mut()) {
                s.keep_copy(m).await?;
            }
            opening.commit().await?;
            opened
        }
    };
    let Some(Opened {
        content,
        identity_changed,
    }) = opened
    else {
        return Ok(());
    };
    lock(&shared.retries).remove(&s.id);
    if identity_changed {
        shared
            .emit(ClientEvent::IdentityChanged {
                device: sender_lid.clone(),
            })
            .await;
    }
    let Some(message) = content else {
        conn.send(&receipt_node(shared, &s.message_ack)).await?;
        return Ok(());
    };
    s.plaintext(message, sender_lid, redelivered).await
}

/// A message stanza in hand: the connection it came on, and what its
/// attributes say about where it belongs and how it is acknowledged.
struct Stanza<'a> {
    shared: &'a Arc<Shared>,
    conn: &'a Connection,
    node: &'a Node,
    id: String,
    /// The stanza's `from`: the group, or the sending device.
    from: Jid,
    group: bool,
    sender: Jid,
    /// A LID the stanza gives for the sender's device.
    lid_hint: Option<Jid>,
    from_me: bool,
    /// The chat it belongs to: the group, the sender, or (in copies of our
    /// own messages) the recipient.
    chat: Jid,
    message_ack: MessageAck,
}

/// What opening a message gave: its content (none when it only carried a
/// sender key), and whether its sender's identity changed.
struct Opened {
    content: Option<Message>,
    identity_changed: bool,
}

impl<'a> Stanza<'a> {
    /// Reads the stanza's addressing; a stanza without `from`, `id` or (in
    /// a group) `participant` is malformed.
    fn parse(
        shared: &'a Arc<Shared>,
        conn: &'a Connection,
        node: &'a Node,
    ) -> Result<Self, HandleError> {
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
        let own = &shared.own;
        let from_me = sender.user() == own.pn.user() || sender.user() == own.lid.user();
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
        Ok(Self {
            shared,
            conn,
            node,
            id,
            from,
            group,
            sender,
            lid_hint,
            from_me,
            chat,
            message_ack,
        })
    }

    /// Acknowledges, and drops, what is not passed on: broadcasts, and
    /// messages from blocked contacts. True when the stanza was dropped.
    async fn dropped(&self) -> Result<bool, HandleError> {
        if self.from.is_broadcast() {
            ack(self.conn, self.node, "message").await?;
            return Ok(true);
        }
        let sender = &self.sender;
        if !self.group && !self.from_me && lock(&self.shared.session).is_blocked(sender) {
            // Blocked: the phone shows nothing and tells the sender nothing
            // (no delivery receipt), so neither do we.
            debug!(%sender, "message from a blocked contact dropped");
            ack(self.conn, self.node, "message").await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads the copy kept of a message decrypted before; `None` when the
    /// copy is unreadable, so it was dropped and the message acknowledged.
    async fn read_kept(&self, bytes: &[u8]) -> Result<Option<Opened>, HandleError> {
        let id = &self.id;
        match Message::decode(bytes) {
            Ok(m) => Ok(Some(Opened {
                content: Some(m),
                identity_changed: false,
            })),
            Err(_) => {
                warn!(%id, "kept copy of a message is not a Message; dropped");
                let (kept_chat, kept_sender) = kept_key(&self.message_ack);
                self.shared
                    .store
                    .drop_unacked(&kept_chat, &kept_sender, id)
                    .await?;
                self.conn
                    .send(&receipt_node(self.shared, &self.message_ack))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Decrypts the stanza's `enc` children in turn, storing the sender
    /// keys they carry. `None` when the stanza is answered already: a
    /// duplicate, a bot reply we cannot open, or one we could not decrypt.
    async fn decrypt(
        &self,
        opening: &mut Opening<'_>,
        sender_lid: &Jid,
    ) -> Result<Option<Opened>, HandleError> {
        let shared = self.shared;
        let mut opened = Opened {
            content: None,
            identity_changed: false,
        };
        for enc in self.node.children_by_tag("enc") {
            let kind = enc.attr_str("type").unwrap_or_default();
            let Some(ciphertext) = enc.content_bytes() else {
                continue;
            };
            if kind == "msmsg" {
                if !self.sender.is_bot() {
                    continue;
                }
                let Some(m) = self.open_bot_reply(ciphertext).await? else {
                    return Ok(None);
                };
                opened.content = Some(m);
                continue;
            }
            let result = match kind {
                "pkmsg" | "msg" => {
                    let Ok(t) = EncType::from_str(kind) else {
                        continue;
                    };
                    let spk = shared.state.lock().await.signed_prekey.clone();
                    match opening.decrypt(sender_lid, t, ciphertext, &spk).await {
                        Ok(d) => {
                            opened.identity_changed |= d.identity_changed;
                            Ok(d.plaintext)
                        }
                        Err(e) => Err(e),
                    }
                }
                "skmsg" => {
                    if !self.group {
                        continue;
                    }
                    opening
                        .group_decrypt(&self.from, sender_lid, ciphertext)
                        .await
                }
                _ => continue,
            };
            let Some(m) = self.unpack(result).await? else {
                return Ok(None);
            };
            self.process_sender_key(opening, &m, sender_lid).await?;
            if !is_only_key_distribution(&m) {
                opened.content = Some(m);
            }
        }
        Ok(Some(opened))
    }

    /// Opens a bot's reply, sealed with our message's secret, not Signal.
    /// `None` when it is answered already (refused, or undecryptable).
    async fn open_bot_reply(&self, ciphertext: &[u8]) -> Result<Option<Message>, HandleError> {
        let (shared, node, id) = (self.shared, self.node, &self.id);
        match secrets::open_bot_reply(shared, node, &self.chat, &self.sender, ciphertext).await {
            Ok(plain) => match Message::decode(plain.as_slice()) {
                Ok(m) => Ok(Some(m)),
                Err(_) => {
                    let e = "bot reply is not a Message".to_owned();
                    self.undecryptable(e).await.map(|()| None)
                }
            },
            Err(secrets::OpenError::Store(e)) => Err(e.into()),
            Err(e) => {
                warn!(%id, error = %e, "bot reply not opened");
                nack(
                    self.conn,
                    node,
                    "message",
                    Some(NACK_MISSING_MESSAGE_SECRET),
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// Turns a decryption's result into the message it holds: unpadded and
    /// decoded. `None` when the stanza is answered already (a duplicate is
    /// acknowledged again; anything unreadable is asked for again).
    async fn unpack(
        &self,
        result: Result<Vec<u8>, CryptoError>,
    ) -> Result<Option<Message>, HandleError> {
        let id = &self.id;
        let padded = match result {
            Ok(p) => p,
            Err(CryptoError::Signal(SignalError::Duplicate)) => {
                debug!(%id, "duplicate ciphertext; acknowledging again");
                self.conn
                    .send(&receipt_node(self.shared, &self.message_ack))
                    .await?;
                return Ok(None);
            }
            Err(e) => {
                return self.undecryptable(e.to_string()).await.map(|()| None);
            }
        };
        let plain = match signal::unpad(&padded) {
            Ok(p) => p,
            Err(e) => {
                return self.undecryptable(e.to_string()).await.map(|()| None);
            }
        };
        let Ok(m) = Message::decode(plain) else {
            return self
                .undecryptable("not a Message".into())
                .await
                .map(|()| None);
        };
        Ok(Some(m))
    }

    /// Stores the sender key a decrypted message distributes, if any; a bad
    /// one is only logged, a failing store is an error.
    async fn process_sender_key(
        &self,
        opening: &mut Opening<'_>,
        m: &Message,
        sender_lid: &Jid,
    ) -> Result<(), HandleError> {
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
                .unwrap_or_else(|| self.from.clone());
            match opening.process_sender_key(&gid, sender_lid, skdm).await {
                Ok(()) => {}
                Err(CryptoError::Store(e)) => return Err(e.into()),
                Err(e) => warn!(error = %e, "bad sender key distribution"),
            }
        }
        Ok(())
    }

    /// Keeps a copy of the decrypted message until the user acknowledges it.
    /// Nothing of the decryption is stored yet, so a failing store fails
    /// the stanza, which is then read again from the start (`recv.rs`).
    async fn keep_copy(&self, m: &mut Message) -> Result<(), HandleError> {
        let (kept_chat, kept_sender) = kept_key(&self.message_ack);
        // Its sender key is stored already; only the content is kept.
        m.sender_key_distribution_message = None;
        let bytes = m.encode_to_vec();
        self.shared
            .store
            .keep_unacked(&kept_chat, &kept_sender, &self.id, &bytes, unix_now())
            .await?;
        Ok(())
    }

    /// Acts on a message's content: our own messages are unwrapped first,
    /// app-state key shares and history-sync notices are handled here, and
    /// anything else goes to the user.
    async fn plaintext(
        mut self,
        mut message: Message,
        sender_lid: Jid,
        redelivered: bool,
    ) -> Result<(), HandleError> {
        if self.from_me
            && let Some(dsm) = message.device_sent_message.take()
        {
            if !self.group
                && let Some(dest) = dsm
                    .destination_jid
                    .as_deref()
                    .and_then(|d| d.parse::<Jid>().ok())
            {
                self.chat = dest.to_non_ad();
            }
            message = dsm.message.map(|m| *m).unwrap_or_default();
        }
        if self.from_me
            && let Some(share) = appstate::take_key_share(&mut message)
        {
            return self.key_share(share).await;
        }
        if self.from_me
            && let Some(notification) = history_notification(&mut message)
        {
            return self.history_sync(notification).await;
        }
        self.pass_on(message, sender_lid, redelivered).await
    }

    /// An app-state key share: kept if our phone sent it, then
    /// acknowledged.
    async fn key_share(&self, share: AppStateSyncKeyShare) -> Result<(), HandleError> {
        let (shared, sender, id) = (self.shared, &self.sender, &self.id);
        // Only our phone hands out keys. Acknowledged at once: the user
        // never sees it, so it could not acknowledge it.
        if sender.device() == 0 {
            appstate::handle_key_share(shared, share).await?;
        } else {
            warn!(%sender, "app-state key share from a companion; ignored");
        }
        self.conn
            .send(&receipt_node(shared, &self.message_ack))
            .await?;
        if !shared.opts.auto_ack {
            let (kept_chat, kept_sender) = kept_key(&self.message_ack);
            shared
                .store
                .drop_unacked(&kept_chat, &kept_sender, id)
                .await?;
        }
        Ok(())
    }

    /// A history-sync notice: passed to the user, who downloads the chunk.
    async fn history_sync(self, notification: HistorySyncNotification) -> Result<(), HandleError> {
        let Self {
            shared,
            conn,
            id,
            message_ack,
            ..
        } = self;
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
        Ok(())
    }

    /// Passes a message to the user, unless it was seen before (then it is
    /// only acknowledged again).
    async fn pass_on(
        self,
        mut message: Message,
        sender_lid: Jid,
        redelivered: bool,
    ) -> Result<(), HandleError> {
        let Self {
            shared,
            conn,
            node,
            id,
            sender,
            from_me,
            chat,
            message_ack,
            ..
        } = self;
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
    async fn undecryptable(&self, error: String) -> Result<(), HandleError> {
        let (shared, node, sender) = (self.shared, self.node, &self.sender);
        let id = node.attr_str("id").unwrap_or_default().to_owned();
        let count = {
            let mut retries = lock(&shared.retries);
            let c = retries.entry(id.clone()).or_default();
            *c += 1;
            *c
        };
        warn!(%id, %sender, count, %error, "could not decrypt a message");
        let gave_up = count > wa_core::retry::MAX_COUNT;
        if gave_up {
            // Not asked for again: forgotten, so ids that never decrypt do
            // not pile up.
            lock(&shared.retries).remove(&id);
        } else {
            let receipt = send::retry_receipt(shared, node, count).await?;
            self.conn.send(&receipt).await?;
        }
        let timestamp = node
            .attr_str("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(unix_now);
        shared
            .emit(ClientEvent::Undecryptable {
                id,
                chat: self.chat.clone(),
                sender: sender.clone(),
                error,
                timestamp,
                gave_up,
            })
            .await;
        Ok(())
    }
}
