-- wabridge schema 17 (SQLite): message secrets of each login's device (the
-- wa-client MessageSecretStore role). Keyed by login_id like the other
-- wa_* tables; chat and sender are bare JIDs. A secret opens the add-ons
-- sealed with it later (encrypted edits, a bot's reply); it is private.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- The messageSecret of a message, ours or a contact's. The first one kept
-- for a message stays.
CREATE TABLE wa_message_secrets (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    secret     BLOB NOT NULL,
    -- When it was kept (unix seconds); the prune goes by it.
    stored_at  INTEGER NOT NULL,
    PRIMARY KEY (login_id, chat_id, sender_id, message_id)
);
CREATE INDEX wa_message_secrets_stored_at ON wa_message_secrets (login_id, stored_at);
