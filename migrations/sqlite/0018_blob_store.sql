-- Attachment contents are kept behind a store (`collab::storage`): the `blobs` table is the
-- database store's own, and an attachment names its content by hash only, so a store outside the
-- database can hold the bytes. SQLite drops a reference by rebuilding the table.
CREATE TABLE attachments_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    comment_id   INTEGER REFERENCES comments (id),
    name         TEXT NOT NULL,
    -- Detected from the bytes when stored, never taken from the sender.
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    -- The content's SHA-256 in the blob store.
    sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
    thumb_sha256 TEXT CHECK (length(thumb_sha256) = 64),
    -- None for files that arrived with an intake report.
    uploaded_by  INTEGER REFERENCES users (id),
    created_at   TEXT NOT NULL
) STRICT;
INSERT INTO attachments_new (id, incident_id, comment_id, name, content_type, size, sha256, thumb_sha256, uploaded_by, created_at)
    SELECT id, incident_id, comment_id, name, content_type, size, sha256, thumb_sha256, uploaded_by, created_at FROM attachments;
DROP TABLE attachments;
ALTER TABLE attachments_new RENAME TO attachments;
CREATE INDEX attachments_by_incident ON attachments (incident_id, id);
