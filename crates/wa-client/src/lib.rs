//! Tokio driver of the WhatsApp multi-device protocol over `wa-core`.
//!
//! For now: one connection ([`socket::connect`]) with the Noise handshake,
//! encrypted node exchange, IQ correlation and keepalive. Pairing, login,
//! Signal sessions and the typed event stream build on it.

pub mod error;
pub mod socket;

pub use error::{AuthError, Error, ProtocolError};
pub use socket::{ConnectOptions, Connection, Event, connect};
