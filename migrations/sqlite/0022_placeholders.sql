-- wabridge schema 22 (sqlite): the notice shown in place of a network message
-- that cannot be read yet (undecryptable, asked for again), so the message
-- replaces it when it comes, or it says the message was lost.
-- Forward-only: never edit a migration that has shipped; add the next number.

CREATE TABLE placeholders (
    login_id   TEXT NOT NULL REFERENCES logins (login_id) ON DELETE CASCADE,
    chat_id    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    -- The notice's event.
    event_id   TEXT NOT NULL,
    -- It says the message could not be read (no more waiting).
    failed     BOOLEAN NOT NULL DEFAULT FALSE,
    -- Unix seconds; pruned with the seen messages.
    created_at BIGINT NOT NULL,
    PRIMARY KEY (login_id, chat_id, sender_id, message_id)
);
