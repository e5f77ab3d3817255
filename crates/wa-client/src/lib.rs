//! Tokio driver of the WhatsApp multi-device protocol over `wa-core`.
//!
//! For now: one connection ([`socket::connect`]) with the Noise handshake,
//! encrypted node exchange, IQ correlation and keepalive. Pairing, login,
//! Signal sessions and the typed event stream build on it.

pub mod device;
pub mod error;
pub mod login;
pub mod pair;
pub mod socket;
pub mod store;

pub use device::DeviceState;
pub use error::{AuthError, Error, ProtocolError};
pub use login::{LoggedIn, LoginError, LoginOptions, login};
pub use pair::{PairError, PairEvent, PairOptions, Pairing, pair};
pub use socket::{ConnectOptions, Connection, Event, connect};
pub use store::{DeviceStore, MemoryDeviceStore, StoreError};
