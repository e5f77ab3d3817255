//! The binary node: WhatsApp's XML-like stanza, `(tag, attrs, content)`.

use std::borrow::Cow;
use std::fmt;

use crate::jid::Jid;

/// A string that is usually a dictionary token and so needs no allocation.
pub type Str = Cow<'static, str>;

/// An attribute value: a string or a JID (JIDs have their own wire forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// A plain string.
    Str(Str),
    /// A JID.
    Jid(Jid),
}

impl AttrValue {
    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            AttrValue::Jid(_) => None,
        }
    }

    /// The value as a JID, if it is one.
    pub fn as_jid(&self) -> Option<&Jid> {
        match self {
            AttrValue::Jid(j) => Some(j),
            AttrValue::Str(_) => None,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => f.write_str(s),
            AttrValue::Jid(j) => j.fmt(f),
        }
    }
}

impl From<&'static str> for AttrValue {
    fn from(s: &'static str) -> Self {
        AttrValue::Str(Cow::Borrowed(s))
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(Cow::Owned(s))
    }
}

impl From<Jid> for AttrValue {
    fn from(j: Jid) -> Self {
        AttrValue::Jid(j)
    }
}

impl From<&Jid> for AttrValue {
    fn from(j: &Jid) -> Self {
        AttrValue::Jid(j.clone())
    }
}

/// Attributes in wire order. Nodes have few, so a vector beats a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs(Vec<(Str, AttrValue)>);

impl Attrs {
    /// No attributes.
    pub fn new() -> Attrs {
        Attrs(Vec::new())
    }

    /// Room for `n` attributes.
    pub fn with_capacity(n: usize) -> Attrs {
        Attrs(Vec::with_capacity(n))
    }

    /// Sets `key`, replacing an earlier value of the same key.
    pub fn insert(&mut self, key: impl Into<Str>, value: impl Into<AttrValue>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Appends without looking for duplicates (the decoder keeps the wire as it is).
    pub(crate) fn push(&mut self, key: Str, value: AttrValue) {
        self.0.push((key, value));
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(AttrValue::as_str)
    }

    /// The value of `key` if it is a JID.
    pub fn get_jid(&self, key: &str) -> Option<&Jid> {
        self.get(key).and_then(AttrValue::as_jid)
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

/// What a node holds after its attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Content {
    /// Nothing.
    #[default]
    None,
    /// Raw bytes (protobufs, ciphertext, keys, refs).
    Bytes(Vec<u8>),
    /// Child nodes.
    Nodes(Vec<Node>),
}

/// A binary node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The tag, e.g. `iq`, `message`.
    pub tag: Str,
    /// Attributes in wire order.
    pub attrs: Attrs,
    /// Content.
    pub content: Content,
}

impl Node {
    /// A node with no attributes and no content.
    pub fn new(tag: impl Into<Str>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Attrs::new(),
            content: Content::None,
        }
    }

    /// Builder: adds an attribute.
    #[must_use]
    pub fn attr(mut self, key: impl Into<Str>, value: impl Into<AttrValue>) -> Node {
        self.attrs.insert(key, value);
        self
    }

    /// Builder: sets child nodes.
    #[must_use]
    pub fn children(mut self, children: Vec<Node>) -> Node {
        self.content = Content::Nodes(children);
        self
    }

    /// Builder: sets byte content.
    #[must_use]
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// The child nodes (empty unless the content is a list).
    pub fn child_nodes(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(n) => n,
            _ => &[],
        }
    }

    /// The first child with `tag`.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.child_nodes().iter().find(|n| n.tag == tag)
    }

    /// All children with `tag`.
    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child_nodes().iter().filter(move |n| n.tag == tag)
    }

    /// The byte content, if the content is bytes.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// String attribute `key`.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attrs.get_str(key)
    }

    /// JID attribute `key`.
    pub fn attr_jid(&self, key: &str) -> Option<&Jid> {
        self.attrs.get_jid(key)
    }
}

/// A short XML-ish rendering for logs: tag, attributes, child tags and byte
/// lengths; never byte contents, which may be ciphertext or keys.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}", self.tag)?;
        for (k, v) in self.attrs.iter() {
            write!(f, " {k}=\"{v}\"")?;
        }
        match &self.content {
            Content::None => f.write_str("/>"),
            Content::Bytes(b) => write!(f, ">[{} bytes]</{}>", b.len(), self.tag),
            Content::Nodes(children) => {
                f.write_str(">")?;
                for c in children {
                    c.fmt(f)?;
                }
                write!(f, "</{}>", self.tag)
            }
        }
    }
}
