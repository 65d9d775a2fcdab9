-- The facts later steps need (root cause, solution, the reply to the user and their answer, the
-- deploy time, the regression notes) become typed columns written by the gate action that
-- establishes them; every enumerated column gets a CHECK; the open-incident queue gets its index.
--
-- SQLite cannot add a CHECK to an existing column, so `incidents` is rebuilt, and with it the two
-- tables that reference it (`incident_timeline`, `outbox`, unchanged but for the timeline's new
-- CHECKs). Migrations run in a transaction with foreign keys enforced, so the old tables are
-- renamed aside, the new ones created and filled parents first, and the old ones dropped children
-- first: no reference is ever dangling.
ALTER TABLE incident_timeline RENAME TO incident_timeline_old;
ALTER TABLE outbox RENAME TO outbox_old;
ALTER TABLE incidents RENAME TO incidents_old;

CREATE TABLE incidents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    key               TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL,
    severity          TEXT NOT NULL CHECK (severity IN ('p0', 'p1', 'p2', 'p3')),
    channel           TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'feedback_system', 'phone', 'other')),
    reporter_name     TEXT NOT NULL,
    reporter_contact  TEXT NOT NULL,
    external_ref      TEXT NOT NULL,
    stage             TEXT NOT NULL CHECK (stage IN ('reported', 'awaiting_pm', 'investigating', 'solution_review',
                          'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup',
                          'reporting', 'closed')),
    ops_owner         INTEGER REFERENCES users (id),
    pm_owner          INTEGER REFERENCES users (id),
    dev_owner         INTEGER REFERENCES users (id),
    qa_owner          INTEGER REFERENCES users (id),
    pm_verdict        INTEGER CHECK (pm_verdict IN (0, 1)),
    dev_verdict       INTEGER CHECK (dev_verdict IN (0, 1)),
    fix_round         INTEGER NOT NULL DEFAULT 0 CHECK (fix_round >= 0),
    plan              TEXT CHECK (plan IN ('optimal', 'interim')),
    pool_item_id      INTEGER REFERENCES pool_items (id),
    resolution        TEXT CHECK (resolution IN ('non_technical', 'fixed')),
    root_cause        TEXT NOT NULL DEFAULT '',
    solution          TEXT NOT NULL DEFAULT '',
    release_version   TEXT NOT NULL DEFAULT '',
    deployed_at       TEXT,
    regression_notes  TEXT,
    user_reply        TEXT NOT NULL DEFAULT '',
    user_confirmation TEXT CHECK (user_confirmation IN ('confirmed', 'no_answer')),
    version           INTEGER NOT NULL DEFAULT 1,
    created_by        INTEGER REFERENCES users (id),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    stage_entered_at  TEXT NOT NULL,
    intake_source_id  INTEGER REFERENCES intake_sources (id),
    -- A closed incident has a resolution, an open one none.
    CHECK ((stage = 'closed') = (resolution IS NOT NULL))
) STRICT;

INSERT INTO incidents (id, key, title, description, severity, channel, reporter_name, reporter_contact,
    external_ref, stage, ops_owner, pm_owner, dev_owner, qa_owner, pm_verdict, dev_verdict, fix_round, plan,
    pool_item_id, resolution, release_version, version, created_by, created_at, updated_at, stage_entered_at,
    intake_source_id)
SELECT id, key, title, description, severity, channel, reporter_name, reporter_contact,
    external_ref, stage, ops_owner, pm_owner, dev_owner, qa_owner, pm_verdict, dev_verdict, fix_round, plan,
    pool_item_id, resolution, release_version, version, created_by, created_at, updated_at, stage_entered_at,
    intake_source_id
FROM incidents_old;

-- Facts recorded before this version lived only in the timeline's JSON: copy the latest of each.
UPDATE incidents SET
    root_cause = COALESCE((SELECT json_extract(t.fields, '$.root_cause') FROM incident_timeline_old t
        WHERE t.incident_id = incidents.id AND t.action = 'propose' ORDER BY t.id DESC LIMIT 1), ''),
    solution = COALESCE((SELECT json_extract(t.fields, '$.solution') FROM incident_timeline_old t
        WHERE t.incident_id = incidents.id AND t.action = 'propose' ORDER BY t.id DESC LIMIT 1), ''),
    regression_notes = (SELECT COALESCE(json_extract(t.fields, '$.notes'), '') FROM incident_timeline_old t
        WHERE t.incident_id = incidents.id AND t.action = 'regression_pass' ORDER BY t.id DESC LIMIT 1),
    user_reply = COALESCE((SELECT json_extract(t.fields, '$.reply') FROM incident_timeline_old t
        WHERE t.incident_id = incidents.id AND t.action IN ('triage_non_technical', 'confirm_followup')
        ORDER BY t.id DESC LIMIT 1), ''),
    user_confirmation = (SELECT json_extract(t.fields, '$.confirmation') FROM incident_timeline_old t
        WHERE t.incident_id = incidents.id AND t.action = 'confirm_followup' ORDER BY t.id DESC LIMIT 1),
    -- Deploy times were free text; only a complete `YYYY-MM-DDTHH:MM` of a real date is kept.
    deployed_at = (SELECT CASE
            WHEN d GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]'
                 AND date(substr(d, 1, 10)) = substr(d, 1, 10)
                 AND CAST(substr(d, 12, 2) AS INTEGER) < 24 AND CAST(substr(d, 15, 2) AS INTEGER) < 60
            THEN d || ':00+00:00' END
        FROM (SELECT json_extract(t.fields, '$.deployed_at') AS d FROM incident_timeline_old t
              WHERE t.incident_id = incidents.id AND t.action = 'mark_released' ORDER BY t.id DESC LIMIT 1));

CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES users (id),
    actor_role  TEXT NOT NULL CHECK (actor_role IN ('ops', 'pm', 'dev', 'qa', 'admin', 'intake')),
    action      TEXT NOT NULL CHECK (action IN ('create', 'intake', 'claim', 'reassign', 'triage_non_technical',
                    'triage_technical', 'dispatch', 'propose', 'verdict_pm', 'verdict_dev', 'send_back_solution',
                    'submit_for_test', 'test_pass', 'test_fail', 'approve_release', 'send_back_release',
                    'mark_released', 'regression_pass', 'regression_fail', 'confirm_followup', 'send_report')),
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
INSERT INTO outbox SELECT * FROM outbox_old;

DROP TABLE incident_timeline_old;
DROP TABLE outbox_old;
DROP TABLE incidents_old;

CREATE INDEX incidents_by_stage ON incidents (stage, severity);
CREATE UNIQUE INDEX incidents_by_intake_delivery ON incidents (intake_source_id, external_ref)
    WHERE intake_source_id IS NOT NULL AND external_ref <> '';
-- The queue (open incidents, most severe and longest waiting first) reads only this index; its
-- WHERE is exactly the queue's, so both databases use it and never touch closed incidents.
CREATE INDEX incidents_open_queue ON incidents (severity, stage_entered_at, id) WHERE stage <> 'closed';

CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, id);
CREATE INDEX outbox_by_status ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_incident ON outbox (incident_id, kind);
