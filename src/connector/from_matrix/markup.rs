//! Matrix HTML into WhatsApp text markup: `<strong>`, `<em>`, `<del>`,
//! `<code>` and `<pre><code>` become `*bold*`, `_italic_`, `~strike~`,
//! `` `inline` `` and ```` ```code``` ````; line breaks, paragraphs and list
//! items become lines; a reply fallback (`<mx-reply>`) is dropped. The
//! other way: `to_matrix/markup.rs`.

/// WhatsApp text for a Matrix message: `formatted_body` (HTML) when given,
/// else the plain body.
pub(in crate::connector) fn html_to_whatsapp(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut in_pre = false;
    while let Some(lt) = rest.find('<') {
        out.push_str(&unescape(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            out.push_str(&unescape(&rest[lt..]));
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim();
        let (closing, name) = match tag.strip_prefix('/') {
            Some(n) => (true, n),
            None => (false, tag),
        };
        let name = name
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "strong" | "b" => out.push('*'),
            "em" | "i" => out.push('_'),
            "del" | "s" | "strike" => out.push('~'),
            "pre" => {
                in_pre = !closing;
                out.push_str("```");
            }
            "code" if !in_pre => out.push('`'),
            "br" => out.push('\n'),
            "p" | "div" if closing => out.push('\n'),
            "li" if !closing => out.push_str("- "),
            "li" => out.push('\n'),
            "mx-reply" => {
                // A reply fallback: drop it entirely.
                if !closing && let Some(end) = rest.find("</mx-reply>") {
                    rest = &rest[end + "</mx-reply>".len()..];
                    continue;
                }
            }
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(&unescape(rest));
    out.trim_end_matches('\n').to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::to_matrix::markup::whatsapp_to_html;

    #[test]
    fn html_becomes_whatsapp_markup() {
        assert_eq!(
            html_to_whatsapp(
                "<strong>bold</strong> <em>it</em> <del>gone</del> <code>x&lt;y</code>"
            ),
            "*bold* _it_ ~gone~ `x<y`"
        );
        assert_eq!(
            html_to_whatsapp("<pre><code>fn main() {}</code></pre>"),
            "```fn main() {}```"
        );
        assert_eq!(html_to_whatsapp("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(
            html_to_whatsapp("<mx-reply><blockquote>old</blockquote></mx-reply>new"),
            "new"
        );
        assert_eq!(
            html_to_whatsapp("1 &lt; 2 &amp;&amp; <b>x</b>"),
            "1 < 2 && *x*"
        );
    }

    #[test]
    fn odd_input_is_kept_not_lost() {
        assert_eq!(html_to_whatsapp("a < b"), "a < b");
        assert_eq!(html_to_whatsapp("<unknown attr='1'>text</unknown>"), "text");
        assert_eq!(whatsapp_to_html("*").as_deref(), None);
        assert_eq!(whatsapp_to_html("**").as_deref(), None);
        assert_eq!(whatsapp_to_html("```").as_deref(), None);
        assert_eq!(whatsapp_to_html("<b>"), None, "escaped in the plain body");
    }

    #[test]
    fn round_trip_of_markup() {
        for text in ["*a* _b_ ~c~", "`code` and *bold*", "plain"] {
            let html = whatsapp_to_html(text).unwrap_or_else(|| text.to_owned());
            assert_eq!(html_to_whatsapp(&html), text);
        }
    }
}
