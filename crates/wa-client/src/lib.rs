//! Tokio driver of the WhatsApp multi-device protocol over `wa-core`.
//!
//! Layers, bottom up: one connection ([`socket::connect`]: Noise handshake,
//! encrypted nodes, IQ correlation, keepalive); the device state and the
//! [`store`] traits by role; QR pairing ([`pair`](mod@pair)); login with
//! prekey upload ([`login`](mod@login)); and the [`Client`]: online with
//! reconnects, an ordered offline-tolerant outbox, 1:1 and group messages
//! with ADV-checked fan-out and sender keys, retry receipts both ways, and
//! typed [`ClientEvent`]s.

pub mod client;
mod crypto;
pub mod device_lists;
pub mod error;
pub mod login;
pub mod media;
pub mod own_device;
pub mod pair;
pub mod socket;
pub mod store;

pub use client::{
    Addressing, AppStateChange, AppStateSyncError, Backoff, Call, CallAction, ChatState, Client,
    ClientError, ClientEvent, ClientOptions, GroupChange, GroupChangeKind, GroupInfo, GroupSetting,
    HistoryNotice, INVITE_LINK_PREFIX, IncomingMessage, LinkJoin, LinkKind, LinkedGroup,
    MemberChange, MemberOutcome, MessageAck, OnWhatsApp, PendingSend, Picture, Receipt,
    ReceiptKind, SendError, Sent,
};
pub use crypto::CryptoError;
pub use error::{AuthError, Error, ProtocolError};
pub use login::{LoggedIn, LoginError, LoginOptions, SessionInfo, login};
pub use media::{MediaConn, MediaError, MediaKind, UploadedMedia};
pub use own_device::DeviceState;
pub use pair::{PairError, PairEvent, PairOptions, Pairing, pair};
pub use socket::{ConnectOptions, Connection, Event, connect};
pub use store::{FileStore, MemoryStore, Store, StoreError};
