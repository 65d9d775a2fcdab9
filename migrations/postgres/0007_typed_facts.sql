-- The facts later steps need (root cause, solution, the reply to the user and their answer, the
-- deploy time, the regression notes) become typed columns written by the gate action that
-- establishes them; every enumerated column gets a CHECK; the open-incident queue gets its index.
ALTER TABLE incidents
    ADD COLUMN root_cause        TEXT NOT NULL DEFAULT '',
    ADD COLUMN solution          TEXT NOT NULL DEFAULT '',
    ADD COLUMN deployed_at       TIMESTAMPTZ,
    ADD COLUMN regression_notes  TEXT,
    ADD COLUMN user_reply        TEXT NOT NULL DEFAULT '',
    ADD COLUMN user_confirmation TEXT CHECK (user_confirmation IN ('confirmed', 'no_answer')),
    ADD CONSTRAINT incidents_stage_known CHECK (stage IN ('reported', 'awaiting_pm', 'investigating',
        'solution_review', 'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup',
        'reporting', 'closed')),
    ADD CONSTRAINT incidents_plan_known CHECK (plan IN ('optimal', 'interim')),
    ADD CONSTRAINT incidents_resolution_known CHECK (resolution IN ('non_technical', 'fixed')),
    ADD CONSTRAINT incidents_fix_round_counts CHECK (fix_round >= 0),
    -- A closed incident has a resolution, an open one none.
    ADD CONSTRAINT incidents_closed_has_resolution CHECK ((stage = 'closed') = (resolution IS NOT NULL));

-- Deploy times were free text; only a complete `YYYY-MM-DDTHH:MM` of a real date is kept.
CREATE FUNCTION pg_temp.deploy_time(t TEXT) RETURNS TIMESTAMPTZ AS $$
BEGIN
    IF t ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$' THEN
        RETURN (t || ':00+00')::TIMESTAMPTZ;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- Facts recorded before this version lived only in the timeline's JSON: copy the latest of each.
UPDATE incidents i SET
    root_cause = COALESCE((SELECT t.fields::jsonb ->> 'root_cause' FROM incident_timeline t
        WHERE t.incident_id = i.id AND t.action = 'propose' ORDER BY t.id DESC LIMIT 1), ''),
    solution = COALESCE((SELECT t.fields::jsonb ->> 'solution' FROM incident_timeline t
        WHERE t.incident_id = i.id AND t.action = 'propose' ORDER BY t.id DESC LIMIT 1), ''),
    regression_notes = (SELECT COALESCE(t.fields::jsonb ->> 'notes', '') FROM incident_timeline t
        WHERE t.incident_id = i.id AND t.action = 'regression_pass' ORDER BY t.id DESC LIMIT 1),
    user_reply = COALESCE((SELECT t.fields::jsonb ->> 'reply' FROM incident_timeline t
        WHERE t.incident_id = i.id AND t.action IN ('triage_non_technical', 'confirm_followup')
        ORDER BY t.id DESC LIMIT 1), ''),
    user_confirmation = (SELECT t.fields::jsonb ->> 'confirmation' FROM incident_timeline t
        WHERE t.incident_id = i.id AND t.action = 'confirm_followup' ORDER BY t.id DESC LIMIT 1),
    deployed_at = (SELECT pg_temp.deploy_time(t.fields::jsonb ->> 'deployed_at') FROM incident_timeline t
        WHERE t.incident_id = i.id AND t.action = 'mark_released' ORDER BY t.id DESC LIMIT 1);

ALTER TABLE incident_timeline
    ADD CONSTRAINT incident_timeline_role_known CHECK (actor_role IN ('ops', 'pm', 'dev', 'qa', 'admin', 'intake')),
    ADD CONSTRAINT incident_timeline_action_known CHECK (action IN ('create', 'intake', 'claim', 'reassign',
        'triage_non_technical', 'triage_technical', 'dispatch', 'propose', 'verdict_pm', 'verdict_dev',
        'send_back_solution', 'submit_for_test', 'test_pass', 'test_fail', 'approve_release', 'send_back_release',
        'mark_released', 'regression_pass', 'regression_fail', 'confirm_followup', 'send_report')),
    ADD CONSTRAINT incident_timeline_from_known CHECK (from_stage IN ('reported', 'awaiting_pm', 'investigating',
        'solution_review', 'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup',
        'reporting', 'closed')),
    ADD CONSTRAINT incident_timeline_to_known CHECK (to_stage IN ('reported', 'awaiting_pm', 'investigating',
        'solution_review', 'fixing', 'testing', 'release_review', 'releasing', 'verifying', 'user_followup',
        'reporting', 'closed'));

-- The queue (open incidents, most severe and longest waiting first) reads only this index; its
-- WHERE is exactly the queue's, so both databases use it and never touch closed incidents.
CREATE INDEX incidents_open_queue ON incidents (severity, stage_entered_at, id) WHERE stage <> 'closed';
