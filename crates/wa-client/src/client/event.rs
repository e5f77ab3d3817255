//! What a [`Client`](super::Client) tells its user.

use std::time::Duration;

use wa_core::appstate::{Action, Collection};
use wa_core::jid::Jid;
use wa_core::proto::Message;
use wa_core::proto::message::HistorySyncNotification;

use super::communities::{LinkKind, LinkedGroup};
use crate::error::AuthError;

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// Logged in and online; queued sends are going out.
    Connected,
    /// The connection broke; the client reconnects after `retry_in`.
    Disconnected {
        /// Why, for logs and status displays.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// This device was unlinked (401): the store was cleared and the client
    /// stopped. Pair again to continue.
    LoggedOut(AuthError),
    /// The server refused this device for good without unlinking it
    /// (403 forbidden, 405 outdated, or another connection replaced this
    /// one): the client stopped; the store is kept.
    Stopped(AuthError),
    /// A message arrived and was decrypted.
    Message(Box<IncomingMessage>),
    /// Our phone sent a chunk of the account's history. Fetch it with
    /// [`Client::history_sync`](super::Client::history_sync), keep it, then
    /// acknowledge it with
    /// [`Client::ack_history`](super::Client::ack_history) (automatic
    /// unless [`ClientOptions::auto_ack`](super::ClientOptions::auto_ack) is
    /// off): the phone does not send an acknowledged chunk again.
    HistorySync(Box<HistoryNotice>),
    /// App-state changes another device of this account made (archive,
    /// pin, mute, read, star, contact names, ...), verified, in the order
    /// they were made; one event per fetched page of one collection.
    AppState(Vec<AppStateChange>),
    /// A collection could not be verified, not even as a fresh snapshot;
    /// its stored state was kept and nothing of it was applied.
    AppStateInvalid {
        /// The collection.
        collection: Collection,
        /// What failed (no key material).
        reason: String,
    },
    /// A message arrived that could not be decrypted; a retry receipt asked
    /// the sender to send it again.
    Undecryptable {
        /// Message id.
        id: String,
        /// The chat.
        chat: Jid,
        /// The sending device.
        sender: Jid,
        /// Why decryption failed.
        error: String,
        /// When it was sent (unix seconds; now if the stanza does not say).
        timestamp: u64,
        /// The retries are used up: it is not asked for again.
        gave_up: bool,
    },
    /// Receipts for messages we sent (or, from our own devices, read).
    Receipt(Receipt),
    /// A contact's presence.
    Presence {
        /// Whose.
        from: Jid,
        /// Online now.
        available: bool,
        /// Last seen (unix seconds), when given.
        last_seen: Option<u64>,
    },
    /// A call rang, was taken, declined or ended (see
    /// [`super::calls`]); the stanza was acknowledged.
    Call(super::calls::Call),
    /// Typing state in a chat.
    ChatState {
        /// The chat.
        chat: Jid,
        /// Who (the participant in groups).
        from: Jid,
        /// What they do.
        state: ChatState,
    },
    /// A group changed (members, subject, ...).
    GroupChange(GroupChange),
    /// A user's or a group's picture changed (`<notification
    /// type="picture">`, whatsmeow 33cfac51 `handlePictureNotification`);
    /// fetch it with [`Client::picture`](super::Client::picture).
    Picture {
        /// Whose picture: a user or a group.
        of: Jid,
        /// Who changed it, when said.
        author: Option<Jid>,
        /// The new picture's id; `None`: removed.
        id: Option<String>,
    },
    /// The device list of a user changed; the cache was dropped.
    DevicesChanged {
        /// Whose.
        user: Jid,
    },
    /// A device presented a different identity key than before (it was
    /// reinstalled, or someone is in the middle): show a notice.
    IdentityChanged {
        /// Which device.
        device: Jid,
    },
}

/// A decrypted incoming message.
#[derive(Debug, Clone)]
pub struct IncomingMessage {
    /// Message id.
    pub id: String,
    /// The chat: the other party in 1:1 chats (for copies of messages our
    /// own devices sent, the chat they wrote to), the group in groups.
    pub chat: Jid,
    /// The sending device.
    pub sender: Jid,
    /// The sender's LID device JID, when known.
    pub sender_lid: Option<Jid>,
    /// True for copies of messages our own other devices sent.
    pub from_me: bool,
    /// Server timestamp (unix seconds).
    pub timestamp: u64,
    /// The sender's push name, when given.
    pub push_name: Option<String>,
    /// The content.
    pub message: Message,
    /// What to send back once the message is handled (automatic unless
    /// [`ClientOptions::auto_ack`](super::ClientOptions::auto_ack) is off:
    /// then pass it to [`Client::ack`](super::Client::ack)).
    pub ack: MessageAck,
}

impl IncomingMessage {
    /// The text of a plain or extended text message.
    pub fn text(&self) -> Option<&str> {
        self.message.conversation.as_deref().or_else(|| {
            self.message
                .extended_text_message
                .as_ref()
                .and_then(|e| e.text.as_deref())
        })
    }
}

/// One app-state record set by a device of this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStateChange {
    /// The collection it came in.
    pub collection: Collection,
    /// The collection version it came with.
    pub version: u64,
    /// What it says.
    pub action: Action,
    /// When it was made (`SyncActionValue.timestamp`, ms since the epoch).
    pub timestamp_ms: Option<i64>,
    /// From a snapshot or a collection's first sync: the current state of
    /// the record, maybe set long ago (not a fresh change).
    pub full_sync: bool,
}

/// A history chunk announced by our phone.
#[derive(Debug, Clone)]
pub struct HistoryNotice {
    /// The id of the message that carried the notification: unique per
    /// chunk, so a store can keep each chunk once.
    pub id: String,
    /// Where the chunk is and what it holds (sync type, chunk order,
    /// progress).
    pub notification: HistorySyncNotification,
    /// What to send back once the chunk is kept.
    pub ack: MessageAck,
}

/// The delivery receipt owed for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAck {
    pub(crate) id: String,
    pub(crate) to: Jid,
    pub(crate) participant: Option<Jid>,
    /// For our own devices' copies: `sender` receipt naming the chat.
    pub(crate) recipient: Option<Jid>,
    /// A `category="peer"` message from our own phone (key shares,
    /// history): its receipt is `peer_msg`.
    pub(crate) peer: bool,
}

/// What a receipt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptKind {
    /// Delivered to a device (wire type absent, or `inactive` from a
    /// device whose user is not looking at it: Baileys and WhatsApp Web in
    /// the background send that).
    Delivered,
    /// Read (blue ticks).
    Read,
    /// Voice note or video played.
    Played,
    /// Our own other device got our message.
    Sender,
    /// Anything else, with its wire type.
    Other(String),
}

/// Receipts for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The messages.
    pub ids: Vec<String>,
    /// The chat.
    pub chat: Jid,
    /// The device that sent the receipt.
    pub from: Jid,
    /// What it says.
    pub kind: ReceiptKind,
    /// When (unix seconds), when given.
    pub timestamp: Option<u64>,
}

/// Typing states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    /// Typing.
    Composing,
    /// Recording audio.
    Recording,
    /// Stopped.
    Paused,
}

/// A change to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    /// The group.
    pub group: Jid,
    /// Who made it.
    pub actor: Option<Jid>,
    /// What changed.
    pub kind: GroupChangeKind,
}

/// What changed in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChangeKind {
    /// We were added to a new group (or it was created).
    Created {
        /// Its name.
        subject: String,
        /// Its members.
        participants: Vec<Jid>,
    },
    /// Members added.
    Added(Vec<Jid>),
    /// Members who joined by the group's invite link (`<add
    /// reason="invite">`, whatsmeow's `JoinReason`).
    JoinedByLink(Vec<Jid>),
    /// Members removed.
    Removed(Vec<Jid>),
    /// Members left.
    Left(Vec<Jid>),
    /// Members made admins.
    Promoted(Vec<Jid>),
    /// Members no longer admins.
    Demoted(Vec<Jid>),
    /// New name.
    Subject(String),
    /// New description (`None`: removed).
    Description(Option<String>),
    /// Only admins may send (`true`), or everyone may again.
    Announce(bool),
    /// Only admins may change the group's info (`true`), or everyone may.
    Locked(bool),
    /// The group was deleted (its members are out of it).
    Deleted,
    /// Disappearing messages turned on with this timer (seconds), or off
    /// (`None`).
    Timer(Option<u32>),
    /// Linked to another group (`<link link_type><group/></link>`): to its
    /// community (`kind` [`LinkKind::Parent`]), or, told to a community,
    /// a group linked to it ([`LinkKind::Sub`]).
    Linked {
        /// Which way the link goes.
        kind: LinkKind,
        /// The other group.
        group: LinkedGroup,
    },
    /// A link undone (`<unlink unlink_type unlink_reason><group/>`); the
    /// community deleted when `reason` is `delete_parent`.
    Unlinked {
        /// Which way the link went.
        kind: LinkKind,
        /// The other group.
        group: LinkedGroup,
        /// `unlink_group` or `delete_parent` (whatsmeow
        /// `GroupUnlinkReason`).
        reason: String,
    },
    /// Something else, by its wire tag.
    Other(String),
}
