//! WhatsApp binary nodes: the XML-like stanzas carried inside Noise frames,
//! written with token dictionaries (version 3), packed strings and JID forms.
//!
//! [`encode`] and [`decode`] work on frame payloads, which start with a flags
//! byte (bit 2: the rest is zlib-compressed). The JSON form in [`json`] is the
//! one our CLI prints and the Baileys cross-check uses.

mod decode;
mod encode;
pub mod json;
mod node;
pub mod token;

pub use decode::{MAX_DEPTH, MAX_INFLATED, decode, decode_node};
pub use encode::{encode, encode_node_into};
pub use node::{AttrValue, Attrs, Content, Node, Str};

/// Why bytes are not a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a node.
    #[error("input ended inside a node")]
    UnexpectedEnd,
    /// Bytes remain after the node.
    #[error("{0} bytes left over after the node")]
    TrailingBytes(usize),
    /// A list size was expected and this byte is none.
    #[error("byte {0} is not a list tag")]
    InvalidListTag(u8),
    /// A node with no tag (list size 0, or an empty tag string).
    #[error("node without a tag")]
    EmptyNode,
    /// A string was expected and this byte starts none.
    #[error("byte {0} does not start a string")]
    InvalidTag(u8),
    /// A dictionary reference outside the tables.
    #[error("invalid token reference (tag {0})")]
    InvalidToken(u8),
    /// A packed string with a nibble outside its alphabet.
    #[error("invalid packed nibble {0}")]
    InvalidPacked(u8),
    /// A raw string that is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A JID where only a plain string may stand.
    #[error("a jid stands where a plain string ({0}) is required")]
    UnexpectedJid(&'static str),
    /// A JID form with invalid parts.
    #[error("invalid jid: {0}")]
    InvalidJid(&'static str),
    /// Children nested deeper than [`MAX_DEPTH`].
    #[error("nodes nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The compressed payload does not inflate.
    #[error("compressed frame does not inflate: {0}")]
    Inflate(String),
    /// The compressed payload inflates past [`MAX_INFLATED`].
    #[error("compressed frame inflates past {MAX_INFLATED} bytes")]
    InflatedTooLarge,
}

/// Why a node cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Nodes need a tag.
    #[error("node has an empty tag")]
    EmptyTag,
    /// More than 65,535 children or attributes.
    #[error("list of {0} items is too long for the wire")]
    ListTooLong(usize),
    /// More than 4 GiB of bytes.
    #[error("{0} bytes are too long for the wire")]
    BytesTooLong(usize),
    /// A device JID whose device does not fit the AD_JID byte.
    #[error("jid device does not fit in one byte")]
    DeviceOutOfRange,
    /// A device on a server whose JIDs have no device form (e.g. a group).
    #[error("jid has a device but its server has no device form")]
    DeviceWithoutForm,
}

#[cfg(test)]
mod tests;
