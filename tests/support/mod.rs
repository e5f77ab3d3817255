//! Helpers shared by the integration tests (`mod support;` in a test file).
//! Each test binary uses only part of them.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Where Baileys is (`baileys_dir`), decided as for wa-sim's and
/// wa-client's Baileys tests.
#[path = "../../crates/wa-sim/tests/support/baileys.rs"]
pub mod baileys;
pub mod bridge;
pub mod files;
pub mod history;
pub mod log;
pub mod login;
pub mod matrix;
/// Baileys as a WhatsApp peer (`scripts/baileys/peer.mjs`), the same driver
/// wa-client's tests use.
#[path = "../../crates/wa-client/tests/support/peer.rs"]
pub mod peer;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod settings;
pub mod synapse;
