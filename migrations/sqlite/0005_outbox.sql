-- The email outbox: every email is written here in the transaction of the action that causes it,
-- then delivered by the background sender. Rows are never deleted, so admins can see every email.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'notification' (stage hand-off) or 'report' (the step-9 result report).
    kind            TEXT NOT NULL CHECK (kind IN ('notification', 'report')),
    incident_id     INTEGER REFERENCES incidents (id),
    -- Set for emails that must exist at most once ('report:<incident id>'); NULL otherwise.
    dedupe_key      TEXT UNIQUE,
    -- JSON array of email addresses.
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    language        TEXT NOT NULL,
    -- The Message-ID header, fixed when the row is written so every resend carries the same one.
    message_id      TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'not_configured')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    sent_at         TEXT
) STRICT;
-- The sender's scan: due queued rows and expired leases.
CREATE INDEX outbox_by_status ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_incident ON outbox (incident_id, kind);
