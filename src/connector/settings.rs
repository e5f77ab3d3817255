//! A user's own room settings that mirror WhatsApp chat state: tags
//! (`m.favourite` <-> pinned, `m.lowpriority` <-> archived), the room's
//! push rule (mute) and the fully-read marker (read).
//!
//! These are the user's account data, which the homeserver never pushes to
//! an appservice; with double puppeting the bridge reads them through a
//! filtered `/sync` as the user. This module is the pure part: reading one
//! sync response and telling what changed against what the bridge last
//! knew (including what the bridge itself set, so its own changes are not
//! sent back).

use std::collections::{BTreeSet, HashMap};

use ruma::api::client::filter::{Filter, FilterDefinition, RoomEventFilter};
use ruma::{OwnedEventId, OwnedRoomId, RoomId, UInt};
use serde_json::Value;

/// One room's mirrored settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSettings {
    /// Tagged `m.favourite`.
    pub favourite: bool,
    /// Tagged `m.lowpriority`.
    pub low_priority: bool,
    /// Has a room push rule that does not notify.
    pub muted: bool,
    /// The event the fully-read marker points at.
    pub read_up_to: Option<OwnedEventId>,
    /// Marked unread (`m.marked_unread`, MSC2867).
    pub marked_unread: bool,
}

/// A change the user made in Matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Favourite tag added or removed.
    Pin(bool),
    /// Low-priority tag added or removed.
    Archive(bool),
    /// Muted or unmuted.
    Mute(bool),
    /// The fully-read marker moved to this event.
    Read(OwnedEventId),
    /// Marked unread (`true`) or that mark taken away.
    MarkedUnread(bool),
}

/// The room account data type that marks a room unread (Matrix 1.12).
pub const MARKED_UNREAD: &str = "m.marked_unread";
/// Its unstable name, which older clients still write.
pub const MARKED_UNREAD_UNSTABLE: &str = "com.famedly.marked_unread";

/// The sync filter: only account data, no timelines, state or presence.
pub fn sync_filter() -> Value {
    let types = |t: &[&str]| Some(t.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>());
    let mut filter = FilterDefinition::empty();
    filter.presence = Filter::ignore_all();
    filter.account_data.types = types(&["m.push_rules"]);
    filter.room.timeline = RoomEventFilter::ignore_all();
    filter.room.timeline.limit = Some(UInt::MIN);
    filter.room.state = RoomEventFilter::ignore_all();
    filter.room.ephemeral = RoomEventFilter::ignore_all();
    filter.room.account_data.types = types(&[
        "m.tag",
        "m.fully_read",
        MARKED_UNREAD,
        MARKED_UNREAD_UNSTABLE,
    ]);
    // ruma's filter always serialises.
    serde_json::to_value(filter).unwrap_or_default()
}

/// What the bridge knows of one user's room settings.
#[derive(Debug, Default)]
pub struct Known {
    rooms: HashMap<OwnedRoomId, RoomSettings>,
}

impl Known {
    /// The settings known for `room`.
    pub fn get(&self, room: &RoomId) -> RoomSettings {
        self.rooms.get(room).cloned().unwrap_or_default()
    }

    /// Records a setting the bridge applied itself (from WhatsApp), so the
    /// sync that reports it is not taken for the user's change.
    pub fn set(&mut self, room: &RoomId, f: impl FnOnce(&mut RoomSettings)) {
        f(self.rooms.entry(room.to_owned()).or_default());
    }

    /// Applies one sync response; returns the user's changes per room, in
    /// room order. With `baseline`, only records (the first sync of a run
    /// says how things are, not what changed). A room or event id that is
    /// not one is left out.
    pub fn apply(&mut self, sync: &Value, baseline: bool) -> Vec<(OwnedRoomId, Change)> {
        let mut changes = Vec::new();
        if let Some(rooms) = sync.pointer("/rooms/join").and_then(Value::as_object) {
            let mut entries: Vec<(OwnedRoomId, &Value)> = rooms
                .iter()
                .filter_map(|(id, data)| Some((RoomId::parse(id).ok()?, data)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (room, data) in entries {
                let events = data
                    .pointer("/account_data/events")
                    .and_then(Value::as_array);
                for event in events.into_iter().flatten() {
                    let content = &event["content"];
                    let before = self.get(&room);
                    let mut after = before.clone();
                    match event["type"].as_str() {
                        Some("m.tag") => {
                            let tags = content["tags"].as_object();
                            let has = |t: &str| tags.is_some_and(|m| m.contains_key(t));
                            after.favourite = has("m.favourite");
                            after.low_priority = has("m.lowpriority");
                        }
                        Some("m.fully_read") => {
                            after.read_up_to = content["event_id"]
                                .as_str()
                                .and_then(|e| OwnedEventId::try_from(e).ok());
                        }
                        Some(MARKED_UNREAD | MARKED_UNREAD_UNSTABLE) => {
                            after.marked_unread = content["unread"].as_bool().unwrap_or(false);
                        }
                        _ => continue,
                    }
                    if !baseline {
                        diff(&room, &before, &after, &mut changes);
                    }
                    self.rooms.insert(room.clone(), after);
                }
            }
        }
        if let Some(muted) = muted_rooms(sync) {
            let mut rooms: BTreeSet<OwnedRoomId> = self.rooms.keys().cloned().collect();
            rooms.extend(muted.iter().cloned());
            for room in rooms {
                let before = self.get(&room);
                let after = RoomSettings {
                    muted: muted.contains(&room),
                    ..before.clone()
                };
                if !baseline {
                    diff(&room, &before, &after, &mut changes);
                }
                self.rooms.insert(room, after);
            }
        }
        changes
    }
}

fn diff(
    room: &RoomId,
    before: &RoomSettings,
    after: &RoomSettings,
    out: &mut Vec<(OwnedRoomId, Change)>,
) {
    if before.favourite != after.favourite {
        out.push((room.to_owned(), Change::Pin(after.favourite)));
    }
    if before.low_priority != after.low_priority {
        out.push((room.to_owned(), Change::Archive(after.low_priority)));
    }
    if before.muted != after.muted {
        out.push((room.to_owned(), Change::Mute(after.muted)));
    }
    if before.marked_unread != after.marked_unread {
        out.push((room.to_owned(), Change::MarkedUnread(after.marked_unread)));
    }
    if before.read_up_to != after.read_up_to
        && let Some(event) = &after.read_up_to
    {
        out.push((room.to_owned(), Change::Read(event.clone())));
    }
}

/// The rooms a `m.push_rules` event in this sync mutes, if it has one
/// (the event always carries the whole rule set).
fn muted_rooms(sync: &Value) -> Option<BTreeSet<OwnedRoomId>> {
    let events = sync.pointer("/account_data/events")?.as_array()?;
    let rules = events.iter().rev().find(|e| e["type"] == "m.push_rules")?;
    // Without the room rule list the event says nothing about mutes.
    let room_rules = rules.pointer("/content/global/room")?.as_array()?;
    let mut muted = BTreeSet::new();
    for rule in room_rules {
        let enabled = rule["enabled"].as_bool().unwrap_or(true);
        let silent = rule["actions"].as_array().is_some_and(|a| {
            a.iter()
                .all(|x| x.as_str().is_some_and(|s| s == "dont_notify"))
        });
        if enabled
            && silent
            && let Some(id) = rule["rule_id"].as_str()
            && let Ok(id) = RoomId::parse(id)
        {
            muted.insert(id);
        }
    }
    Some(muted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::{owned_event_id, owned_room_id, room_id};
    use serde_json::json;

    #[test]
    fn the_sync_filter_asks_for_account_data_only() {
        assert_eq!(
            sync_filter(),
            json!({
                "presence": {"types": []},
                "account_data": {"types": ["m.push_rules"]},
                "room": {
                    "timeline": {"limit": 0, "types": []},
                    "state": {"types": []},
                    "ephemeral": {"types": []},
                    "account_data": {"types": ["m.tag", "m.fully_read", MARKED_UNREAD, MARKED_UNREAD_UNSTABLE]},
                },
            })
        );
    }

    fn room_data(room: &str, events: Value) -> Value {
        json!({"rooms": {"join": {room: {"account_data": {"events": events}}}}})
    }

    #[test]
    fn baseline_records_without_changes_then_diffs() {
        let mut known = Known::default();
        let first = room_data(
            "!a:x",
            json!([{"type": "m.tag", "content": {"tags": {"m.favourite": {}}}}]),
        );
        assert!(known.apply(&first, true).is_empty());
        assert!(known.get(room_id!("!a:x")).favourite);

        let next = room_data(
            "!a:x",
            json!([{"type": "m.tag", "content": {"tags": {"m.lowpriority": {"order": 0.5}}}}]),
        );
        assert_eq!(
            known.apply(&next, false),
            vec![
                (owned_room_id!("!a:x"), Change::Pin(false)),
                (owned_room_id!("!a:x"), Change::Archive(true)),
            ]
        );
    }

    #[test]
    fn what_the_bridge_set_is_not_a_change() {
        let mut known = Known::default();
        known.set(room_id!("!a:x"), |s| s.favourite = true);
        let sync = room_data(
            "!a:x",
            json!([{"type": "m.tag", "content": {"tags": {"m.favourite": {}}}}]),
        );
        assert!(known.apply(&sync, false).is_empty());
    }

    #[test]
    fn push_rules_mute_and_unmute() {
        let mut known = Known::default();
        let rules = |rooms: Value| {
            json!({"account_data": {"events": [
                {"type": "m.push_rules", "content": {"global": {"room": rooms}}}
            ]}})
        };
        let muted = rules(json!([
            {"rule_id": "!a:x", "actions": [], "enabled": true, "default": false},
            {"rule_id": "!b:x", "actions": ["notify"], "enabled": true},
            {"rule_id": "!c:x", "actions": ["dont_notify"], "enabled": false},
        ]));
        assert_eq!(
            known.apply(&muted, false),
            vec![(owned_room_id!("!a:x"), Change::Mute(true))]
        );
        assert!(known.apply(&muted, false).is_empty(), "no change twice");
        assert_eq!(
            known.apply(&rules(json!([])), false),
            vec![(owned_room_id!("!a:x"), Change::Mute(false))]
        );
        assert!(
            known
                .apply(&json!({"account_data": {"events": []}}), false)
                .is_empty(),
            "no push rules event: mute state unchanged"
        );
    }

    #[test]
    fn read_marker_moves() {
        let mut known = Known::default();
        let read = |e: &str| {
            room_data(
                "!a:x",
                json!([{"type": "m.fully_read", "content": {"event_id": e}}]),
            )
        };
        assert_eq!(
            known.apply(&read("$1"), false),
            vec![(owned_room_id!("!a:x"), Change::Read(owned_event_id!("$1")))]
        );
        assert!(known.apply(&read("$1"), false).is_empty());
    }

    #[test]
    fn marked_unread_both_names() {
        let mut known = Known::default();
        let mark = |kind: &str, unread: bool| {
            room_data(
                "!a:x",
                json!([{"type": kind, "content": {"unread": unread}}]),
            )
        };
        assert_eq!(
            known.apply(&mark(MARKED_UNREAD_UNSTABLE, true), false),
            vec![(owned_room_id!("!a:x"), Change::MarkedUnread(true))]
        );
        assert!(known.apply(&mark(MARKED_UNREAD, true), false).is_empty());
        assert_eq!(
            known.apply(&mark(MARKED_UNREAD, false), false),
            vec![(owned_room_id!("!a:x"), Change::MarkedUnread(false))]
        );
    }

    #[test]
    fn junk_is_ignored() {
        let mut known = Known::default();
        known.set(room_id!("!a:x"), |s| s.muted = true);
        for junk in [
            json!(null),
            json!({"rooms": 5}),
            json!({"rooms": {"join": {"!a:x": {"account_data": {"events": [5, {"type": 1}]}}}}}),
            json!({"account_data": {"events": [{"type": "m.push_rules", "content": 3}]}}),
        ] {
            assert!(known.apply(&junk, false).is_empty(), "{junk}");
        }
        assert!(
            known.get(room_id!("!a:x")).muted,
            "a broken rule set unmutes nothing"
        );
    }
}
