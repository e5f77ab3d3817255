//! Commands to the bot. Those that touch a WhatsApp account (`login`,
//! `logout`, `ping` with its phone number, `cancel`) run only in the
//! sender's own management room, and only while nobody but the sender
//! and the bot is in it or invited: a QR code shown where someone else can
//! scan it would link *their* phone to the sender's bridge (issue 18).
//! Elsewhere, with the prefix, only `help` answers.

use std::sync::Arc;

use super::{Bridge, Network};
use crate::config::Level;
use ruma::events::room::member::MembershipState;
use ruma::{RoomId, UserId};

/// The commands, for `help` and after an unknown one.
fn help<N: Network>() -> String {
    let name = N::NAME;
    format!(
        "Commands (in your management room, a direct chat with just you and me):\n\
         • login: link your {name} account by scanning a QR code\n\
         • logout: unlink this bridge from your {name} account\n\
         • ping: the state of your {name} connection\n\
         • cancel: stop a login in progress\n\
         • help: this list"
    )
}

/// Where a command was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The sender's management room.
    Management,
    /// Any other room (the command had the prefix).
    Elsewhere,
}

/// What a room with more people in it is told.
pub(crate) fn not_private<N: Network>() -> String {
    not_private_for(N::NAME)
}

/// [`not_private`] for the network named `network`.
pub(crate) fn not_private_for(network: &str) -> String {
    format!(
        "This room has other members. I take commands that touch your {network} account only \
         in a direct chat with just you and me: start one and send `help`."
    )
}

/// Runs one command from `sender` in `room`; every outcome is answered in
/// the room.
pub(super) async fn run<N: Network>(
    bridge: &Arc<Bridge<N>>,
    (room, place): (&RoomId, Place),
    sender: &UserId,
    line: &str,
) {
    let command = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(command.as_str(), "help" | "") {
        bridge.notice(room, &help::<N>()).await;
        return;
    }
    let allowed = bridge
        .config
        .bridge
        .permission_for(sender)
        .is_some_and(|l| l >= Level::User);
    if !allowed {
        bridge
            .notice(room, "Sorry, you are not allowed to use this bridge.")
            .await;
        return;
    }
    if !matches!(command.as_str(), "login" | "cancel" | "logout" | "ping") {
        bridge
            .notice(
                room,
                &format!("Unknown command `{command}`.\n\n{}", help::<N>()),
            )
            .await;
        return;
    }
    if place == Place::Elsewhere {
        bridge
            .notice(
                room,
                &format!(
                    "`{command}` works only in your management room: a direct chat with \
                     just you and me."
                ),
            )
            .await;
        return;
    }
    if !private(bridge, room, sender).await {
        bridge.notice(room, &not_private::<N>()).await;
        return;
    }
    match command.as_str() {
        "login" => super::login::start(bridge, room, sender).await,
        "cancel" => {
            if super::login::cancel(bridge, sender).await {
                bridge.notice(room, "Login cancelled.").await;
            } else {
                bridge.notice(room, "No login in progress.").await;
            }
        }
        "logout" => N::logout(bridge, room, sender).await,
        _ => {
            let text = if super::login::in_progress(bridge, sender).await {
                "A login is in progress (QR code shown).".to_owned()
            } else {
                N::status(bridge, sender).await
            };
            bridge.notice(room, &text).await;
        }
    }
}

/// Whether nobody but `user` and the bot is in `room` or invited to it
/// (or knocking); a room the bot cannot read counts as shared.
pub(crate) async fn private<N: Network>(bridge: &Bridge<N>, room: &RoomId, user: &UserId) -> bool {
    let Ok(members) = bridge.bot.members(room).await else {
        return false;
    };
    members.iter().all(|(who, membership)| {
        who == user
            || who == bridge.bot.user_id()
            || matches!(membership, MembershipState::Leave | MembershipState::Ban)
    })
}
