//! A simulated WhatsApp network for tests, demos and benchmarks.
//!
//! [`Sim`] is the server side of the multi-device protocol on an injected
//! listener. It grows with the simulator issue; today it runs the Noise
//! responder with its own certificate chain and registers companions.

pub mod server;

pub use server::{Registration, Sim};
