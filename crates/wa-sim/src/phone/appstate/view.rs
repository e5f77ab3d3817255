//! The phone's decoded view of its app state.

use std::collections::{BTreeMap, BTreeSet};

use wa_core::appstate::{Action, Collection};

use super::sync::Synced;

/// What the phone's app state says, decoded from the server's patches and
/// snapshots, whichever device pushed them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppStateView {
    /// Version of each collection, by wire name.
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

impl AppStateView {
    /// The view of the live records of `collections`. Actions are read from
    /// their index and value wherever they live (clients disagree on the
    /// collection of some); where two records speak of the same thing, the
    /// one with the later action timestamp wins.
    pub(crate) fn of(collections: &BTreeMap<Collection, Synced>) -> AppStateView {
        let mut view = AppStateView::default();
        let mut live = Vec::new();
        for (c, synced) in collections {
            view.versions
                .insert(c.name().to_owned(), synced.state.version);
            live.extend(synced.live.values().map(|l| &l.mutation));
        }
        live.sort_by_key(|m| m.value.as_ref().and_then(|v| v.timestamp).unwrap_or(0));
        for action in live.into_iter().filter_map(Action::from_mutation) {
            view.apply(action);
        }
        view
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Contact { jid, full_name, .. } => match full_name {
                Some(name) => {
                    self.contacts.insert(jid.to_string(), name);
                }
                None => {
                    self.contacts.remove(&jid.to_string());
                }
            },
            Action::Archive { chat, archived } => {
                toggle(&mut self.archived, chat.to_string(), archived)
            }
            Action::Pin { chat, pinned } => toggle(&mut self.pinned, chat.to_string(), pinned),
            Action::Mute {
                chat,
                muted,
                until_ms,
            } => {
                if muted {
                    self.muted.insert(chat.to_string(), until_ms.unwrap_or(-1));
                } else {
                    self.muted.remove(&chat.to_string());
                }
            }
            Action::MarkRead { chat, read } => {
                self.read.insert(chat.to_string(), read);
            }
            Action::Star {
                chat,
                message_id,
                from_me,
                starred,
                ..
            } => toggle(
                &mut self.starred,
                (chat.to_string(), message_id, from_me),
                starred,
            ),
            Action::PushName { .. } | Action::NctSalt { .. } | Action::Other { .. } => {}
        }
    }
}

fn toggle<T: Ord>(set: &mut BTreeSet<T>, item: T, on: bool) {
    if on {
        set.insert(item);
    } else {
        set.remove(&item);
    }
}
