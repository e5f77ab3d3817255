-- wabridge schema 19 (sqlite): the WhatsApp picture each portal's room shows
-- as its avatar, by the picture's id, so an unchanged one is not fetched
-- and uploaded again.
-- Forward-only: never edit a migration that has shipped; add the next number.

CREATE TABLE portal_pictures (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    -- The picture's id on WhatsApp.
    picture_id TEXT NOT NULL,
    PRIMARY KEY (login_id, chat_id),
    FOREIGN KEY (login_id, chat_id) REFERENCES portals (login_id, chat_id) ON DELETE CASCADE
);
