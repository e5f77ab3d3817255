//! A simulated WhatsApp network for tests, demos and benchmarks.
//!
//! [`Sim`] is the server side of the multi-device protocol on an injected
//! listener; [`Phone`] is an account's scripted primary device. So far the
//! simulator runs the Noise responder with its own certificate chain,
//! registers companions, pairs them when a phone scans their QR code (ADV
//! signatures both ways), logs them in by Noise key, counts and stores their
//! prekeys, and logs them out when the phone removes them.

pub mod account;
pub mod control;
mod media;
pub mod phone;
pub mod server;

pub use phone::{Phone, PhoneError, Received, ScanError};
pub use server::{Registration, Routed, Sim};
