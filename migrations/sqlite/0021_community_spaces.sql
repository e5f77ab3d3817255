-- wabridge schema 21 (sqlite): WhatsApp communities as Matrix spaces, one per
-- login and community, and which of the login's group portals each holds.
-- Forward-only: never edit a migration that has shipped; add the next number.

CREATE TABLE community_spaces (
    login_id     TEXT NOT NULL REFERENCES logins (login_id) ON DELETE CASCADE,
    -- The community's own group JID (the parent group).
    community_id TEXT NOT NULL,
    room_id      TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (login_id, community_id)
);

-- A group portal in its community's space (a group has one community).
CREATE TABLE community_children (
    login_id     TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    community_id TEXT NOT NULL,
    PRIMARY KEY (login_id, chat_id),
    FOREIGN KEY (login_id, chat_id) REFERENCES portals (login_id, chat_id) ON DELETE CASCADE,
    FOREIGN KEY (login_id, community_id)
        REFERENCES community_spaces (login_id, community_id) ON DELETE CASCADE
);
