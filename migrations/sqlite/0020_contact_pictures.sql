-- wabridge schema 20 (sqlite): contacts' profile pictures as each login sees
-- them (a picture may be hidden from one user and shown to another), shown
-- as the ghost's avatar in that login's rooms only.
-- Forward-only: never edit a migration that has shipped; add the next number.

CREATE TABLE contact_pictures (
    login_id   TEXT NOT NULL,
    -- The contact's network id (as ghosts.network_id).
    network_id TEXT NOT NULL,
    -- The picture's id on WhatsApp; empty: none, or hidden from this login.
    picture_id TEXT NOT NULL,
    -- The picture uploaded to the homeserver (mxc://), when there is one.
    avatar_url TEXT,
    PRIMARY KEY (login_id, network_id)
);
