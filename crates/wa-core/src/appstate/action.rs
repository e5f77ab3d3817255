//! A typed view of the mutations the bridge acts on.
//!
//! | index                                           | value field          | collection           | version |
//! |-------------------------------------------------|----------------------|----------------------|---------|
//! | `["contact", jid]`                              | contactAction        | critical_unblock_low | 2       |
//! | `["archive", chat]`                             | archiveChatAction    | regular_low          | 3       |
//! | `["mute", chat]`                                | muteAction           | regular_high         | 2       |
//! | `["pin_v1", chat]`                              | pinAction            | regular_low          | 5       |
//! | `["markChatAsRead", chat]`                      | markChatAsReadAction | regular_low          | 3       |
//! | `["star", chat, id, "1"/"0", participant/"0"]`  | starAction           | regular_high         | 2       |
//! | `["setting_pushName"]`                          | pushNameSetting      | critical_block       | 1       |
//! | `["nct_salt_sync"]` (SET and REMOVE)            | nctSaltSyncAction 80 | (not known; we push critical_block) | 1 |
//!
//! Decoding looks only at the index and the value, never at the collection a
//! mutation came in (clients disagree: Baileys writes stars to
//! regular_low).

use super::Collection;
use super::patch::{Mutation, NewMutation, Operation};
use crate::jid::Jid;
use crate::proto::SyncActionValue;
use crate::proto::sync_action_value::{
    ArchiveChatAction, ContactAction, MarkChatAsReadAction, MuteAction, NctSaltSyncAction,
    PinAction, PushNameSetting, StarAction, SyncActionMessageRange,
};

const CONTACT: &str = "contact";
const ARCHIVE: &str = "archive";
const MUTE: &str = "mute";
const PIN: &str = "pin_v1";
const MARK_READ: &str = "markChatAsRead";
const STAR: &str = "star";
const PUSH_NAME: &str = "setting_pushName";
const NCT_SALT: &str = "nct_salt_sync";

/// What a SET mutation means to the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A contact's name as saved in the phone's address book.
    Contact {
        /// The contact (a phone-number or LID JID).
        jid: Jid,
        /// The full name, if saved.
        full_name: Option<String>,
        /// The first name, if saved.
        first_name: Option<String>,
    },
    /// A chat was archived or unarchived.
    Archive {
        /// The chat.
        chat: Jid,
        /// Whether it is archived now.
        archived: bool,
    },
    /// A chat was muted or unmuted.
    Mute {
        /// The chat.
        chat: Jid,
        /// Whether it is muted now.
        muted: bool,
        /// When the mute ends (milliseconds since the epoch); `None` when
        /// muted forever, or not muted.
        until_ms: Option<i64>,
    },
    /// A chat was pinned or unpinned.
    Pin {
        /// The chat.
        chat: Jid,
        /// Whether it is pinned now.
        pinned: bool,
    },
    /// A chat was marked read or unread.
    MarkRead {
        /// The chat.
        chat: Jid,
        /// Whether it is read now.
        read: bool,
    },
    /// A message was starred or unstarred.
    Star {
        /// The chat the message is in.
        chat: Jid,
        /// The message id.
        message_id: String,
        /// Whether this account sent the message.
        from_me: bool,
        /// The sender in a group, if not this account.
        participant: Option<Jid>,
        /// Whether it is starred now.
        starred: bool,
    },
    /// The account's push name: the name it shows to people who have not
    /// saved its number.
    PushName {
        /// The name.
        name: String,
    },
    /// The account's cstoken salt was set (or, `None`, removed): a 1:1
    /// message to a contact whose privacy token we lack carries
    /// HMAC-SHA256(salt, contact LID) (whatsmeow `appstate.go`,
    /// `cstoken.go`).
    NctSalt {
        /// The salt; `None` when removed.
        salt: Option<Vec<u8>>,
    },
    /// Anything else, or a known index whose value or JIDs do not fit.
    Other {
        /// The index as received.
        index: Vec<String>,
    },
}

impl Action {
    /// The action of a SET mutation; `None` for a REMOVE (but that of the
    /// cstoken salt, which clears it) or a mutation without a value.
    pub fn from_mutation(mutation: &Mutation) -> Option<Action> {
        if mutation.operation != Operation::Set {
            let salt = mutation.index.len() == 1 && mutation.index[0] == NCT_SALT;
            return salt.then_some(Action::NctSalt { salt: None });
        }
        let value = mutation.value.as_ref()?;
        let other = || Action::Other {
            index: mutation.index.clone(),
        };
        Some(known(&mutation.index, value).unwrap_or_else(other))
    }

    /// The collection and SET mutation that announce this action to other
    /// devices, stamped `timestamp_ms` (milliseconds since the epoch).
    /// `None` for [`Action::Other`], which carries no value to send.
    ///
    /// Archive and mark-read carry a message range whose last message is
    /// taken to be at `timestamp_ms` (in seconds, as whatsmeow does when it
    /// does not know the last message).
    pub fn to_new_mutation(&self, timestamp_ms: i64) -> Option<(Collection, NewMutation)> {
        let mut value = SyncActionValue {
            timestamp: Some(timestamp_ms),
            ..SyncActionValue::default()
        };
        let range = || {
            Some(SyncActionMessageRange {
                last_message_timestamp: Some(timestamp_ms.div_euclid(1000)),
                ..SyncActionMessageRange::default()
            })
        };
        let (collection, index, version) = match self {
            Action::Contact {
                jid,
                full_name,
                first_name,
            } => {
                value.contact_action = Some(ContactAction {
                    full_name: full_name.clone(),
                    first_name: first_name.clone(),
                    ..ContactAction::default()
                });
                let index = vec![CONTACT.to_owned(), jid.to_string()];
                (Collection::CriticalUnblockLow, index, 2)
            }
            Action::Archive { chat, archived } => {
                value.archive_chat_action = Some(ArchiveChatAction {
                    archived: Some(*archived),
                    message_range: range(),
                });
                (Collection::RegularLow, chat_index(ARCHIVE, chat), 3)
            }
            Action::Mute {
                chat,
                muted,
                until_ms,
            } => {
                value.mute_action = Some(MuteAction {
                    muted: Some(*muted),
                    mute_end_timestamp: muted.then(|| until_ms.unwrap_or(-1)),
                    ..MuteAction::default()
                });
                (Collection::RegularHigh, chat_index(MUTE, chat), 2)
            }
            Action::Pin { chat, pinned } => {
                value.pin_action = Some(PinAction {
                    pinned: Some(*pinned),
                });
                (Collection::RegularLow, chat_index(PIN, chat), 5)
            }
            Action::MarkRead { chat, read } => {
                value.mark_chat_as_read_action = Some(MarkChatAsReadAction {
                    read: Some(*read),
                    message_range: range(),
                });
                (Collection::RegularLow, chat_index(MARK_READ, chat), 3)
            }
            Action::Star {
                chat,
                message_id,
                from_me,
                participant,
                starred,
            } => {
                value.star_action = Some(StarAction {
                    starred: Some(*starred),
                });
                let index = vec![
                    STAR.to_owned(),
                    chat.to_string(),
                    message_id.clone(),
                    if *from_me { "1" } else { "0" }.to_owned(),
                    participant
                        .as_ref()
                        .map_or_else(|| "0".to_owned(), Jid::to_string),
                ];
                (Collection::RegularHigh, index, 2)
            }
            Action::PushName { name } => {
                value.push_name_setting = Some(PushNameSetting {
                    name: Some(name.clone()),
                });
                (Collection::CriticalBlock, vec![PUSH_NAME.to_owned()], 1)
            }
            Action::NctSalt { salt: Some(salt) } => {
                value.nct_salt_sync_action = Some(NctSaltSyncAction {
                    salt: Some(salt.clone()),
                });
                (Collection::CriticalBlock, vec![NCT_SALT.to_owned()], 1)
            }
            Action::NctSalt { salt: None } | Action::Other { .. } => return None,
        };
        let mutation = NewMutation {
            operation: Operation::Set,
            index,
            value,
            version,
        };
        Some((collection, mutation))
    }
}

fn chat_index(kind: &str, chat: &Jid) -> Vec<String> {
    vec![kind.to_owned(), chat.to_string()]
}

/// The typed action of a known index with the matching value field.
fn known(index: &[String], value: &SyncActionValue) -> Option<Action> {
    let (kind, args) = index.split_first()?;
    match (kind.as_str(), args) {
        (CONTACT, [jid]) => {
            let contact = value.contact_action.as_ref()?;
            Some(Action::Contact {
                jid: jid.parse().ok()?,
                full_name: contact.full_name.clone(),
                first_name: contact.first_name.clone(),
            })
        }
        (ARCHIVE, [chat]) => Some(Action::Archive {
            chat: chat.parse().ok()?,
            archived: value
                .archive_chat_action
                .as_ref()?
                .archived
                .unwrap_or(false),
        }),
        (MUTE, [chat]) => {
            let mute = value.mute_action.as_ref()?;
            let muted = mute.muted.unwrap_or(false);
            Some(Action::Mute {
                chat: chat.parse().ok()?,
                muted,
                until_ms: mute.mute_end_timestamp.filter(|&t| muted && t > 0),
            })
        }
        (PIN, [chat]) => Some(Action::Pin {
            chat: chat.parse().ok()?,
            pinned: value.pin_action.as_ref()?.pinned.unwrap_or(false),
        }),
        (MARK_READ, [chat]) => Some(Action::MarkRead {
            chat: chat.parse().ok()?,
            read: value
                .mark_chat_as_read_action
                .as_ref()?
                .read
                .unwrap_or(false),
        }),
        (STAR, [chat, message_id, from_me, participant]) => Some(Action::Star {
            chat: chat.parse().ok()?,
            message_id: message_id.clone(),
            from_me: match from_me.as_str() {
                "1" => true,
                "0" => false,
                _ => return None,
            },
            participant: match participant.as_str() {
                "0" | "" => None,
                jid => Some(jid.parse().ok()?),
            },
            starred: value.star_action.as_ref()?.starred.unwrap_or(false),
        }),
        (PUSH_NAME, []) => Some(Action::PushName {
            name: value.push_name_setting.as_ref()?.name.clone()?,
        }),
        (NCT_SALT, []) => Some(Action::NctSalt {
            salt: Some(value.nct_salt_sync_action.as_ref()?.salt.clone()?),
        }),
        _ => None,
    }
}
