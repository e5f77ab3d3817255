-- Portals whose Matrix room is being made. A row is written before the
-- room is created and goes in the same transaction that saves the portal,
-- so a row that outlives a restart means the room may exist without its
-- portal: the bridge looks for the room carrying `marker` in its initial
-- state (`fi.wabridge.portal_creation`) and adopts it instead of making a
-- second one.
CREATE TABLE portal_creations (
    login_id   TEXT NOT NULL REFERENCES logins (login_id) ON DELETE CASCADE,
    -- The chat's network id (JID string).
    chat_id    TEXT NOT NULL,
    -- Random, unique to this attempt (a chat whose portal was deleted and
    -- made again gets a new one, so its old room is never adopted).
    marker     TEXT NOT NULL,
    -- When the creation began (unix ms).
    started_at BIGINT NOT NULL,
    PRIMARY KEY (login_id, chat_id)
);
