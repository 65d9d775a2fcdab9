//! Stage clocks on both back ends: notices at the right (injected) times, once each, to the right
//! people in their language; fresh clocks for re-entered stages; pausing; the policy in force when
//! a clock starts; restarts and several instances.

use app::{
    auth::Role,
    clocks::{notices, policy, store, Basis, Level},
    config::Backend,
    db::Db,
    db_test,
    error::{AppError, FieldProblem},
    workflow::{
        engine,
        input::{GateInput, NewIncident, Severity},
        rules::{Actor, Refusal, Stage},
    },
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::Row;

use crate::helpers::{count, incident, person, team, version, Person, Team};

/// Takes an action at the incident's current version, at `at`.
async fn act_at(db: &Db, who: &Actor, id: i64, input: GateInput, at: DateTime<Utc>) -> Stage {
    let v = version(db, id).await;
    engine::act(db, who, id, v, &input, at).await.unwrap().stage
}

/// A P1 report (30 minutes to triage by default, counted around the clock).
fn p1(title: &str) -> NewIncident {
    NewIncident { severity: Severity::P1, ..incident(title) }
}

/// The clock notices queued for an incident: (recipient, subject), in order.
async fn notices_of(db: &Db, id: i64) -> Vec<(String, String)> {
    app::on_db!(db, pool => sqlx::query(
        "SELECT recipients, subject FROM outbox WHERE incident_id = $1 AND dedupe_key LIKE 'clock:%' ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        let to: Vec<String> = serde_json::from_str(&r.get::<String, _>(0)).unwrap();
        (to.join(","), r.get::<String, _>(1))
    })
    .collect())
}

/// The timeline's clock entries of an incident, oldest first.
async fn clock_entries(db: &Db, id: i64) -> Vec<String> {
    app::on_db!(db, pool => sqlx::query_scalar(
        "SELECT action FROM incident_timeline WHERE incident_id = $1 AND action LIKE 'clock_%' ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap())
}

/// Whether the incident's current clock is paused.
async fn paused(db: &Db, id: i64) -> bool {
    count(db, &format!("SELECT COUNT(*) FROM stage_clocks WHERE incident_id = {id} AND stopped_at IS NULL AND running_since IS NULL")).await == 1
}

/// A whole minute, so that thresholds fall on round times.
fn t0() -> DateTime<Utc> {
    let now = Utc::now();
    Utc.timestamp_opt(now.timestamp() - now.timestamp() % 60, 0).unwrap()
}

async fn set_lead(db: &Db, role: Role, user: i64) {
    let mut p = policy::load(db).await.unwrap();
    p.leads.retain(|(r, _)| *r != role);
    p.leads.push((role, Some(user)));
    let mut tx = db.begin_write().await.unwrap();
    policy::store_in(&mut tx, &p, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
}

db_test!(async fn a_stage_left_waiting_gets_one_reminder_one_breach_and_one_escalation_each_in_its_readers_language(ctx) {
    let db = &ctx.db;
    let ops = Person::new("ops1", &[Role::Ops]).language("zh-CN").create(db).await;
    let lead = person(db, "opslead", &[Role::Ops]).await;
    person(db, "root", &[Role::Admin]).await;
    set_lead(db, Role::Ops, lead.id).await;
    let start = t0();
    let id = engine::create_incident(db, &ops, &p1("Checkout broken"), start).await.unwrap().id;

    // P1 in "reported": 30 minutes; the reminder comes at 22.5 minutes.
    assert!(notices::run_due(db, start + Duration::minutes(22), 100).await.unwrap().sent.is_empty());
    let pass = notices::run_due(db, start + Duration::minutes(23), 100).await.unwrap();
    assert_eq!(pass.sent.iter().map(|(_, l)| *l).collect::<Vec<_>>(), vec![Level::Reminder]);
    assert_eq!(pass.incidents, vec![id]);
    let sent = notices_of(db, id).await;
    assert_eq!(sent.len(), 1, "the owner only: {sent:?}");
    assert_eq!(sent[0].0, "ops1@example.com");
    assert!(sent[0].1.contains("提醒"), "in the owner's language: {}", sent[0].1);
    assert!(notices::run_due(db, start + Duration::minutes(29), 100).await.unwrap().sent.is_empty(), "once");

    // The breach tells the owner again and the lead of the role.
    notices::run_due(db, start + Duration::minutes(30), 100).await.unwrap();
    let sent = notices_of(db, id).await;
    let breach: Vec<&str> = sent[1..].iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(breach, vec!["ops1@example.com", "opslead@example.com"]);
    assert!(sent[2].1.starts_with("[INC-") && sent[2].1.contains("Overdue"), "{}", sent[2].1);

    // The escalation (200 %) goes one step further along the chain: no PM yet, so the admins.
    assert!(notices::run_due(db, start + Duration::minutes(59), 100).await.unwrap().sent.is_empty());
    notices::run_due(db, start + Duration::minutes(60), 100).await.unwrap();
    let sent = notices_of(db, id).await;
    let escalation: Vec<&str> = sent[3..].iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(escalation, vec!["ops1@example.com", "opslead@example.com", "root@example.com"]);
    assert!(notices::run_due(db, start + Duration::days(3), 100).await.unwrap().sent.is_empty(), "nothing after");

    assert_eq!(clock_entries(db, id).await, vec!["clock_reminder", "clock_breach", "clock_escalation"]);
    let audited = count(db, "SELECT COUNT(*) FROM audit_log WHERE event = 'incident.clock_notice'").await;
    assert_eq!(audited, 3);
    let report = app::audit::store::verify(db, None).await.unwrap();
    assert!(matches!(report, app::audit::VerifyReport::Verified { .. }), "the chain holds: {report:?}");
});

db_test!(async fn moving_on_in_time_sends_nothing_and_a_stage_entered_again_gets_a_fresh_clock(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let start = t0();
    let id = engine::create_incident(db, &t.ops, &p1("Totals wrong"), start).await.unwrap().id;
    let mut at = start;
    let mut next = |minutes: i64| {
        at += Duration::minutes(minutes);
        at
    };
    act_at(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }, next(10)).await;
    act_at(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }, next(5)).await;
    let propose = GateInput::Propose { root_cause: "a".into(), solution: "b".into() };
    act_at(db, &t.dev, id, propose, next(60)).await;
    act_at(db, &t.pm, id, GateInput::VerdictPm { optimal: true, pool: None }, next(5)).await;
    act_at(db, &t.dev, id, GateInput::VerdictDev { optimal: true }, next(5)).await;
    let submit = || GateInput::SubmitForTest { changes: "c".into(), reference: "r".into() };
    act_at(db, &t.dev, id, submit(), next(60)).await;
    let back = act_at(db, &t.qa, id, GateInput::TestFail { defect: "still wrong".into() }, next(30)).await;
    assert_eq!(back, Stage::Fixing);
    // Every stage was left before 75 % of its target: nothing is due, now or later.
    assert!(notices::run_due(db, at, 100).await.unwrap().sent.is_empty());
    assert!(notices_of(db, id).await.is_empty());
    let fixing = count(db, &format!("SELECT COUNT(*) FROM stage_clocks WHERE incident_id = {id} AND stage = 'fixing'")).await;
    assert_eq!(fixing, 2, "fixing entered twice: two clocks");
    let (stays, current) = store::stays_of(db, id, at).await.unwrap();
    let stages: Vec<Stage> = stays.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        vec![
            Stage::Reported,
            Stage::AwaitingPm,
            Stage::Investigating,
            Stage::SolutionReview,
            Stage::Fixing,
            Stage::Testing,
            Stage::Fixing
        ]
    );
    assert_eq!(stays[0].spent_seconds, 600, "reported for 10 minutes");
    assert_eq!(stays[4].spent_seconds, 3600);
    assert!(stays.iter().all(|s| !s.breached));
    // The incident page reads the same clocks inside its one statement.
    let page = app::workflow::queries::detail_at(db, &crate::helpers::key_of(db, id).await, &t.dev, at).await.unwrap();
    assert_eq!(page.stays, stays);
    assert_eq!(page.summary.clock, current);
    let current = current.expect("fixing runs");
    assert_eq!((current.stage, current.target_seconds, current.basis), (Stage::Fixing, Some(8 * 3600), Basis::Wall));
    // The new fixing clock starts from zero: its reminder is 6 h after re-entry, not before.
    assert!(notices::run_due(db, at + Duration::minutes(359), 100).await.unwrap().sent.is_empty());
    assert_eq!(notices::run_due(db, at + Duration::minutes(360), 100).await.unwrap().sent.len(), 1);
    assert_eq!(notices_of(db, id).await[0].0, "dev1@example.com", "the named dev");
});

/// An incident in user follow-up, reported at `start` and moved on an hour at a time.
async fn in_follow_up(db: &Db, t: &Team, start: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    let id = engine::create_incident(db, &t.ops, &p1("Refund missing"), start).await.unwrap().id;
    let mut at = start;
    let steps: Vec<(&Actor, GateInput)> = vec![
        (&t.ops, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }),
        (&t.pm, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }),
        (&t.dev, GateInput::Propose { root_cause: "a".into(), solution: "b".into() }),
        (&t.pm, GateInput::VerdictPm { optimal: true, pool: None }),
        (&t.dev, GateInput::VerdictDev { optimal: true }),
        (&t.dev, GateInput::SubmitForTest { changes: "c".into(), reference: "r".into() }),
        (&t.qa, GateInput::TestPass { notes: String::new() }),
        (&t.pm, GateInput::ApproveRelease { note: String::new() }),
    ];
    for (who, input) in steps {
        at += Duration::minutes(1);
        act_at(db, who, id, input, at).await;
    }
    at += Duration::minutes(1);
    let released =
        GateInput::MarkReleased { version: "1.0.1".into(), deployed_at: at.format("%Y-%m-%dT%H:%M").to_string() };
    act_at(db, &t.dev, id, released, at).await;
    at += Duration::minutes(1);
    assert_eq!(
        act_at(db, &t.qa, id, GateInput::RegressionPass { notes: String::new() }, at).await,
        Stage::UserFollowup
    );
    (id, at)
}

db_test!(async fn waiting_for_the_user_pauses_the_clock_and_resuming_counts_on(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let (id, entered) = in_follow_up(db, &t, t0()).await;
    // P1 follow-up: 4 h; reminder at 3 h. Ops pauses after 1 h, for two days.
    let paused_at = entered + Duration::hours(1);
    let v = version(db, id).await;
    let empty = engine::pause_clock(db, &t.ops, id, v, "  ", paused_at).await.unwrap_err();
    assert_eq!(empty, AppError::Refused(Refusal::Invalid { field: "reason".into(), problem: FieldProblem::Required }));
    let not_ops = engine::pause_clock(db, &t.qa, id, v, "waiting", paused_at).await.unwrap_err();
    assert_eq!(not_ops, AppError::Refused(Refusal::NotYourRole));
    let moved = engine::pause_clock(db, &t.ops, id, v, "waiting for the user's screenshot", paused_at).await.unwrap();
    assert_eq!(moved.version, v + 1);
    assert!(paused(db, id).await);
    let again = engine::pause_clock(db, &t.ops, id, moved.version, "again", paused_at).await.unwrap_err();
    assert_eq!(again, AppError::Refused(Refusal::WrongStage), "already paused");
    assert!(notices::run_due(db, paused_at + Duration::days(2), 100).await.unwrap().sent.is_empty(), "paused");

    let resumed_at = paused_at + Duration::days(2);
    engine::resume_clock(db, &t.ops, id, version(db, id).await, resumed_at).await.unwrap();
    // One hour was counted before the pause: the reminder (3 h) comes 2 h after resuming.
    assert!(notices::run_due(db, resumed_at + Duration::minutes(119), 100).await.unwrap().sent.is_empty());
    assert_eq!(notices::run_due(db, resumed_at + Duration::minutes(120), 100).await.unwrap().sent.len(), 1);
    let (_, current) = store::stays_of(db, id, resumed_at + Duration::minutes(120)).await.unwrap();
    assert_eq!(current.unwrap().spent_seconds, 3 * 3600, "the pause did not count");
    let actions: Vec<String> = app::on_db!(db, pool => sqlx::query_scalar(
        "SELECT action FROM incident_timeline WHERE incident_id = $1 AND action IN ('pause', 'resume') ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(actions, vec!["pause", "resume"]);
    let audited = count(db, "SELECT COUNT(*) FROM audit_log WHERE event IN ('incident.clock_paused', 'incident.clock_resumed') AND outcome = 'ok'").await;
    assert_eq!(audited, 2);
});

db_test!(async fn only_follow_up_can_be_paused(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &p1("Login slow"), t0()).await.unwrap().id;
    let err = engine::pause_clock(db, &t.ops, id, version(db, id).await, "waiting", t0()).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::WrongStage));
    assert!(!paused(db, id).await);
});

db_test!(async fn a_clock_due_while_no_process_ran_fires_once_with_the_highest_level_passed(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let start = t0();
    let id = engine::create_incident(db, &t.ops, &p1("Search down"), start).await.unwrap().id;
    // Nothing ran for 45 minutes: past the reminder (22.5) and the breach (30), before the
    // escalation (60). The first pass sends the breach only, once.
    let first = notices::run_due(db, start + Duration::minutes(45), 100).await.unwrap();
    assert_eq!(first.sent.iter().map(|(_, l)| *l).collect::<Vec<_>>(), vec![Level::Breach]);
    assert!(notices::run_due(db, start + Duration::minutes(46), 100).await.unwrap().sent.is_empty());
    assert_eq!(clock_entries(db, id).await, vec!["clock_breach"]);
    assert_eq!(notices::next_due(db).await.unwrap(), Some(start + Duration::minutes(60)), "the escalation is next");
});

db_test!(async fn the_targets_and_holidays_in_force_when_a_clock_starts_are_the_ones_it_keeps(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let mut p = policy::defaults();
    // P2 in "reported": 1 working hour, working hours 09:00-18:00 UTC on weekdays; Monday
    // 2026-12-14 a holiday.
    for (stage, row) in p.targets.iter_mut() {
        if *stage == Stage::Reported {
            row[2] = Some(60);
        }
    }
    p.zone = "UTC".into();
    p.week = ["09:00-18:00", "09:00-18:00", "09:00-18:00", "09:00-18:00", "09:00-18:00", "", ""].map(String::from);
    p.holidays = "2026-12-14".into();
    let mut tx = db.begin_write().await.unwrap();
    policy::store_in(&mut tx, &p, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    // Reported on Friday 2026-12-11 at 17:30: 30 working minutes that day, then Monday is a
    // holiday, so the target is reached on Tuesday at 09:30.
    let friday = Utc.with_ymd_and_hms(2026, 12, 11, 17, 30, 0).unwrap();
    let p2 = NewIncident { severity: Severity::P2, ..incident("Export slow") };
    let id = engine::create_incident(db, &t.ops, &p2, friday).await.unwrap().id;
    let clock = store::current_of(db, &[id], friday).await.unwrap().remove(&id).unwrap();
    assert_eq!((clock.target_seconds, clock.basis), (Some(3600), Basis::Working));
    let breach: DateTime<Utc> = clock.breach_at.unwrap().parse().unwrap();
    assert_eq!(breach, Utc.with_ymd_and_hms(2026, 12, 15, 9, 30, 0).unwrap());
    let risk: DateTime<Utc> = clock.risk_at.unwrap().parse().unwrap();
    assert_eq!(risk, Utc.with_ymd_and_hms(2026, 12, 15, 9, 15, 0).unwrap(), "75 %: 45 working minutes");

    // A later change applies to the next clock only.
    p.targets.iter_mut().for_each(|(stage, row)| {
        if *stage == Stage::Reported {
            row[2] = None;
        }
    });
    let mut tx = db.begin_write().await.unwrap();
    policy::store_in(&mut tx, &p, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let same = store::current_of(db, &[id], friday).await.unwrap().remove(&id).unwrap();
    assert_eq!(same.target_seconds, Some(3600), "a running clock keeps its target");
    let next = engine::create_incident(db, &t.ops, &p2, friday).await.unwrap().id;
    let none = store::current_of(db, &[next], friday).await.unwrap().remove(&next).unwrap();
    assert_eq!((none.target_seconds, none.state), (None, app::clocks::ClockState::NoTarget));
});

db_test!(async fn open_incidents_from_before_clocks_get_one_that_stays_silent_about_the_past(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let start = t0();
    let old = engine::create_incident(db, &t.ops, &p1("Old one"), start - Duration::minutes(40)).await.unwrap().id;
    let fresh = engine::create_incident(db, &t.ops, &p1("New one"), start).await.unwrap().id;
    // As an incident opened before this version: no clock at all.
    app::on_db!(db, pool => sqlx::query("DELETE FROM stage_clocks").execute(pool).await.map(|_| ()).unwrap());
    assert_eq!(store::adopt(db, start).await.unwrap(), 2);
    assert_eq!(store::adopt(db, start).await.unwrap(), 0, "once");
    // The old one passed its reminder and breach before it had a clock: only the escalation is
    // still to come; the new one starts from its own report time.
    assert!(notices::run_due(db, start + Duration::minutes(19), 100).await.unwrap().sent.is_empty());
    let pass = notices::run_due(db, start + Duration::minutes(20), 100).await.unwrap();
    assert_eq!(pass.incidents, vec![old], "200 % of 30 minutes after the old report");
    assert_eq!(pass.sent[0].1, Level::Escalation);
    let pass = notices::run_due(db, start + Duration::minutes(23), 100).await.unwrap();
    assert_eq!(pass.incidents, vec![fresh]);
    assert_eq!(pass.sent[0].1, Level::Reminder);
});

db_test!(async fn the_queue_shows_each_clock_and_puts_overdue_stages_first_within_a_severity(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let start = t0();
    // Two P1 reports: the older one is triaged late, the newer one is still in time.
    let first = engine::create_incident(db, &t.ops, &p1("First"), start).await.unwrap().id;
    let second = engine::create_incident(db, &t.ops, &p1("Second"), start + Duration::minutes(20)).await.unwrap().id;
    let p0 = NewIncident { severity: Severity::P0, ..incident("Everything down") };
    let urgent = engine::create_incident(db, &t.ops, &p0, start + Duration::minutes(29)).await.unwrap().id;
    act_at(db, &t.ops, first, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }, start + Duration::minutes(10)).await;
    let third = engine::create_incident(db, &t.ops, &p1("Third"), start).await.unwrap().id;
    // At start + 35 min: "second" (15 of 30 minutes) is fine, "third" (35 of 30) is overdue,
    // the P0 (6 of 15 minutes) is fine and comes first anyway.
    let now = start + Duration::minutes(35);
    let queue = app::workflow::queries::my_queue_at(db, &t.ops, now).await.unwrap();
    let order: Vec<i64> = queue.items.iter().map(|i| i.summary.id).collect();
    assert_eq!(order, vec![urgent, third, second]);
    let state = |id: i64| queue.items.iter().find(|i| i.summary.id == id).unwrap().summary.clock.clone().unwrap().state;
    use app::clocks::ClockState;
    assert_eq!((state(urgent), state(third), state(second)), (ClockState::Ok, ClockState::Breached, ClockState::Ok));
    // A newer incident reported under a shorter target is overdue before an older one that is
    // not: it comes first within its severity, whatever the order of arrival.
    let mut p = policy::load(db).await.unwrap();
    p.targets.iter_mut().filter(|(s, _)| *s == Stage::Reported).for_each(|(_, row)| row[1] = Some(2));
    let mut tx = db.begin_write().await.unwrap();
    policy::store_in(&mut tx, &p, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let newest = engine::create_incident(db, &t.ops, &p1("Newest"), start + Duration::minutes(32)).await.unwrap().id;
    let queue = app::workflow::queries::my_queue_at(db, &t.ops, now).await.unwrap();
    let order: Vec<i64> = queue.items.iter().map(|i| i.summary.id).collect();
    assert_eq!(order, vec![urgent, third, newest, second], "overdue first, then by time in stage");
    let later = app::workflow::queries::my_queue_at(db, &t.ops, start + Duration::minutes(43)).await.unwrap();
    let second_clock = later.items.iter().find(|i| i.summary.id == second).unwrap().summary.clock.clone().unwrap();
    assert_eq!(second_clock.state, ClockState::AtRisk, "23 of 30 minutes");
    assert_eq!(second_clock.left_seconds, Some(7 * 60));
});

/// Two instances on one PostgreSQL database, each running its scheduler pass at the same time
/// over the same due clocks: every notice is queued exactly once.
#[tokio::test]
async fn two_instances_on_one_postgres_database_queue_each_notice_once() {
    app::testing::run_on(Backend::Postgres, |ctx| async move {
        let db = &ctx.db;
        let ops = person(db, "ops1", &[Role::Ops]).await;
        let start = t0();
        for n in 0..40 {
            engine::create_incident(db, &ops, &p1(&format!("Incident {n}")), start).await.unwrap();
        }
        let other = Db::connect(&ctx.url).await.unwrap();
        let due = start + Duration::minutes(23);
        let passes = futures_join((0..4).map(|i| {
            let db = if i % 2 == 0 { db.clone() } else { other.clone() };
            tokio::spawn(async move { notices::run_due(&db, due, 7).await.unwrap().sent.len() })
        }))
        .await;
        // Whatever the first passes left is sent by the next ones: drain both instances.
        let mut sent: usize = passes.into_iter().sum();
        loop {
            let (a, b) = tokio::join!(notices::run_due(db, due, 7), notices::run_due(&other, due, 7));
            let more = a.unwrap().sent.len() + b.unwrap().sent.len();
            if more == 0 {
                break;
            }
            sent += more;
        }
        assert_eq!(sent, 40, "one reminder per clock");
        assert_eq!(count(db, "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'clock:%'").await, 40);
        assert_eq!(count(db, "SELECT COUNT(*) FROM incident_timeline WHERE action = 'clock_reminder'").await, 40);
        other.close().await;
    })
    .await;
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

db_test!(async fn a_gate_action_starts_the_next_clock_under_the_stored_policy_and_stops_a_paused_one_at_its_count(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    // A stored policy unlike the defaults: P1 in "awaiting the PM" 45 minutes, escalation at 150 %.
    let mut p = policy::defaults();
    for (stage, row) in p.targets.iter_mut() {
        if *stage == Stage::AwaitingPm {
            row[1] = Some(45);
        }
    }
    p.escalate_percent = 150;
    let mut tx = db.begin_write().await.unwrap();
    policy::store_in(&mut tx, &p, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let start = t0();
    let id = engine::create_incident(db, &t.ops, &p1("Coupons rejected"), start).await.unwrap().id;
    let triage = GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() };
    act_at(db, &t.ops, id, triage, start + Duration::minutes(5)).await;
    let started: (String, Option<i64>, i64) = app::on_db!(db, pool => sqlx::query_as(
        "SELECT stage, target_seconds, escalate_pct FROM stage_clocks WHERE incident_id = $1 AND stopped_at IS NULL",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(started, ("awaiting_pm".to_owned(), Some(45 * 60), 150));

    // Follow-up paused after one hour, then confirmed two hours later: the stay counted one hour.
    let (id, entered) = in_follow_up(db, &t, t0()).await;
    engine::pause_clock(db, &t.ops, id, version(db, id).await, "waiting for the user", entered + Duration::hours(1))
        .await
        .unwrap();
    let confirm = GateInput::ConfirmFollowup {
        reply: "fixed".into(),
        confirmation: app::workflow::input::UserConfirmation::Confirmed,
    };
    assert_eq!(act_at(db, &t.ops, id, confirm, entered + Duration::hours(3)).await, Stage::Reporting);
    let stopped: (i64, Option<i64>, Option<i64>) = app::on_db!(db, pool => sqlx::query_as(
        "SELECT spent_seconds, held_seconds, ended_by FROM stage_clocks WHERE incident_id = $1 AND stage = 'user_followup'",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(stopped, (3600, Some(3 * 3600), Some(t.ops.id)));
    assert!(!paused(db, id).await, "the reporting clock runs");
});
