-- The audit log: append-only, each entry chained to the previous one by a SHA-256 hash.
-- `seq` is assigned by the application as head + 1 while holding a transaction-scoped advisory
-- lock, so concurrent appends are serialised and the chain never forks and has no gaps.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    -- UTC, RFC 3339 with microseconds: stored as text so the hashed form is exactly what is kept.
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'anonymous', 'intake', 'system')),
    actor_id    BIGINT,
    actor_name  TEXT NOT NULL,
    actor_roles TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    event       TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_by_event ON audit_log (event, seq);
CREATE INDEX audit_log_by_actor ON audit_log (actor_name, seq);
CREATE INDEX audit_log_by_target ON audit_log (target, seq);
CREATE INDEX audit_log_by_outcome ON audit_log (outcome, seq);
CREATE INDEX audit_log_by_time ON audit_log (at);

-- The database itself refuses to rewrite history.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
