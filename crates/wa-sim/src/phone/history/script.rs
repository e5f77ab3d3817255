//! The history a scripted phone hands a new companion: chats (1:1 and
//! groups), their messages, chat settings, contact and push names, and how
//! it is cut into chunks.

use wa_core::jid::{Jid, Server};

/// Who sent a scripted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// The account itself (from any of its devices).
    Me,
    /// Another account, by phone number (in groups: the member).
    Pn(String),
}

/// One message of a scripted chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptMessage {
    /// Message id.
    pub id: String,
    /// Who sent it.
    pub sender: Sender,
    /// Its text.
    pub text: String,
    /// When, in seconds since the Unix epoch.
    pub timestamp: u64,
}

impl ScriptMessage {
    /// A text message.
    pub fn new(
        id: impl Into<String>,
        sender: Sender,
        text: impl Into<String>,
        timestamp: u64,
    ) -> Self {
        ScriptMessage {
            id: id.into(),
            sender,
            text: text.into(),
            timestamp,
        }
    }
}

/// One scripted chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptChat {
    /// The chat: a user JID (1:1) or a group JID.
    pub jid: Jid,
    /// For 1:1 chats the contact's name in the address book (it also goes
    /// into app state as a contact action); for groups the subject.
    pub name: Option<String>,
    /// Messages, in any order (sent newest first).
    pub messages: Vec<ScriptMessage>,
    /// Unread messages.
    pub unread: u32,
    /// Archived.
    pub archived: bool,
    /// Pinned.
    pub pinned: bool,
    /// Muted until this time in milliseconds since the Unix epoch (-1:
    /// forever); `None`: not muted.
    pub mute_end_ms: Option<i64>,
    /// The contact's privacy token for this account, with when it was
    /// given (unix seconds), as history sync carries it.
    pub privacy_token: Option<(Vec<u8>, u64)>,
    /// For a 1:1 chat keyed by the contact's LID: their phone number, which
    /// the chunk pairs with the LID (`phoneNumberToLidMappings`).
    pub pn_of_lid: Option<String>,
}

impl ScriptChat {
    /// A 1:1 chat with the account `pn`.
    pub fn direct(pn: &str) -> Self {
        Self::with_jid(Jid::user_jid(pn.to_owned()))
    }

    /// A 1:1 chat with account `pn` keyed by its LID `lid`, as the phone
    /// keys chats moved to LIDs; the chunk pairs the two.
    pub fn direct_by_lid(pn: &str, lid: &Jid) -> Self {
        let mut chat = Self::with_jid(lid.to_non_ad());
        chat.pn_of_lid = Some(pn.to_owned());
        chat
    }

    /// A group chat (a JID from `Sim::create_group`).
    pub fn group(gid: &Jid) -> Self {
        Self::with_jid(gid.clone())
    }

    fn with_jid(jid: Jid) -> Self {
        ScriptChat {
            jid,
            name: None,
            messages: Vec::new(),
            unread: 0,
            archived: false,
            pinned: false,
            mute_end_ms: None,
            privacy_token: None,
            pn_of_lid: None,
        }
    }

    /// Sets the contact name (1:1) or subject (group).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a message.
    pub fn message(mut self, message: ScriptMessage) -> Self {
        self.messages.push(message);
        self
    }

    /// Adds a text message with a made-up id.
    pub fn text(self, sender: Sender, text: impl Into<String>, timestamp: u64) -> Self {
        let id = format!("3EB0{:016X}", rand::random::<u64>());
        self.message(ScriptMessage::new(id, sender, text, timestamp))
    }

    /// Sets the unread count.
    pub fn unread(mut self, n: u32) -> Self {
        self.unread = n;
        self
    }

    /// Marks the chat archived.
    pub fn archived(mut self) -> Self {
        self.archived = true;
        self
    }

    /// Marks the chat pinned.
    pub fn pinned(mut self) -> Self {
        self.pinned = true;
        self
    }

    /// Carries the contact's privacy token for this account, given at
    /// `given_at` (unix seconds), as the phone's history does.
    pub fn privacy_token(mut self, token: Vec<u8>, given_at: u64) -> Self {
        self.privacy_token = Some((token, given_at));
        self
    }

    /// Mutes the chat until `ms` (milliseconds since the epoch; -1 forever).
    pub fn muted_until(mut self, ms: i64) -> Self {
        self.mute_end_ms = Some(ms);
        self
    }

    /// The newest message's time, 0 without messages.
    pub fn last_timestamp(&self) -> u64 {
        self.messages.iter().map(|m| m.timestamp).max().unwrap_or(0)
    }

    /// True for a group chat.
    pub fn is_group(&self) -> bool {
        self.jid.server() == &Server::Group
    }
}

/// The history a phone sends a companion it links, and how it is cut up:
/// the `bootstrap_chats` most recent chats ride inline in the
/// INITIAL_BOOTSTRAP notification, the rest go as RECENT media blobs of
/// `chats_per_chunk` chats each, then one PUSH_NAME blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryScript {
    /// The chats.
    pub chats: Vec<ScriptChat>,
    /// Push names others chose: (phone number, name).
    pub push_names: Vec<(String, String)>,
    /// Chats in the inline bootstrap chunk (default 3).
    pub bootstrap_chats: usize,
    /// Chats per RECENT chunk (default 20; at least 1).
    pub chats_per_chunk: usize,
}

impl Default for HistoryScript {
    fn default() -> Self {
        HistoryScript {
            chats: Vec::new(),
            push_names: Vec::new(),
            bootstrap_chats: 3,
            chats_per_chunk: 20,
        }
    }
}

impl HistoryScript {
    /// No chats yet, default chunking.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chat.
    pub fn chat(mut self, chat: ScriptChat) -> Self {
        self.chats.push(chat);
        self
    }

    /// Adds a push name.
    pub fn push_name(mut self, pn: impl Into<String>, name: impl Into<String>) -> Self {
        self.push_names.push((pn.into(), name.into()));
        self
    }

    /// Sets how many chats ride inline in the bootstrap chunk.
    pub fn bootstrap_chats(mut self, n: usize) -> Self {
        self.bootstrap_chats = n;
        self
    }

    /// Sets how many chats each RECENT chunk holds.
    pub fn chats_per_chunk(mut self, n: usize) -> Self {
        self.chats_per_chunk = n.max(1);
        self
    }

    /// `chats` 1:1 chats with accounts `first_pn`, `first_pn + 1`, ..., each
    /// with `messages` texts alternating between them and us, one minute
    /// apart, the newest chat last; every third chat has two unread, and
    /// each peer has a contact name and a push name.
    pub fn synthetic(chats: usize, messages: usize, first_pn: u64, start: u64) -> Self {
        let mut script = HistoryScript::new();
        let mut t = start;
        for c in 0..chats {
            let pn = (first_pn + c as u64).to_string();
            let mut chat = ScriptChat::direct(&pn).name(format!("Contact {c}"));
            for m in 0..messages {
                let sender = if m % 2 == 0 {
                    Sender::Pn(pn.clone())
                } else {
                    Sender::Me
                };
                let id = format!("3EB0{c:08X}{m:08X}");
                chat = chat.message(ScriptMessage::new(
                    id,
                    sender,
                    format!("message {m} in chat {c}"),
                    t,
                ));
                t += 60;
            }
            if c % 3 == 0 {
                chat = chat.unread(2);
            }
            script = script.chat(chat).push_name(pn, format!("Peer {c}"));
        }
        script
    }
}
