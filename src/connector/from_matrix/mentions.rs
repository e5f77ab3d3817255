//! Matrix pills as WhatsApp mentions: the users a message's pills link to,
//! and each pill of a WhatsApp user written as WhatsApp writes a mention,
//! `@<number>`.

/// The Matrix users a message's pills link to, in order.
pub(in crate::connector) fn pills(html: &str) -> Vec<String> {
    const PREFIX: &str = "https://matrix.to/#/";
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(PREFIX) {
        rest = &rest[at + PREFIX.len()..];
        let end = rest.find(['"', '\'', '?', '>']).unwrap_or(rest.len());
        let target = rest[..end].replace("%40", "@").replace("%3A", ":");
        if target.starts_with('@') && !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// Replaces each `<a href="https://matrix.to/#/MXID">…</a>` whose MXID is
/// in `numbers` with `@<number>`, as WhatsApp writes a mention.
pub(in crate::connector) fn pills_to_numbers(html: &str, numbers: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        let Some(close) = rest[start..].find("</a>") else {
            break;
        };
        let anchor = &rest[start..start + close + "</a>".len()];
        let found = pills(anchor)
            .first()
            .and_then(|mxid| numbers.iter().find(|(m, _)| m == mxid));
        out.push_str(&rest[..start]);
        match found {
            Some((_, number)) => out.push_str(&format!("@{number}")),
            None => out.push_str(anchor),
        }
        rest = &rest[start + anchor.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pills_are_found_and_turned_into_numbers() {
        let html = "hi <a href=\"https://matrix.to/#/@whatsapp_155:x\">Bob</a> and \
                    <a href='https://matrix.to/#/%40carol%3Ax'>Carol</a> \
                    <a href=\"https://example.org\">link</a>";
        assert_eq!(pills(html), ["@whatsapp_155:x", "@carol:x"]);
        let numbers = [("@whatsapp_155:x".to_owned(), "155".to_owned())];
        assert_eq!(
            pills_to_numbers(html, &numbers),
            "hi @155 and <a href='https://matrix.to/#/%40carol%3Ax'>Carol</a> \
             <a href=\"https://example.org\">link</a>"
        );
        assert_eq!(
            pills("<a href=\"https://matrix.to/#/"),
            Vec::<String>::new()
        );
        assert_eq!(
            pills_to_numbers("<a href=broken", &numbers),
            "<a href=broken"
        );
    }
}
