-- Prevention measures (措施) as tracked items, the requirement pool's delivery time, and the
-- indexes the reports page reads incidents by.

-- One prevention measure of a step-9 report: what, who, by when, and how it ended.
CREATE TABLE measures (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    text        TEXT NOT NULL,
    owner_id    INTEGER NOT NULL REFERENCES users (id),
    -- A calendar date, `YYYY-MM-DD`; overdue from the next day in the installation's time zone.
    due         TEXT NOT NULL CHECK (due GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    status      TEXT NOT NULL CHECK (status IN ('open', 'done', 'dropped')),
    -- The note of a done measure or the reason a measure was dropped; empty while open.
    outcome     TEXT NOT NULL DEFAULT '',
    closed_by   INTEGER REFERENCES users (id),
    closed_at   TEXT,
    -- The date (installation zone) of the last overdue reminder: at most one a day.
    reminded_on TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK ((status = 'open') = (closed_at IS NULL))
) STRICT;
-- The reminder pass reads only open measures past their date.
CREATE INDEX measures_open_by_due ON measures (due, id) WHERE status = 'open';
CREATE INDEX measures_by_owner ON measures (owner_id, status, due);
CREATE INDEX measures_by_incident ON measures (incident_id, id);

-- Reports sent before measures were tracked keep theirs: each becomes an open measure. Its
-- first reminder comes tomorrow, not in the minute after the upgrade.
INSERT INTO measures (incident_id, text, owner_id, due, status, reminded_on, created_at, updated_at)
SELECT t.incident_id, json_extract(m.value, '$.text'), json_extract(m.value, '$.owner_id'),
       json_extract(m.value, '$.due'), 'open', date('now'), t.at, t.at
FROM incident_timeline t, json_each(t.fields, '$.measures') m
WHERE t.action = 'send_report'
  AND json_extract(m.value, '$.owner_id') IN (SELECT id FROM users)
ORDER BY t.id, m.key;

-- When an item was done: with `target_release`, the release that delivered the optimal solution.
ALTER TABLE pool_items ADD COLUMN done_at TEXT;
UPDATE pool_items SET done_at = updated_at WHERE status = 'done';

-- Each finished stay keeps its wall-clock length and who handed it on (the user and the role of
-- the action that left the stage): the reports read one row per stay. Stays finished before
-- this version take both from the timeline entry that ended them.
ALTER TABLE stage_clocks ADD COLUMN held_seconds INTEGER CHECK (held_seconds >= 0);
ALTER TABLE stage_clocks ADD COLUMN ended_by INTEGER REFERENCES users (id);
ALTER TABLE stage_clocks ADD COLUMN ended_role TEXT CHECK (ended_role IN ('ops', 'pm', 'dev', 'qa', 'admin'));
UPDATE stage_clocks SET held_seconds = MAX(0, CAST(ROUND((julianday(stopped_at) - julianday(started_at)) * 86400) AS INTEGER))
WHERE stopped_at IS NOT NULL;
UPDATE stage_clocks SET
    ended_by = (SELECT t.actor_id FROM incident_timeline t WHERE t.incident_id = stage_clocks.incident_id
        AND t.from_stage = stage_clocks.stage AND t.to_stage <> t.from_stage AND t.at = stage_clocks.stopped_at
        AND t.actor_role IN ('ops', 'pm', 'dev', 'qa', 'admin') ORDER BY t.id LIMIT 1),
    ended_role = (SELECT t.actor_role FROM incident_timeline t WHERE t.incident_id = stage_clocks.incident_id
        AND t.from_stage = stage_clocks.stage AND t.to_stage <> t.from_stage AND t.at = stage_clocks.stopped_at
        AND t.actor_role IN ('ops', 'pm', 'dev', 'qa', 'admin') ORDER BY t.id LIMIT 1)
WHERE stopped_at IS NOT NULL;

-- The reports page selects incidents by when they were reported and when they closed.
CREATE INDEX incidents_by_created ON incidents (created_at);
CREATE INDEX incidents_closed_by_time ON incidents (stage_entered_at) WHERE stage = 'closed';
