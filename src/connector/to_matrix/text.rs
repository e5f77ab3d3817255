//! A WhatsApp message without an attachment as a Matrix message: its text
//! (with its marks as HTML), a structured kind shown readably, or a notice
//! naming what the bridge cannot show yet.

use ruma::events::room::message::RoomMessageEventContent;
use serde_json::Value;
use wa_core::proto::Message as WaMessage;

use super::markup::whatsapp_to_html;
use super::{json_of, structured};

/// The content of message `m` without an attachment, whose text (if it has
/// any) is `text`.
pub(in crate::connector) fn text_content(text: Option<&str>, m: &WaMessage) -> Value {
    let content = match text {
        Some(text) => match whatsapp_to_html(text) {
            Some(html) => RoomMessageEventContent::text_html(text, html),
            None => RoomMessageEventContent::text_plain(text),
        },
        None => {
            if let Some(content) = structured::content(m) {
                return content;
            }
            RoomMessageEventContent::notice_plain(format!(
                "A {} the bridge cannot show yet: open WhatsApp on your phone to see it.",
                message_kind(m)
            ))
        }
    };
    json_of(&content)
}

/// What `m` is, as a notice names it.
pub(in crate::connector) fn message_kind(m: &WaMessage) -> &'static str {
    let kinds: [(bool, &'static str); 14] = [
        (m.call.is_some(), "call"),
        (m.image_message.is_some(), "image"),
        (m.video_message.is_some(), "video"),
        (m.audio_message.is_some(), "audio"),
        (m.document_message.is_some(), "document"),
        (m.sticker_message.is_some(), "sticker"),
        (m.location_message.is_some(), "location"),
        (m.contact_message.is_some(), "contact"),
        (m.reaction_message.is_some(), "reaction"),
        (m.poll_creation_message.is_some(), "poll"),
        (m.protocol_message.is_some(), "protocol"),
        (m.edited_message.is_some(), "edit"),
        (m.view_once_message.is_some(), "view-once"),
        (m.comment_message.is_some(), "comment"),
    ];
    kinds
        .into_iter()
        .find(|(set, _)| *set)
        .map_or("message", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_carries_its_marks_as_html_and_the_rest_is_named() {
        let plain = WaMessage::default();
        assert_eq!(
            text_content(Some("hi"), &plain),
            json!({"msgtype": "m.text", "body": "hi"})
        );
        assert_eq!(
            text_content(Some("*hi*"), &plain),
            json!({
                "msgtype": "m.text",
                "body": "*hi*",
                "format": "org.matrix.custom.html",
                "formatted_body": "<strong>hi</strong>",
            })
        );
        let call = WaMessage {
            call: Some(Default::default()),
            ..Default::default()
        };
        let notice = text_content(None, &call);
        assert_eq!(notice["msgtype"], "m.notice");
        assert!(
            notice["body"]
                .as_str()
                .unwrap()
                .starts_with("A call the bridge cannot show yet")
        );
    }
}
