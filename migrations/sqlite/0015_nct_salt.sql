-- wabridge schema 15 (sqlite): each login's cstoken salt.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- From the phone's app state (nct_salt_sync): a 1:1 message to a contact
-- whose privacy token we lack carries HMAC-SHA256(salt, contact LID).
ALTER TABLE wa_devices ADD COLUMN nct_salt BLOB;
