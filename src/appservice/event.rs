//! Events pushed by the homeserver, parsed leniently into ruma's types.
//!
//! A transaction is only as good as its worst event: one odd event must not
//! make the whole transaction fail (the homeserver would retry it forever).
//! So the transaction is read as ruma's `push_events` request, whose events
//! stay raw JSON ([`Raw`]); each event keeps that JSON untouched in
//! [`Event::raw`], the identifiers a bridge routes on are pulled out when
//! they are valid, and content is read through typed accessors (ruma's event
//! contents) that return `None` instead of failing.

use ruma::api::IncomingRequest as _;
use ruma::api::appservice::event::push_events;
use ruma::events::reaction::ReactionEventContent;
use ruma::events::receipt::{Receipt as ReceiptData, ReceiptThread, ReceiptType};
use ruma::events::room::member::RoomMemberEventContent;
use ruma::events::room::message::RoomMessageEventContent;
use ruma::events::room::redaction::RoomRedactionEventContent;
use ruma::events::sticker::StickerEventContent;
use ruma::serde::Raw;
use ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// One transaction from the homeserver, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The homeserver's transaction id (unique per appservice).
    pub id: OwnedTransactionId,
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
    /// `room_id` (also present on MSC2409 receipts and typing), if valid.
    pub room_id: Option<OwnedRoomId>,
    /// `sender`, if a valid user id.
    pub sender: Option<OwnedUserId>,
    /// `event_id` (absent on ephemeral events), if valid.
    pub event_id: Option<OwnedEventId>,
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
    /// object with a string `type`; every other field is optional, and an
    /// identifier that is not valid is left out.
    pub fn from_json(raw: Value) -> Option<Self> {
        let obj = raw.as_object()?;
        let kind = obj.get("type")?.as_str()?.to_owned();
        let content = match obj.get("content") {
            Some(v @ Value::Object(_)) => v.clone(),
            _ => Value::Object(Map::new()),
        };
        Some(Self {
            kind,
            room_id: id_field(obj, "room_id"),
            sender: id_field(obj, "sender"),
            event_id: id_field(obj, "event_id"),
            origin_server_ts: obj.get("origin_server_ts").and_then(Value::as_u64),
            state_key: str_field(obj, "state_key"),
            content,
            raw,
        })
    }

    /// Reads an event from raw JSON as ruma hands it over.
    fn from_raw<T>(raw: &Raw<T>) -> Option<Self> {
        Self::from_json(serde_json::from_str(raw.json().get()).ok()?)
    }

    /// True for state events (those with a `state_key`).
    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The content as ruma's type `T`, when it reads as one.
    fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(&self.content).ok()
    }

    /// The event this one redacts: top-level `redacts` (room versions before
    /// 11) or `content.redacts` (room version 11 and later).
    pub fn redacts(&self) -> Option<OwnedEventId> {
        if self.kind != "m.room.redaction" {
            return None;
        }
        let top = self.raw.get("redacts").and_then(Value::as_str);
        let inner = self
            .typed::<RoomRedactionEventContent>()
            .and_then(|c| c.redacts);
        top.and_then(|id| OwnedEventId::try_from(id).ok()).or(inner)
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

    /// The content of an `m.room.message` event.
    pub fn message(&self) -> Option<RoomMessageEventContent> {
        (self.kind == "m.room.message")
            .then(|| self.typed())
            .flatten()
    }

    /// The content of an `m.reaction` event.
    pub fn reaction(&self) -> Option<ReactionEventContent> {
        (self.kind == "m.reaction").then(|| self.typed()).flatten()
    }

    /// The content of an `m.sticker` event (one without the `info` the
    /// spec wants is read as one with an empty `info`).
    pub fn sticker(&self) -> Option<StickerEventContent> {
        if self.kind != "m.sticker" {
            return None;
        }
        let mut content = self.content.clone();
        if content.get("info").is_none() && content.is_object() {
            content["info"] = Value::Object(Map::new());
        }
        StickerEventContent::deserialize(&content).ok()
    }

    /// The content of an `m.room.member` event.
    pub fn member(&self) -> Option<RoomMemberEventContent> {
        (self.kind == "m.room.member")
            .then(|| self.typed())
            .flatten()
    }

    /// The receipts of an `m.receipt` ephemeral event, flattened. Entries
    /// with unexpected shapes or invalid ids are skipped, the others kept.
    pub fn receipts(&self) -> Vec<Receipt> {
        let mut out = Vec::new();
        if self.kind != "m.receipt" {
            return out;
        }
        let Some(by_event) = self.content.as_object() else {
            return out;
        };
        for (event_id, by_type) in by_event {
            let (Ok(event_id), Some(by_type)) = (
                OwnedEventId::try_from(event_id.as_str()),
                by_type.as_object(),
            ) else {
                continue;
            };
            for (receipt_type, by_user) in by_type {
                let Some(by_user) = by_user.as_object() else {
                    continue;
                };
                for (user_id, data) in by_user {
                    let Ok(user_id) = OwnedUserId::try_from(user_id.as_str()) else {
                        continue;
                    };
                    // A bare or odd value is an unthreaded receipt; an
                    // object ruma refuses (a thread that is not an event
                    // id) is skipped rather than read as the whole room.
                    let data = match ReceiptData::deserialize(data) {
                        Ok(data) => data,
                        Err(_) if !data.is_object() => ReceiptData::default(),
                        Err(_) => continue,
                    };
                    out.push(Receipt {
                        event_id: event_id.clone(),
                        receipt_type: ReceiptType::from(receipt_type.as_str()),
                        user_id,
                        ts: data.ts.map(|t| u64::from(t.0)),
                        thread: data.thread,
                    });
                }
            }
        }
        out
    }

    /// The users typing, for an `m.typing` ephemeral event; entries that
    /// are not user ids are left out.
    pub fn typing_user_ids(&self) -> Option<Vec<OwnedUserId>> {
        if self.kind != "m.typing" {
            return None;
        }
        #[derive(Deserialize)]
        struct Lenient {
            user_ids: Vec<Value>,
        }
        let ids = Lenient::deserialize(&self.content).ok()?.user_ids;
        Some(
            ids.into_iter()
                .filter_map(|v| OwnedUserId::deserialize(v).ok())
                .collect(),
        )
    }
}

/// Typed view of `m.relates_to`, read from any event's content (reactions,
/// poll responses and ends relate to their target the same way).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelatesTo {
    /// `rel_type`: `m.replace`, `m.annotation`, `m.thread`, `m.reference`...
    pub rel_type: Option<String>,
    /// `event_id` of the related event.
    pub event_id: Option<OwnedEventId>,
    /// `key` of an annotation (the reaction emoji).
    pub key: Option<String>,
    /// `m.in_reply_to.event_id`.
    pub in_reply_to: Option<OwnedEventId>,
    /// `is_falling_back` of a thread relation.
    pub is_falling_back: bool,
}

impl RelatesTo {
    fn from_content(content: &Value) -> Option<Self> {
        let rel = content.get("m.relates_to")?;
        if !rel.is_object() {
            return None;
        }
        let id = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .and_then(|s| OwnedEventId::try_from(s).ok())
        };
        Some(Self {
            rel_type: str_value(rel, "rel_type"),
            event_id: id(rel.get("event_id")),
            key: str_value(rel, "key"),
            in_reply_to: id(rel.get("m.in_reply_to").and_then(|r| r.get("event_id"))),
            is_falling_back: rel
                .get("is_falling_back")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// One entry of an `m.receipt` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The event read up to.
    pub event_id: OwnedEventId,
    /// `m.read`, `m.read.private`, ...
    pub receipt_type: ReceiptType,
    /// Who read it.
    pub user_id: OwnedUserId,
    /// When, in milliseconds.
    pub ts: Option<u64>,
    /// The thread of a threaded receipt (`Main` for the main timeline).
    pub thread: ReceiptThread,
}

impl Receipt {
    /// Whether it marks the whole room read: a public read receipt that is
    /// not for one thread only.
    pub fn reads_the_room(&self) -> bool {
        self.receipt_type == ReceiptType::Read
            && matches!(self.thread, ReceiptThread::Unthreaded | ReceiptThread::Main)
    }
}

fn id_field<T: TryFrom<String>>(obj: &Map<String, Value>, key: &str) -> Option<T> {
    str_field(obj, key).and_then(|s| T::try_from(s).ok())
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

/// The ephemeral events under MSC2409's unstable key, which older
/// homeservers send instead of the stable `ephemeral`.
#[derive(Deserialize)]
struct UnstableEphemeral {
    #[serde(rename = "de.sorunome.msc2409.ephemeral", default)]
    ephemeral: Option<Vec<Raw<push_events::v1::EphemeralData>>>,
}

/// The request again with a missing or `null` `events` or `ephemeral`
/// read as empty (homeservers that write empty lists as `null`), when that
/// is all that kept it from being one.
fn without_nulls(id: &str, body: &[u8]) -> Option<push_events::v1::Request> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object_mut()?;
    for key in ["events", "ephemeral", "de.sorunome.msc2409.ephemeral"] {
        if obj.get(key).is_none_or(Value::is_null) {
            obj.insert(key.to_owned(), Value::Array(Vec::new()));
        }
    }
    push_request(id, &serde_json::to_vec(&value).ok()?).ok()
}

/// `body` read as ruma's `push_events` request for transaction `id` (ruma
/// reads the id from the path arguments, not from the URI).
fn push_request(id: &str, body: &[u8]) -> Result<push_events::v1::Request, String> {
    let request = axum::http::Request::builder()
        .method(axum::http::Method::PUT)
        .uri("/")
        .body(body)
        .map_err(|e| e.to_string())?;
    push_events::v1::Request::try_from_http_request(request, &[id]).map_err(|e| e.to_string())
}

/// Parses a transaction `PUT` (`path` and `body`) as ruma's `push_events`
/// request. Events without a string `type` are dropped (and counted in the
/// second value) rather than failing the transaction.
pub(crate) fn parse_transaction(id: &str, body: &[u8]) -> Result<(Transaction, usize), BodyError> {
    // Syntax first: a body that is not JSON is told apart from one that is
    // not a transaction.
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|e| BodyError::NotJson(e.to_string()))?;
    let request = match push_request(id, body) {
        Ok(r) => r,
        Err(e) => without_nulls(id, body).ok_or(BodyError::BadJson(e))?,
    };
    let mut ephemeral = request.ephemeral;
    if ephemeral.is_empty()
        && let Ok(unstable) = serde_json::from_slice::<UnstableEphemeral>(body)
    {
        ephemeral = unstable.ephemeral.unwrap_or_default();
    }
    let mut dropped = 0;
    let events: Vec<Event> = request.events.iter().filter_map(Event::from_raw).collect();
    dropped += request.events.len() - events.len();
    let total = ephemeral.len();
    let ephemeral: Vec<Event> = ephemeral.iter().filter_map(Event::from_raw).collect();
    dropped += total - ephemeral.len();
    Ok((
        Transaction {
            id: request.txn_id,
            events,
            ephemeral,
        },
        dropped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::events::room::member::MembershipState;
    use ruma::events::room::message::{MessageType, Relation};
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
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"}
            }
        }));
        let m = e.message().unwrap_or_else(|| unreachable!());
        let MessageType::Text(text) = &m.msgtype else {
            unreachable!("a text")
        };
        assert_eq!(
            text.formatted.as_ref().map(|f| f.body.as_str()),
            Some("<b>hi</b>")
        );
        let Some(Relation::Replacement(edit)) = &m.relates_to else {
            unreachable!("an edit")
        };
        assert_eq!(edit.event_id, "$old");
        assert_eq!(edit.new_content.msgtype.body(), "hi");
        let rel = e.relates_to().unwrap_or_default();
        assert_eq!(rel.rel_type.as_deref(), Some("m.replace"));
        assert_eq!(e.origin_server_ts, Some(5));
        assert_eq!(e.room_id.as_deref().map(|r| r.as_str()), Some("!r:x"));
        assert_eq!(e.sender.as_deref().map(|u| u.as_str()), Some("@a:x"));
        assert!(!e.is_state());
        assert!(e.sticker().is_none() && e.member().is_none());
        let bare = ev(json!({"type": "m.sticker", "content": {"body": "wave",
            "url": "mxc://hs/st", "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}}));
        assert!(bare.sticker().is_some_and(|s| s.relates_to.is_some()));
    }

    #[test]
    fn member_receipt_typing() {
        let m = ev(json!({"type": "m.room.member", "state_key": "@b:x",
            "content": {"membership": "invite", "is_direct": true}}));
        let c = m.member().unwrap_or_else(|| unreachable!());
        assert_eq!(c.membership, MembershipState::Invite);
        assert_eq!(c.is_direct, Some(true));
        assert!(m.is_state());

        let r = ev(json!({"type": "m.receipt", "room_id": "!r:x", "content": {
            "$e": {"m.read": {"@a:x": {"ts": 7, "thread_id": "main"}, "@b:x": 3,
                              "not a user": {"ts": 1},
                              "@d:x": {"ts": 2, "thread_id": "not an event"}},
                   "m.read.private": {"@c:x": {"ts": 9, "thread_id": "$t"}}},
            "not an event": {"m.read": {"@a:x": {"ts": 1}}}}}));
        let rs = r.receipts();
        assert_eq!(rs.len(), 4, "{rs:?}");
        assert_eq!(rs[0].ts, Some(7));
        assert!(rs[0].reads_the_room());
        assert_eq!(rs[1].ts, None);
        assert!(rs[1].reads_the_room());
        assert!(!rs[2].reads_the_room(), "an unknown thread is not the room");
        assert!(!rs[3].reads_the_room(), "private and threaded");

        let t = ev(json!({"type": "m.typing", "room_id": "!r:x",
            "content": {"user_ids": ["@a:x"]}}));
        assert_eq!(
            t.typing_user_ids(),
            Some(vec![
                OwnedUserId::try_from("@a:x").unwrap_or_else(|_| unreachable!())
            ])
        );
        let odd = ev(json!({"type": "m.typing", "content": {"user_ids": ["@a:x", 5, "no"]}}));
        assert_eq!(odd.typing_user_ids().map(|ids| ids.len()), Some(1));
        let bad = ev(json!({"type": "m.typing", "content": {"user_ids": 5}}));
        assert_eq!(bad.typing_user_ids(), None);
    }

    #[test]
    fn odd_shapes_do_not_fail() {
        let e = ev(
            json!({"type": "m.room.redaction", "origin_server_ts": "soon", "content": 3,
            "redacts": "$r", "sender": "not a user", "unsigned": {"transaction_id": "t1"}}),
        );
        assert_eq!(e.origin_server_ts, None);
        assert_eq!(e.sender, None);
        assert_eq!(e.content, json!({}));
        assert!(e.message().is_none());
        assert_eq!(e.redacts().as_deref().map(|r| r.as_str()), Some("$r"));
        assert_eq!(e.transaction_id(), Some("t1"));
        assert_eq!(serde_json::to_value(&e).ok(), Some(e.raw.clone()));
        let v11 = ev(json!({"type": "m.room.redaction", "content": {"redacts": "$s"}}));
        assert_eq!(v11.redacts().as_deref().map(|r| r.as_str()), Some("$s"));
        let image_without_url = ev(json!({"type": "m.room.message",
            "content": {"msgtype": "m.image", "body": "x"}}));
        assert!(image_without_url.message().is_none());
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
        assert_eq!(t.id, "1");
        let (t, _) = parse_transaction(
            "2",
            br#"{"events":[],"ephemeral":[{"type":"m.receipt"},{"type":"m.typing"}]}"#,
        )
        .unwrap_or_else(|_| unreachable!());
        assert_eq!(t.ephemeral.len(), 2);
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
        // `events` is required by the spec, but a homeserver that writes an
        // empty list as `null` (or leaves it out) is not refused for it.
        for body in [&b"{}"[..], br#"{"events":null,"ephemeral":null}"#] {
            let (t, _) = parse_transaction("2", body).unwrap_or_else(|_| unreachable!());
            assert!(t.events.is_empty() && t.ephemeral.is_empty());
        }
        let (t, _) =
            parse_transaction("a/b", br#"{"events":[]}"#).unwrap_or_else(|_| unreachable!());
        assert_eq!(t.id, "a/b");
    }
}
