-- wabridge schema 12 (postgres): each login's WhatsApp push name.
-- Forward-only: never edit a migration that has shipped; add the next number.

-- From the phone's app state (setting_pushName); the client sends it with
-- its presence so the server names the user's messages with it.
ALTER TABLE wa_devices ADD COLUMN push_name TEXT;
