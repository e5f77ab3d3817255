//! WhatsApp <-> bridge: each user's companion device (login by QR code in
//! the management room, restore at start), events both ways, and message
//! conversion.

pub mod format;
mod login;
pub mod qr;
mod relay;

pub use login::{LoginHandle, logout, restore_logins, start_login, status};
pub use relay::from_matrix;
