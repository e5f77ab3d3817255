-- wabridge schema 18 (postgres): people whose LID rows a login has moved to their
-- phone number (see src/store/people.rs), so a start does not look at them
-- again.
-- Forward-only: never edit a migration that has shipped; add the next number.

CREATE TABLE merged_people (
    login_id TEXT NOT NULL,
    -- The LID (JID string) whose rows, ghost and chat were moved.
    lid      TEXT NOT NULL,
    -- The phone-number JID they were moved to.
    pn       TEXT NOT NULL,
    PRIMARY KEY (login_id, lid)
);
