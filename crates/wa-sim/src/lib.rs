//! A simulated WhatsApp network for tests, demos and benchmarks.
//!
//! [`Sim`] is the server side of the multi-device protocol on an injected
//! listener: Noise responder with its own certificate chain, registration and
//! pairing (ADV both ways), login by Noise key, prekeys, usync, routing of
//! messages and receipts with offline queues, groups, an HTTPS media host,
//! presence and chatstate, and fault injection. [`Phone`] is an account's
//! scripted primary device, a real Signal device that links and removes
//! companions and chats 1:1 and in groups. [`control`] serves the same
//! operations over HTTP for `wa-sim serve`.

pub mod account;
pub mod control;
mod media;
pub mod phone;
pub mod server;

pub use media::MediaFault;
pub use phone::{
    AppStateView, HistoryFault, HistoryScript, PatchFault, PeerReceipt, Phone, PhoneError,
    PhoneUpload, ReadReceipt, Received, Ringing, ScanError, ScriptChat, ScriptMessage,
    SeenChatState, Sender, SentHistory,
};
pub use server::appstate::PushOutcome;
pub use server::{Registration, Routed, Sim};
