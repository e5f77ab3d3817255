//! What a message's content is, as the wire needs to know it: the
//! attributes of the outgoing `<message>` stanza (its `type`, the `edit`
//! kind, the `mediatype` of its `<enc>` nodes), and where its reply and
//! mention context lives.
//!
//! Facts (docs/PROTOCOL-NOTES.md, "Message stanza attributes"): `type` is
//! `reaction` for reactions, `poll` for polls and votes, `media` for
//! attachments, `text` for everything else (protocol messages included).
//! `edit` is `1` for an edit, `7` for a revoke of one's own message and for
//! a reaction removal, `8` for an admin's revoke of someone else's message.
//! Wrappers (view-once, ephemeral, document-with-caption, edit) are looked
//! through.

use crate::proto::Message;
use crate::proto::message::protocol_message::Type as ProtocolType;
use crate::proto::{ContextInfo, MessageKey};

/// The stanza attributes a message needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StanzaAttrs {
    /// `<message type=…>`.
    pub kind: &'static str,
    /// `<enc mediatype=…>` (pairwise nodes of a 1:1 message; the `skmsg`
    /// node of a group message).
    pub media_type: Option<&'static str>,
    /// `<message edit=…>`.
    pub edit: Option<&'static str>,
    /// `<enc decrypt-fail="hide">`: a device that cannot decrypt it shows
    /// no placeholder (edits, revokes, reactions).
    pub hide_decrypt_fail: bool,
    /// `<meta polltype=…/>` beside the `<enc>` nodes: `creation` for a
    /// poll, `vote` for a vote.
    pub poll_type: Option<&'static str>,
}

/// `edit` of a message edit.
pub const EDIT_MESSAGE: &str = "1";
/// `edit` of a revoke of one's own message, or of a reaction removal.
pub const EDIT_SENDER_REVOKE: &str = "7";
/// `edit` of an admin's revoke of someone else's message.
pub const EDIT_ADMIN_REVOKE: &str = "8";

/// The content inside the wrappers that do not change what it is.
pub fn unwrap(message: &Message) -> &Message {
    let inner = [
        message.view_once_message.as_deref(),
        message.view_once_message_v2.as_deref(),
        message.ephemeral_message.as_deref(),
        message.document_with_caption_message.as_deref(),
        message.edited_message.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|w| w.message.as_deref());
    match inner {
        Some(m) => unwrap(m),
        None => message,
    }
}

/// The message a chat shows for `message`: the wrappers that only change
/// how it travels (disappearing chats, a document's caption, a bot
/// invocation, an album's item, a group mention, an animated sticker, a
/// poll v4) are peeled; view-once and edits stay, they mean something else.
/// The outer `messageContextInfo` (a poll's secret) is kept when the inner
/// has none, as whatsmeow's `UnwrapRaw` does.
pub fn transparent(message: &Message) -> std::borrow::Cow<'_, Message> {
    let inner = [
        message.ephemeral_message.as_deref(),
        message.document_with_caption_message.as_deref(),
        message.bot_invoke_message.as_deref(),
        message.associated_child_message.as_deref(),
        message.group_mentioned_message.as_deref(),
        message.lottie_sticker_message.as_deref(),
        message.poll_creation_message_v4.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|w| w.message.as_deref());
    let Some(inner) = inner else {
        return std::borrow::Cow::Borrowed(message);
    };
    let mut peeled = transparent(inner).into_owned();
    if peeled.message_context_info.is_none() {
        peeled
            .message_context_info
            .clone_from(&message.message_context_info);
    }
    std::borrow::Cow::Owned(peeled)
}

/// The stanza attributes for sending `message`.
pub fn stanza_attrs(message: &Message) -> StanzaAttrs {
    let m = unwrap(message);
    let media_type = media_type(m);
    let poll_type = if m.poll_update_message.is_some() {
        Some("vote")
    } else if m.poll_creation_message.is_some()
        || m.poll_creation_message_v2.is_some()
        || m.poll_creation_message_v3.is_some()
    {
        Some("creation")
    } else {
        None
    };
    let kind = if m.reaction_message.is_some() || m.enc_reaction_message.is_some() {
        "reaction"
    } else if poll_type.is_some() {
        "poll"
    } else if media_type.is_some() {
        "media"
    } else {
        "text"
    };
    let edit = edit_attr(m);
    StanzaAttrs {
        kind,
        media_type,
        edit,
        hide_decrypt_fail: edit.is_some() || kind == "reaction",
        poll_type,
    }
}

fn media_type(m: &Message) -> Option<&'static str> {
    if m.extended_text_message
        .as_ref()
        .is_some_and(|e| e.title.is_some())
    {
        return Some("url");
    }
    if m.image_message.is_some() {
        Some("image")
    } else if m.sticker_message.is_some() {
        Some("sticker")
    } else if m.document_message.is_some() {
        Some("document")
    } else if let Some(a) = &m.audio_message {
        Some(if a.ptt == Some(true) { "ptt" } else { "audio" })
    } else if let Some(v) = &m.video_message {
        Some(if v.gif_playback == Some(true) {
            "gif"
        } else {
            "video"
        })
    } else if m.contact_message.is_some() {
        Some("vcard")
    } else if m.contacts_array_message.is_some() {
        Some("contact_array")
    } else {
        None
    }
}

fn edit_attr(m: &Message) -> Option<&'static str> {
    if let Some(p) = &m.protocol_message
        && let Some(key) = &p.key
    {
        return match p.r#type() {
            ProtocolType::Revoke if key.from_me == Some(true) => Some(EDIT_SENDER_REVOKE),
            ProtocolType::Revoke => Some(EDIT_ADMIN_REVOKE),
            ProtocolType::MessageEdit if p.edited_message.is_some() => Some(EDIT_MESSAGE),
            _ => None,
        };
    }
    match &m.reaction_message {
        Some(r) if r.text.as_deref().unwrap_or_default().is_empty() => Some(EDIT_SENDER_REVOKE),
        _ => None,
    }
}

/// What a received message does to an earlier one, if anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<'a> {
    /// A reaction to `key`; an empty `emoji` removes the sender's reaction.
    React {
        /// The target.
        key: &'a MessageKey,
        /// The emoji.
        emoji: &'a str,
    },
    /// The sender's new content for `key`.
    Edit {
        /// The target.
        key: &'a MessageKey,
        /// The new content.
        content: &'a Message,
    },
    /// `key` deleted for everyone.
    Revoke {
        /// The target.
        key: &'a MessageKey,
    },
}

/// The action a received message is, or `None` for ordinary content.
/// Edits come both bare (`protocolMessage` of type `MESSAGE_EDIT`) and
/// wrapped in `editedMessage`.
pub fn action(message: &Message) -> Option<Action<'_>> {
    let m = unwrap(message);
    if let Some(r) = &m.reaction_message {
        return Some(Action::React {
            key: r.key.as_ref()?,
            emoji: r.text.as_deref().unwrap_or_default(),
        });
    }
    let p = m.protocol_message.as_ref()?;
    let key = p.key.as_ref()?;
    match p.r#type() {
        ProtocolType::Revoke => Some(Action::Revoke { key }),
        ProtocolType::MessageEdit => Some(Action::Edit {
            key,
            content: p.edited_message.as_deref()?,
        }),
        _ => None,
    }
}

/// The reply and mention context of a message's content, if it has one.
pub fn context_info(message: &Message) -> Option<&ContextInfo> {
    let m = unwrap(message);
    if let Some(e) = &m.extended_text_message {
        e.context_info.as_deref()
    } else if let Some(i) = &m.image_message {
        i.context_info.as_deref()
    } else if let Some(v) = &m.video_message {
        v.context_info.as_deref()
    } else if let Some(a) = &m.audio_message {
        a.context_info.as_deref()
    } else if let Some(d) = &m.document_message {
        d.context_info.as_deref()
    } else if let Some(s) = &m.sticker_message {
        s.context_info.as_deref()
    } else {
        None
    }
}

/// Sets the context of `message`'s content: a plain `conversation` becomes
/// an `extendedTextMessage` so it can carry one. Returns false for content
/// that has no place for it.
pub fn set_context_info(message: &mut Message, info: ContextInfo) -> bool {
    if let Some(text) = message.conversation.take() {
        message.extended_text_message =
            Some(Box::new(crate::proto::message::ExtendedTextMessage {
                text: Some(text),
                ..Default::default()
            }));
    }
    let info = Some(Box::new(info));
    if let Some(e) = &mut message.extended_text_message {
        e.context_info = info;
    } else if let Some(i) = &mut message.image_message {
        i.context_info = info;
    } else if let Some(v) = &mut message.video_message {
        v.context_info = info;
    } else if let Some(a) = &mut message.audio_message {
        a.context_info = info;
    } else if let Some(d) = &mut message.document_message {
        d.context_info = info;
    } else if let Some(s) = &mut message.sticker_message {
        s.context_info = info;
    } else {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::message::{
        AudioMessage, FutureProofMessage, ImageMessage, PollCreationMessage, PollUpdateMessage,
        ProtocolMessage, ReactionMessage, VideoMessage,
    };

    fn key(from_me: bool) -> MessageKey {
        MessageKey {
            remote_jid: Some("1555@s.whatsapp.net".into()),
            from_me: Some(from_me),
            id: Some("3EB0AA".into()),
            participant: None,
        }
    }

    fn text(s: &str) -> Message {
        Message {
            conversation: Some(s.into()),
            ..Default::default()
        }
    }

    fn protocol(kind: ProtocolType, from_me: bool, edited: Option<Message>) -> Message {
        let mut p = ProtocolMessage {
            key: Some(key(from_me)),
            edited_message: edited.map(Box::new),
            ..Default::default()
        };
        p.set_type(kind);
        Message {
            protocol_message: Some(Box::new(p)),
            ..Default::default()
        }
    }

    fn reaction(emoji: &str) -> Message {
        Message {
            reaction_message: Some(ReactionMessage {
                key: Some(key(false)),
                text: Some(emoji.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn attrs(
        kind: &'static str,
        media: Option<&'static str>,
        edit: Option<&'static str>,
    ) -> StanzaAttrs {
        StanzaAttrs {
            kind,
            media_type: media,
            edit,
            hide_decrypt_fail: edit.is_some() || kind == "reaction",
            poll_type: None,
        }
    }

    #[test]
    fn stanza_attributes_by_kind() {
        assert_eq!(stanza_attrs(&text("hi")), attrs("text", None, None));
        assert_eq!(stanza_attrs(&reaction("👍")), attrs("reaction", None, None));
        assert_eq!(
            stanza_attrs(&reaction("")),
            attrs("reaction", None, Some("7"))
        );
        let image = Message {
            image_message: Some(Box::new(ImageMessage::default())),
            ..Default::default()
        };
        assert_eq!(stanza_attrs(&image), attrs("media", Some("image"), None));
        let ptt = Message {
            audio_message: Some(Box::new(AudioMessage {
                ptt: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(stanza_attrs(&ptt).media_type, Some("ptt"));
        let gif = Message {
            video_message: Some(Box::new(VideoMessage {
                gif_playback: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(stanza_attrs(&gif).media_type, Some("gif"));
        let poll = Message {
            poll_creation_message: Some(Box::new(PollCreationMessage::default())),
            ..Default::default()
        };
        assert_eq!(stanza_attrs(&poll).kind, "poll");
        assert_eq!(stanza_attrs(&poll).poll_type, Some("creation"));
        let vote = Message {
            poll_update_message: Some(PollUpdateMessage::default()),
            ..Default::default()
        };
        assert_eq!(stanza_attrs(&vote).kind, "poll");
        assert_eq!(stanza_attrs(&vote).poll_type, Some("vote"));
        assert_eq!(stanza_attrs(&text("hi")).poll_type, None);
    }

    #[test]
    fn edits_and_revokes() {
        let own_revoke = protocol(ProtocolType::Revoke, true, None);
        assert_eq!(stanza_attrs(&own_revoke), attrs("text", None, Some("7")));
        let admin_revoke = protocol(ProtocolType::Revoke, false, None);
        assert_eq!(stanza_attrs(&admin_revoke).edit, Some("8"));
        let edit = protocol(ProtocolType::MessageEdit, true, Some(text("new")));
        assert_eq!(stanza_attrs(&edit), attrs("text", None, Some("1")));
        // The form current clients send: the edit inside `editedMessage`.
        let wrapped = Message {
            edited_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(edit.clone())),
            })),
            ..Default::default()
        };
        assert_eq!(stanza_attrs(&wrapped), attrs("text", None, Some("1")));
        // An edit without new content is not an edit.
        let empty = protocol(ProtocolType::MessageEdit, true, None);
        assert_eq!(stanza_attrs(&empty).edit, None);
        assert!(matches!(
            action(&wrapped),
            Some(Action::Edit { content, .. }) if content.conversation.as_deref() == Some("new")
        ));
        assert!(matches!(action(&own_revoke), Some(Action::Revoke { .. })));
        assert!(matches!(
            action(&reaction("")),
            Some(Action::React { emoji: "", .. })
        ));
        assert_eq!(action(&text("x")), None);
        assert_eq!(action(&empty), None);
    }

    #[test]
    fn context_info_goes_where_the_content_is() {
        let mut m = text("hello");
        let info = ContextInfo {
            stanza_id: Some("3EB0AA".into()),
            mentioned_jid: vec!["1555@s.whatsapp.net".into()],
            ..Default::default()
        };
        assert!(set_context_info(&mut m, info.clone()));
        assert_eq!(m.conversation, None);
        assert_eq!(
            m.extended_text_message
                .as_ref()
                .and_then(|e| e.text.as_deref()),
            Some("hello")
        );
        assert_eq!(context_info(&m), Some(&info));
        let mut image = Message {
            image_message: Some(Box::new(ImageMessage::default())),
            ..Default::default()
        };
        assert!(set_context_info(&mut image, info.clone()));
        assert_eq!(context_info(&image), Some(&info));
        assert!(!set_context_info(&mut reaction("x"), info));
    }

    #[test]
    fn transparent_peels_transport_wrappers_and_keeps_the_secret() {
        use crate::proto::MessageContextInfo;
        let text = Message {
            conversation: Some("hi".to_owned()),
            ..Default::default()
        };
        let wrap = |m: Message| {
            Some(Box::new(FutureProofMessage {
                message: Some(Box::new(m)),
            }))
        };
        let nested = Message {
            ephemeral_message: wrap(Message {
                bot_invoke_message: wrap(text.clone()),
                ..Default::default()
            }),
            message_context_info: Some(MessageContextInfo {
                message_secret: Some(vec![7; 32]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let peeled = transparent(&nested);
        assert_eq!(peeled.conversation.as_deref(), Some("hi"));
        assert_eq!(
            peeled
                .message_context_info
                .as_ref()
                .and_then(|c| c.message_secret.as_deref()),
            Some(&[7u8; 32][..])
        );
        // View-once and edits mean something else: left alone.
        let view_once = Message {
            view_once_message: wrap(text.clone()),
            ..Default::default()
        };
        assert_eq!(*transparent(&view_once), view_once);
        assert!(matches!(transparent(&text), std::borrow::Cow::Borrowed(_)));
    }
}
