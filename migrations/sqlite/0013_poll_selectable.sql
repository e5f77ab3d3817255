-- wabridge schema 13 (sqlite): how many options a poll's voter may choose.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- selectableOptionsCount: 0 for any number; NULL in rows written before,
-- read as any number. A vote from Matrix names at most this many (MSC3381
-- counts only the first max_selections answers).
ALTER TABLE polls ADD COLUMN selectable INTEGER;
