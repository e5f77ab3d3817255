-- wabridge schema 2 (PostgreSQL): what each login's WhatsApp device keeps (the
-- wa-client store roles). Every row is keyed by the bridge's login_id, so
-- many users' devices share one database. No foreign key to logins: a device
-- exists while it pairs, before its login row. These rows hold private keys.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- The device's own state (one row per login). Keys are raw 32-byte values,
-- the signature 64 bytes; public halves are derived from private ones.
CREATE TABLE wa_devices (
    login_id                TEXT PRIMARY KEY,
    noise_private           BYTEA NOT NULL,
    identity_private        BYTEA NOT NULL,
    registration_id         BIGINT NOT NULL,
    signed_prekey_id        BIGINT NOT NULL,
    signed_prekey_private   BYTEA NOT NULL,
    signed_prekey_signature BYTEA NOT NULL,
    -- When the signed prekey was made (unix seconds).
    signed_prekey_created   BIGINT NOT NULL,
    adv_secret              BYTEA NOT NULL,
    next_prekey_id          BIGINT NOT NULL,
    -- Our JIDs (strings), once paired.
    jid                     TEXT,
    lid                     TEXT,
    -- The account's signed vouch: an encoded AdvSignedDeviceIdentity protobuf.
    account                 BYTEA,
    platform                TEXT
);

-- Peers' identity keys, by Signal address.
CREATE TABLE wa_identities (
    login_id     TEXT NOT NULL,
    address      TEXT NOT NULL,
    identity_key BYTEA NOT NULL,
    PRIMARY KEY (login_id, address)
);

-- Our unused one-time prekeys (private half).
CREATE TABLE wa_prekeys (
    login_id    TEXT NOT NULL,
    prekey_id   BIGINT NOT NULL,
    private_key BYTEA NOT NULL,
    PRIMARY KEY (login_id, prekey_id)
);

-- Our signed prekeys: the current one and older ones still accepted.
CREATE TABLE wa_signed_prekeys (
    login_id    TEXT NOT NULL,
    prekey_id   BIGINT NOT NULL,
    private_key BYTEA NOT NULL,
    signature   BYTEA NOT NULL,
    PRIMARY KEY (login_id, prekey_id)
);

-- Pairwise Signal sessions (serialized records), by Signal address.
CREATE TABLE wa_sessions (
    login_id TEXT NOT NULL,
    address  TEXT NOT NULL,
    record   BYTEA NOT NULL,
    PRIMARY KEY (login_id, address)
);

-- Group sender keys (serialized records), by group and sender address.
CREATE TABLE wa_sender_keys (
    login_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    sender   TEXT NOT NULL,
    record   BYTEA NOT NULL,
    PRIMARY KEY (login_id, group_id, sender)
);

-- Devices (JID strings) that received our current sender key of a group.
CREATE TABLE wa_sender_key_holders (
    login_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    device   TEXT NOT NULL,
    PRIMARY KEY (login_id, group_id, device)
);

-- Device-list cache, by user (user part with server: 123@lid).
CREATE TABLE wa_device_lists (
    login_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    -- Device ids, comma-separated decimals ("0,3,17"); may be empty.
    devices    TEXT NOT NULL,
    -- When the list was fetched (unix seconds).
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (login_id, user_id)
);

-- Phone-number user <-> LID user (user parts only), one-to-one.
CREATE TABLE wa_lid_mappings (
    login_id TEXT NOT NULL,
    pn       TEXT NOT NULL,
    lid      TEXT NOT NULL,
    PRIMARY KEY (login_id, pn),
    UNIQUE (login_id, lid)
);

-- Messages already handled (dedupe of redeliveries).
CREATE TABLE wa_seen_messages (
    login_id   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    -- When first seen (unix seconds, as the client passes it).
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (login_id, chat_id, sender, message_id)
);
CREATE INDEX wa_seen_messages_seen_at ON wa_seen_messages (login_id, seen_at);
