-- Stage clocks: one row per stay of an incident in a stage, with the target it is held to and
-- the notices already sent. A stage entered again (a failed test sends the fix back) gets a new
-- row, so every stay is kept. The scheduler finds due work by `next_due_at` alone.
CREATE TABLE stage_clocks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id    INTEGER NOT NULL REFERENCES incidents (id),
    stage          TEXT NOT NULL CHECK (stage IN ('reported', 'awaiting_pm', 'investigating', 'solution_review',
                       'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup',
                       'reporting')),
    severity       TEXT NOT NULL CHECK (severity IN ('p0', 'p1', 'p2', 'p3')),
    started_at     TEXT NOT NULL,
    -- When the incident left the stage; NULL while it is there.
    stopped_at     TEXT,
    -- The target when the clock started, in seconds of its basis; NULL: no target.
    target_seconds INTEGER CHECK (target_seconds > 0),
    -- 'wall': every second counts; 'working': only the installation's working hours.
    basis          TEXT NOT NULL CHECK (basis IN ('wall', 'working')),
    -- The escalation threshold when the clock started, in percent of the target.
    escalate_pct   INTEGER NOT NULL CHECK (escalate_pct > 100),
    -- Time counted before `running_since` (earlier runs, before a pause), in seconds of the basis.
    spent_seconds  INTEGER NOT NULL DEFAULT 0 CHECK (spent_seconds >= 0),
    -- Since when the clock counts; NULL while paused or stopped.
    running_since  TEXT,
    -- Notices sent: 0 none, 1 the reminder (75 %), 2 the breach (100 %), 3 the escalation.
    level          INTEGER NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 3),
    -- While running with a target: when it reaches 75 %, 100 % and the escalation threshold
    -- (computed with the calendar when it starts or resumes, and kept: lists and notices agree),
    -- and when the next notice is due.
    risk_at        TEXT,
    breach_at      TEXT,
    escalate_at    TEXT,
    next_due_at    TEXT
) STRICT;
-- At most one running or paused clock per incident.
CREATE UNIQUE INDEX stage_clocks_current ON stage_clocks (incident_id) WHERE stopped_at IS NULL;
CREATE INDEX stage_clocks_by_incident ON stage_clocks (incident_id, id);
-- The scheduler's only read: the earliest due notices.
CREATE INDEX stage_clocks_due ON stage_clocks (next_due_at) WHERE next_due_at IS NOT NULL;

-- The timeline gains the clock's entries (pause, resume, reminder, breach, escalation) and the
-- role `system` for what the scheduler writes. SQLite cannot change a CHECK: the table is rebuilt
-- (nothing references it).
ALTER TABLE incident_timeline RENAME TO incident_timeline_old;
CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES users (id),
    actor_role  TEXT NOT NULL CHECK (actor_role IN ('ops', 'pm', 'dev', 'qa', 'admin', 'intake', 'system')),
    action      TEXT NOT NULL CHECK (action IN ('create', 'intake', 'claim', 'reassign', 'triage_non_technical',
                    'triage_technical', 'dispatch', 'propose', 'verdict_pm', 'verdict_dev', 'send_back_solution',
                    'submit_for_test', 'test_pass', 'test_fail', 'approve_release', 'send_back_release',
                    'mark_released', 'regression_pass', 'regression_fail', 'confirm_followup', 'send_report',
                    'pause', 'resume', 'clock_reminder', 'clock_breach', 'clock_escalation')),
    from_stage  TEXT NOT NULL CHECK (from_stage IN ('reported', 'awaiting_pm', 'investigating', 'solution_review',
                    'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup', 'reporting',
                    'closed')),
    to_stage    TEXT NOT NULL CHECK (to_stage IN ('reported', 'awaiting_pm', 'investigating', 'solution_review',
                    'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup', 'reporting',
                    'closed')),
    fields      TEXT NOT NULL
) STRICT;
INSERT INTO incident_timeline (id, incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields)
SELECT id, incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields FROM incident_timeline_old;
DROP TABLE incident_timeline_old;
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, id);
