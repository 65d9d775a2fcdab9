//! Reports and prevention measures: figures from a seeded history with known durations, and
//! measures from the report form to done, with their daily reminders.

use app::{
    db::Db,
    db_test,
    error::{AppError, Refusal},
    insight::{
        measures, remind,
        stats::{self, Range, Week},
        Figure, MeasureFilter, MeasureStatus,
    },
    workflow::{
        engine,
        input::{GateInput, Measure, Severity, UserConfirmation},
        rules::{Actor, Stage},
    },
};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::helpers::{count, incident, key_of, team, version, Team};

/// Monday, 2 March 2026, 00:00 UTC: the seeded history starts here.
fn t0() -> DateTime<Utc> {
    "2026-03-02T00:00:00Z".parse().unwrap()
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// Takes `input` at `at` (the incident's current version).
async fn act_at(db: &Db, who: &Actor, id: i64, input: GateInput, at: DateTime<Utc>) {
    let v = version(db, id).await;
    engine::act(db, who, id, v, &input, at).await.unwrap();
}

fn measure(text: &str, owner: &Actor, due: &str) -> Measure {
    Measure { text: text.into(), owner_id: owner.id, due: due.into() }
}

/// Reports an incident at `start` and walks it to closed; every span of the base walk is
/// multiplied by `m`. The base walk (m = 1), in minutes after the report: triage 10, dispatch 70,
/// propose 190, PM verdict 200, dev verdict 210, submit 330, pass 390, approve 400, released 460,
/// regression 520, follow-up 580, report 640 (MTTR 38,400 s).
async fn walk(db: &Db, t: &Team, start: DateTime<Utc>, m: i64, severity: Severity, measures: Vec<Measure>) -> i64 {
    let mut new = incident("支付失败");
    new.severity = severity;
    let id = engine::create_incident(db, &t.ops, &new, start).await.unwrap().id;
    let at = |base: i64| start + minutes(base * m);
    let released = at(460).format("%Y-%m-%dT%H:%M").to_string();
    let steps: Vec<(&Actor, GateInput, i64)> = vec![
        (&t.ops, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }, 10),
        (&t.pm, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }, 70),
        (&t.dev, GateInput::Propose { root_cause: "空价格".into(), solution: "默认 0".into() }, 190),
        (&t.pm, GateInput::VerdictPm { optimal: true, pool: None }, 200),
        (&t.dev, GateInput::VerdictDev { optimal: true }, 210),
        (&t.dev, GateInput::SubmitForTest { changes: "guard".into(), reference: "PR 1".into() }, 330),
        (&t.qa, GateInput::TestPass { notes: "ok".into() }, 390),
        (&t.pm, GateInput::ApproveRelease { note: String::new() }, 400),
        (&t.dev, GateInput::MarkReleased { version: "1.0".into(), deployed_at: released }, 460),
        (&t.qa, GateInput::RegressionPass { notes: "ok".into() }, 520),
        (&t.ops, GateInput::ConfirmFollowup { reply: "已修复".into(), confirmation: UserConfirmation::Confirmed }, 580),
        (
            &t.pm,
            GateInput::SendReport { summary: "done".into(), measures, recipients: Vec::new(), language: None },
            640,
        ),
    ];
    for (who, input, base) in steps {
        act_at(db, who, id, input, at(base)).await;
    }
    id
}

/// Five incidents: three walked to closed at 1×, 2× and 4× the base spans (the last one in the
/// second week, as P0), one closed as not technical after 30 min, one left waiting for its PM.
async fn seed(db: &Db, t: &Team) {
    walk(db, t, t0(), 1, Severity::P1, vec![measure("加告警", &t.dev, "2026-03-20")]).await;
    walk(db, t, t0() + Duration::days(1), 2, Severity::P1, vec![measure("加监控", &t.qa, "2026-03-05")]).await;
    walk(db, t, t0() + Duration::days(8), 4, Severity::P0, vec![measure("写文档", &t.pm, "2026-04-30")]).await;
    let d = engine::create_incident(db, &t.ops, &incident("不是 bug"), t0() + Duration::days(2)).await.unwrap().id;
    act_at(
        db,
        &t.ops,
        d,
        GateInput::TriageNonTechnical { reply: "这是设计如此".into() },
        t0() + Duration::days(2) + minutes(30),
    )
    .await;
    let e = engine::create_incident(db, &t.ops, &incident("还在等"), t0() + Duration::days(3)).await.unwrap().id;
    act_at(
        db,
        &t.ops,
        e,
        GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() },
        t0() + Duration::days(3) + minutes(5),
    )
    .await;
}

/// Two UTC weeks from t0.
fn fortnight(severity: Option<Severity>) -> (Range, Vec<Week>) {
    let range = Range { from: t0(), to: t0() + Duration::days(14), severity, channel: None };
    let weeks = (0..2)
        .map(|n| Week {
            start_date: (t0() + Duration::weeks(n)).date_naive(),
            starts: t0() + Duration::weeks(n),
            ends: t0() + Duration::weeks(n + 1),
        })
        .collect();
    (range, weeks)
}

fn fig(n: i64, median: i64, p90: i64, mean: i64) -> Figure {
    Figure { n, median: Some(median), p90: Some(p90), mean: Some(mean) }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()
}

db_test!(async fn a_seeded_history_gives_exact_counts_medians_and_p90s(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    seed(db, &t).await;
    let (range, weeks) = fortnight(None);
    let f = stats::figures(db, &range, &weeks, today()).await.unwrap();

    let c = f.counts;
    assert_eq!((c.reported, c.technical, c.non_technical, c.untriaged), (5, 4, 1, 0));
    assert_eq!((c.closed, c.open, c.fix_rounds, c.reworked, c.optimal, c.interim), (4, 1, 0, 0, 3, 0));

    // MTTA: 600, 1200, 2400 (walks), 1800 (not technical), 300 (waiting) → rank 3 of 5 and rank 5.
    assert_eq!(f.mtta, fig(5, 1200, 2400, 1260));
    // MTTR: 1800, 38400, 76800, 153600 → nearest rank 2 of 4 (the lower middle) and rank 4.
    assert_eq!(f.mttr, fig(4, 38_400, 153_600, 67_650));

    let stage = |s: Stage| f.stages.iter().find(|x| x.stage == s).map(|x| x.time).unwrap();
    assert_eq!(stage(Stage::Reported), fig(5, 1200, 2400, 1260));
    // The waiting incident is still in awaiting_pm: only finished stays count.
    assert_eq!(stage(Stage::AwaitingPm), fig(3, 7200, 14_400, 8400));
    assert_eq!(stage(Stage::SolutionReview), fig(3, 2400, 4800, 2800));
    assert_eq!(stage(Stage::Fixing), fig(3, 14_400, 28_800, 16_800));
    assert!(f.stages.iter().all(|s| s.stage != Stage::Closed), "closed is not a stay");
    let order: Vec<Stage> = f.stages.iter().map(|s| s.stage).collect();
    assert_eq!(order.first(), Some(&Stage::Reported), "process order");
    assert_eq!(order.last(), Some(&Stage::Reporting));

    // pm1 moved on awaiting_pm (3600), release review (600) and reporting (3600) per walk, ×1,
    // ×2, ×4: nine stays, rank 5 → 3600, rank 9 → 14400. Solution review is dev's: the dev's
    // verdict came second.
    let pm = f.people.iter().find(|p| p.user_id == Some(t.pm.id)).unwrap();
    assert_eq!((pm.handled, pm.open_now, pm.breaches), (3, 1, 0));
    assert_eq!(pm.holding, fig(9, 3600, 14_400, 6067));
    let dev = f.people.iter().find(|p| p.user_id == Some(t.dev.id)).unwrap();
    // investigating 7200, solution review 1200, fixing 7200, releasing 3600 per walk.
    assert_eq!((dev.handled, dev.holding.n, dev.holding.median), (3, 12, Some(7200)));
    // ops1: triage 600/1200/2400 + follow-up 3600/7200/14400 + 1800 (not technical) + 300.
    let ops = f.people.iter().find(|p| p.user_id == Some(t.ops.id)).unwrap();
    assert_eq!((ops.handled, ops.open_now), (5, 0));
    assert_eq!(ops.holding, fig(8, 1800, 14_400, 3938));
    assert_eq!(ops.name, "ops1");
    let pm_role = f.roles.iter().find(|r| r.role == app::auth::Role::Pm).unwrap();
    assert_eq!((pm_role.holding, pm_role.open_now, pm_role.user_id), (pm.holding, 1, None));

    // Week 1: A, B, D and the waiting one reported; A, B, D closed. Week 2: C.
    let w: Vec<(String, i64, i64, Figure)> =
        f.weeks.iter().map(|w| (w.start.clone(), w.incoming, w.closed, w.mttr)).collect();
    assert_eq!(
        w,
        vec![
            ("2026-03-02".into(), 4, 3, fig(3, 38_400, 76_800, 39_000)),
            ("2026-03-09".into(), 1, 1, fig(1, 153_600, 153_600, 153_600)),
        ]
    );

    // Measures of the range's incidents on 16 March: one overdue (5 March), two open on time.
    let m = f.measures;
    assert_eq!((m.open, m.overdue, m.done, m.dropped), (3, 1, 0, 0));

    // The severity filter keeps only the P0 incident.
    let (p0, weeks) = fortnight(Some(Severity::P0));
    let f = stats::figures(db, &p0, &weeks, today()).await.unwrap();
    assert_eq!((f.counts.reported, f.mttr), (1, fig(1, 153_600, 153_600, 153_600)));
    assert_eq!(f.weeks.iter().map(|w| w.incoming).collect::<Vec<_>>(), vec![0, 1]);
});

db_test!(async fn an_empty_range_has_no_figures_rather_than_zeros(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    seed(db, &t).await;
    let from: DateTime<Utc> = "2020-01-06T00:00:00Z".parse().unwrap();
    let range = Range { from, to: from + Duration::days(7), severity: None, channel: None };
    let weeks = vec![Week { start_date: from.date_naive(), starts: from, ends: from + Duration::days(7) }];
    let f = stats::figures(db, &range, &weeks, today()).await.unwrap();
    assert_eq!(f.counts.reported, 0);
    assert_eq!((f.mtta, f.mttr), (Figure::default(), Figure::default()), "no median of nothing");
    assert!(f.stages.is_empty());
    assert_eq!(f.weeks.len(), 1);
    assert_eq!((f.weeks[0].incoming, f.weeks[0].closed, f.weeks[0].mttr.median), (0, 0, None));
    // Open-now figures are about today, whatever the range: the PM still holds one incident.
    assert!(f.people.iter().all(|p| p.handled == 0 && p.holding.n == 0));
    assert_eq!(f.people.iter().map(|p| p.open_now).sum::<i64>(), 1);
});

/// The measures of the incident whose report created them, by id.
async fn measures_of(db: &Db, id: i64, viewer: &Actor) -> Vec<app::insight::MeasureView> {
    measures::of_incident(db, viewer.id, id, today()).await.unwrap()
}

db_test!(async fn the_report_forms_measures_and_recipients_become_tracked_items_and_reach_the_email(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = crate::helpers::walk_to_reporting(db, &t, "结账失败").await;
    let report = GateInput::SendReport {
        summary: "价格为空。".into(),
        measures: vec![measure("为 500 错误加告警", &t.dev, "2026-12-15"), measure("补充回归用例", &t.qa, "2027-01-10")],
        recipients: vec!["cto@example.com".into(), "support-lead@example.com".into()],
        language: None,
    };
    crate::helpers::step(db, &t.pm, id, report).await.unwrap();

    let list = measures_of(db, id, &t.dev).await;
    let got: Vec<(&str, i64, &str, MeasureStatus, bool)> =
        list.iter().map(|m| (m.text.as_str(), m.owner_id, m.due.as_str(), m.status, m.may_close)).collect();
    assert_eq!(
        got,
        vec![
            ("为 500 错误加告警", t.dev.id, "2026-12-15", MeasureStatus::Open, true),
            ("补充回归用例", t.qa.id, "2027-01-10", MeasureStatus::Open, false),
        ]
    );
    let (recipients, body): (String, String) = app::on_db!(db, pool => sqlx::query_as(
        "SELECT recipients, body_text FROM outbox WHERE kind = 'report' AND incident_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap());
    for extra in ["cto@example.com", "support-lead@example.com", "dev1@example.com", "qa1@example.com"] {
        assert!(recipients.contains(extra), "{extra} in {recipients}");
    }
    assert!(body.contains("为 500 错误加告警") && body.contains("补充回归用例"), "{body}");
    assert!(body.contains("2027-01-10"));
});

db_test!(async fn only_the_owner_or_the_pm_owner_closes_a_measure_once_and_it_is_audited(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = walk(db, &t, t0(), 1, Severity::P1, vec![measure("加告警", &t.dev, "2026-03-20"), measure("写复盘", &t.qa, "2026-03-25")])
        .await;
    let list = measures_of(db, id, &t.pm).await;
    let (alert, review) = (list[0].id, list[1].id);
    let now = t0() + Duration::days(5);

    let refused = measures::close(db, &t.other_dev, alert, MeasureStatus::Done, "我做了", now).await;
    assert_eq!(refused, Err(AppError::Refused(Refusal::NotNamedOwner)));
    let refused = measures::close(db, &t.ops, review, MeasureStatus::Dropped, "不需要", now).await;
    assert_eq!(refused, Err(AppError::Refused(Refusal::NotNamedOwner)));
    let empty = measures::close(db, &t.dev, alert, MeasureStatus::Done, "  ", now).await;
    assert!(matches!(empty, Err(AppError::Invalid { ref field, .. }) if field == "note"), "{empty:?}");
    assert_eq!(count(db, "SELECT COUNT(*) FROM measures WHERE status = 'open'").await, 2, "refusals change nothing");

    measures::close(db, &t.dev, alert, MeasureStatus::Done, "告警已上线", now).await.unwrap();
    // The PM owner may close a measure someone else owns.
    measures::close(db, &t.pm, review, MeasureStatus::Dropped, "与 INC-1 的复盘合并", now).await.unwrap();
    let again = measures::close(db, &t.dev, alert, MeasureStatus::Dropped, "again", now).await;
    assert_eq!(again, Err(AppError::Refused(Refusal::Stale)), "closed once");

    let list = measures_of(db, id, &t.pm).await;
    assert_eq!((list[0].status, list[0].outcome.as_str()), (MeasureStatus::Done, "告警已上线"));
    assert_eq!((list[1].status, list[1].closed_by.as_deref()), (MeasureStatus::Dropped, Some("pm1")));
    assert!(list.iter().all(|m| !m.may_close), "a closed measure offers no close form");
    let audited: Vec<_> =
        crate::helpers::audit_entries(db).await.into_iter().filter(|e| e.event == "measure.closed").collect();
    assert_eq!(audited.iter().filter(|e| e.outcome.as_str() == "ok").count(), 2);
    assert!(audited.iter().any(|e| e.outcome.as_str() == "denied"), "refused attempts are recorded too");

    // The filters: by status, by owner, overdue, by incident.
    let key = key_of(db, id).await;
    let by = |filter: MeasureFilter| async move { measures::list(db, t.pm.id, &filter, today()).await.unwrap().items.len() };
    assert_eq!(by(MeasureFilter { status: Some(MeasureStatus::Done), ..Default::default() }).await, 1);
    assert_eq!(by(MeasureFilter { owner_id: Some(t.qa.id), ..Default::default() }).await, 1);
    assert_eq!(by(MeasureFilter { overdue: true, ..Default::default() }).await, 0);
    assert_eq!(by(MeasureFilter { incident: Some(key), ..Default::default() }).await, 2);
    assert_eq!(by(MeasureFilter { incident: Some("INC-1999-0001".into()), ..Default::default() }).await, 0);
});

/// (subject, recipient) of every reminder queued so far.
async fn reminders(db: &Db) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> = app::on_db!(db, pool => sqlx::query_as(
        "SELECT subject, recipients FROM outbox WHERE dedupe_key LIKE 'measure:%' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    rows
}

db_test!(async fn an_overdue_measure_reminds_its_owner_and_the_pm_once_a_day_until_it_is_done(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = walk(db, &t, t0(), 1, Severity::P1, vec![measure("加告警", &t.dev, "2026-03-10")]).await;
    let alert = measures_of(db, id, &t.dev).await[0].id;
    // Installation zone Asia/Shanghai (UTC+8): 10 March 15:59 UTC is 23:59 there, still due.
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    assert_eq!(remind::run_due(db, at("2026-03-10T15:59:00Z")).await.unwrap(), 0, "not overdue on its date");
    // 16:00 UTC is midnight of the 11th in Shanghai: overdue.
    assert_eq!(remind::run_due(db, at("2026-03-10T16:00:00Z")).await.unwrap(), 1);
    let sent = reminders(db).await;
    let to: Vec<&str> = sent.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(to, vec![r#"["dev1@example.com"]"#, r#"["pm1@example.com"]"#]);
    let key = key_of(db, id).await;
    assert_eq!(sent[0].0, format!("[{key}] Prevention measure overdue: 加告警"));
    // The same day, any number of passes: nothing more.
    assert_eq!(remind::run_due(db, at("2026-03-11T09:00:00Z")).await.unwrap(), 0);
    assert_eq!(reminders(db).await.len(), 2);
    // The next day: once more.
    assert_eq!(remind::run_due(db, at("2026-03-11T16:30:00Z")).await.unwrap(), 1);
    assert_eq!(reminders(db).await.len(), 4);
    // Done: never again.
    measures::close(db, &t.dev, alert, MeasureStatus::Done, "告警已上线", at("2026-03-12T01:00:00Z")).await.unwrap();
    assert_eq!(remind::run_due(db, at("2026-03-13T01:00:00Z")).await.unwrap(), 0);
    assert_eq!(reminders(db).await.len(), 4);
});

db_test!(async fn the_upgrade_keeps_the_measures_of_earlier_reports_and_who_ended_each_stay(ctx) {
    use app::testing::TestDb;
    let old = TestDb::create_until(ctx.db.backend(), Some(13)).await.expect("a database at migration 13");
    let db = &old.db;
    let entered = t0();
    let left = t0() + minutes(90);
    let statements = [
        "INSERT INTO users (username, username_key, display_name, email, password_hash, created_at, updated_at) \
         VALUES ('pm1', 'pm1', 'PM One', 'pm1@example.com', 'x', $1, $1)",
        "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
         external_ref, stage, ops_owner, pm_owner, resolution, created_by, created_at, updated_at, stage_entered_at) \
         VALUES ('INC-2026-0001', 'Checkout', 'd', 'p1', 'email', '', '', '', 'closed', 1, 1, 'fixed', 1, $1, $2, $2)",
        "INSERT INTO stage_clocks (incident_id, stage, severity, started_at, stopped_at, basis, escalate_pct) \
         VALUES (1, 'reporting', 'p1', $1, $2, 'wall', 200)",
        r#"INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields)
           VALUES (1, $2, 1, 'pm', 'send_report', 'reporting', 'closed',
                   '{"action":"send_report","summary":"s","measures":[{"text":"加告警","owner_id":1,"due":"2026-03-20"},{"text":"gone","owner_id":99,"due":"2026-03-21"},{"text":"写文档","owner_id":1,"due":"2026-04-01"}],"recipients":[]}')"#,
    ];
    for sql in statements {
        app::on_db!(db, pool => sqlx::query(sql).bind(entered).bind(left).execute(pool).await.map(|_| ()).unwrap());
    }
    db.migrate().await.expect("migration 14 applies to existing data");
    let measures: Vec<(String, i64, String, String)> = app::on_db!(db, pool => sqlx::query_as(
        "SELECT text, owner_id, due, status FROM measures ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    // In the report's order; a measure whose owner no longer exists cannot be tracked.
    assert_eq!(
        measures,
        vec![
            ("加告警".into(), 1, "2026-03-20".into(), "open".into()),
            ("写文档".into(), 1, "2026-04-01".into(), "open".into()),
        ]
    );
    let stay: (Option<i64>, Option<i64>, Option<String>) = app::on_db!(db, pool => sqlx::query_as(
        "SELECT held_seconds, ended_by, ended_role FROM stage_clocks",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(stay, (Some(5400), Some(1), Some("pm".into())));
    old.destroy().await;
});
