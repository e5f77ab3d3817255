//! Matrix -> WhatsApp conversion: pure functions from Matrix event
//! content to WhatsApp messages (or parts of one), one file per kind of
//! thing converted. No I/O here: the handlers (`outgoing.rs`,
//! `relations/outgoing.rs`, `polls/outgoing.rs`, `media/outgoing.rs`)
//! fetch, send and record.

pub(super) mod location;
pub(super) mod markup;
pub(super) mod media;
pub(super) mod mentions;
pub(super) mod polls;
pub(super) mod text;
pub(super) mod vcard;
