//! Sans-IO core of the WhatsApp multi-device protocol.
//!
//! No sockets, no clock, no database: time and randomness come in as
//! arguments, so everything here can be unit-tested, fuzzed and benchmarked
//! without a runtime. `wa-client` drives it over tokio.

pub mod adv;
pub mod appstate;
pub mod binary;
pub mod content;
pub mod cstoken;
pub mod frame;
pub mod history;
pub mod jid;
pub mod keys;
pub mod media;
pub mod msgsecret;
pub mod noise;
pub mod payload;
pub mod proto;
pub mod reporting;
pub mod retry;
pub mod signal;

pub use binary::{AttrValue, Attrs, Content, Node};
pub use jid::{Jid, Server};
