-- wabridge schema 1 (SQLite): the bridge's own tables.
-- Forward-only: never edit a migration that has shipped; add the next number.
-- Times are unix milliseconds (INTEGER) unless a column says otherwise.

-- Matrix users who have talked to the bridge.
CREATE TABLE users (
    -- The Matrix user id (@alice:example.org).
    mxid            TEXT PRIMARY KEY NOT NULL,
    -- The user's room with the bridge bot, once it exists.
    management_room TEXT UNIQUE,
    created_at      INTEGER NOT NULL
);

-- Remote (WhatsApp) accounts logged in by Matrix users; one per user for now.
-- The login_id also keys that login's wa_* rows (see 0002).
CREATE TABLE logins (
    login_id   TEXT PRIMARY KEY NOT NULL,
    mxid       TEXT NOT NULL UNIQUE REFERENCES users (mxid) ON DELETE CASCADE,
    -- The account's phone number (digits), once known.
    phone      TEXT,
    -- Our device's network id (JID string), once paired.
    jid        TEXT,
    created_at INTEGER NOT NULL
);

-- Chats of a login bridged to Matrix rooms.
CREATE TABLE portals (
    login_id   TEXT NOT NULL REFERENCES logins (login_id) ON DELETE CASCADE,
    -- The chat's network id (JID string).
    chat_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL UNIQUE,
    -- 'dm' (one other person) or 'group'.
    kind       TEXT NOT NULL CHECK (kind IN ('dm', 'group')),
    name       TEXT NOT NULL,
    topic      TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (login_id, chat_id)
);

-- Remote users puppeted on Matrix.
CREATE TABLE ghosts (
    -- The remote user's network id (string).
    network_id   TEXT PRIMARY KEY NOT NULL,
    -- The ghost's Matrix user id localpart (without @ and server).
    localpart    TEXT NOT NULL UNIQUE,
    display_name TEXT,
    avatar_url   TEXT,
    -- True once display_name was set on the Matrix profile.
    name_set     BOOLEAN NOT NULL DEFAULT FALSE
);

-- Bridged messages: the remote message and the Matrix event it became (or
-- came from). Key as on the network: chat, sender, message id.
CREATE TABLE messages (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    event_id   TEXT NOT NULL UNIQUE,
    -- When the message was sent.
    sent_at    INTEGER NOT NULL,
    PRIMARY KEY (login_id, chat_id, sender_id, message_id),
    FOREIGN KEY (login_id, chat_id) REFERENCES portals (login_id, chat_id) ON DELETE CASCADE
);

-- Appservice transactions already handled (the homeserver retries them).
CREATE TABLE appservice_transactions (
    txn_id       TEXT PRIMARY KEY NOT NULL,
    processed_at INTEGER NOT NULL
);
CREATE INDEX appservice_transactions_processed_at ON appservice_transactions (processed_at);
