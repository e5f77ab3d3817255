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
