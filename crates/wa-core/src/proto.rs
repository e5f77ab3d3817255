//! WhatsApp protobuf messages (package `wa`).
//!
//! Generated at build time by prost from the proto2 schema in `proto/`
//! (handshake, certificates, client payload, device props, ADV, message
//! content and history-sync envelopes). Fields use explicit presence
//! (`Option<T>`), so a value of 0 is still written when it is `Some(0)`;
//! some certificate checks depend on that.
//!
//! Fields of WhatsApp's schema that are not listed in `proto/` are dropped
//! when decoding, so re-encoding a decoded message is not byte-for-byte
//! faithful.

// Generated code: clean under today's lints, but its style is prost's, not
// ours, so new lints must not fail the build on it.
#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/wa.rs"));
