//! The WhatsApp text of a Matrix message: its HTML (text, notice, emote,
//! or a caption) in WhatsApp's marks, else its plain body.

use ruma::events::room::message::{MessageFormat, MessageType};

/// The HTML of a message's text or caption, when it has some.
pub(in crate::connector) fn html_of(msgtype: &MessageType) -> Option<&str> {
    let formatted = match msgtype {
        MessageType::Text(t) => t.formatted.as_ref(),
        MessageType::Notice(n) => n.formatted.as_ref(),
        MessageType::Emote(e) => e.formatted.as_ref(),
        MessageType::Image(i) => i.formatted.as_ref(),
        MessageType::Video(v) => v.formatted.as_ref(),
        MessageType::Audio(a) => a.formatted.as_ref(),
        MessageType::File(f) => f.formatted.as_ref(),
        _ => None,
    }?;
    (formatted.format == MessageFormat::Html).then_some(formatted.body.as_str())
}

/// The WhatsApp text of a text message: its HTML turned into WhatsApp's
/// marks, else its plain body.
pub(in crate::connector) fn whatsapp_text(msgtype: &MessageType) -> String {
    match html_of(msgtype) {
        Some(html) => crate::connector::from_matrix::markup::html_to_whatsapp(html),
        None => msgtype.body().to_owned(),
    }
}
