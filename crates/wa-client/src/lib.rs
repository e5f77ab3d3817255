//! Tokio driver of the WhatsApp multi-device protocol over `wa-core`.
//!
//! So far: one connection ([`socket::connect`]: Noise handshake, encrypted
//! nodes, IQ correlation, keepalive), the device state and its store, QR
//! pairing ([`pair`](mod@pair)), login with prekey upload
//! ([`login`](mod@login)), and a first 1:1 text path with ADV-checked fan-out
//! ([`messaging`]). Persistent Signal stores, groups, retries, reconnects and
//! the typed event stream come next.

pub mod device;
pub mod error;
pub mod login;
pub mod messaging;
pub mod pair;
pub mod socket;
pub mod store;

pub use device::DeviceState;
pub use error::{AuthError, Error, ProtocolError};
pub use login::{LoggedIn, LoginError, LoginOptions, login};
pub use messaging::{MessagingError, Messenger, Received};
pub use pair::{PairError, PairEvent, PairOptions, Pairing, pair};
pub use socket::{ConnectOptions, Connection, Event, connect};
pub use store::{DeviceStore, MemoryDeviceStore, StoreError};
