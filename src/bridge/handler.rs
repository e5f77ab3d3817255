//! The appservice side of the core: transactions in order, each event to
//! where it belongs (the outbound queue of its portal, the bot's chores,
//! the network's receipts and typing), and the homeserver's user queries.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ruma::events::room::member::{MembershipState, RoomMemberEventContent};
use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, TransactionId, UserId};
use tracing::{debug, info, warn};

use super::outbound::queue_outbound;
use super::{Bridge, MatrixEvent, Network, PUPPET_SOURCE_KEY, commands};
use crate::appservice::{
    Event, Handler, HandlerError, Transaction, TransactionStore, TxnStoreError,
};

/// The transaction dedupe table.
pub(super) struct Txns<N: Network>(pub(super) Arc<Bridge<N>>);

#[async_trait]
impl<N: Network> TransactionStore for Txns<N> {
    async fn is_processed(&self, txn: &TransactionId) -> Result<bool, TxnStoreError> {
        self.0
            .db
            .transaction_processed(txn.as_str())
            .await
            .map_err(TxnStoreError::new)
    }

    async fn mark_processed(&self, txn: &TransactionId) -> Result<(), TxnStoreError> {
        self.0
            .db
            .mark_transaction_processed(txn.as_str())
            .await
            .map_err(TxnStoreError::new)
    }
}

pub(super) struct BridgeHandler<N: Network>(pub(super) Arc<Bridge<N>>);

#[async_trait]
impl<N: Network> Handler for BridgeHandler<N> {
    async fn handle(&self, txn: Transaction) -> Result<(), HandlerError> {
        // The homeserver sends its backlog as soon as we answer its ping,
        // which comes before the logins are back: the events wait for
        // them (transactions run one at a time, so a retry of this one
        // waits behind it and is then a duplicate).
        let mut ready = self.0.ready.subscribe();
        if ready.wait_for(|r| *r).await.is_err() {
            return Err(HandlerError::new("the bridge is shutting down"));
        }
        // Each event on its own: what one of them cannot do is logged (and
        // told to its sender) and holds up no other event, transaction or
        // user (issue 18).
        for event in txn.events {
            handle_event(&self.0, &event).await;
        }
        // Receipts and typing: best effort, off the worker, never a reason
        // to retry; dropped when too many are still on their way.
        if !txn.ephemeral.is_empty() {
            match self.0.ephemeral_slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let (bridge, events) = (self.0.clone(), txn.ephemeral);
                    tokio::spawn(async move {
                        for event in &events {
                            N::handle_ephemeral(&bridge, event).await;
                        }
                        drop(slot);
                    });
                }
                Err(_) => debug!(
                    events = txn.ephemeral.len(),
                    "receipts and typing dropped: too many still on their way"
                ),
            }
        }
        Ok(())
    }

    /// The homeserver asks whether one of our users exists: it does once
    /// registered, so it is registered before the answer (the spec's "create
    /// on demand").
    async fn query_user(&self, user_id: &UserId) -> bool {
        let bridge = &self.0;
        if !bridge.is_ours(user_id) {
            return false;
        }
        let registered = if user_id == bridge.bot.user_id() {
            bridge.bot.ensure_registered().await
        } else {
            let local = user_id.localpart();
            // Only ghosts the network would make.
            let id = bridge.config.appservice.ghost_id(local).unwrap_or_default();
            if !N::is_user_id(&id) {
                return false;
            }
            match bridge.matrix.ghost_intent(local) {
                Ok(ghost) => ghost.ensure_registered().await,
                Err(e) => Err(e),
            }
        };
        match registered {
            Ok(()) => true,
            Err(e) => {
                warn!(%user_id, error = %e, "could not register a user the homeserver asked for");
                false
            }
        }
    }

    async fn query_room(&self, _alias: &RoomAliasId) -> bool {
        false
    }
}

/// One event. What goes to the network is queued per portal room (see
/// [`super::queue`]) and commands and invites per user (see
/// [`Chore`]), so the transaction is answered at once and nothing here
/// fails it.
async fn handle_event<N: Network>(bridge: &Arc<Bridge<N>>, event: &Event) {
    let (Some(room), Some(sender)) = (event.room_id.as_ref(), event.sender.as_ref()) else {
        return;
    };
    if bridge.is_ours(sender) {
        ghost_profile_changed(bridge, (room, sender), event);
        return;
    }
    if event.content.get(PUPPET_SOURCE_KEY).is_some() {
        // Sent by us as the user (double puppeting): an echo.
        return;
    }
    if matches!(
        MatrixEvent::of(&event.kind),
        Some(MatrixEvent::Message | MatrixEvent::Reaction | MatrixEvent::Redaction)
    ) {
        N::user_active(bridge, sender).await;
    }
    match event.kind.as_str() {
        "m.room.member" => member_event(bridge, (room, sender), event).await,
        // A user's change of a portal's name, topic, picture or power
        // levels (not a member's: those have a state key).
        "m.room.name" | "m.room.topic" | "m.room.avatar" | "m.room.power_levels"
            if event.state_key.as_deref() == Some("") =>
        {
            queue_outbound(bridge, room, event).await;
        }
        // A sticker has no body to read as a command.
        "m.sticker" | "m.reaction" | "m.room.redaction" => {
            queue_outbound(bridge, room, event).await;
        }
        kind if matches!(
            MatrixEvent::of(kind),
            Some(MatrixEvent::PollStart | MatrixEvent::PollResponse | MatrixEvent::PollEnd)
        ) =>
        {
            queue_outbound(bridge, room, event).await
        }
        "m.room.message" => {
            let Some(message) = event.message() else {
                // What ruma cannot read is no command; in a portal, the
                // connector tells the sender why it is not bridged.
                queue_outbound(bridge, room, event).await;
                return;
            };
            let body = message.msgtype.body().trim();
            let management = bridge.management_room(sender).await;
            let prefix = &bridge.config.bridge.command_prefix;
            let command = if management.as_deref() == Some(&**room) {
                Some((body, commands::Place::Management))
            } else {
                body.strip_prefix(prefix.as_str())
                    .map(|rest| (rest.trim(), commands::Place::Elsewhere))
            };
            match command {
                Some((line, place)) => {
                    let chore = Chore::Command {
                        room: room.to_owned(),
                        place,
                        sender: sender.to_owned(),
                        line: line.to_owned(),
                    };
                    bridge.chores.push(sender.as_str(), (bridge.clone(), chore));
                }
                None => queue_outbound(bridge, room, event).await,
            }
        }
        _ => {}
    }
}

/// A ghost's own join over its join: its name or avatar changed in the
/// room. The homeserver rewrites all of them after a profile change, after
/// the bridge may have set room-specific ones: the network may show them
/// again (off the transaction worker).
fn ghost_profile_changed<N: Network>(
    bridge: &Arc<Bridge<N>>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
) {
    let Some(member) = event.member() else {
        return;
    };
    let before = event.raw["unsigned"]["prev_content"].clone();
    let Ok(before) = serde_json::from_value::<RoomMemberEventContent>(before) else {
        return;
    };
    if bridge.is_ghost(sender)
        && event.state_key.as_deref() == Some(sender.as_str())
        && member.membership == MembershipState::Join
        && before.membership == MembershipState::Join
    {
        let (bridge, room, ghost) = (bridge.clone(), room.to_owned(), sender.to_owned());
        tokio::spawn(async move {
            N::ghost_profile_in_room(&bridge, &room, &ghost, (&before, &member)).await;
        });
    }
}

/// A member event: the bot invited (a chore), a ghost gone from a room,
/// and what the network may follow: a ghost invited or kicked by a user,
/// or the user leaving (a group's members), in the portal's order.
async fn member_event<N: Network>(
    bridge: &Arc<Bridge<N>>,
    (room, sender): (&RoomId, &UserId),
    event: &Event,
) {
    let Some(member) = event.member() else {
        return;
    };
    if event.state_key.as_deref() == Some(bridge.bot.user_id().as_str())
        && member.membership == MembershipState::Invite
    {
        let chore = Chore::Invited {
            room: room.to_owned(),
            sender: sender.to_owned(),
            is_direct: member.is_direct.unwrap_or(false),
        };
        bridge.chores.push(sender.as_str(), (bridge.clone(), chore));
    }
    // A ghost (or the bot) kicked or banned by a user is no longer
    // in the room: a ghost joins again before it next speaks there.
    let target = event
        .state_key
        .as_deref()
        .and_then(|k| UserId::parse(k).ok());
    let leaves = matches!(
        member.membership,
        MembershipState::Leave | MembershipState::Ban
    );
    if let Some(ghost) = target.as_ref().filter(|g| bridge.is_ours(g))
        && leaves
    {
        bridge.note_left(room, ghost).await;
    }
    // A ghost invited or kicked by a user, or the user leaving:
    // the network may follow (a group's members), in the portal's
    // order.
    let ghost_by_user = target.as_ref().is_some_and(|t| bridge.is_ghost(t))
        && (leaves || member.membership == MembershipState::Invite);
    // A ghost invited to a direct chat: it may be a new chat with them (a
    // portal room is the outbound queue's, below).
    if let Some(ghost) = target.as_ref().filter(|t| bridge.is_ghost(t))
        && member.membership == MembershipState::Invite
        && member.is_direct == Some(true)
    {
        let chore = Chore::GhostInvited {
            room: room.to_owned(),
            sender: sender.to_owned(),
            ghost: ghost.clone(),
        };
        bridge.chores.push(sender.as_str(), (bridge.clone(), chore));
    }
    let user_leaves = target.as_deref() == Some(sender) && leaves;
    if ghost_by_user || user_leaves {
        queue_outbound(bridge, room, event).await;
    }
}

/// What the bot does for one Matrix user, off the transaction worker.
#[derive(Debug, Clone)]
pub enum Chore {
    /// A command line, from `sender` in `room`.
    Command {
        /// The room.
        room: OwnedRoomId,
        /// Whether it is the sender's management room.
        place: commands::Place,
        /// Who sent it.
        sender: OwnedUserId,
        /// The command, without the prefix.
        line: String,
    },
    /// The bot was invited into `room` by `sender`.
    Invited {
        /// The room.
        room: OwnedRoomId,
        /// Who invited.
        sender: OwnedUserId,
        /// Whether the invite is a direct chat's.
        is_direct: bool,
    },
    /// `sender` invited `ghost` to `room`, a direct chat.
    GhostInvited {
        /// The room.
        room: OwnedRoomId,
        /// Who invited.
        sender: OwnedUserId,
        /// The ghost invited.
        ghost: OwnedUserId,
    },
}

/// How long one command or invite may take before its user's next one runs.
pub(super) const CHORE_LIMIT: Duration = Duration::from_secs(120);
/// How many transactions' receipts and typing may be on their way at once.
pub(super) const EPHEMERAL_SLOTS: usize = 16;

pub(super) fn run_chore<N: Network>(
    (bridge, chore): (Arc<Bridge<N>>, Chore),
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let work = async {
            match &chore {
                Chore::Command {
                    room,
                    place,
                    sender,
                    line,
                } => commands::run(&bridge, (room, *place), sender, line).await,
                Chore::Invited {
                    room,
                    sender,
                    is_direct,
                } => bot_invited(&bridge, room, sender, *is_direct).await,
                Chore::GhostInvited {
                    room,
                    sender,
                    ghost,
                } => ghost_invited(&bridge, room, sender, ghost).await,
            }
        };
        if tokio::time::timeout(CHORE_LIMIT, work).await.is_err() {
            warn!(?CHORE_LIMIT, "a command or invite took too long; given up");
        }
    })
}

/// `sender` invited `ghost` to the direct chat `room`: unless the room is
/// a portal already, the network may make it the chat with that person
/// (bridgev2's way of starting a chat), for users the bridge serves.
async fn ghost_invited<N: Network>(
    bridge: &Arc<Bridge<N>>,
    room: &RoomId,
    sender: &UserId,
    ghost: &UserId,
) {
    let allowed = bridge
        .config
        .bridge
        .permission_for(sender)
        .is_some_and(|l| l >= crate::config::Level::User);
    // The management room is the bot's, for commands: no chat there.
    if !allowed || bridge.management_room(sender).await.as_deref() == Some(room) {
        return;
    }
    match bridge.db.portal_by_room(room).await {
        Ok(None) => N::direct_chat_invite(bridge, room, sender, ghost).await,
        Ok(_) => {}
        Err(e) => warn!(%room, error = %e, "could not tell whether a room is a portal"),
    }
}

/// The bot was invited into `room` by `sender`. Users the bridge does not
/// serve are declined; a direct chat becomes the sender's management room
/// only while nobody else is in it.
async fn bot_invited<N: Network>(
    bridge: &Arc<Bridge<N>>,
    room: &RoomId,
    sender: &UserId,
    is_direct: bool,
) {
    let allowed = bridge
        .config
        .bridge
        .permission_for(sender)
        .is_some_and(|l| l >= crate::config::Level::User);
    if !allowed {
        info!(%room, "declining an invite from a user the bridge does not serve");
        if let Err(e) = bridge.bot.leave(room).await {
            warn!(%room, error = %e, "could not decline an invite");
        }
        return;
    }
    if let Err(e) = bridge.bot.join(room.into()).await {
        warn!(%room, error = %e, "bot could not join");
        return;
    }
    if !is_direct {
        return;
    }
    if !commands::private(bridge, room, sender).await {
        bridge.notice(room, &commands::not_private::<N>()).await;
        return;
    }
    let stored = async {
        bridge.db.ensure_user(sender).await?;
        bridge.db.set_management_room(sender, Some(room)).await
    }
    .await;
    if let Err(e) = stored {
        warn!(%room, error = %e, "could not record a management room");
        bridge
            .notice(
                room,
                "Sorry, I could not set this room up as your management room; try again later.",
            )
            .await;
        return;
    }
    let name = N::NAME;
    let hello = format!(
        "Hello! This is your {name} bridge management room. Send `login` to link your {name} \
         account, or `help` for the commands."
    );
    bridge.notice(room, &hello).await;
}
