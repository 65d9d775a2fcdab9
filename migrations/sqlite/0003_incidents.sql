-- Incidents, their timeline, the per-year key counter and the requirement pool.
CREATE TABLE incident_counters (
    year INTEGER PRIMARY KEY NOT NULL,
    last INTEGER NOT NULL
) STRICT;

CREATE TABLE pool_items (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    priority           TEXT NOT NULL CHECK (priority IN ('p0', 'p1', 'p2', 'p3')),
    status             TEXT NOT NULL CHECK (status IN ('open', 'scheduled', 'done')),
    target_release     TEXT NOT NULL DEFAULT '',
    source_incident_id INTEGER,
    created_by         INTEGER NOT NULL REFERENCES users (id),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;

CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('p0', 'p1', 'p2', 'p3')),
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'feedback_system', 'phone', 'other')),
    reporter_name    TEXT NOT NULL,
    reporter_contact TEXT NOT NULL,
    external_ref     TEXT NOT NULL,
    stage            TEXT NOT NULL,
    ops_owner        INTEGER REFERENCES users (id),
    pm_owner         INTEGER REFERENCES users (id),
    dev_owner        INTEGER REFERENCES users (id),
    qa_owner         INTEGER REFERENCES users (id),
    pm_verdict       INTEGER,
    dev_verdict      INTEGER,
    fix_round        INTEGER NOT NULL DEFAULT 0,
    plan             TEXT,
    pool_item_id     INTEGER REFERENCES pool_items (id),
    resolution       TEXT,
    release_version  TEXT NOT NULL DEFAULT '',
    version          INTEGER NOT NULL DEFAULT 1,
    created_by       INTEGER REFERENCES users (id),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    stage_entered_at TEXT NOT NULL
) STRICT;
CREATE INDEX incidents_by_stage ON incidents (stage, severity);

-- One entry per accepted action: who, as which role, what, from which stage to which, the fields.
CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES users (id),
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_stage  TEXT NOT NULL,
    to_stage    TEXT NOT NULL,
    fields      TEXT NOT NULL
) STRICT;
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, id);
