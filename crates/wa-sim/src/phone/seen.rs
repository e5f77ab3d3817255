//! What a scripted phone is told by others besides messages: read receipts
//! and chat states (typing), kept for tests to look at.

use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::device::PhoneDevice;

/// A read receipt the phone received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    /// The device that read (its `from`; a group's receipt names the
    /// reader in `participant`).
    pub reader: Jid,
    /// The chat: the reader, or the group.
    pub chat: Jid,
    /// The message ids read (the `id`, then those of `<list>`).
    pub ids: Vec<String>,
}

/// A chat state the phone received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenChatState {
    /// Who types (the account, or the group member).
    pub from: Jid,
    /// The chat: that account, or the group.
    pub chat: Jid,
    /// `composing` or `paused`.
    pub state: String,
    /// `audio` when recording a voice note.
    pub media: Option<String>,
}

/// What the phone has seen.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) reads: Vec<ReadReceipt>,
    pub(crate) chat_states: Vec<SeenChatState>,
}

/// Records `node` if it is a read receipt or a chat state.
pub(crate) fn record(device: &PhoneDevice, node: &Node) {
    let seen = match &*node.tag {
        "receipt" if matches!(node.attr_str("type"), Some("read" | "read-self")) => {
            read(node).map(|r| (Some(r), None))
        }
        "chatstate" => chat_state(node).map(|c| (None, Some(c))),
        _ => None,
    };
    let Some((read, state)) = seen else {
        return;
    };
    if let Ok(mut s) = device.seen.lock() {
        s.reads.extend(read);
        s.chat_states.extend(state);
    }
    device.arrived().notify_waiters();
}

fn read(node: &Node) -> Option<ReadReceipt> {
    let from = node.attr_jid("from")?.clone();
    let mut ids = vec![node.attr_str("id")?.to_owned()];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attr_str("id").map(str::to_owned)),
        );
    }
    let (reader, chat) = match node.attr_jid("participant") {
        Some(p) if from.is_group() => (p.clone(), from),
        _ => (from.clone(), from.to_non_ad()),
    };
    Some(ReadReceipt { reader, chat, ids })
}

fn chat_state(node: &Node) -> Option<SeenChatState> {
    let from = node.attr_jid("from")?.clone();
    let inner = node.child_nodes().first()?;
    let (who, chat) = match node.attr_jid("participant") {
        Some(p) if from.is_group() => (p.clone(), from),
        _ => (from.clone(), from.to_non_ad()),
    };
    Some(SeenChatState {
        from: who,
        chat,
        state: inner.tag.to_string(),
        media: inner.attr_str("media").map(str::to_owned),
    })
}

impl super::Phone {
    /// Read receipts this phone received, oldest first.
    pub fn read_receipts(&self) -> Vec<ReadReceipt> {
        self.device()
            .ok()
            .and_then(|d| d.seen.lock().ok().map(|s| s.reads.clone()))
            .unwrap_or_default()
    }

    /// Chat states (typing) this phone received, oldest first.
    pub fn chat_states(&self) -> Vec<SeenChatState> {
        self.device()
            .ok()
            .and_then(|d| d.seen.lock().ok().map(|s| s.chat_states.clone()))
            .unwrap_or_default()
    }
}
