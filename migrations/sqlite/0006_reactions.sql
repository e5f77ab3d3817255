-- wabridge schema 6 (sqlite): reactions bridged both ways.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- One reaction per reactor per message, as WhatsApp has it: a new emoji
-- replaces the old one (its Matrix event is redacted), an empty one removes it.
CREATE TABLE reactions (
    login_id          TEXT NOT NULL,
    chat_id           TEXT NOT NULL,
    -- The reacted-to message: its sender's and its own network id.
    target_sender_id  TEXT NOT NULL,
    target_message_id TEXT NOT NULL,
    -- Who reacted (network id; the logged-in account for the user's own).
    reactor_id        TEXT NOT NULL,
    emoji             TEXT NOT NULL,
    room_id           TEXT NOT NULL,
    -- The m.reaction event.
    event_id          TEXT NOT NULL UNIQUE,
    -- When it was made (unix ms).
    sent_at           INTEGER NOT NULL,
    PRIMARY KEY (login_id, chat_id, target_sender_id, target_message_id, reactor_id),
    FOREIGN KEY (login_id, chat_id) REFERENCES portals (login_id, chat_id) ON DELETE CASCADE
);
