-- wabridge schema 14 (PostgreSQL): privacy tokens (tctoken) of each login's
-- device (the wa-client PrivacyTokenStore role). Keyed by login_id like the
-- other wa_* tables; users are user JIDs without a device (123@lid,
-- 123@s.whatsapp.net). Tokens are opaque and private to the contact.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- The trusted-contact token each contact gave us; it goes with our 1:1
-- messages to them. Only the newest by issued_at is kept.
CREATE TABLE wa_privacy_tokens (
    login_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    token     BYTEA NOT NULL,
    -- When the contact issued it (unix seconds, the notification's t).
    issued_at BIGINT NOT NULL,
    PRIMARY KEY (login_id, user_id)
);
CREATE INDEX wa_privacy_tokens_issued_at ON wa_privacy_tokens (login_id, issued_at);

-- When we last issued our own token to each contact (unix seconds);
-- independent of the token the contact gave us.
CREATE TABLE wa_issued_privacy_tokens (
    login_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    PRIMARY KEY (login_id, user_id)
);
