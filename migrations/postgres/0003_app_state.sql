-- wabridge schema 3 (PostgreSQL): WhatsApp app-state sync of each login's device
-- (the wa-client AppStateStore role): the sync keys the phone shared and the
-- verified state of each collection. Keyed by login_id like the other wa_*
-- tables. Key data is secret.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- App-state sync keys, by key id (a few raw bytes).
CREATE TABLE wa_app_state_keys (
    login_id  TEXT NOT NULL,
    key_id    BYTEA NOT NULL,
    -- The 32 bytes the mutation keys are derived from.
    key_data  BYTEA NOT NULL,
    -- When the phone made the key (unix ms); the newest signs new patches.
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (login_id, key_id)
);

-- The synced state of each collection: version, LTHash and value MACs, as
-- wa_core::appstate::CollectionState::to_bytes writes them.
CREATE TABLE wa_app_state_collections (
    login_id   TEXT NOT NULL,
    -- critical_block, critical_unblock_low, regular_high, regular, regular_low
    collection TEXT NOT NULL,
    state      BYTEA NOT NULL,
    PRIMARY KEY (login_id, collection)
);
