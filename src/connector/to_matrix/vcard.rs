//! A WhatsApp contact card (`contactMessage`) as a Matrix file: the vCard
//! itself (`NAME.vcf`, `text/vcard`) with the readable card as its caption
//! (the name and numbers, as the other structured kinds show them), so a
//! Matrix client can both read it and save it to an address book. A list
//! of cards (`contactsArrayMessage`) stays text.

use wa_core::proto::Message as WaMessage;

/// A vCard to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::connector) struct Card {
    /// `NAME.vcf`.
    pub filename: String,
    /// The vCard, as the message carries it.
    pub vcard: Vec<u8>,
    /// The card as text: the caption.
    pub caption: String,
}

/// The largest vCard attached as a file; a larger one is only text.
const MAX_VCARD: usize = 64 * 1024;

/// The card `m` carries, if it is one contact with a vCard.
pub(in crate::connector) fn card(m: &WaMessage) -> Option<Card> {
    let c = m.contact_message.as_ref()?;
    let vcard = c.vcard.as_deref().filter(|v| !v.trim().is_empty())?;
    if vcard.len() > MAX_VCARD {
        return None;
    }
    let name = c
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("contact");
    // A name that is also a file name: no path separators or controls.
    let safe: String = name
        .chars()
        .map(|ch| {
            if ch == '/' || ch == '\\' || ch.is_control() {
                '_'
            } else {
                ch
            }
        })
        .take(64)
        .collect();
    Some(Card {
        filename: format!("{safe}.vcf"),
        vcard: vcard.as_bytes().to_vec(),
        caption: super::structured::contact_text(c),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::proto::message::ContactMessage;

    fn contact(name: Option<&str>, vcard: &str) -> WaMessage {
        WaMessage {
            contact_message: Some(Box::new(ContactMessage {
                display_name: name.map(str::to_owned),
                vcard: Some(vcard.to_owned()),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_card_is_its_vcard_named_after_the_contact_with_the_text_as_caption() {
        let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nTEL;type=CELL:+1 555 0100\nEND:VCARD";
        let c = card(&contact(Some("Ann/B"), vcard)).unwrap();
        assert_eq!(c.filename, "Ann_B.vcf");
        assert_eq!(c.vcard, vcard.as_bytes());
        assert!(c.caption.contains("Ann/B") && c.caption.contains("+1 555 0100"));
        assert_eq!(card(&contact(None, vcard)).unwrap().filename, "contact.vcf");
        assert_eq!(
            card(&contact(Some("Ann"), "  ")),
            None,
            "no vCard: text only"
        );
        assert_eq!(card(&WaMessage::default()), None);
    }
}
