//! WhatsApp messages with structure but no attachment or plain text,
//! shown readably in Matrix: locations, contact cards, polls, group invites,
//! events, view-once placeholders, disappearing-message timer changes, and
//! notices for what the chat shows without content of its own (pins, kept
//! messages, shared history, status mentions, encrypted add-ons).

use ruma::events::room::message::{
    LocationMessageEventContent, MessageType, RoomMessageEventContent,
};
use serde::Serialize;

use super::{json_of, merge};
use serde_json::Value;
use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::message::{ContactMessage, PollCreationMessage};

/// The `m.room.message` content for `m`, if it is one of these kinds.
pub(in crate::connector) fn content(m: &WaMessage) -> Option<Value> {
    if let Some(l) = &m.location_message {
        return Some(location(
            l.degrees_latitude?,
            l.degrees_longitude?,
            l.name.as_deref(),
            l.address.as_deref(),
            false,
        ));
    }
    if let Some(l) = &m.live_location_message {
        return Some(location(
            l.degrees_latitude?,
            l.degrees_longitude?,
            l.caption.as_deref(),
            None,
            true,
        ));
    }
    if let Some(c) = &m.contact_message {
        return Some(text(&contact_lines(c).join("\n")));
    }
    if let Some(a) = &m.contacts_array_message {
        let lines: Vec<String> = a.contacts.iter().flat_map(contact_lines).collect();
        return Some(text(&lines.join("\n")));
    }
    let poll = [
        &m.poll_creation_message,
        &m.poll_creation_message_v2,
        &m.poll_creation_message_v3,
        &m.poll_creation_message_v5,
        &m.poll_creation_message_v6,
    ]
    .into_iter()
    .find_map(Option::as_ref);
    if let Some(p) = poll {
        return Some(poll_content(p));
    }
    if let Some(g) = &m.group_invite_message {
        let name = g.group_name.as_deref().unwrap_or("a group");
        let mut body = format!("Invitation to join {name}");
        if let Some(caption) = g.caption.as_deref().filter(|c| !c.is_empty()) {
            body = format!("{body}: {caption}");
        }
        return Some(text(&body));
    }
    if let Some(a) = &m.album_message {
        return Some(notice(&album(
            a.expected_image_count.unwrap_or(0),
            a.expected_video_count.unwrap_or(0),
        )));
    }
    if let Some(e) = &m.event_message {
        return Some(event(e));
    }
    if let Some(body) = chat_notice(m) {
        return Some(notice(body));
    }
    if m.view_once_message.is_some()
        || m.view_once_message_v2.is_some()
        || m.view_once_message_v2_extension.is_some()
    {
        // WhatsApp keeps view-once media to the phone.
        return Some(notice("View-once message: open it on your phone."));
    }
    if let Some(p) = &m.protocol_message
        && p.r#type == Some(ProtocolType::EphemeralSetting as i32)
    {
        return Some(notice(&timer_changed(p.ephemeral_expiration.unwrap_or(0))));
    }
    None
}

fn text(body: &str) -> Value {
    json_of(&RoomMessageEventContent::text_plain(body))
}

fn notice(body: &str) -> Value {
    json_of(&RoomMessageEventContent::notice_plain(body))
}

/// A location's extensible-event fields beside `geo_uri`, in the forms
/// clients with a map read (MSC3488, and MSC1767's plain-text fallback).
#[derive(Debug, Serialize)]
struct LocationExtras<'a> {
    #[serde(rename = "org.matrix.msc3488.location")]
    location: LocationBlock<'a>,
    #[serde(rename = "org.matrix.msc1767.text")]
    text: &'a str,
}

/// MSC3488's location block.
#[derive(Debug, Serialize)]
struct LocationBlock<'a> {
    uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

fn location(lat: f64, long: f64, name: Option<&str>, address: Option<&str>, live: bool) -> Value {
    let geo = format!("geo:{lat},{long}");
    let label = [name, address]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let what = if live { "Live location" } else { "Location" };
    let body = if label.is_empty() {
        format!("{what}: {geo}")
    } else {
        format!("{what}: {label} ({geo})")
    };
    let location = LocationMessageEventContent::new(body.clone(), geo.clone());
    let mut content = json_of(&RoomMessageEventContent::new(MessageType::Location(
        location,
    )));
    let extras = LocationExtras {
        location: LocationBlock {
            uri: &geo,
            description: Some(label.as_str()).filter(|l| !l.is_empty()),
        },
        text: &body,
    };
    merge(&mut content, &extras);
    content
}

/// A contact card as text (see [`contact_lines`]).
pub(in crate::connector) fn contact_text(c: &ContactMessage) -> String {
    contact_lines(c).join("\n")
}

/// "Contact: name" and its phone numbers, read from the vCard's TEL lines.
fn contact_lines(c: &ContactMessage) -> Vec<String> {
    let mut lines = vec![format!(
        "Contact: {}",
        c.display_name.as_deref().unwrap_or("(no name)")
    )];
    for line in c.vcard.as_deref().unwrap_or_default().lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.to_ascii_uppercase().starts_with("TEL") && !value.trim().is_empty() {
            lines.push(format!("  {}", value.trim()));
        }
    }
    lines
}

/// What the phone shows for messages that point at another one or at
/// something only the phone has.
fn chat_notice(m: &WaMessage) -> Option<&'static str> {
    use wa_core::proto::KeepType;
    use wa_core::proto::message::pin_in_chat_message::Type as PinType;
    use wa_core::proto::message::secret_encrypted_message::SecretEncType;
    if let Some(p) = &m.pin_in_chat_message {
        return Some(match p.r#type() {
            PinType::UnpinForAll => "Unpinned a message.",
            _ => "Pinned a message.",
        });
    }
    if let Some(k) = &m.keep_in_chat_message {
        return Some(match k.keep_type() {
            KeepType::UndoKeepForAll => "Let a kept message disappear again.",
            _ => "Kept a message in this disappearing chat.",
        });
    }
    if m.message_history_notice.is_some() {
        return Some("Shared recent message history with new members.");
    }
    if m.status_mention_message.is_some() || m.group_status_mention_message.is_some() {
        return Some("Mentioned this chat in a status: open WhatsApp on your phone to see it.");
    }
    if let Some(secret) = &m.secret_encrypted_message {
        return Some(match secret.secret_enc_type() {
            SecretEncType::MessageEdit => {
                "Edited a message (the edit could not be read here: see it on your phone)."
            }
            SecretEncType::EventEdit => "Edited an event (see the change on your phone).",
            SecretEncType::PollEdit | SecretEncType::PollAddOption => {
                "Changed a poll (see the change on your phone)."
            }
            _ => "Changed an earlier message (see it on your phone).",
        });
    }
    None
}

/// The head of an album; its photos and videos follow as their own
/// messages (`associatedChildMessage`).
fn album(images: u32, videos: u32) -> String {
    let count = |n: u32, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    let parts: Vec<String> = [
        count(images, "photo", "photos"),
        count(videos, "video", "videos"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "Sent an album:".to_owned()
    } else {
        format!("Sent an album of {}:", parts.join(" and "))
    }
}

/// An event: its name, time, place and description.
fn event(e: &wa_core::proto::message::EventMessage) -> Value {
    let name = e.name.as_deref().unwrap_or("(no name)");
    if e.is_canceled == Some(true) {
        return notice(&format!("Event canceled: {name}"));
    }
    let mut lines = vec![format!("Event: {name}")];
    if let Some(start) = e.start_time.filter(|t| *t > 0) {
        let mut when = format!("When: {}", utc(start));
        if let Some(end) = e.end_time.filter(|t| *t > start) {
            when.push_str(&format!(" to {}", utc(end)));
        }
        lines.push(when);
    }
    if let Some(l) = &e.location {
        let place = [l.name.as_deref(), l.address.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        if !place.is_empty() {
            lines.push(format!("Where: {place}"));
        }
    }
    if let Some(link) = e.join_link.as_deref().filter(|l| !l.is_empty()) {
        lines.push(format!("Call link: {link}"));
    }
    if let Some(d) = e.description.as_deref().filter(|d| !d.is_empty()) {
        lines.push(d.to_owned());
    }
    text(&lines.join("\n"))
}

/// `2026-12-06 18:30 UTC` for unix seconds.
fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

fn poll_content(p: &PollCreationMessage) -> Value {
    let question = p.name.as_deref().unwrap_or("(no question)");
    let options: Vec<&str> = p
        .options
        .iter()
        .filter_map(|o| o.option_name.as_deref())
        .collect();
    let choose = match p.selectable_options_count.unwrap_or(0) {
        0 => "any number of options".to_owned(),
        1 => "one option".to_owned(),
        n => format!("up to {n} options"),
    };
    let mut body = format!("Poll: {question} (choose {choose})");
    let mut html = format!(
        "<p>Poll: <strong>{}</strong> (choose {choose})</p><ol>",
        esc(question)
    );
    for (i, o) in options.iter().enumerate() {
        body.push_str(&format!("\n{}. {o}", i + 1));
        html.push_str(&format!("<li>{}</li>", esc(o)));
    }
    html.push_str("</ol>");
    json_of(&RoomMessageEventContent::text_html(body, html))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a chat's new disappearing-messages timer (seconds; 0: off) reads.
pub(in crate::connector) fn timer_changed(seconds: u32) -> String {
    match seconds {
        0 => "Disappearing messages were turned off.".to_owned(),
        s => format!("Disappearing messages were turned on: {}.", duration(s)),
    }
}

fn duration(seconds: u32) -> String {
    match seconds {
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use wa_core::proto::message::poll_creation_message::Option as PollOption;
    use wa_core::proto::message::{
        ContactsArrayMessage, FutureProofMessage, LocationMessage, ProtocolMessage,
    };

    #[test]
    fn location_has_a_geo_uri() {
        let m = WaMessage {
            location_message: Some(Box::new(LocationMessage {
                degrees_latitude: Some(52.5),
                degrees_longitude: Some(13.25),
                name: Some("Cafe".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let c = content(&m).unwrap();
        assert_eq!(c["msgtype"], "m.location");
        assert_eq!(c["geo_uri"], "geo:52.5,13.25");
        assert_eq!(c["body"], "Location: Cafe (geo:52.5,13.25)");
        assert_eq!(
            c["org.matrix.msc3488.location"],
            serde_json::json!({"uri": "geo:52.5,13.25", "description": "Cafe"})
        );
        assert_eq!(c["org.matrix.msc1767.text"], c["body"]);
        let no_coords = WaMessage {
            location_message: Some(Box::new(LocationMessage::default())),
            ..Default::default()
        };
        assert_eq!(content(&no_coords), None, "no coordinates, no location");
    }

    #[test]
    fn contacts_show_names_and_numbers() {
        let card = |name: &str, tel: &str| ContactMessage {
            display_name: Some(name.into()),
            vcard: Some(format!(
                "BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nTEL;type=CELL;waid=1:{tel}\nEND:VCARD"
            )),
            ..Default::default()
        };
        let m = WaMessage {
            contacts_array_message: Some(Box::new(ContactsArrayMessage {
                contacts: vec![card("Ann", "+1 555 0100"), card("Ben", "+1 555 0101")],
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            content(&m).unwrap()["body"],
            "Contact: Ann\n  +1 555 0100\nContact: Ben\n  +1 555 0101"
        );
    }

    #[test]
    fn poll_lists_its_options_escaped() {
        let opt = |s: &str| PollOption {
            option_name: Some(s.into()),
            ..Default::default()
        };
        let m = WaMessage {
            poll_creation_message_v3: Some(Box::new(PollCreationMessage {
                name: Some("Lunch <today>?".into()),
                options: vec![opt("Pizza"), opt("Soup & bread")],
                selectable_options_count: Some(1),
                ..Default::default()
            })),
            ..Default::default()
        };
        let c = content(&m).unwrap();
        assert_eq!(
            c["body"],
            "Poll: Lunch <today>? (choose one option)\n1. Pizza\n2. Soup & bread"
        );
        let html = c["formatted_body"].as_str().unwrap();
        assert!(html.contains("Lunch &lt;today&gt;?"), "{html}");
        assert!(html.contains("<li>Soup &amp; bread</li>"), "{html}");
    }

    #[test]
    fn view_once_and_timer_are_notices() {
        let m = WaMessage {
            view_once_message_v2: Some(Box::new(FutureProofMessage::default())),
            ..Default::default()
        };
        assert_eq!(content(&m).unwrap()["msgtype"], "m.notice");
        let timer = |s: u32| WaMessage {
            protocol_message: Some(Box::new(ProtocolMessage {
                r#type: Some(ProtocolType::EphemeralSetting as i32),
                ephemeral_expiration: Some(s),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            content(&timer(604_800)).unwrap()["body"],
            "Disappearing messages were turned on: 7 days."
        );
        assert_eq!(
            content(&timer(0)).unwrap()["body"],
            "Disappearing messages were turned off."
        );
        assert_eq!(content(&WaMessage::default()), None);
    }

    #[test]
    fn events_pins_and_encrypted_add_ons_read_as_the_phone_shows_them() {
        use wa_core::proto::message::secret_encrypted_message::SecretEncType;
        use wa_core::proto::message::{
            EventMessage, LocationMessage, PinInChatMessage, SecretEncryptedMessage,
        };
        let event = WaMessage {
            event_message: Some(Box::new(EventMessage {
                name: Some("Dinner".to_owned()),
                description: Some("Bring <cake>".to_owned()),
                start_time: Some(1_796_580_000),
                end_time: Some(1_796_587_200),
                location: Some(Box::new(LocationMessage {
                    name: Some("Luigi's".to_owned()),
                    ..Default::default()
                })),
                ..Default::default()
            })),
            ..Default::default()
        };
        let c = content(&event).unwrap();
        assert_eq!(c["msgtype"], "m.text");
        assert_eq!(
            c["body"],
            "Event: Dinner\nWhen: 2026-12-06 18:00 UTC to 2026-12-06 20:00 UTC\n\
             Where: Luigi's\nBring <cake>"
        );
        let canceled = WaMessage {
            event_message: Some(Box::new(EventMessage {
                name: Some("Dinner".to_owned()),
                is_canceled: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            content(&canceled).unwrap()["body"],
            "Event canceled: Dinner"
        );

        let pin = |t| WaMessage {
            pin_in_chat_message: Some(PinInChatMessage {
                r#type: Some(t),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(content(&pin(1)).unwrap()["body"], "Pinned a message.");
        assert_eq!(content(&pin(2)).unwrap()["body"], "Unpinned a message.");
        let edit = WaMessage {
            secret_encrypted_message: Some(SecretEncryptedMessage {
                secret_enc_type: Some(SecretEncType::MessageEdit as i32),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = content(&edit).unwrap();
        assert_eq!(c["msgtype"], "m.notice");
        assert!(c["body"].as_str().unwrap().starts_with("Edited a message"));
    }

    #[test]
    fn an_album_head_counts_what_follows() {
        assert_eq!(album(3, 0), "Sent an album of 3 photos:");
        assert_eq!(album(1, 1), "Sent an album of 1 photo and 1 video:");
        assert_eq!(album(0, 0), "Sent an album:");
    }

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59 UTC");
        assert_eq!(utc(1_796_580_000), "2026-12-06 18:00 UTC");
    }
}
