//! The Matrix side of the bridge, as an application service.
//!
//! In: the homeserver pushes transactions, user and room queries and pings
//! to [`serve`]; transactions are deduplicated by id through a
//! [`TransactionStore`], handled one at a time by a [`Handler`], and
//! acknowledged only after both succeeded. Events arrive as lenient typed
//! [`Event`]s that keep their raw JSON.
//!
//! Out: [`MatrixClient`] talks to the homeserver with the `as_token`, and an
//! [`Intent`] acts as the bot or as one ghost.
//!
//! This module knows nothing of the remote network or of the database.

mod client;
pub mod custom;
mod error;
mod event;
mod intent;
mod server;

pub use client::{DOWNLOAD_HEADROOM, MatrixClient, RetryPolicy, encode_segment, parse_mxc};
pub use error::{ClientError, HandlerError, MatrixError, ServerError, TxnStoreError};
pub use event::{Event, Receipt, RelatesTo, Transaction};
pub use intent::{CreateRoom, InitialState, Intent, JoinedMember, RoomPreset};
pub use server::{Handler, HsToken, MemoryTransactionStore, TransactionStore, router, serve};
