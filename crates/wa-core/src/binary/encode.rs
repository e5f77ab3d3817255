//! Node encoder. Writes the forms the real clients write: tokens first, then
//! packed nibble or hex strings, then raw bytes; JIDs in their own forms.

use super::EncodeError;
use super::node::{AttrValue, Content, Node};
use super::token::{self, PACKED_MAX, Token, tag};
use crate::jid::{Jid, Server};

/// Encodes `node` as a frame payload: the flags byte (0, uncompressed) and the node.
pub fn encode(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    out.push(0);
    encode_node_into(node, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `node` (no flags byte) to `out`.
///
/// On error `out` may hold a partial node; callers discard it.
pub fn encode_node_into(node: &Node, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Encoder { out }.node(node)
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn node(&mut self, node: &Node) -> Result<(), EncodeError> {
        if node.tag.is_empty() {
            return Err(EncodeError::EmptyTag);
        }
        let has_content = !matches!(node.content, Content::None);
        let size = 1 + 2 * node.attrs.len() + usize::from(has_content);
        self.list_start(size)?;
        self.string(&node.tag)?;
        for (key, value) in node.attrs.iter() {
            self.string(key)?;
            match value {
                AttrValue::Str(s) => self.string(s)?,
                AttrValue::Jid(j) => self.jid(j)?,
            }
        }
        match &node.content {
            Content::None => {}
            Content::Bytes(b) => self.bytes(b)?,
            Content::Nodes(children) => {
                self.list_start(children.len())?;
                for child in children {
                    self.node(child)?;
                }
            }
        }
        Ok(())
    }

    fn list_start(&mut self, size: usize) -> Result<(), EncodeError> {
        if size == 0 {
            self.out.push(tag::LIST_EMPTY);
        } else if let Ok(n) = u8::try_from(size) {
            self.out.extend_from_slice(&[tag::LIST_8, n]);
        } else if let Ok(n) = u16::try_from(size) {
            self.out.push(tag::LIST_16);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else {
            return Err(EncodeError::ListTooLong(size));
        }
        Ok(())
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let len = b.len();
        if let Ok(n) = u8::try_from(len) {
            self.out.extend_from_slice(&[tag::BINARY_8, n]);
        } else if len < 1 << 20 {
            // 20-bit big-endian length; the cast keeps the low 8 bits by intent.
            self.out.extend_from_slice(&[
                tag::BINARY_20,
                ((len >> 16) & 0x0f) as u8,
                ((len >> 8) & 0xff) as u8,
                (len & 0xff) as u8,
            ]);
        } else if let Ok(n) = u32::try_from(len) {
            self.out.push(tag::BINARY_32);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else {
            return Err(EncodeError::BytesTooLong(len));
        }
        self.out.extend_from_slice(b);
        Ok(())
    }

    fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        match token::lookup(s) {
            Some(Token::Single(i)) => self.out.push(i),
            Some(Token::Double(d, i)) => self.out.extend_from_slice(&[tag::DICTIONARY_0 + d, i]),
            None if is_nibble(s) => self.packed(s, tag::NIBBLE_8, nibble),
            None if is_hex(s) => self.packed(s, tag::HEX_8, hex),
            None => self.bytes(s.as_bytes())?,
        }
        Ok(())
    }

    /// Writes a string known to be packable (ASCII, 1..=127 chars of the right set).
    fn packed(&mut self, s: &str, tag: u8, pack: fn(u8) -> u8) {
        let b = s.as_bytes();
        let odd = b.len() % 2;
        // At most 64 pairs, so the length byte cannot overflow.
        let pairs = (b.len() / 2 + odd) as u8;
        self.out.push(tag);
        self.out.push(pairs | if odd == 1 { 0x80 } else { 0 });
        let mut chunks = b.chunks_exact(2);
        for pair in &mut chunks {
            if let [hi, lo] = pair {
                self.out.push(pack(*hi) << 4 | pack(*lo));
            }
        }
        if let [last] = chunks.remainder() {
            self.out.push(pack(*last) << 4 | 0x0f);
        }
    }

    fn jid(&mut self, jid: &Jid) -> Result<(), EncodeError> {
        match jid.server() {
            Server::Messenger => {
                self.out.push(tag::FB_JID);
                self.string(jid.user())?;
                self.out.extend_from_slice(&jid.device().to_be_bytes());
                self.string(jid.server().as_str())
            }
            Server::Interop => {
                self.out.push(tag::INTEROP_JID);
                self.string(jid.user())?;
                self.out.extend_from_slice(&jid.device().to_be_bytes());
                self.out.extend_from_slice(&jid.integrator().to_be_bytes());
                self.string(jid.server().as_str())
            }
            server => {
                let domain = match server.ad_domain() {
                    Some(0) => jid.agent(),
                    other => other.unwrap_or(0),
                };
                if server.ad_domain().is_some() && (jid.device() != 0 || jid.agent() != 0) {
                    let device =
                        u8::try_from(jid.device()).map_err(|_| EncodeError::DeviceOutOfRange)?;
                    self.out.extend_from_slice(&[tag::AD_JID, domain, device]);
                    self.string(jid.user())
                } else if jid.device() != 0 || jid.agent() != 0 {
                    Err(EncodeError::DeviceWithoutForm)
                } else {
                    self.out.push(tag::JID_PAIR);
                    if jid.user().is_empty() {
                        self.out.push(tag::LIST_EMPTY);
                    } else {
                        self.string(jid.user())?;
                    }
                    self.string(server.as_str())
                }
            }
        }
    }
}

fn is_nibble(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= PACKED_MAX
        && s.bytes()
            .all(|c| c.is_ascii_digit() || c == b'-' || c == b'.')
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= PACKED_MAX
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
}

fn nibble(c: u8) -> u8 {
    match c {
        b'-' => 10,
        b'.' => 11,
        _ => c.wrapping_sub(b'0') & 0x0f,
    }
}

fn hex(c: u8) -> u8 {
    if c.is_ascii_digit() {
        c - b'0'
    } else {
        (c.wrapping_sub(b'A') + 10) & 0x0f
    }
}
