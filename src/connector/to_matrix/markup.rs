//! WhatsApp text markup into Matrix HTML (the other way:
//! `from_matrix/markup.rs`).
//!
//! WhatsApp marks `*bold*`, `_italic_`, `~strike~`, `` `inline` `` and
//! ```` ```code``` ````; Matrix carries `<strong>`, `<em>`, `<del>`,
//! `<code>` and `<pre><code>` in `formatted_body`. A marker only counts when
//! it opens at a word start, closes at a word end and encloses text on one
//! line (code blocks may span lines), as WhatsApp renders it.

/// The HTML of a WhatsApp text, or `None` when it has no markup (then the
/// plain body is enough).
pub(in crate::connector) fn whatsapp_to_html(text: &str) -> Option<String> {
    let html = render(text);
    if html == escape(text) {
        None
    } else {
        Some(html.replace('\n', "<br>"))
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The four inline markers and their tags.
const MARKERS: [(char, &str); 4] = [('*', "strong"), ('_', "em"), ('~', "del"), ('`', "code")];

/// Where things are in a text, found in one pass each way, so rendering is
/// linear in the text at each nesting level (markers of one kind cannot
/// nest in themselves, so there are at most four levels).
struct Index {
    chars: Vec<char>,
    /// For each position, the next `\n` at or after it (or the end).
    line_end: Vec<usize>,
    /// For each position, the next start of a "```" at or after it.
    next_fence: Vec<Option<usize>>,
    /// Per marker: for each position, the next valid closer at or after it.
    next_closer: [Vec<Option<usize>>; 4],
    /// Per marker: for each position, the next character that is not that
    /// marker, at or after it.
    next_other: [Vec<usize>; 4],
}

impl Index {
    fn new(text: &str) -> Index {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let mut line_end = vec![n; n + 1];
        let mut next_fence = vec![None; n + 1];
        let mut next_closer: [Vec<Option<usize>>; 4] = std::array::from_fn(|_| vec![None; n + 1]);
        let mut next_other: [Vec<usize>; 4] = std::array::from_fn(|_| vec![n; n + 1]);
        for j in (0..n).rev() {
            line_end[j] = if chars[j] == '\n' { j } else { line_end[j + 1] };
            next_fence[j] = if chars[j..].starts_with(&['`', '`', '`']) {
                Some(j)
            } else {
                next_fence[j + 1]
            };
            for (m, (marker, _)) in MARKERS.iter().enumerate() {
                let closes = chars[j] == *marker
                    && j > 0
                    && !chars[j - 1].is_whitespace()
                    && chars.get(j + 1).is_none_or(|c| !is_word(*c));
                next_closer[m][j] = if closes {
                    Some(j)
                } else {
                    next_closer[m][j + 1]
                };
                next_other[m][j] = if chars[j] == *marker {
                    next_other[m][j + 1]
                } else {
                    j
                };
            }
        }
        Index {
            chars,
            line_end,
            next_fence,
            next_closer,
            next_other,
        }
    }

    /// The index of the marker (number `m`) closing the one at `i`, on the
    /// same line, with something other than the marker in between.
    fn closing(&self, i: usize, m: usize) -> Option<usize> {
        // The first non-marker after the opener; a closer must come after it.
        let other = self.next_other[m][i + 1];
        let from = (i + 2).max(other + 1);
        let j = self.next_closer[m].get(from).copied().flatten()?;
        (j < self.line_end[i]).then_some(j)
    }
}

fn render(text: &str) -> String {
    let index = Index::new(text);
    let chars = &index.chars;
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // Code block: ``` ... ``` (may span lines; no markup inside).
        if index.next_fence[i] == Some(i)
            && let Some(end) = index.next_fence.get(i + 3).copied().flatten()
            && end > i + 3
        {
            let inner: String = chars[i + 3..end].iter().collect();
            out.push_str("<pre><code>");
            out.push_str(&escape(inner.trim_start_matches('\n')));
            out.push_str("</code></pre>");
            i = end + 3;
            continue;
        }
        let c = chars[i];
        let marker = MARKERS.iter().position(|(m, _)| *m == c);
        if let Some(m) = marker
            && opens(chars, i)
            && let Some(end) = index.closing(i, m)
        {
            let tag = MARKERS[m].1;
            let inner: String = chars[i + 1..end].iter().collect();
            out.push('<');
            out.push_str(tag);
            out.push('>');
            if tag == "code" {
                out.push_str(&escape(&inner));
            } else {
                out.push_str(&render(&inner));
            }
            out.push_str("</");
            out.push_str(tag);
            out.push('>');
            i = end + 1;
            continue;
        }
        out.push_str(&escape(&c.to_string()));
        i += 1;
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// A marker at `i` opens when it is at a word start and followed by text.
fn opens(chars: &[char], i: usize) -> bool {
    let before_ok = i == 0 || !is_word(chars[i - 1]);
    let after_ok = chars.get(i + 1).is_some_and(|c| !c.is_whitespace());
    before_ok && after_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openers_without_closers_stay_text_however_many() {
        // Every `*` opens and none closes: each used to scan the rest of
        // the line (and each candidate the text before it).
        let crafted = "*a ".repeat(20_000);
        assert_eq!(whatsapp_to_html(&crafted), None);
        let fences = "``` x ".repeat(20_000);
        let html = whatsapp_to_html(&fences).unwrap_or_default();
        assert_eq!(html.matches("<pre>").count(), 10_000, "pairs of fences");
    }

    #[test]
    fn plain_text_needs_no_html() {
        assert_eq!(whatsapp_to_html("hello there"), None);
        assert_eq!(whatsapp_to_html("2*3*4 = 24"), None);
        assert_eq!(whatsapp_to_html("snake_case_name"), None);
        assert_eq!(whatsapp_to_html("a * b * c"), None);
    }

    #[test]
    fn whatsapp_markup_becomes_html() {
        assert_eq!(
            whatsapp_to_html("*bold* _it_ ~gone~ `x<y`").as_deref(),
            Some("<strong>bold</strong> <em>it</em> <del>gone</del> <code>x&lt;y</code>")
        );
        assert_eq!(
            whatsapp_to_html("*bold _and italic_*").as_deref(),
            Some("<strong>bold <em>and italic</em></strong>")
        );
        assert_eq!(
            whatsapp_to_html("```\nfn *main*() {}\n```").as_deref(),
            Some("<pre><code>fn *main*() {}<br></code></pre>")
        );
        assert_eq!(
            whatsapp_to_html("line one\n*two*").as_deref(),
            Some("line one<br><strong>two</strong>")
        );
    }
}
