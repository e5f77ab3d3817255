//! WhatsApp <-> bridge: each user's companion device (login by QR code in
//! the management room, restore at start), events both ways, and message
//! conversion.

pub mod acks;
mod addressing;
mod appstate;
mod backfill;
pub mod ephemeral;
pub mod format;
mod history;
mod incoming;
mod kinds;
pub mod locks;
mod login;
mod media;
mod ordering;
mod outgoing;
mod polls;
mod portal;
pub mod presence;
pub mod qr;
pub mod queue;
mod relations;
pub mod settings;
mod status;

pub use incoming::PUPPET_SOURCE_KEY;
pub use login::{LoginHandle, logout, restore_logins, start_login, status};
pub use outgoing::from_matrix;
pub use polls::{poll_end_from_matrix, poll_response_from_matrix, poll_start_from_matrix};
pub use relations::{reaction_from_matrix, redaction_from_matrix};

/// Tells the sender that their `event` in `room` did not reach WhatsApp,
/// and why (a failed status and a notice replying to it).
pub async fn not_bridged(
    bridge: &crate::bridge::Bridge,
    room: &str,
    event: &crate::appservice::Event,
    why: &str,
) {
    status::refused(bridge, room, event, "message", why, status::Reason::Generic).await;
}
