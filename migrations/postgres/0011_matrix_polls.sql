-- wabridge schema 11 (postgres): polls started in Matrix, so votes map both ways.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- A Matrix poll names its answers by ids its client chose; WhatsApp names
-- them by the SHA-256 of their text. For a poll started in Matrix both are
-- kept. Both columns are NULL for a poll from WhatsApp.

-- The answer ids, a JSON array in the order of `options`.
ALTER TABLE polls ADD COLUMN answer_ids TEXT;
-- The event type votes on it are shown with in Matrix (MSC3381's unstable
-- or stable poll response).
ALTER TABLE polls ADD COLUMN response_type TEXT;
