-- wabridge schema 16 (postgres): a contact's name in one user's address book
-- (app state) is that user's: shown as the ghost's name in that user's
-- rooms only (a per-room member name), never as the ghost's name for
-- everyone (issue 18). Earlier versions made it the ghost's global name
-- (ghosts.contact_name): those names are taken back, and the ghost is
-- named again (push name, or its number) when it is next used.
-- Forward-only: never edit a migration that has shipped; add the next number.

CREATE TABLE contact_names (
    login_id   TEXT NOT NULL,
    -- The contact's network id (as ghosts.network_id).
    network_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (login_id, network_id)
);

UPDATE ghosts SET display_name = NULL, name_set = FALSE WHERE contact_name IS NOT NULL;
UPDATE ghosts SET contact_name = NULL;
