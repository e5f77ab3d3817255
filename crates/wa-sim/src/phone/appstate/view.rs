//! The phone's decoded view of its app state.

use std::collections::{BTreeMap, BTreeSet};

/// One collection as the phone last synced it.
#[allow(dead_code)]
#[derive(Debug, Default, Clone)]
pub(crate) struct CollectionState {
    /// The version it is at.
    pub(crate) version: u64,
}

/// What the phone's app state says, decoded from the server's patches.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppStateView {
    /// Version of each collection.
    pub versions: BTreeMap<String, u64>,
    /// Contact names (`contactAction.fullName`) by JID.
    pub contacts: BTreeMap<String, String>,
    /// Archived chats.
    pub archived: BTreeSet<String>,
    /// Pinned chats.
    pub pinned: BTreeSet<String>,
    /// Muted chats: until when, in milliseconds (-1: forever).
    pub muted: BTreeMap<String, i64>,
    /// Chats marked read (true) or unread (false).
    pub read: BTreeMap<String, bool>,
    /// Starred messages: (chat, message id, from me).
    pub starred: BTreeSet<(String, String, bool)>,
}
