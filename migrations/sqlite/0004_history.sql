-- wabridge schema 4 (SQLite): WhatsApp history received at login, kept until
-- it is bridged. History blobs cannot be requested again, so each chunk is
-- written here before the phone's notification is acknowledged; the backfill
-- reads from these tables, so a bridge killed mid-backfill resumes from them.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- Chunks already stored, by the id of the message that announced them: a
-- redelivered notification is recognised and only acknowledged again.
CREATE TABLE history_chunks (
    login_id    TEXT NOT NULL,
    chunk_id    TEXT NOT NULL,
    sync_type   INTEGER NOT NULL,
    chunk_order INTEGER,
    -- Percent of the whole history sync the phone reported, if any.
    progress    INTEGER,
    stored_at   INTEGER NOT NULL,
    PRIMARY KEY (login_id, chunk_id)
);

-- Chats of the history, merged over chunks.
CREATE TABLE history_chats (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    name       TEXT,
    -- Newest activity (unix ms): picks the most recent chats.
    last_ts    INTEGER NOT NULL,
    unread     INTEGER NOT NULL DEFAULT 0,
    archived   INTEGER NOT NULL DEFAULT 0,
    pinned     INTEGER NOT NULL DEFAULT 0,
    -- Muted until (unix ms); -1 forever; NULL not muted.
    mute_until INTEGER,
    -- Newest message timestamp already bridged (unix ms); NULL: none yet.
    bridged_ts INTEGER,
    PRIMARY KEY (login_id, chat_id)
);

-- Messages of the history, one row per message however often it arrives.
CREATE TABLE history_messages (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    from_me    INTEGER NOT NULL,
    -- unix ms
    ts         INTEGER NOT NULL,
    push_name  TEXT,
    -- The message: an encoded WebMessageInfo protobuf.
    payload    BLOB NOT NULL,
    PRIMARY KEY (login_id, chat_id, sender_id, message_id)
);
CREATE INDEX history_messages_by_time ON history_messages (login_id, chat_id, ts);
