//! WhatsApp behind the bridge core: each user's companion device (login by
//! QR code in the management room, restore at start), events both ways,
//! and message conversion. [`WhatsApp`] is the core's [`Network`].

pub mod acks;
mod addressing;
mod appstate;
mod backfill;
mod calls;
mod communities;
pub mod ephemeral;
mod from_matrix;
mod groups;
mod history;
mod identifiers;
mod incoming;
mod links;
mod login;
mod media;
mod ordering;
mod outgoing;
mod people;
mod pictures;
mod polls;
mod portal;
pub mod presence;
mod relations;
pub mod settings;
mod to_matrix;
mod unreadable;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ruma::events::room::member::RoomMemberEventContent;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use tracing::warn;

use crate::appservice::{Event, Intent};
use crate::bridge::ghost::GhostId;
use crate::bridge::login::{LoginFailed, Steps};
use crate::bridge::{LinkTarget, MatrixEvent, Network, ResolveError, Resolved};
use crate::store::StoreError;
pub use login::LoginHandle;

/// Locks `m`, going on with what a task that panicked while holding it
/// left (the connector's maps stay usable).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The bridge with WhatsApp as its network: what every connector function
/// is handed.
pub type Bridge = crate::bridge::Bridge<WhatsApp>;

/// WhatsApp's state in the bridge: the users' clients and what is in
/// flight between them and Matrix.
#[derive(Debug, Default)]
pub struct WhatsApp {
    /// Running logins, by Matrix user.
    logins: tokio::sync::Mutex<HashMap<OwnedUserId, LoginHandle>>,
    /// Each user's room settings as last seen or set (tags, mute, read),
    /// by Matrix user: how the settings sync tells the user's own changes
    /// from the bridge's.
    room_settings: std::sync::Mutex<HashMap<OwnedUserId, settings::Known>>,
    /// The user's receipts and typing last sent to WhatsApp.
    ephemeral: ephemeral::State,
    /// Who shows online on WhatsApp.
    presence: presence::State,
    /// The calls shown ringing, until they end.
    calls: calls::Ringing,
    /// When each picture was last fetched, so a contact or group changing
    /// theirs over and over is fetched at a bounded rate.
    pictures: pictures::Throttle,
    /// Events whose WhatsApp send is queued and not yet acknowledged by
    /// the server (see [`acks`]): their rows stay until then.
    awaiting_ack: std::sync::Mutex<HashSet<OwnedEventId>>,
    /// Held by each task waiting for the server's ack of a send: shutdown
    /// waits until only this one is left before it closes the database.
    ack_tasks: Arc<()>,
}

impl Network for WhatsApp {
    const ID: &'static str = "whatsapp";
    const NAME: &'static str = "WhatsApp";

    /// A phone number or a LID (`lid-` and its digits).
    fn is_user_id(id: &str) -> bool {
        let digits = id.strip_prefix("lid-").unwrap_or(id);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }

    async fn restore_logins(bridge: &Arc<Bridge>) {
        login::restore_logins(bridge).await;
    }

    async fn logged_in_as(bridge: &Arc<Bridge>, user: &UserId) -> Option<String> {
        login::logged_in_as(bridge, user).await
    }

    async fn login(
        bridge: &Arc<Bridge>,
        room: &RoomId,
        user: &UserId,
        steps: Steps,
    ) -> Result<String, LoginFailed> {
        login::login(bridge, room, user, steps).await
    }

    async fn logout(bridge: &Arc<Bridge>, room: &RoomId, user: &UserId) {
        login::logout(bridge, room, user).await;
    }

    async fn resolve_identifier(
        bridge: &Arc<Bridge>,
        user: &UserId,
        identifier: &str,
        start_chat: bool,
    ) -> Result<Resolved, ResolveError> {
        identifiers::resolve(bridge, user, identifier, start_chat).await
    }

    async fn invite_link(
        bridge: &Arc<Bridge>,
        room: &RoomId,
        user: &UserId,
        reset: bool,
    ) -> Result<String, ResolveError> {
        links::invite_link(bridge, room, user, reset).await
    }

    async fn follow_link(
        bridge: &Arc<Bridge>,
        user: &UserId,
        link: &str,
        join: bool,
    ) -> Result<LinkTarget, ResolveError> {
        links::follow_link(bridge, user, link, join).await
    }

    async fn create_group(
        bridge: &Arc<Bridge>,
        user: &UserId,
        room: Option<&RoomId>,
        name_and_members: (&str, &[&str]),
    ) -> Result<OwnedRoomId, ResolveError> {
        groups::create_group(bridge, user, room, name_and_members).await
    }

    async fn ghost_profile_in_room(
        bridge: &Arc<Bridge>,
        room: &RoomId,
        ghost: &UserId,
        before_now: (&RoomMemberEventContent, &RoomMemberEventContent),
    ) {
        incoming::ghost_profile_in_room(bridge, room, ghost, before_now).await;
    }

    async fn direct_chat_invite(
        bridge: &Arc<Bridge>,
        room: &RoomId,
        user: &UserId,
        ghost: &UserId,
    ) {
        identifiers::direct_chat_invite(bridge, room, user, ghost).await;
    }

    async fn status(bridge: &Arc<Bridge>, user: &UserId) -> String {
        login::status(bridge, user).await
    }

    async fn handle_matrix(
        bridge: &Arc<Bridge>,
        (room, sender): (&RoomId, &UserId),
        event: &Event,
        kind: MatrixEvent,
    ) -> Result<(), StoreError> {
        match kind {
            MatrixEvent::Message => outgoing::from_matrix(bridge, room, sender, event).await,
            MatrixEvent::Reaction => {
                relations::reaction_from_matrix(bridge, room, sender, event).await
            }
            MatrixEvent::Redaction => {
                relations::redaction_from_matrix(bridge, room, sender, event).await
            }
            MatrixEvent::PollStart => {
                polls::poll_start_from_matrix(bridge, room, sender, event).await
            }
            MatrixEvent::PollResponse => {
                polls::poll_response_from_matrix(bridge, room, sender, event).await
            }
            MatrixEvent::PollEnd => polls::poll_end_from_matrix(bridge, room, sender, event).await,
            MatrixEvent::Name | MatrixEvent::Topic => {
                groups::from_matrix(bridge, (room, sender), event, kind).await
            }
            MatrixEvent::Avatar => pictures::from_matrix(bridge, (room, sender), event).await,
            MatrixEvent::Member => groups::member_from_matrix(bridge, (room, sender), event).await,
            MatrixEvent::PowerLevels => {
                groups::levels_from_matrix(bridge, (room, sender), event).await
            }
        }
    }

    fn awaiting_ack(bridge: &Bridge, event_id: &EventId) -> bool {
        acks::awaiting(bridge, event_id)
    }

    async fn handle_ephemeral(bridge: &Arc<Bridge>, event: &Event) {
        ephemeral::handle(bridge, event).await;
    }

    async fn user_active(bridge: &Arc<Bridge>, user: &UserId) {
        presence::active(bridge, user).await;
    }

    async fn ghost_renamed(bridge: &Bridge, who: &GhostId, ghost: &Intent) {
        if let Ok(user) = who.network_id.parse::<wa_core::jid::Jid>() {
            incoming::renew_contact_nicks(bridge, &user, ghost).await;
        }
    }

    async fn stop(bridge: &Arc<Bridge>) {
        stop(bridge).await;
    }
}

/// Closes every WhatsApp connection at shutdown.
async fn stop(bridge: &Bridge) {
    let state = bridge.network();
    let logins: Vec<_> = state.logins.lock().await.drain().map(|(_, l)| l).collect();
    for login in &logins {
        login.stop();
    }
    // Each client finishes the node in hand and closes its socket; what
    // was not acknowledged the server delivers again at the next start.
    let closed = async {
        for login in &logins {
            login.client.stopped().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .is_err()
    {
        warn!("a WhatsApp connection did not close in time");
    }
    // The acks that came before the connections closed are written down
    // before the database closes (the others end with the clients).
    let acked = async {
        while Arc::strong_count(&state.ack_tasks) > 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), acked)
        .await
        .is_err()
    {
        warn!("some acknowledged sends were still being recorded at shutdown");
    }
}
