-- Decrypted messages whose delivery receipt has not gone out yet. The
-- ratchet moved on when they were decrypted, so a redelivery by the server
-- (the receipt never left: a crash, a stop, a failed Matrix send) can only
-- be read from here. Rows go when the receipt is sent.
CREATE TABLE wa_unacked_messages (
    login_id   TEXT NOT NULL,
    -- The stanza's from, and its participant ('' outside groups).
    chat_id    TEXT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    -- The encoded waE2E.Message.
    plaintext  BLOB NOT NULL,
    -- When kept (unix seconds).
    kept_at    BIGINT NOT NULL,
    PRIMARY KEY (login_id, chat_id, sender, message_id)
);
