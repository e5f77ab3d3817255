//! Replies, mentions, reactions, edits and revokes: what a phone sends, and
//! what it makes of them when it receives them.

use wa_core::content::{self, Action};
use wa_core::jid::Jid;
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::message::{FutureProofMessage, ProtocolMessage, ReactionMessage};
use wa_core::proto::{ContextInfo, Message, MessageKey};

use super::{Phone, PhoneError, Received};

fn key(chat: &Jid, id: &str, from_me: bool) -> MessageKey {
    MessageKey {
        remote_jid: Some(chat.to_string()),
        from_me: Some(from_me),
        id: Some(id.to_owned()),
        participant: None,
    }
}

impl Phone {
    /// Reacts with `emoji` (empty: removes the reaction) to message `id` in
    /// the 1:1 chat with `to`; `from_me` says whether this phone sent it.
    pub async fn send_reaction(
        &self,
        to: &str,
        id: &str,
        from_me: bool,
        emoji: &str,
    ) -> Result<String, PhoneError> {
        let message = Message {
            reaction_message: Some(ReactionMessage {
                key: Some(key(&Jid::user_jid(to), id, from_me)),
                text: Some(emoji.to_owned()),
                grouping_key: None,
                sender_timestamp_ms: Some(0),
            }),
            ..Default::default()
        };
        self.send_message(to, message).await
    }

    /// Edits this phone's message `id` to `to` into `text`, in the form
    /// current clients send (the edit wrapped in `editedMessage`).
    pub async fn send_edit(&self, to: &str, id: &str, text: &str) -> Result<String, PhoneError> {
        let mut edit = ProtocolMessage {
            key: Some(key(&Jid::user_jid(to), id, true)),
            edited_message: Some(Box::new(Message {
                conversation: Some(text.to_owned()),
                ..Default::default()
            })),
            ..Default::default()
        };
        edit.set_type(ProtocolType::MessageEdit);
        let message = Message {
            edited_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(Message {
                    protocol_message: Some(Box::new(edit)),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        };
        self.send_message(to, message).await
    }

    /// Deletes this phone's message `id` to `to` for everyone.
    pub async fn send_revoke(&self, to: &str, id: &str) -> Result<String, PhoneError> {
        let mut revoke = ProtocolMessage {
            key: Some(key(&Jid::user_jid(to), id, true)),
            ..Default::default()
        };
        revoke.set_type(ProtocolType::Revoke);
        let message = Message {
            protocol_message: Some(Box::new(revoke)),
            ..Default::default()
        };
        self.send_message(to, message).await
    }

    /// Sends `text` to `to` as a reply to message `quoted_id` from
    /// `quoted_sender`, mentioning `mentions` (the text should hold
    /// `@<number>` for each).
    pub async fn send_rich_text(
        &self,
        to: &str,
        text: &str,
        quoted: Option<(&str, &Jid)>,
        mentions: &[Jid],
    ) -> Result<String, PhoneError> {
        let mut message = Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        let info = ContextInfo {
            stanza_id: quoted.map(|(id, _)| id.to_owned()),
            participant: quoted.map(|(_, sender)| sender.to_non_ad().to_string()),
            quoted_message: quoted.map(|_| {
                Box::new(Message {
                    conversation: Some(String::new()),
                    ..Default::default()
                })
            }),
            mentioned_jid: mentions.iter().map(Jid::to_string).collect(),
            ..Default::default()
        };
        content::set_context_info(&mut message, info);
        self.send_message(to, message).await
    }
}

impl Received {
    /// A reaction: (target message id, emoji; empty for a removal).
    pub fn reaction(&self) -> Option<(String, String)> {
        match content::action(&self.message)? {
            Action::React { key, emoji } => Some((key.id.clone()?, emoji.to_owned())),
            _ => None,
        }
    }

    /// An edit: (target message id, new text).
    pub fn edit(&self) -> Option<(String, String)> {
        match content::action(&self.message)? {
            Action::Edit { key, content } => {
                let text = content.conversation.clone().or_else(|| {
                    content
                        .extended_text_message
                        .as_ref()
                        .and_then(|e| e.text.clone())
                })?;
                Some((key.id.clone()?, text))
            }
            _ => None,
        }
    }

    /// A revoke: the deleted message's id.
    pub fn revoke(&self) -> Option<String> {
        match content::action(&self.message)? {
            Action::Revoke { key } => key.id.clone(),
            _ => None,
        }
    }

    /// A reply: (quoted message id, its sender) from the context.
    pub fn reply_to(&self) -> Option<(String, Option<String>)> {
        let info = content::context_info(&self.message)?;
        Some((info.stanza_id.clone()?, info.participant.clone()))
    }

    /// The JIDs the message mentions.
    pub fn mentions(&self) -> Vec<String> {
        content::context_info(&self.message)
            .map(|i| i.mentioned_jid.clone())
            .unwrap_or_default()
    }
}
