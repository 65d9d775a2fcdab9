-- Attachments: each content stored once, by its SHA-256, in the database (every instance on one
-- database sees every file); each attachment names its incident (and comment) and its content.

CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    size       INTEGER NOT NULL CHECK (size >= 0),
    content    BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    comment_id   INTEGER REFERENCES comments (id),
    name         TEXT NOT NULL,
    -- Detected from the bytes when stored, never taken from the sender.
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       TEXT NOT NULL REFERENCES blobs (sha256),
    thumb_sha256 TEXT REFERENCES blobs (sha256),
    -- None for files that arrived with an intake report.
    uploaded_by  INTEGER REFERENCES users (id),
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_by_incident ON attachments (incident_id, id);
