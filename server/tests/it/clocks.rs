//! Stage clocks over HTTP: the admin settings (refusals that name their field and change nothing,
//! an audited save the next clock uses), the clock on the incident page, and a server started
//! past a due time sending the overdue notice once.

use std::sync::Arc;

use app::{
    auth::Role,
    clock::ManualClock,
    db_test,
    workflow::{engine, input::Severity},
};
use chrono::{Duration, Utc};
use reqwest::StatusCode;

use crate::helpers::{actor, config_for, incident, TestApp, PASSWORD};

/// The settings form with the defaults, as the page would submit it.
fn default_form() -> Vec<(String, String)> {
    let form = app::clocks::policy::form_of(&app::clocks::policy::defaults());
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in &form.targets {
        fields.push((format!("targets[{k}]"), v.clone()));
    }
    for k in form.working.keys() {
        fields.push((format!("working[{k}]"), "on".into()));
    }
    for (k, v) in &form.leads {
        fields.push((format!("leads[{k}]"), v.clone()));
    }
    for (k, v) in &form.week {
        fields.push((format!("week[{k}]"), v.clone()));
    }
    fields.push(("escalate_percent".into(), form.escalate_percent));
    fields.push(("zone".into(), form.zone));
    fields.push(("holidays".into(), form.holidays));
    fields.push(("extra_working_days".into(), form.extra_working_days));
    fields
}

/// A P1 report.
fn p1(title: &str) -> app::workflow::input::NewIncident {
    app::workflow::input::NewIncident { severity: Severity::P1, ..incident(title) }
}

fn with(form: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form.iter().filter(|(k, _)| k != key).cloned().collect();
    out.push((key.to_owned(), value.to_owned()));
    out
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn stored_policy(db: &app::db::Db) -> Option<String> {
    app::db::settings::get(db, app::clocks::policy::POLICY_SETTING).await.unwrap()
}

db_test!(async fn admins_change_targets_and_holidays_and_bad_values_are_refused_by_field(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("root", &[Role::Admin]).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    let form = default_form();

    let mut someone = app.browser();
    someone.login("ops1", PASSWORD).await;
    assert_eq!(someone.call("/api/clocks/save", &pairs(&form)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(someone.call("/api/clocks/settings", &[]).await.status, StatusCode::FORBIDDEN);

    let mut admin = app.browser();
    admin.login("root", PASSWORD).await;
    let page = admin.get("/admin/clocks").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"targets[testing_p0]\"") && html.contains("value=\"2h\""), "the defaults are shown");

    for (field, value, problem) in [
        ("targets[testing_p0]", "soon", "NotDuration"),
        ("targets[testing_p0]", "-2h", "NotDuration"),
        ("targets[testing_p0]", "400d", "DurationRange"),
        ("zone", "Mars/Olympus", "UnknownZone"),
        ("week[tue]", "9 to 5", "NotWorkingHours"),
        ("escalate_percent", "50", "PercentRange"),
        ("leads[qa]", &ops.to_string(), "InvalidChoice"),
    ] {
        let answer = admin.call("/api/clocks/save", &pairs(&with(&form, field, value))).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}: {}", answer.body);
        let json = answer.json();
        // A form mistake (`Invalid`) or one the rule checks share with gate actions (`Refused`).
        let invalid = if json["Invalid"].is_null() { &json["Refused"]["Invalid"] } else { &json["Invalid"] };
        assert_eq!(invalid["field"], field, "{}", answer.body);
        assert_eq!(invalid["problem"], problem, "{}", answer.body);
    }
    let bad_day = admin.call("/api/clocks/save", &pairs(&with(&form, "holidays", "2026-10-01\n2026-02-30"))).await;
    assert_eq!(bad_day.json()["Invalid"]["problem"]["DayLine"], 2, "{}", bad_day.body);
    assert_eq!(stored_policy(&app.db).await, None, "nothing was saved");

    // A P1 triage target of 10 minutes and National Day as holidays.
    let good = with(&with(&form, "targets[reported_p1]", "10m"), "holidays", "2026-10-01..2026-10-07 # 国庆");
    let saved = admin.call("/api/clocks/save", &pairs(&good)).await;
    assert!(saved.status.is_success() || saved.status.is_redirection(), "{} {}", saved.status, saved.body);
    let policy = app::clocks::policy::load(&app.db).await.unwrap();
    assert_eq!(policy.target(app::workflow::rules::Stage::Reported, Severity::P1), Some(10));
    assert_eq!(policy.holidays, "2026-10-01..2026-10-07");
    let audited = app::audit::store::page(
        &app.db,
        &app::audit::store::Query::new(&app::audit::AuditFilter {
            event: Some(app::audit::event::SETTINGS_CHANGED.into()),
            ..Default::default()
        })
        .unwrap(),
        app::audit::store::Cursor::After(0),
        10,
    )
    .await
    .unwrap();
    assert_eq!(audited.len(), 1);
    let details: serde_json::Value = serde_json::from_str(&audited[0].details).unwrap();
    assert_eq!(details["before"]["holidays"], "");
    assert_eq!(details["after"]["holidays"], "2026-10-01..2026-10-07");

    // The next incident's clock uses the new target.
    let created = engine::create_incident(&app.db, &actor(ops, Role::Ops), &p1("Login fails"), Utc::now())
        .await
        .unwrap();
    let clocks = app::clocks::store::current_of(&app.db, &[created.id], Utc::now()).await.unwrap();
    assert_eq!(clocks[&created.id].target_seconds, Some(600));
    let mut ops_browser = app.browser();
    ops_browser.login("ops1", PASSWORD).await;
    let page = ops_browser.get(&format!("/incidents/{}", created.key)).await.text().await.unwrap();
    assert!(page.contains("class=\"clock clock--ok\""), "the clock is on the incident page");
    assert!(page.contains("data-breach-at="), "with the instant the browser counts towards");
    assert!(page.contains("10m left") || page.contains("9m left"), "time left on the first screen");
    app.stop().await;
});

db_test!(async fn a_server_started_after_a_clock_came_due_sends_its_notice_once(ctx) {
    // Reported 45 minutes before the server starts: the P1 triage target (30 minutes) passed while
    // no process ran.
    let ops = {
        let app = TestApp::spawn(ctx.url.expose()).await;
        let ops = app.create_user("ops1", &[Role::Ops]).await;
        app.stop().await;
        ops
    };
    let reported = Utc::now() - Duration::minutes(45);
    let db = app::db::Db::connect(&ctx.url).await.unwrap();
    let id = engine::create_incident(&db, &actor(ops, Role::Ops), &p1("Payments down"), reported).await.unwrap().id;
    db.close().await;

    let clock = Arc::new(ManualClock::at(Utc::now()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let data_dir = tempfile::tempdir().unwrap();
    let config = config_for(ctx.url.expose(), data_dir.path(), &base, &[]);
    let application = server::Application::build_with_clock(config, listener, clock.clone()).await.unwrap();
    let db = application.state().db.clone();
    let events = application.state().events.clone();
    let mut passes = application.clock_passes();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(application.run_until(async move {
        let _ = rx.await;
    }));
    let count = |action: &'static str| {
        let db = db.clone();
        async move {
            app::on_db!(&db, pool => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM incident_timeline WHERE incident_id = $1 AND action = $2",
            )
            .bind(id)
            .bind(action)
            .fetch_one(pool)
            .await
            .unwrap())
        }
    };
    // The scheduler's first pass runs as the server starts.
    passes.wait_for(|n| *n >= 1).await.unwrap();
    assert_eq!(count("clock_breach").await, 1, "the overdue breach notice is sent when the server starts");
    assert_eq!(count("clock_reminder").await, 0, "the reminder that came before the breach is not sent after it");
    // Five minutes later (before the escalation at 60 minutes), woken by a change: nothing again.
    clock.advance(Duration::minutes(5));
    events.publish(app::workflow::live::IncidentChanged { id, version: 1, activity: 0 });
    passes.wait_for(|n| *n >= 2).await.unwrap();
    assert_eq!(count("clock_breach").await, 1, "once");
    tx.send(()).unwrap();
    handle.await.unwrap().unwrap();
});

db_test!(async fn ops_pause_the_clock_from_the_incident_page_while_waiting_for_the_user(ctx) {
    use app::workflow::input::GateInput;
    let app = TestApp::spawn(ctx.url.expose()).await;
    let (ops, pm, dev, qa) = (
        app.create_user("ops1", &[Role::Ops]).await,
        app.create_user("pm1", &[Role::Pm]).await,
        app.create_user("dev1", &[Role::Dev]).await,
        app.create_user("qa1", &[Role::Qa]).await,
    );
    let created = engine::create_incident(&app.db, &actor(ops, Role::Ops), &p1("Refund missing"), Utc::now()).await.unwrap();
    let id = created.id;
    let steps: Vec<(i64, Role, GateInput)> = vec![
        (ops, Role::Ops, GateInput::TriageTechnical { pm_id: pm, note: String::new() }),
        (pm, Role::Pm, GateInput::Dispatch { dev_id: dev, qa_id: qa, note: String::new() }),
        (dev, Role::Dev, GateInput::Propose { root_cause: "r".into(), solution: "s".into() }),
        (pm, Role::Pm, GateInput::VerdictPm { optimal: true, pool: None }),
        (dev, Role::Dev, GateInput::VerdictDev { optimal: true }),
        (dev, Role::Dev, GateInput::SubmitForTest { changes: "c".into(), reference: "r".into() }),
        (qa, Role::Qa, GateInput::TestPass { notes: String::new() }),
        (pm, Role::Pm, GateInput::ApproveRelease { note: String::new() }),
        (
            dev,
            Role::Dev,
            GateInput::MarkReleased { version: "1".into(), deployed_at: Utc::now().format("%Y-%m-%dT%H:%M").to_string() },
        ),
        (qa, Role::Qa, GateInput::RegressionPass { notes: String::new() }),
    ];
    for (version, (who, role, input)) in (1..).zip(steps) {
        engine::act(&app.db, &actor(who, role), id, version, &input, Utc::now()).await.unwrap();
    }
    let path = format!("/incidents/{}", created.key);
    let mut ops_browser = app.browser();
    ops_browser.login("ops1", PASSWORD).await;
    let page = ops_browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("Waiting for the user? Pause the clock"), "ops in follow-up can pause");
    let mut qa_browser = app.browser();
    qa_browser.login("qa1", PASSWORD).await;
    assert!(!qa_browser.get(&path).await.text().await.unwrap().contains("Pause the clock"), "only who must act sees it");

    let refused = qa_browser.call("/api/incidents/pause_clock", &[("incident_id", &id.to_string()), ("version", "11"), ("reason", "x")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let paused = ops_browser
        .call("/api/incidents/pause_clock", &[("incident_id", &id.to_string()), ("version", "11"), ("reason", "waiting for the screenshot")])
        .await;
    assert!(paused.status.is_success(), "{} {}", paused.status, paused.body);
    let page = ops_browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("class=\"clock clock--paused\""), "the badge says paused");
    assert!(page.contains("Resume the clock"));
    assert!(page.contains("waiting for the screenshot"), "the reason is on the timeline");
    let resumed = ops_browser.call("/api/incidents/resume_clock", &[("incident_id", &id.to_string()), ("version", "12")]).await;
    assert!(resumed.status.is_success(), "{} {}", resumed.status, resumed.body);
    assert!(ops_browser.get(&path).await.text().await.unwrap().contains("class=\"clock clock--ok\""));
    app.stop().await;
});
