//! The JSON form of a node, shared with the Baileys cross-check scripts and
//! printed by `wa-sim node decode`:
//!
//! `{"tag": "iq", "attrs": {"id": "1A2B", "to": "@s.whatsapp.net"},
//!   "content": null | [<node>, ...] | {"b64": "..."}}`
//!
//! Attribute values are strings; JIDs print as their string form, and a string
//! that parses as a JID is read back as one (as other clients write it).
//! `{"text": "..."}` content is accepted on input and read as its UTF-8 bytes.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::node::{AttrValue, Attrs, Content, Node};
use crate::jid::Jid;

/// Why JSON is not a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node json at {path}: {reason}")]
pub struct JsonError {
    /// Where in the document, e.g. `content[2].attrs.to`.
    pub path: String,
    /// What is wrong there.
    pub reason: &'static str,
}

/// The JSON form of `node`.
pub fn to_json(node: &Node) -> Value {
    let mut attrs = Map::new();
    for (k, v) in node.attrs.iter() {
        attrs.insert(k.to_owned(), Value::String(v.to_string()));
    }
    let content = match &node.content {
        Content::None => Value::Null,
        Content::Bytes(b) => {
            let mut m = Map::new();
            m.insert("b64".into(), Value::String(STANDARD.encode(b)));
            Value::Object(m)
        }
        Content::Nodes(children) => Value::Array(children.iter().map(to_json).collect()),
    };
    let mut m = Map::new();
    m.insert("tag".into(), Value::String(node.tag.to_string()));
    m.insert("attrs".into(), Value::Object(attrs));
    m.insert("content".into(), content);
    Value::Object(m)
}

/// Reads a node from its JSON form.
pub fn from_json(value: &Value) -> Result<Node, JsonError> {
    node_at(value, &mut String::new())
}

fn err(path: &str, reason: &'static str) -> JsonError {
    JsonError {
        path: if path.is_empty() {
            "$".into()
        } else {
            path.to_owned()
        },
        reason,
    }
}

fn node_at(value: &Value, path: &mut String) -> Result<Node, JsonError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err(path, "not an object"))?;
    let tag = obj
        .get("tag")
        .and_then(Value::as_str)
        .ok_or_else(|| err(path, "missing string \"tag\""))?;
    let mut attrs = Attrs::new();
    match obj.get("attrs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let s = v
                    .as_str()
                    .ok_or_else(|| err(&format!("{path}.attrs.{k}"), "not a string"))?;
                let value = match s.contains('@').then(|| s.parse::<Jid>()) {
                    Some(Ok(jid)) => AttrValue::Jid(jid),
                    _ => AttrValue::Str(Cow::Owned(s.to_owned())),
                };
                attrs.push(Cow::Owned(k.clone()), value);
            }
        }
        Some(_) => return Err(err(path, "\"attrs\" is not an object")),
    }
    let content = match obj.get("content") {
        None | Some(Value::Null) => Content::None,
        Some(Value::Array(items)) => {
            let mut children = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!(".content[{i}]"));
                children.push(node_at(item, path)?);
                path.truncate(len);
            }
            Content::Nodes(children)
        }
        Some(Value::Object(m)) => match (m.get("b64"), m.get("text")) {
            (Some(Value::String(b)), None) => Content::Bytes(
                STANDARD
                    .decode(b)
                    .map_err(|_| err(path, "\"b64\" is not base64"))?,
            ),
            (None, Some(Value::String(t))) => Content::Bytes(t.as_bytes().to_vec()),
            _ => return Err(err(path, "content object needs one of \"b64\" or \"text\"")),
        },
        Some(_) => return Err(err(path, "\"content\" is not null, a list or an object")),
    };
    Ok(Node {
        tag: Cow::Owned(tag.to_owned()),
        attrs,
        content,
    })
}
