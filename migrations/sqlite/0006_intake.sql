-- Intake sources: the mail provider, SMS gateway or feedback system that delivers reports, each
-- with its own bearer token. Only the token's SHA-256 hash is kept; the token is shown once.
CREATE TABLE intake_sources (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'feedback_system', 'other')),
    token_hash   TEXT NOT NULL UNIQUE,
    -- The token's first characters, so an admin can tell tokens apart without the secret.
    token_hint   TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_by   INTEGER REFERENCES users (id),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;

-- The source an incident arrived from; with its external id it identifies one delivery, so a
-- repeated delivery (a webhook retry) finds the incident it created instead of making another.
ALTER TABLE incidents ADD COLUMN intake_source_id INTEGER REFERENCES intake_sources (id);
CREATE UNIQUE INDEX incidents_by_intake_delivery ON incidents (intake_source_id, external_ref)
    WHERE intake_source_id IS NOT NULL AND external_ref <> '';
