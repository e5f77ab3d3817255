//! A vCard file sent from Matrix as a WhatsApp contact card
//! (`contactMessage`: `displayName` and the vCard), as the phone sends a
//! shared contact; other files stay documents.

use wa_core::proto::Message as WaMessage;
use wa_core::proto::message::ContactMessage;

use super::media::Outgoing;

/// The largest file read as a contact card.
const MAX_VCARD: usize = 64 * 1024;

/// Whether the attachment says it is a vCard (its mimetype, or a `.vcf`
/// name).
pub(in crate::connector) fn is_vcard(o: &Outgoing) -> bool {
    let mime = o.mimetype.to_ascii_lowercase();
    mime == "text/vcard"
        || mime == "text/x-vcard"
        || o.filename.to_ascii_lowercase().ends_with(".vcf")
}

/// The contact card `data` (a vCard file named `filename`) becomes; `None`
/// when it is not one vCard in UTF-8 (it then goes as a document).
pub(in crate::connector) fn contact_message(data: &[u8], filename: &str) -> Option<WaMessage> {
    if data.len() > MAX_VCARD {
        return None;
    }
    let text = std::str::from_utf8(data).ok()?;
    let cards = text
        .lines()
        .filter(|l| l.trim().eq_ignore_ascii_case("BEGIN:VCARD"))
        .count();
    if cards != 1 {
        return None;
    }
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            let key = key.split(';').next()?.trim();
            (key.eq_ignore_ascii_case(name) && !value.trim().is_empty())
                .then(|| value.trim().to_owned())
        })
    };
    // FN is the name to show; N (family;given;...) if there is none.
    let name = field("FN")
        .or_else(|| {
            field("N").map(|n| {
                let parts: Vec<&str> = n.split(';').filter(|p| !p.is_empty()).collect();
                parts.iter().rev().copied().collect::<Vec<_>>().join(" ")
            })
        })
        .unwrap_or_else(|| filename.trim_end_matches(".vcf").to_owned());
    Some(WaMessage {
        contact_message: Some(Box::new(ContactMessage {
            display_name: Some(name),
            vcard: Some(text.to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcard_file_is_a_contact_named_as_it_names_itself() {
        let vcard =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nTEL:+1\r\nEND:VCARD\r\n";
        let m = contact_message(vcard.as_bytes(), "x.vcf").unwrap();
        let c = m.contact_message.unwrap();
        assert_eq!(c.display_name.as_deref(), Some("Jane Doe"));
        assert_eq!(c.vcard.as_deref(), Some(vcard));
        let no_fn = "BEGIN:VCARD\nN:Doe;Jane\nEND:VCARD";
        let c = contact_message(no_fn.as_bytes(), "x.vcf")
            .unwrap()
            .contact_message
            .unwrap();
        assert_eq!(c.display_name.as_deref(), Some("Jane Doe"));
        let bare = "BEGIN:VCARD\nEND:VCARD";
        let c = contact_message(bare.as_bytes(), "Pat.vcf")
            .unwrap()
            .contact_message
            .unwrap();
        assert_eq!(c.display_name.as_deref(), Some("Pat"));
        // Two cards, not UTF-8, not a vCard: a document.
        let two = format!("{bare}\n{bare}");
        assert!(contact_message(two.as_bytes(), "x.vcf").is_none());
        assert!(contact_message(&[0xff, 0xfe], "x.vcf").is_none());
        assert!(contact_message(b"hello", "x.vcf").is_none());
    }
}
