-- Users, their roles, app-owned sessions and sign-in throttling.
CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT NOT NULL,
    -- Lower-cased username: uniqueness is case-insensitive.
    username_key         TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    email                TEXT NOT NULL,
    language             TEXT NOT NULL DEFAULT 'en',
    active               INTEGER NOT NULL DEFAULT 1,
    password_hash        TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
) STRICT;

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('ops', 'pm', 'dev', 'qa', 'admin')),
    PRIMARY KEY (user_id, role)
) STRICT;
CREATE INDEX user_roles_by_role ON user_roles (role);

-- The authority on whether a signed-in session is still valid; checked on every request.
CREATE TABLE auth_sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT,
    client_addr    TEXT NOT NULL,
    user_agent     TEXT NOT NULL
) STRICT;
CREATE INDEX auth_sessions_by_user ON auth_sessions (user_id);

-- Failed sign-ins per key ("user:<name>" or "addr:<ip>"); times in Unix milliseconds.
CREATE TABLE login_throttle (
    key              TEXT PRIMARY KEY NOT NULL,
    failures         INTEGER NOT NULL,
    window_start_ms  INTEGER NOT NULL,
    blocked_until_ms INTEGER NOT NULL
) STRICT;
