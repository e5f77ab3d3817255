//! WhatsApp -> Matrix conversion: pure functions from a WhatsApp message
//! (or part of one) to Matrix event content, one file per kind of thing
//! converted. No I/O here: the handlers (`incoming.rs`, `relations.rs`,
//! `polls.rs`, `media/incoming.rs`) fetch, send and record.

pub(super) mod markup;
pub(super) mod media;
pub(super) mod mentions;
pub(super) mod polls;
pub(super) mod structured;
pub(super) mod text;
pub(super) mod vcard;

use serde::Serialize;
use serde_json::Value;

/// `content` as the JSON the handlers send (ruma's contents and the typed
/// parts here always serialise).
pub(super) fn json_of(content: &impl Serialize) -> Value {
    serde_json::to_value(content).unwrap_or_default()
}

/// Sets the fields of `fields` (a typed part ruma's types have no field
/// for) on the JSON object `content`.
pub(super) fn merge(content: &mut Value, fields: &impl Serialize) {
    if let (Some(content), Value::Object(fields)) = (content.as_object_mut(), json_of(fields)) {
        content.extend(fields);
    }
}
