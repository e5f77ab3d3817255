//! The companion client: one logged-in device that stays online, sends and
//! receives messages, and reports what happens as [`ClientEvent`]s.
//!
//! [`Client::start`] logs a paired device in and spawns two tasks:
//!
//! - the connection task reads the server's nodes (messages are decrypted,
//!   deduplicated and passed on, receipts and notifications acknowledged)
//!   and, when the connection breaks, reconnects with exponential backoff
//!   and jitter. A 401 (unlinked) clears the store and ends the client.
//! - the send task drains the outbox in order: a message queued while
//!   offline waits there and goes out after the next login, and a message
//!   sent but not acknowledged when the connection broke is sent again
//!   (same id; receivers drop duplicates by id).
//!
//! All state lives in the [`Store`]; restarting a client from the same
//! store continues the same device.

mod appstate;
mod calls;
mod communities;
mod contacts;
mod event;
mod groups;
mod media;
mod options;
mod pictures;
mod presence;
mod recv;
mod run;
mod secrets;
mod send;
mod tokens;

pub use appstate::AppStateSyncError;
pub(crate) use appstate::now_ms;
pub use calls::{Call, CallAction};
pub use communities::{LinkKind, LinkedGroup};
pub use contacts::OnWhatsApp;
pub use event::{
    AppStateChange, ChatState, ClientEvent, GroupChange, GroupChangeKind, HistoryNotice,
    IncomingMessage, MessageAck, Receipt, ReceiptKind,
};
pub use groups::{
    Addressing, GroupInfo, GroupSetting, INVITE_LINK_PREFIX, LinkJoin, MemberChange, MemberOutcome,
};
pub use options::{Backoff, ClientOptions};
pub use pictures::Picture;
pub(crate) use presence::unified_session_node;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::warn;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::Message;

use crate::crypto::{Crypto, CryptoError};
use crate::device_lists::{DevicesError, Own};
use crate::error::Error;
use crate::login::{self, LoginError, LoginOptions, SessionInfo};
use crate::own_device::DeviceState;
use crate::socket::Connection;
use crate::store::{Store, StoreError};

/// Why a client could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The store holds no paired device.
    #[error("no paired device in the store")]
    NotPaired,
    /// Logging in failed.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Too many messages are waiting already.
    #[error("too many messages waiting to be sent")]
    QueueFull,
    /// The client stopped (logged out or dropped) before the message went
    /// out.
    #[error("client stopped")]
    Stopped,
    /// The recipient has no device we could encrypt to.
    #[error("no device of the recipient could be reached")]
    NoDevices,
    /// The server refused the message (its error code).
    #[error("server refused the message: {0}")]
    Refused(String),
    /// A node we had to answer was malformed.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Not a chat messages can be sent to.
    #[error("cannot send to {0}")]
    BadRecipient(String),
    /// Resolving devices failed.
    #[error(transparent)]
    Devices(#[from] DevicesError),
    /// Encryption or the store failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The connection failed (the message stays queued; this reaches only
    /// callers of IQ-like operations).
    #[error("connection: {0}")]
    Connection(#[from] Error),
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        SendError::Crypto(e.into())
    }
}

/// The server accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Message id.
    pub id: String,
    /// Server time of the ack (unix seconds), when given.
    pub timestamp: Option<u64>,
}

/// A queued message: its id now, the server's verdict later.
#[derive(Debug)]
pub struct PendingSend {
    /// The message id.
    pub id: String,
    done: oneshot::Receiver<Result<Sent, SendError>>,
}

impl PendingSend {
    /// Waits until the server accepted (or refused) the message.
    pub async fn wait(self) -> Result<Sent, SendError> {
        self.done.await.unwrap_or(Err(SendError::Stopped))
    }
}

/// One message waiting in the outbox.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) id: String,
    pub(crate) to: Jid,
    pub(crate) message: Message,
    done: Option<oneshot::Sender<Result<Sent, SendError>>>,
}

impl Outgoing {
    fn finish(&mut self, result: Result<Sent, SendError>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
    }
}

#[derive(Debug, Default)]
struct Outbox {
    queue: VecDeque<Outgoing>,
    /// Sent, waiting for the server's ack, in send order.
    inflight: Vec<Outgoing>,
}

/// Messages we sent recently, for resending on a retry receipt.
#[derive(Debug, Default)]
pub(crate) struct RecentSent {
    order: VecDeque<String>,
    by_id: HashMap<String, (Jid, Message)>,
}

const RECENT_SENT: usize = 1000;

impl RecentSent {
    pub(crate) fn insert(&mut self, id: String, chat: Jid, message: Message) {
        if self.by_id.insert(id.clone(), (chat, message)).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT_SENT {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<(Jid, Message)> {
        self.by_id.get(id).cloned()
    }
}

pub(crate) struct Shared {
    pub(crate) opts: ClientOptions,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) crypto: Crypto,
    pub(crate) own: Own,
    pub(crate) state: tokio::sync::Mutex<DeviceState>,
    conn: watch::Sender<Option<Connection>>,
    pub(crate) events: mpsc::Sender<ClientEvent>,
    outbox: Mutex<Outbox>,
    outbox_changed: Notify,
    pub(crate) recent: Mutex<RecentSent>,
    /// Retry receipts we sent, by message id.
    pub(crate) retries: Mutex<HashMap<String, u32>>,
    /// Group members, by group JID (dropped on group notifications).
    pub(crate) groups: Mutex<HashMap<String, GroupInfo>>,
    /// The cached `media_conn` and the HTTPS client for media hosts.
    media: media::MediaState,
    /// App-state sync: one sync or push at a time, and the keys awaited.
    pub(crate) app_state: appstate::AppStateSide,
    stop: watch::Sender<bool>,
    /// Set once the connection task has ended (its socket closed).
    ended: watch::Sender<bool>,
    /// The presence last sent (available or not), held while one is sent
    /// so that a resend with the push name cannot overtake a change.
    pub(crate) available: tokio::sync::Mutex<bool>,
    /// True while the server was last told we are available: delivery
    /// receipts are then plain, else `inactive` (whatsmeow
    /// `sendMessageReceipt`), which leaves the phone its notifications.
    pub(crate) active: std::sync::atomic::AtomicBool,
    /// What the last login's session-start queries said (privacy
    /// settings, blocklist, props).
    pub(crate) session: Mutex<SessionInfo>,
    /// The server's clock minus ours (ms), from the last `<success t>`.
    pub(crate) server_offset_ms: std::sync::atomic::AtomicI64,
}

/// A server's `<ack error>` code with what it means, for the user.
/// Sources: Baileys rc14 `Utils/decode-wa-message.js` `SERVER_ERROR_CODES`,
/// whatsmeow `client.go` (479); see docs/PROTOCOL-NOTES.md.
fn refusal(code: &str) -> String {
    let meaning = match code {
        "463" => {
            "this contact has not given your account a privacy token: WhatsApp limits \
             messages from your account to people who have not written to you; ask them \
             to message you first"
        }
        "479" => "WhatsApp found the message malformed or addressed to stale devices",
        "400" => "WhatsApp found the message malformed",
        "403" => "WhatsApp does not let your account message this chat",
        "404" => "the chat does not exist on WhatsApp",
        "406" => "WhatsApp does not accept this kind of message here",
        "408" => "WhatsApp timed out",
        "500" => "WhatsApp had an internal error",
        _ => "no known meaning",
    };
    format!("{code} ({meaning})")
}

/// Locks a std mutex, recovering from poisoning (the data stays usable:
/// every critical section leaves it consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running companion client. Cheap to clone; stops when [`stop`]ped,
/// logged out, or when every clone is dropped.
///
/// [`stop`]: Client::stop
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    _guard: Arc<StopOnDrop>,
}

struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("jid", &self.shared.own.pn.to_string())
            .field("online", &self.is_online())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Logs the device in `store` in and starts the client. Fails if the
    /// store holds no paired device, or the first login fails (only for
    /// good with [`ClientOptions::retry_first_login`]: then a client still
    /// trying to connect is returned for any other failure).
    pub async fn start(
        opts: ClientOptions,
        store: Arc<dyn Store>,
    ) -> Result<(Client, mpsc::Receiver<ClientEvent>), ClientError> {
        let mut state = store.load().await?.ok_or(ClientError::NotPaired)?;
        let login_opts = LoginOptions {
            connect: opts.connect.clone(),
            success_timeout: opts.login_timeout,
        };
        let first = match login::login(&login_opts, &mut state, &*store).await {
            Ok(live) => Ok(live),
            Err(e) if opts.retry_first_login && !e.is_final() => Err(e),
            Err(e) => return Err(e.into()),
        };
        let (Some(pn), Some(lid), Some(account_key)) = (
            state.jid.clone(),
            state.lid.clone(),
            state
                .account
                .as_ref()
                .and_then(|a| a.account_signature_key.clone()),
        ) else {
            if let Ok(live) = &first {
                live.conn.close();
            }
            return Err(ClientError::NotPaired);
        };
        if let (Some(pn), Some(lid)) = (state.jid.as_ref(), state.lid.as_ref()) {
            store.store_lid_mapping(pn.user(), lid.user()).await?;
        }
        let (events_tx, events_rx) = mpsc::channel(opts.event_buffer.max(1));
        let (stop, _) = watch::channel(false);
        let crypto = Crypto::new(store.clone(), state.identity.clone(), state.registration_id);
        let shared = Arc::new(Shared {
            opts,
            store,
            crypto,
            own: Own {
                pn,
                lid,
                account_key,
            },
            state: tokio::sync::Mutex::new(state),
            conn: watch::channel(None).0,
            events: events_tx,
            outbox: Mutex::new(Outbox::default()),
            outbox_changed: Notify::new(),
            recent: Mutex::new(RecentSent::default()),
            retries: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            media: media::MediaState::default(),
            app_state: appstate::AppStateSide::default(),
            stop: stop.clone(),
            ended: watch::channel(false).0,
            available: tokio::sync::Mutex::new(false),
            active: std::sync::atomic::AtomicBool::new(false),
            session: Mutex::new(
                first
                    .as_ref()
                    .map(|live| live.session.clone())
                    .unwrap_or_default(),
            ),
            server_offset_ms: std::sync::atomic::AtomicI64::new(0),
        });
        tokio::spawn(run::run_connections(shared.clone(), first));
        tokio::spawn(run::run_outbox(shared.clone()));
        Ok((
            Client {
                shared,
                _guard: Arc::new(StopOnDrop(stop)),
            },
            events_rx,
        ))
    }

    /// Our JID (phone number form, with device).
    pub fn jid(&self) -> &Jid {
        &self.shared.own.pn
    }

    /// Our LID (with device).
    pub fn lid(&self) -> &Jid {
        &self.shared.own.lid
    }

    /// The LID of the account with phone number `pn`, if the client has
    /// learned it (from a message's alternate address or a device list).
    pub async fn lid_for_pn(&self, pn: &Jid) -> Result<Option<Jid>, StoreError> {
        if pn.is_lid() {
            return Ok(None);
        }
        Ok(self
            .shared
            .store
            .lid_for_pn(pn.user())
            .await?
            .map(|l| Jid::new(l, wa_core::jid::Server::Lid)))
    }

    /// The phone-number JID (no device) of the account whose LID is `lid`,
    /// when known (from usync, or from the `sender_pn`-style attributes of
    /// LID-addressed messages). `None` for a JID that is not a LID.
    pub async fn pn_for_lid(&self, lid: &Jid) -> Result<Option<Jid>, StoreError> {
        if !lid.is_lid() {
            return Ok(None);
        }
        Ok(self
            .shared
            .store
            .pn_for_lid(lid.user())
            .await?
            .map(Jid::user_jid))
    }

    /// Whether the client is logged in right now.
    pub fn is_online(&self) -> bool {
        self.shared.conn.borrow().is_some()
    }

    /// Waits until the client is logged in (true at once when it is), or
    /// has ended for good (false): what needs a connection, e.g. a query,
    /// waits here instead of failing while a restored login still connects.
    pub async fn online(&self) -> bool {
        let mut conn = self.shared.conn.subscribe();
        let mut ended = self.shared.ended.subscribe();
        let mut stop = self.shared.stop.subscribe();
        loop {
            if conn.borrow_and_update().is_some() {
                return true;
            }
            if *ended.borrow_and_update() || *stop.borrow_and_update() {
                return false;
            }
            tokio::select! {
                r = conn.changed() => if r.is_err() { return false },
                r = ended.changed() => if r.is_err() { return false },
                r = stop.changed() => if r.is_err() { return false },
            }
        }
    }

    /// Messages waiting to be sent or acknowledged.
    pub fn queued(&self) -> usize {
        let outbox = lock(&self.shared.outbox);
        outbox.queue.len() + outbox.inflight.len()
    }

    /// Queues `message` for `to` (a user or group JID) and returns its id at
    /// once; sends to one chat go out in the order they were queued, also
    /// across reconnects.
    pub fn queue_message(&self, to: &Jid, message: Message) -> Result<PendingSend, SendError> {
        self.queue_message_as(to, new_message_id(), message)
    }

    /// A fresh message id, for [`Client::queue_message_as`]: for a caller
    /// that must record something under the id before the message leaves.
    pub fn new_message_id() -> String {
        new_message_id()
    }

    /// [`Client::queue_message`] under the id `id` (from
    /// [`Client::new_message_id`]; receivers drop a second message with the
    /// same id).
    pub fn queue_message_as(
        &self,
        to: &Jid,
        id: String,
        message: Message,
    ) -> Result<PendingSend, SendError> {
        if !(to.is_group() || to.is_lid() || *to.server() == wa_core::jid::Server::User) {
            return Err(SendError::BadRecipient(to.to_string()));
        }
        if *self.shared.stop.borrow() {
            return Err(SendError::Stopped);
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut outbox = lock(&self.shared.outbox);
            if outbox.queue.len() + outbox.inflight.len() >= self.shared.opts.max_queued {
                return Err(SendError::QueueFull);
            }
            // Its secret is drawn once, here: every try and every resend
            // carries the one kept for it.
            let message = send::with_secret(&message, to).into_owned();
            outbox.queue.push_back(Outgoing {
                id: id.clone(),
                to: to.to_non_ad(),
                message,
                done: Some(tx),
            });
        }
        self.shared.outbox_changed.notify_one();
        Ok(PendingSend { id, done: rx })
    }

    /// Sends `message` to `to` and waits for the server's ack.
    pub async fn send_message(&self, to: &Jid, message: Message) -> Result<Sent, SendError> {
        self.queue_message(to, message)?.wait().await
    }

    /// Sends a plain text.
    pub async fn send_text(&self, to: &Jid, text: &str) -> Result<Sent, SendError> {
        self.send_message(
            to,
            Message {
                conversation: Some(text.to_owned()),
                ..Default::default()
            },
        )
        .await
    }

    /// Sends the delivery receipt for a message handled by the user (with
    /// [`ClientOptions::auto_ack`] off).
    pub async fn ack(&self, ack: &MessageAck) -> Result<(), Error> {
        let conn = self.connection()?;
        conn.send(&recv::receipt_node(&self.shared, ack)).await?;
        self.forget_kept(ack).await;
        Ok(())
    }

    /// Drops the decrypted copy kept for `ack`'s message until its receipt
    /// went out. A failure only leaves the copy to the pruning.
    async fn forget_kept(&self, ack: &MessageAck) {
        let (chat, sender) = recv::kept_key(ack);
        if let Err(e) = self
            .shared
            .store
            .drop_unacked(&chat, &sender, &ack.id)
            .await
        {
            warn!(error = %e, "could not drop a kept message copy");
        }
    }

    /// Acknowledges a history chunk kept by the user (with
    /// [`ClientOptions::auto_ack`] off): the delivery receipt, then the
    /// `hist_sync` receipt that tells the phone the chunk was processed.
    pub async fn ack_history(&self, ack: &MessageAck) -> Result<(), Error> {
        let conn = self.connection()?;
        conn.send(&recv::receipt_node(&self.shared, ack)).await?;
        conn.send(&recv::hist_sync_receipt(ack, &self.shared.own.pn))
            .await?;
        self.forget_kept(ack).await;
        Ok(())
    }

    /// What the server said at the start of the current (or last)
    /// connection: privacy settings, blocklist, props.
    pub fn session_info(&self) -> SessionInfo {
        lock(&self.shared.session).clone()
    }

    /// Sends read receipts for `ids` in `chat` (from `sender`, the
    /// participant in groups): `read`, or `read-self` when the user turned
    /// read receipts off.
    pub async fn mark_read(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        ids: &[String],
    ) -> Result<(), Error> {
        let Some((first, rest)) = ids.split_first() else {
            return Ok(());
        };
        let conn = self.connection()?;
        // With read receipts off in the user's privacy settings, only the
        // user's own devices learn the message was read.
        let kind = if lock(&self.shared.session).read_receipts_off() {
            "read-self"
        } else {
            "read"
        };
        let mut node = Node::new("receipt")
            .attr("id", first.clone())
            .attr("to", chat.clone())
            .attr("type", kind)
            .attr("t", recv::unix_now().to_string());
        if let Some(s) = sender.filter(|_| chat.is_group()) {
            node = node.attr("participant", s.clone());
        }
        if !rest.is_empty() {
            node = node.children(vec![
                Node::new("list").children(
                    rest.iter()
                        .map(|id| Node::new("item").attr("id", id.clone()))
                        .collect(),
                ),
            ]);
        }
        conn.send(&node).await
    }

    /// The devices of `user` we would encrypt to (ADV-verified).
    pub async fn devices(&self, user: &Jid) -> Result<Vec<Jid>, SendError> {
        let conn = self.connection()?;
        let targets = crate::device_lists::resolve(
            &conn,
            &*self.shared.store,
            &self.shared.crypto,
            &self.shared.own,
            std::slice::from_ref(&user.to_non_ad()),
        )
        .await?;
        let mut out: Vec<Jid> = targets.into_iter().map(|t| t.device).collect();
        if user.to_non_ad().user() == self.shared.own.pn.user()
            || user.to_non_ad().user() == self.shared.own.lid.user()
        {
            out.push(self.shared.own.lid.clone());
        }
        Ok(out)
    }

    /// Whether each of `numbers` (digits, with or without `+`) is on
    /// WhatsApp, and as whom.
    pub async fn on_whatsapp(&self, numbers: &[&str]) -> Result<Vec<OnWhatsApp>, SendError> {
        let conn = self.connection()?;
        contacts::on_whatsapp(&self.shared, &conn, numbers).await
    }

    /// Creates a group with `participants` (user JIDs).
    pub async fn create_group(
        &self,
        subject: &str,
        participants: &[Jid],
    ) -> Result<GroupInfo, SendError> {
        let conn = self.connection()?;
        groups::create(&self.shared, &conn, subject, participants).await
    }

    /// The group's current info, from the server.
    pub async fn group_info(&self, group: &Jid) -> Result<GroupInfo, SendError> {
        let conn = self.connection()?;
        groups::query(&self.shared, &conn, group).await
    }

    /// Adds, removes, promotes or demotes `participants` (user JIDs) of
    /// `group`; the answer says, per member, whether the server made the
    /// change. After a removal our next message to the group uses a new
    /// sender key, so whoever left cannot read on.
    pub async fn change_members(
        &self,
        group: &Jid,
        change: MemberChange,
        participants: &[Jid],
    ) -> Result<Vec<MemberOutcome>, SendError> {
        let conn = self.connection()?;
        groups::change_members(&self.shared, &conn, group, change, participants).await
    }

    /// Renames `group` (its subject); the members are told.
    pub async fn set_group_subject(&self, group: &Jid, subject: &str) -> Result<(), SendError> {
        let conn = self.connection()?;
        groups::set_subject(&conn, group, subject).await?;
        lock(&self.shared.groups).remove(&group.to_string());
        Ok(())
    }

    /// Sets `group`'s description, or removes it (`None`); the server is
    /// asked for the one it replaces first.
    pub async fn set_group_description(
        &self,
        group: &Jid,
        description: Option<&str>,
    ) -> Result<(), SendError> {
        let previous = self.group_info(group).await?.description_id;
        let conn = self.connection()?;
        groups::set_description(&conn, group, previous.as_deref(), description).await?;
        lock(&self.shared.groups).remove(&group.to_string());
        Ok(())
    }

    /// Removes `participants` from `group` (see [`Client::change_members`]).
    pub async fn remove_participants(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<MemberOutcome>, SendError> {
        self.change_members(group, MemberChange::Remove, participants)
            .await
    }

    /// Changes one of `group`'s settings (admins only).
    pub async fn set_group_setting(
        &self,
        group: &Jid,
        setting: GroupSetting,
    ) -> Result<(), SendError> {
        let conn = self.connection()?;
        groups::set_setting(&self.shared, &conn, group, setting).await
    }

    /// `group`'s invite link (admins only); with `reset` a new one, the
    /// old one revoked.
    pub async fn group_invite_link(&self, group: &Jid, reset: bool) -> Result<String, SendError> {
        let conn = self.connection()?;
        groups::invite_link(&conn, group, reset).await
    }

    /// The group an invite link (or its code) points to, without joining.
    pub async fn group_info_from_link(&self, link: &str) -> Result<GroupInfo, SendError> {
        let conn = self.connection()?;
        groups::info_from_link(&conn, link).await
    }

    /// Joins the group an invite link (or its code) points to (or asks to,
    /// where its admins approve members).
    pub async fn join_group_with_link(&self, link: &str) -> Result<LinkJoin, SendError> {
        let conn = self.connection()?;
        groups::join_with_link(&conn, link).await
    }

    /// The groups linked to `community` (those we are not in too).
    pub async fn sub_groups(&self, community: &Jid) -> Result<Vec<LinkedGroup>, SendError> {
        let conn = self.connection()?;
        communities::sub_groups(&conn, community).await
    }

    /// Leaves `group` (the account stops being a member).
    pub async fn leave_group(&self, group: &Jid) -> Result<(), SendError> {
        let conn = self.connection()?;
        groups::leave(&self.shared, &conn, group).await
    }

    /// Unlinks this device: tells the server, clears the store and stops.
    pub async fn logout(&self) -> Result<(), SendError> {
        let conn = self.connection()?;
        let own = self.shared.own.pn.clone();
        let iq = Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "set")
            .attr("xmlns", "md")
            .children(vec![
                Node::new("remove-companion-device")
                    .attr("jid", own)
                    .attr("reason", "user_initiated"),
            ]);
        let result = conn.iq(iq).await;
        self.shared.store.delete().await?;
        self.stop();
        result.map(|_| ()).map_err(SendError::Connection)
    }

    /// Whether the client has ended for good (stopped, logged out or
    /// refused): nothing it was asked to do will happen any more.
    pub fn has_ended(&self) -> bool {
        *self.shared.ended.borrow() || *self.shared.stop.borrow()
    }

    /// Stops the client (the store keeps the device; start again later).
    pub fn stop(&self) {
        let _ = self.shared.stop.send(true);
    }

    /// Waits until the client has stopped: the node in hand was handled and
    /// the connection is closed, so the server sees the device go offline
    /// (and keeps what it sends next for the next login).
    pub async fn stopped(&self) {
        let mut ended = self.shared.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }

    fn connection(&self) -> Result<Connection, Error> {
        self.shared.connection()
    }
}

/// WhatsApp-style message ids: `3EB0` and 18 upper-case hex digits.
pub(crate) fn new_message_id() -> String {
    let bytes: [u8; 9] = rand::random();
    let mut id = String::with_capacity(22);
    id.push_str("3EB0");
    for b in bytes {
        id.push_str(&format!("{b:02X}"));
    }
    id
}

impl Shared {
    pub(crate) fn connection(&self) -> Result<Connection, Error> {
        self.conn.borrow().clone().ok_or(Error::Closed)
    }

    pub(crate) async fn emit(&self, event: ClientEvent) {
        let _ = self.events.send(event).await;
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// The server acked message `id` (maybe with an error code).
    pub(crate) fn acked(&self, id: &str, t: Option<u64>, error: Option<String>) {
        let done = {
            let mut outbox = lock(&self.outbox);
            let pos = outbox.inflight.iter().position(|o| o.id == id);
            pos.map(|p| outbox.inflight.remove(p))
        };
        if let Some(mut o) = done {
            o.finish(match error {
                Some(code) => Err(SendError::Refused(refusal(&code))),
                None => Ok(Sent {
                    id: id.to_owned(),
                    timestamp: t,
                }),
            });
        }
    }
}
