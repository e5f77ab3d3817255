//! wabridge: a Matrix appservice that bridges WhatsApp.
//!
//! Layers (see docs/ARCHITECTURE.md): [`config`] (YAML), [`appservice`]
//! (the Matrix side: transactions in, intents out), [`store`] (sqlx:
//! bridge tables and the wa-client store traits), [`bridge`] (portals,
//! ghosts, logins, commands; network-neutral) and [`connector`] (WhatsApp
//! <-> bridge).

pub mod appservice;
pub mod bridge;
pub mod config;
pub mod connector;
pub mod store;
