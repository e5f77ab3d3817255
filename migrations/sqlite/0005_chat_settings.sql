-- wabridge schema 5 (SQLite): WhatsApp app state the bridge mirrors into
-- Matrix. App-state patches arrive once (the client keeps only their
-- MACs), often before a chat has a room; what they said is kept here and
-- applied when the room is made.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- Per chat: archive, pin, mute and read as WhatsApp last said; NULL where
-- it said nothing.
CREATE TABLE chat_settings (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    archived   INTEGER,
    pinned     INTEGER,
    -- Muted until (unix ms); -1 forever; 0 not muted.
    mute_until INTEGER,
    -- 1 read, 0 marked unread.
    read       INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (login_id, chat_id)
);

-- Starred messages and the reaction that shows the star in Matrix.
CREATE TABLE starred_messages (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (login_id, chat_id, message_id)
);

-- The name the user saved for a contact in their address book; it wins
-- over the contact's own push name.
ALTER TABLE ghosts ADD COLUMN contact_name TEXT;
