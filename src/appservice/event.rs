//! Events pushed by the homeserver, parsed leniently.
//!
//! A transaction is only as good as its worst event: one odd event must not
//! make the whole transaction fail (the homeserver would retry it forever).
//! So every event keeps its original JSON untouched in [`Event::raw`], the
//! fields a bridge routes on are pulled out when they have the right JSON
//! type, and content is read through typed accessors that return `None`
//! instead of failing.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// One transaction from the homeserver, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The homeserver's transaction id (unique per appservice).
    pub id: String,
    /// Persistent (timeline and state) events, in homeserver order.
    pub events: Vec<Event>,
    /// Ephemeral events (MSC2409: receipts, typing, presence).
    pub ephemeral: Vec<Event>,
}

/// One event as the homeserver sent it.
///
/// Unknown event types pass through untouched: read them from [`Event::raw`]
/// or [`Event::content`].
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `type`, e.g. `m.room.message`.
    pub kind: String,
    /// `room_id` (also present on MSC2409 receipts and typing).
    pub room_id: Option<String>,
    /// `sender`.
    pub sender: Option<String>,
    /// `event_id` (absent on ephemeral events).
    pub event_id: Option<String>,
    /// `origin_server_ts` in milliseconds.
    pub origin_server_ts: Option<u64>,
    /// `state_key`: `Some` exactly for state events.
    pub state_key: Option<String>,
    /// `content` (an empty object when missing or not an object).
    pub content: Value,
    /// The whole event as received.
    pub raw: Value,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl Event {
    /// Reads an event from its JSON. Returns `None` when the value is not an
    /// object with a string `type`; every other field is optional.
    pub fn from_json(raw: Value) -> Option<Self> {
        let obj = raw.as_object()?;
        let kind = obj.get("type")?.as_str()?.to_owned();
        let content = match obj.get("content") {
            Some(v @ Value::Object(_)) => v.clone(),
            _ => Value::Object(Map::new()),
        };
        Some(Self {
            kind,
            room_id: str_field(obj, "room_id"),
            sender: str_field(obj, "sender"),
            event_id: str_field(obj, "event_id"),
            origin_server_ts: obj.get("origin_server_ts").and_then(Value::as_u64),
            state_key: str_field(obj, "state_key"),
            content,
            raw,
        })
    }

    /// True for state events (those with a `state_key`).
    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The event this one redacts: top-level `redacts` (room versions before
    /// 11) or `content.redacts` (room version 11 and later).
    pub fn redacts(&self) -> Option<&str> {
        self.raw
            .get("redacts")
            .and_then(Value::as_str)
            .or_else(|| self.content.get("redacts").and_then(Value::as_str))
    }

    /// `unsigned.transaction_id`: set on events this appservice sent itself
    /// (useful to recognise echoes).
    pub fn transaction_id(&self) -> Option<&str> {
        self.raw
            .get("unsigned")
            .and_then(|u| u.get("transaction_id"))
            .and_then(Value::as_str)
    }

    /// `content.m.relates_to`, whatever the event type.
    pub fn relates_to(&self) -> Option<RelatesTo> {
        RelatesTo::from_content(&self.content)
    }

    /// The content of an `m.room.message` (or `m.sticker`) event.
    pub fn message(&self) -> Option<MessageContent> {
        match self.kind.as_str() {
            "m.room.message" | "m.sticker" => MessageContent::from_content(&self.content),
            _ => None,
        }
    }

    /// The content of an `m.room.member` event.
    pub fn member(&self) -> Option<MemberContent> {
        if self.kind != "m.room.member" {
            return None;
        }
        let membership = Membership::from(self.content.get("membership")?.as_str()?);
        Some(MemberContent {
            membership,
            is_direct: self
                .content
                .get("is_direct")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            displayname: str_value(&self.content, "displayname"),
            avatar_url: str_value(&self.content, "avatar_url"),
            reason: str_value(&self.content, "reason"),
        })
    }

    /// The receipts of an `m.receipt` ephemeral event, flattened. Entries
    /// with unexpected shapes are skipped.
    pub fn receipts(&self) -> Vec<Receipt> {
        let mut out = Vec::new();
        if self.kind != "m.receipt" {
            return out;
        }
        let Some(by_event) = self.content.as_object() else {
            return out;
        };
        for (event_id, by_type) in by_event {
            let Some(by_type) = by_type.as_object() else {
                continue;
            };
            for (receipt_type, by_user) in by_type {
                let Some(by_user) = by_user.as_object() else {
                    continue;
                };
                for (user_id, data) in by_user {
                    out.push(Receipt {
                        event_id: event_id.clone(),
                        receipt_type: receipt_type.clone(),
                        user_id: user_id.clone(),
                        ts: data.get("ts").and_then(Value::as_u64),
                        thread_id: str_value(data, "thread_id"),
                    });
                }
            }
        }
        out
    }

    /// The users typing, for an `m.typing` ephemeral event.
    pub fn typing_user_ids(&self) -> Option<Vec<String>> {
        if self.kind != "m.typing" {
            return None;
        }
        let ids = self.content.get("user_ids")?.as_array()?;
        Some(
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// Typed view of `m.room.message` content.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageContent {
    /// `msgtype`, e.g. `m.text`, `m.image`; empty for `m.sticker`.
    pub msgtype: String,
    /// `body`: plain text, or the file name for media.
    pub body: String,
    /// `format`, e.g. `org.matrix.custom.html`.
    pub format: Option<String>,
    /// `formatted_body`.
    pub formatted_body: Option<String>,
    /// `url` (mxc) of unencrypted media.
    pub url: Option<String>,
    /// `info` (mimetype, size, w, h, duration, ...), untouched.
    pub info: Option<Value>,
    /// `m.relates_to`.
    pub relates_to: Option<RelatesTo>,
    /// `m.new_content` of an edit (`rel_type` `m.replace`).
    pub new_content: Option<Box<MessageContent>>,
}

impl MessageContent {
    fn from_content(content: &Value) -> Option<Self> {
        let body = content.get("body")?.as_str()?.to_owned();
        Some(Self {
            msgtype: str_value(content, "msgtype").unwrap_or_default(),
            body,
            format: str_value(content, "format"),
            formatted_body: str_value(content, "formatted_body"),
            url: str_value(content, "url"),
            info: content.get("info").filter(|v| v.is_object()).cloned(),
            relates_to: RelatesTo::from_content(content),
            new_content: content
                .get("m.new_content")
                .and_then(Self::from_content)
                .map(Box::new),
        })
    }
}

/// Typed view of `m.relates_to`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelatesTo {
    /// `rel_type`: `m.replace`, `m.annotation`, `m.thread`, `m.reference`...
    pub rel_type: Option<String>,
    /// `event_id` of the related event.
    pub event_id: Option<String>,
    /// `key` of an annotation (the reaction emoji).
    pub key: Option<String>,
    /// `m.in_reply_to.event_id`.
    pub in_reply_to: Option<String>,
    /// `is_falling_back` of a thread relation.
    pub is_falling_back: bool,
}

impl RelatesTo {
    fn from_content(content: &Value) -> Option<Self> {
        let rel = content.get("m.relates_to")?;
        if !rel.is_object() {
            return None;
        }
        Some(Self {
            rel_type: str_value(rel, "rel_type"),
            event_id: str_value(rel, "event_id"),
            key: str_value(rel, "key"),
            in_reply_to: rel
                .get("m.in_reply_to")
                .and_then(|r| r.get("event_id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            is_falling_back: rel
                .get("is_falling_back")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// `membership` of an `m.room.member` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// `invite`
    Invite,
    /// `join`
    Join,
    /// `leave` (also a kick when sender != state_key)
    Leave,
    /// `ban`
    Ban,
    /// `knock`
    Knock,
    /// Anything else, kept verbatim.
    Other(String),
}

impl From<&str> for Membership {
    fn from(s: &str) -> Self {
        match s {
            "invite" => Self::Invite,
            "join" => Self::Join,
            "leave" => Self::Leave,
            "ban" => Self::Ban,
            "knock" => Self::Knock,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Typed view of `m.room.member` content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberContent {
    /// `membership`.
    pub membership: Membership,
    /// `is_direct` (invites to a DM).
    pub is_direct: bool,
    /// `displayname`.
    pub displayname: Option<String>,
    /// `avatar_url`.
    pub avatar_url: Option<String>,
    /// `reason`.
    pub reason: Option<String>,
}

/// One entry of an `m.receipt` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The event read up to.
    pub event_id: String,
    /// `m.read`, `m.read.private`, ...
    pub receipt_type: String,
    /// Who read it.
    pub user_id: String,
    /// When, in milliseconds.
    pub ts: Option<u64>,
    /// `thread_id` of a threaded receipt (`main` for the main timeline).
    pub thread_id: Option<String>,
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn str_value(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Why a transaction body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not JSON at all (`M_NOT_JSON`).
    NotJson(String),
    /// JSON, but not a transaction (`M_BAD_JSON`).
    BadJson(String),
}

/// Parses a transaction body. Events without a string `type` are dropped
/// (and counted in the second value) rather than failing the transaction.
pub(crate) fn parse_transaction(id: &str, body: &[u8]) -> Result<(Transaction, usize), BodyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(BodyError::BadJson("body is not an object".into()));
    };
    let events = match obj.remove("events") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(BodyError::BadJson("`events` is not an array".into())),
    };
    // Prefer the stable key; the unstable one carries the same events.
    let ephemeral = match obj.remove("ephemeral") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => match obj.remove("de.sorunome.msc2409.ephemeral") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(BodyError::BadJson("`ephemeral` is not an array".into())),
        },
        Some(_) => return Err(BodyError::BadJson("`ephemeral` is not an array".into())),
    };
    let mut dropped = 0;
    let mut parse_all = |values: Vec<Value>| -> Vec<Event> {
        let total = values.len();
        let parsed: Vec<Event> = values.into_iter().filter_map(Event::from_json).collect();
        dropped += total - parsed.len();
        parsed
    };
    let events = parse_all(events);
    let ephemeral = parse_all(ephemeral);
    Ok((
        Transaction {
            id: id.to_owned(),
            events,
            ephemeral,
        },
        dropped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value) -> Event {
        Event::from_json(v).unwrap_or_else(|| unreachable!("valid test event"))
    }

    #[test]
    fn message_accessors() {
        let e = ev(json!({
            "type": "m.room.message", "room_id": "!r:x", "sender": "@a:x",
            "event_id": "$e", "origin_server_ts": 5,
            "content": {
                "msgtype": "m.text", "body": "* hi", "format": "org.matrix.custom.html",
                "formatted_body": "<b>hi</b>",
                "m.new_content": {"msgtype": "m.text", "body": "hi"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$old",
                                 "m.in_reply_to": {"event_id": "$q"}}
            }
        }));
        let m = e.message().unwrap_or_else(|| unreachable!());
        assert_eq!(m.msgtype, "m.text");
        assert_eq!(m.formatted_body.as_deref(), Some("<b>hi</b>"));
        let rel = m.relates_to.unwrap_or_default();
        assert_eq!(rel.rel_type.as_deref(), Some("m.replace"));
        assert_eq!(rel.in_reply_to.as_deref(), Some("$q"));
        assert_eq!(m.new_content.map(|n| n.body), Some("hi".into()));
        assert_eq!(e.origin_server_ts, Some(5));
        assert!(!e.is_state());
    }

    #[test]
    fn member_receipt_typing() {
        let m = ev(json!({"type": "m.room.member", "state_key": "@b:x",
            "content": {"membership": "invite", "is_direct": true}}));
        let c = m.member().unwrap_or_else(|| unreachable!());
        assert_eq!(c.membership, Membership::Invite);
        assert!(c.is_direct);
        assert!(m.is_state());

        let r = ev(json!({"type": "m.receipt", "room_id": "!r:x", "content": {
            "$e": {"m.read": {"@a:x": {"ts": 7, "thread_id": "main"}, "@b:x": 3}}}}));
        let rs = r.receipts();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].ts, Some(7));
        assert_eq!(rs[1].ts, None);

        let t = ev(json!({"type": "m.typing", "room_id": "!r:x",
            "content": {"user_ids": ["@a:x", 5]}}));
        assert_eq!(t.typing_user_ids(), Some(vec!["@a:x".to_owned()]));
    }

    #[test]
    fn odd_shapes_do_not_fail() {
        let e = ev(
            json!({"type": "x.custom", "origin_server_ts": "soon", "content": 3,
            "redacts": "$r", "unsigned": {"transaction_id": "t1"}}),
        );
        assert_eq!(e.origin_server_ts, None);
        assert_eq!(e.content, json!({}));
        assert_eq!(e.message(), None);
        assert_eq!(e.redacts(), Some("$r"));
        assert_eq!(e.transaction_id(), Some("t1"));
        assert_eq!(serde_json::to_value(&e).ok(), Some(e.raw.clone()));
        assert!(Event::from_json(json!({"type": 1})).is_none());
        assert!(Event::from_json(json!([1])).is_none());
    }

    #[test]
    fn parse_bodies() {
        let (t, dropped) = parse_transaction(
            "1",
            br#"{"events":[{"type":"a"},{"no":"type"}],"de.sorunome.msc2409.ephemeral":[{"type":"m.typing"}]}"#,
        )
        .unwrap_or_else(|_| unreachable!());
        assert_eq!((t.events.len(), t.ephemeral.len(), dropped), (1, 1, 1));
        assert!(matches!(
            parse_transaction("1", b"{"),
            Err(BodyError::NotJson(_))
        ));
        assert!(matches!(
            parse_transaction("1", b"[]"),
            Err(BodyError::BadJson(_))
        ));
        assert!(matches!(
            parse_transaction("1", br#"{"events":{}}"#),
            Err(BodyError::BadJson(_))
        ));
        let (t, _) = parse_transaction("2", b"{}").unwrap_or_else(|_| unreachable!());
        assert!(t.events.is_empty());
    }
}
