//! What the core asks of a chat network, the one seam between the two
//! halves (the shape of mautrix bridgev2's `NetworkConnector` and
//! `NetworkAPI`): the core owns Matrix (transactions, the bot, commands,
//! the outbound queue per portal, message status) and calls these for what
//! only the network knows. `crate::connector` implements it for WhatsApp;
//! nothing in `crate::bridge` names a WhatsApp type.
//!
//! The functions take the bridge rather than `&self`: a network keeps its
//! state in itself and reaches it through [`Bridge::network`], and the
//! bridge handle is what it needs to act in Matrix.

use std::future::Future;
use std::sync::Arc;

use ruma::events::room::member::RoomMemberEventContent;
use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::Bridge;
use super::ghost::GhostId;
use super::login::{LoginFailed, Steps};
use crate::appservice::{Event, Intent};
use crate::store::StoreError;

/// A Matrix event the core hands to the network, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixEvent {
    /// `m.room.message` or `m.sticker`.
    Message,
    /// `m.reaction`.
    Reaction,
    /// `m.room.redaction`.
    Redaction,
    /// An MSC3381 poll start (either name).
    PollStart,
    /// An MSC3381 poll response (either name).
    PollResponse,
    /// An MSC3381 poll end (either name).
    PollEnd,
    /// `m.room.name`: the room renamed.
    Name,
    /// `m.room.topic`: the room's topic changed.
    Topic,
    /// `m.room.avatar`: the room's picture changed.
    Avatar,
    /// `m.room.member`: a ghost invited or kicked by a user, or the user
    /// leaving.
    Member,
    /// `m.room.power_levels`: who may do what in the room changed.
    PowerLevels,
}

impl MatrixEvent {
    /// What an event of type `kind` is to the network, if anything.
    pub fn of(kind: &str) -> Option<MatrixEvent> {
        Some(match kind {
            "m.room.message" | "m.sticker" => MatrixEvent::Message,
            "m.reaction" => MatrixEvent::Reaction,
            "m.room.redaction" => MatrixEvent::Redaction,
            "org.matrix.msc3381.poll.start" | "m.poll.start" => MatrixEvent::PollStart,
            "org.matrix.msc3381.poll.response" | "m.poll.response" => MatrixEvent::PollResponse,
            "org.matrix.msc3381.poll.end" | "m.poll.end" => MatrixEvent::PollEnd,
            "m.room.name" => MatrixEvent::Name,
            "m.room.topic" => MatrixEvent::Topic,
            "m.room.avatar" => MatrixEvent::Avatar,
            "m.room.member" => MatrixEvent::Member,
            "m.room.power_levels" => MatrixEvent::PowerLevels,
            _ => return None,
        })
    }
}

/// Whom an identifier (for WhatsApp, a phone number) names on the
/// network: `resolve-identifier` and `pm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The identifier as the network writes it (`+15551234567`).
    pub id: String,
    /// Their name as the user knows it, if known.
    pub name: Option<String>,
    /// Their ghost.
    pub ghost: OwnedUserId,
    /// The direct chat's room, when a chat was asked for (made if needed).
    pub room: Option<OwnedRoomId>,
}

/// What a chat's invite link points to (`resolve-link`, `join`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// The chat's name.
    pub name: String,
    /// Its description, if any.
    pub topic: Option<String>,
    /// How many members it has.
    pub members: usize,
    /// Its portal, once joined.
    pub room: Option<OwnedRoomId>,
}

/// Why an identifier names no one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The user has no login to ask with.
    #[error("you are not logged in")]
    NotLoggedIn,
    /// It is not an identifier of the network; says what one looks like.
    #[error("{0}")]
    Invalid(String),
    /// Nobody on the network has it.
    #[error("{0} is not on {1}")]
    NotFound(String, &'static str),
    /// The network or the homeserver failed to answer.
    #[error("it could not be looked up: {0}")]
    Failed(String),
}

impl ResolveError {
    /// The network or homeserver failed with `e`.
    pub fn failed(e: impl std::fmt::Display) -> Self {
        ResolveError::Failed(e.to_string())
    }
}

/// A chat network behind the bridge. Every function answers the user
/// itself (notices, message statuses); what it returns is only what the
/// core acts on.
pub trait Network: Send + Sync + Sized + 'static {
    /// The network's id in message statuses and bridge info (`whatsapp`).
    const ID: &'static str;
    /// The network's name as users read it (`WhatsApp`).
    const NAME: &'static str;

    /// Whether `id` (a ghost localpart with the configured template taken
    /// off) names a user of this network, so the ghost may be registered
    /// when the homeserver asks for it.
    fn is_user_id(id: &str) -> bool;

    /// Brings back every stored login at start, before any transaction is
    /// handled.
    fn restore_logins(bridge: &Arc<Bridge<Self>>) -> impl Future<Output = ()> + Send;

    /// Whom `user` is logged in as (for "already logged in as ..."), if
    /// they are.
    fn logged_in_as(
        bridge: &Arc<Bridge<Self>>,
        user: &UserId,
    ) -> impl Future<Output = Option<String>> + Send;

    /// Links a new account for `user` (the `login` command in their
    /// management room `room`), reporting each step to `steps`, which the
    /// core shows; then stores and starts it. Returns whom the user is
    /// logged in as. Dropped when the user cancels or the room is no
    /// longer private.
    fn login(
        bridge: &Arc<Bridge<Self>>,
        room: &RoomId,
        user: &UserId,
        steps: Steps,
    ) -> impl Future<Output = Result<String, LoginFailed>> + Send;

    /// Logs `user` out, telling them in `room`.
    fn logout(
        bridge: &Arc<Bridge<Self>>,
        room: &RoomId,
        user: &UserId,
    ) -> impl Future<Output = ()> + Send;

    /// Whom `identifier` names for `user`'s login; with `start_chat`, their
    /// direct chat's portal too (made if needed, the user invited).
    fn resolve_identifier(
        bridge: &Arc<Bridge<Self>>,
        user: &UserId,
        identifier: &str,
        start_chat: bool,
    ) -> impl Future<Output = Result<Resolved, ResolveError>> + Send;

    /// The invite link of the chat whose portal is `room`, for its user
    /// (`reset`: a new one, the old one revoked).
    fn invite_link(
        bridge: &Arc<Bridge<Self>>,
        room: &RoomId,
        user: &UserId,
        reset: bool,
    ) -> impl Future<Output = Result<String, ResolveError>> + Send;

    /// What invite `link` points to, for `user`'s login; with `join`, the
    /// login joins the chat and its portal is opened.
    fn follow_link(
        bridge: &Arc<Bridge<Self>>,
        user: &UserId,
        link: &str,
        join: bool,
    ) -> impl Future<Output = Result<LinkTarget, ResolveError>> + Send;

    /// Makes a new chat (a group) named `name` for `user`'s login. With
    /// `room` (a room of the user's, not bridged yet) its ghosts are the
    /// members and the room becomes the chat's portal; without, `members`
    /// (network identifiers) are, and a new portal is made. Returns the
    /// portal's room.
    fn create_group(
        bridge: &Arc<Bridge<Self>>,
        user: &UserId,
        room: Option<&RoomId>,
        name_and_members: (&str, &[&str]),
    ) -> impl Future<Output = Result<OwnedRoomId, ResolveError>> + Send;

    /// `ghost`'s member event in `room` changed from `before` to `now`:
    /// the homeserver rewrites every room's when a ghost's profile
    /// changes, so where it overwrote how the room's user knows the ghost,
    /// the network shows that again.
    fn ghost_profile_in_room(
        bridge: &Arc<Bridge<Self>>,
        room: &RoomId,
        ghost: &UserId,
        before_now: (&RoomMemberEventContent, &RoomMemberEventContent),
    ) -> impl Future<Output = ()> + Send;

    /// `user` invited `ghost` to `room`, a direct chat that is no portal:
    /// the network makes it the chat with that person (the ghost joins),
    /// points to the chat they have already, or declines; the user is told
    /// in the room.
    fn direct_chat_invite(
        bridge: &Arc<Bridge<Self>>,
        room: &RoomId,
        user: &UserId,
        ghost: &UserId,
    ) -> impl Future<Output = ()> + Send;

    /// One line on the state of `user`'s login, for `ping`.
    fn status(bridge: &Arc<Bridge<Self>>, user: &UserId) -> impl Future<Output = String> + Send;

    /// Sends `event`, which the sender put into the portal room, to the
    /// network. What the user should hear of they are told here; an error
    /// is what a retry could fix (the database), and the core retries.
    fn handle_matrix(
        bridge: &Arc<Bridge<Self>>,
        room_and_sender: (&RoomId, &UserId),
        event: &Event,
        kind: MatrixEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the network still waits for its server to take the event
    /// `event_id` (its outbound record then stays until it does).
    fn awaiting_ack(bridge: &Bridge<Self>, event_id: &EventId) -> bool;

    /// A receipt or typing notification from Matrix.
    fn handle_ephemeral(
        bridge: &Arc<Bridge<Self>>,
        event: &Event,
    ) -> impl Future<Output = ()> + Send;

    /// `user` did something in Matrix (for presence).
    fn user_active(bridge: &Arc<Bridge<Self>>, user: &UserId) -> impl Future<Output = ()> + Send;

    /// The ghost of `who` got a new display name: the network may want to
    /// show something again where the old one was (WhatsApp: each user's
    /// own name for the contact in their rooms).
    fn ghost_renamed(
        bridge: &Bridge<Self>,
        who: &GhostId,
        ghost: &Intent,
    ) -> impl Future<Output = ()> + Send;

    /// Shutdown, after the outbound queues are drained: closes every
    /// connection, with what was acknowledged written down.
    fn stop(bridge: &Arc<Bridge<Self>>) -> impl Future<Output = ()> + Send;
}
