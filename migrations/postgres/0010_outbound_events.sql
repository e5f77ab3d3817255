-- wabridge schema 10 (postgres): events from Matrix on their way to WhatsApp.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- Written before the homeserver's transaction is answered, deleted once
-- handled, replayed in order at start: a crash loses none of them.
CREATE TABLE outbound_events (
    seq      BIGSERIAL PRIMARY KEY,
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    -- The event's JSON as the homeserver sent it.
    event    TEXT NOT NULL
);
