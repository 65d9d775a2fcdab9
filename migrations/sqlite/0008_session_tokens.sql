-- Session cookies now carry a random token whose SHA-256 is the session record's id; the
-- separate cookie-session store is gone. Sessions opened before cannot be presented any more:
-- end them so the user lists do not count them as live, and drop the old store's table.
UPDATE auth_sessions
SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), revoked_reason = 'session_format_changed'
WHERE revoked_at IS NULL;

DROP TABLE IF EXISTS tower_sessions;
