-- wabridge schema 9 (postgres): polls bridged from WhatsApp, so votes can be read.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- A vote is sealed with a key derived from its poll's messageSecret, and
-- names options by the SHA-256 of their names: both are kept here.
CREATE TABLE polls (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    -- The poll message's sender and id (network ids).
    sender_id  TEXT NOT NULL,
    poll_id    TEXT NOT NULL,
    -- The poll's messageSecret (32 bytes).
    secret     BYTEA NOT NULL,
    -- The option names, one per line.
    options    TEXT NOT NULL,
    PRIMARY KEY (login_id, chat_id, poll_id),
    FOREIGN KEY (login_id, chat_id) REFERENCES portals (login_id, chat_id) ON DELETE CASCADE
);
