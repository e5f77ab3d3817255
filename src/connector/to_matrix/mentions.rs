//! WhatsApp mentions as Matrix pills: each `@<number>` of a mentioned
//! person in a message's HTML becomes a link to their Matrix user.

use std::collections::HashMap;

pub(in crate::connector) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `html` with each `@<number>` of a mentioned person (`people`: number ->
/// (Matrix id, name)) made a pill, in one pass: text inside tags and inside
/// links stays as it is, and a number must end where the digits end.
pub(in crate::connector) fn with_pills(
    html: &str,
    people: &HashMap<String, (String, String)>,
) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut in_link = 0usize;
    while let Some(at) = rest.find(['<', '@']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |e| e + 1);
            let tag = &rest[..end];
            let lower = tag.to_ascii_lowercase();
            if lower.starts_with("<a ") || lower == "<a>" {
                in_link += 1;
            } else if lower.starts_with("</a") {
                in_link = in_link.saturating_sub(1);
            }
            out.push_str(tag);
            rest = &rest[end..];
            continue;
        }
        let digits = rest[1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len() - 1, |e| e);
        let number = &rest[1..1 + digits];
        match people.get(number).filter(|_| in_link == 0 && digits > 0) {
            Some((mxid, name)) => {
                out.push_str("<a href=\"https://matrix.to/#/");
                out.push_str(&escape_html(&matrix_to(mxid)));
                out.push_str("\">");
                out.push_str(&escape_html(name));
                out.push_str("</a>");
                rest = &rest[1 + digits..];
            }
            None => {
                out.push('@');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A Matrix id as a matrix.to fragment: characters outside the id grammar's
/// plain ones percent-encoded.
pub(in crate::connector) fn matrix_to(mxid: &str) -> String {
    let mut out = String::with_capacity(mxid.len());
    for b in mxid.bytes() {
        if b.is_ascii_alphanumeric() || b"@:._=/+-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(list: &[(&str, &str, &str)]) -> HashMap<String, (String, String)> {
        list.iter()
            .map(|(n, m, name)| ((*n).to_owned(), ((*m).to_owned(), (*name).to_owned())))
            .collect()
    }

    #[test]
    fn mentions_become_pills_once_outside_links_and_tags() {
        let bob = people(&[("155", "@whatsapp_155:x", "Bob <b>")]);
        assert_eq!(
            with_pills("hi @155, @1550 and @15", &bob),
            "hi <a href=\"https://matrix.to/#/@whatsapp_155:x\">Bob &lt;b&gt;</a>, @1550 and @15"
        );
        // Inside a link or a tag's attribute it stays; a name holding a
        // number is not replaced again.
        let both = people(&[
            ("155", "@whatsapp_155:x", "@166"),
            ("166", "@whatsapp_166:x", "Carol"),
        ]);
        let html = "<a href=\"mailto:x@155\">mail @155</a> @155 @166";
        assert_eq!(
            with_pills(html, &both),
            "<a href=\"mailto:x@155\">mail @155</a> \
             <a href=\"https://matrix.to/#/@whatsapp_155:x\">@166</a> \
             <a href=\"https://matrix.to/#/@whatsapp_166:x\">Carol</a>"
        );
        // An id with odd characters cannot break out of the attribute.
        let odd = people(&[("1", "@a\"b<:x", "A")]);
        assert_eq!(
            with_pills("@1", &odd),
            "<a href=\"https://matrix.to/#/@a%22b%3C:x\">A</a>"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b>&\"</b>"), "&lt;b&gt;&amp;&quot;&lt;/b&gt;");
    }
}
