//! Node decoder. Total over its input: any byte string yields a node or a
//! [`DecodeError`]; lengths are checked against the input before anything is
//! allocated, and nesting is bounded.

use std::borrow::Cow;
use std::io::Read;

use super::DecodeError;
use super::node::{AttrValue, Attrs, Content, Node, Str};
use super::token::{self, tag};
use crate::jid::{Jid, Server};

/// Deepest nesting of child lists accepted. Real stanzas nest a handful of levels.
pub const MAX_DEPTH: usize = 64;

/// Largest inflated size of a compressed frame. A frame is at most 16 MiB on the
/// wire; this bounds zip bombs.
pub const MAX_INFLATED: u64 = 32 << 20;

/// Decodes a frame payload: the flags byte, then the node (zlib-deflated when
/// flag bit 2 is set). The whole input must be one node.
pub fn decode(frame: &[u8]) -> Result<Node, DecodeError> {
    let (&flags, rest) = frame.split_first().ok_or(DecodeError::UnexpectedEnd)?;
    if flags & 2 != 0 {
        let mut inflated = Vec::new();
        let mut inflater = flate2::bufread::ZlibDecoder::new(rest);
        (&mut inflater)
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| DecodeError::Inflate(e.to_string()))?;
        if inflated.len() as u64 > MAX_INFLATED {
            return Err(DecodeError::InflatedTooLarge);
        }
        // Bytes after the end of the zlib stream are as wrong as bytes after a node.
        let leftover = inflater.into_inner().len();
        if leftover != 0 {
            return Err(DecodeError::TrailingBytes(leftover));
        }
        decode_node(&inflated)
    } else {
        decode_node(rest)
    }
}

/// Decodes one uncompressed node with no flags byte; the whole input must be used.
pub fn decode_node(data: &[u8]) -> Result<Node, DecodeError> {
    let mut d = Decoder { data, pos: 0 };
    let node = d.node(0)?;
    if d.pos != data.len() {
        return Err(DecodeError::TrailingBytes(data.len() - d.pos));
    }
    Ok(node)
}

/// A string-valued item on the wire: plain text or a JID.
enum Item {
    Str(Str),
    Jid(Jid),
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.data.get(self.pos).ok_or(DecodeError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::UnexpectedEnd)?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(DecodeError::UnexpectedEnd)?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            *b.first().unwrap_or(&0),
            *b.get(1).unwrap_or(&0),
        ]))
    }

    fn len20(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(3)?;
        Ok(b.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x)) & 0x0f_ffff)
    }

    fn len32(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        Ok(b.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x)))
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn list_size(&mut self, t: u8) -> Result<usize, DecodeError> {
        match t {
            tag::LIST_EMPTY => Ok(0),
            tag::LIST_8 => Ok(usize::from(self.byte()?)),
            tag::LIST_16 => Ok(usize::from(self.u16()?)),
            other => Err(DecodeError::InvalidListTag(other)),
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let t = self.byte()?;
        let size = self.list_size(t)?;
        if size == 0 {
            return Err(DecodeError::EmptyNode);
        }
        let tag = self.plain_string("tag")?;
        if tag.is_empty() {
            return Err(DecodeError::EmptyNode);
        }
        let n_attrs = (size - 1) / 2;
        // Each attribute takes at least two bytes: bound the allocation by the input.
        let mut attrs = Attrs::with_capacity(n_attrs.min(self.remaining() / 2));
        for _ in 0..n_attrs {
            let key = self.plain_string("attribute key")?;
            let t = self.byte()?;
            let value = match self.item(t)? {
                Item::Str(s) => AttrValue::Str(s),
                Item::Jid(j) => AttrValue::Jid(j),
            };
            attrs.push(key, value);
        }
        let content = if size % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content, DecodeError> {
        let t = self.byte()?;
        match t {
            tag::LIST_EMPTY | tag::LIST_8 | tag::LIST_16 => {
                let n = self.list_size(t)?;
                // A node takes at least two bytes.
                let mut children = Vec::with_capacity(n.min(self.remaining() / 2));
                for _ in 0..n {
                    children.push(self.node(depth + 1)?);
                }
                Ok(Content::Nodes(children))
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let n = self.binary_len(t)?;
                Ok(Content::Bytes(self.take(n)?.to_vec()))
            }
            // Strings, tokens and JIDs as content: keep their text as bytes.
            _ => Ok(Content::Bytes(match self.item(t)? {
                Item::Str(s) => s.into_owned().into_bytes(),
                Item::Jid(j) => j.to_string().into_bytes(),
            })),
        }
    }

    fn binary_len(&mut self, t: u8) -> Result<usize, DecodeError> {
        match t {
            tag::BINARY_8 => Ok(usize::from(self.byte()?)),
            tag::BINARY_20 => self.len20(),
            _ => self.len32(),
        }
    }

    /// A string where a JID is not allowed (tags, keys, JID users).
    fn plain_string(&mut self, what: &'static str) -> Result<Str, DecodeError> {
        let t = self.byte()?;
        match self.item(t)? {
            Item::Str(s) => Ok(s),
            Item::Jid(_) => Err(DecodeError::UnexpectedJid(what)),
        }
    }

    fn item(&mut self, t: u8) -> Result<Item, DecodeError> {
        let s: Str = match t {
            tag::LIST_EMPTY => Cow::Borrowed(""),
            1..tag::DICTIONARY_0 => {
                Cow::Borrowed(token::single(t).ok_or(DecodeError::InvalidToken(t))?)
            }
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let i = self.byte()?;
                Cow::Borrowed(
                    token::double(t - tag::DICTIONARY_0, i).ok_or(DecodeError::InvalidToken(t))?,
                )
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let n = self.binary_len(t)?;
                let raw = self.take(n)?;
                Cow::Owned(
                    std::str::from_utf8(raw)
                        .map_err(|_| DecodeError::InvalidUtf8)?
                        .to_owned(),
                )
            }
            tag::NIBBLE_8 | tag::HEX_8 => Cow::Owned(self.packed(t)?),
            tag::JID_PAIR => return self.jid_pair().map(Item::Jid),
            tag::AD_JID => return self.ad_jid().map(Item::Jid),
            tag::FB_JID => return self.fb_jid().map(Item::Jid),
            tag::INTEROP_JID => return self.interop_jid().map(Item::Jid),
            other => return Err(DecodeError::InvalidTag(other)),
        };
        Ok(Item::Str(s))
    }

    fn packed(&mut self, t: u8) -> Result<String, DecodeError> {
        let start = self.byte()?;
        let bytes = self.take(usize::from(start & 0x7f))?;
        let mut s = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            for v in [b >> 4, b & 0x0f] {
                s.push(unpack(t, v)?);
            }
        }
        if start & 0x80 != 0 {
            // Odd length: the last nibble is padding.
            s.pop();
        }
        Ok(s)
    }

    fn jid_pair(&mut self) -> Result<Jid, DecodeError> {
        let user = self.plain_string("jid user")?;
        let server = self.plain_string("jid server")?;
        if server.is_empty() {
            return Err(DecodeError::InvalidJid("empty server"));
        }
        Ok(Jid::new(user.into_owned(), Server::from_name(&server)))
    }

    fn ad_jid(&mut self) -> Result<Jid, DecodeError> {
        let domain = self.byte()?;
        let device = self.byte()?;
        let user = self.plain_string("jid user")?.into_owned();
        match Server::from_ad_domain(domain) {
            Some(server) => Ok(Jid::with_device(user, u16::from(device), server)),
            None => Jid::with_device(user, u16::from(device), Server::User)
                .with_agent(domain)
                .map_err(|_| DecodeError::InvalidJid("agent")),
        }
    }

    fn fb_jid(&mut self) -> Result<Jid, DecodeError> {
        let user = self.plain_string("jid user")?.into_owned();
        let device = self.u16()?;
        let server = self.plain_string("jid server")?;
        if server.is_empty() {
            return Err(DecodeError::InvalidJid("empty server"));
        }
        Ok(Jid::with_device(user, device, Server::from_name(&server)))
    }

    fn interop_jid(&mut self) -> Result<Jid, DecodeError> {
        let user = self.plain_string("jid user")?.into_owned();
        let device = self.u16()?;
        let integrator = self.u16()?;
        if self.plain_string("jid server")? != "interop" {
            return Err(DecodeError::InvalidJid("interop jid with another server"));
        }
        Ok(Jid::interop(user, device, integrator))
    }
}

fn unpack(t: u8, v: u8) -> Result<char, DecodeError> {
    let c = match (t, v) {
        (_, 0..=9) => b'0' + v,
        (tag::NIBBLE_8, 10) => b'-',
        (tag::NIBBLE_8, 11) => b'.',
        (tag::NIBBLE_8, 15) => 0,
        (tag::HEX_8, 10..=15) => b'A' + v - 10,
        _ => return Err(DecodeError::InvalidPacked(v)),
    };
    Ok(char::from(c))
}
