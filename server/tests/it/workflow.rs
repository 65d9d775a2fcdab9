//! The rule book over HTTP: every role × stage × gate action, called on the server-function
//! endpoints directly (as an attacker would, without the UI), on both databases.

use app::{
    auth::Role,
    db::Db,
    db_test,
    users::store,
    workflow::{
        engine,
        input::GateInput,
        rules::{ActionKind, Actor, Stage},
    },
};
use chrono::Utc;

use crate::helpers::{actor, incident, stage_and_version, TestApp, PASSWORD};

struct Ids {
    ops: i64,
    pm: i64,
    dev: i64,
    qa: i64,
}

/// Creates an incident and walks it to `target` through the engine, with the team as owners.
async fn incident_at(db: &Db, ids: &Ids, target: Stage) -> i64 {
    let input = incident(&format!("at {}", target.as_str()));
    let id = engine::create_incident(db, &actor(ids.ops, Role::Ops), &input, Utc::now()).await.unwrap().id;
    let path: Vec<(Actor, GateInput)> = vec![
        (actor(ids.ops, Role::Ops), GateInput::TriageTechnical { pm_id: ids.pm, note: String::new() }),
        (actor(ids.pm, Role::Pm), GateInput::Dispatch { dev_id: ids.dev, qa_id: ids.qa, note: String::new() }),
        (actor(ids.dev, Role::Dev), GateInput::Propose { root_cause: "r".into(), solution: "s".into() }),
        (actor(ids.pm, Role::Pm), GateInput::VerdictPm { optimal: true, pool: None }),
        (actor(ids.dev, Role::Dev), GateInput::VerdictDev { optimal: true }),
        (actor(ids.dev, Role::Dev), GateInput::SubmitForTest { changes: "c".into(), reference: "r".into() }),
        (actor(ids.qa, Role::Qa), GateInput::TestPass { notes: String::new() }),
        (actor(ids.pm, Role::Pm), GateInput::ApproveRelease { note: String::new() }),
        (
            actor(ids.dev, Role::Dev),
            GateInput::MarkReleased {
                version: "1".into(),
                deployed_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
            },
        ),
        (actor(ids.qa, Role::Qa), GateInput::RegressionPass { notes: String::new() }),
        (
            actor(ids.ops, Role::Ops),
            GateInput::ConfirmFollowup {
                reply: "r".into(),
                confirmation: app::workflow::input::UserConfirmation::Confirmed,
            },
        ),
        (
            actor(ids.pm, Role::Pm),
            GateInput::SendReport {
                summary: "s".into(),
                measures: vec![app::workflow::input::Measure {
                    text: "m".into(),
                    owner_id: ids.dev,
                    due: "2027-01-01".into(),
                }],
                recipients: vec![],
                language: None,
            },
        ),
    ];
    for (who, input) in path {
        let (stage, version) = stage_and_version(db, id).await;
        if stage == target.as_str() {
            break;
        }
        // Solution review needs both verdicts before it moves on.
        engine::act(db, &who, id, version, &input, Utc::now()).await.unwrap();
    }
    assert_eq!(stage_and_version(db, id).await.0, target.as_str());
    id
}

/// The endpoint and valid form fields of each action.
fn request(kind: ActionKind, ids: &Ids) -> (&'static str, Vec<(String, String)>) {
    let f = |pairs: &[(&str, String)]| pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>();
    match kind {
        ActionKind::TriageNonTechnical => ("/api/incidents/triage_non_technical", f(&[("reply", "not a bug".into())])),
        ActionKind::TriageTechnical => {
            ("/api/incidents/triage_technical", f(&[("pm_id", ids.pm.to_string()), ("note", String::new())]))
        }
        ActionKind::Dispatch => (
            "/api/incidents/dispatch",
            f(&[("dev_id", ids.dev.to_string()), ("qa_id", ids.qa.to_string()), ("note", String::new())]),
        ),
        ActionKind::Propose => ("/api/incidents/propose", f(&[("root_cause", "r".into()), ("solution", "s".into())])),
        ActionKind::VerdictPm => ("/api/incidents/verdict_pm", f(&[("optimal", "true".into())])),
        ActionKind::VerdictDev => ("/api/incidents/verdict_dev", f(&[("optimal", "true".into())])),
        ActionKind::SendBackSolution => ("/api/incidents/send_back_solution", f(&[("reason", "why".into())])),
        ActionKind::SubmitForTest => {
            ("/api/incidents/submit_for_test", f(&[("changes", "c".into()), ("reference", "PR 1".into())]))
        }
        ActionKind::TestPass => ("/api/incidents/test_pass", f(&[("notes", "ok".into())])),
        ActionKind::TestFail => ("/api/incidents/test_fail", f(&[("defect", "bad".into())])),
        ActionKind::ApproveRelease => ("/api/incidents/approve_release", f(&[("note", String::new())])),
        ActionKind::SendBackRelease => ("/api/incidents/send_back_release", f(&[("reason", "why".into())])),
        ActionKind::MarkReleased => (
            "/api/incidents/mark_released",
            f(&[
                ("release", "1.2.3".into()),
                ("deployed_at", chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string()),
                ("zone", "UTC".into()),
            ]),
        ),
        ActionKind::RegressionPass => ("/api/incidents/regression_pass", f(&[("notes", "ok".into())])),
        ActionKind::RegressionFail => ("/api/incidents/regression_fail", f(&[("defect", "bad".into())])),
        ActionKind::ConfirmFollowup => {
            ("/api/incidents/confirm_followup", f(&[("reply", "done".into()), ("confirmation", "confirmed".into())]))
        }
        ActionKind::SendReport => (
            "/api/incidents/send_report",
            f(&[
                ("summary", "s".into()),
                ("measures[0][text]", "add alerting".into()),
                ("measures[0][owner_id]", ids.dev.to_string()),
                ("measures[0][due]", (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string()),
            ]),
        ),
    }
}

db_test!(async fn every_role_stage_and_action_cell_is_enforced_over_http(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let ids = Ids {
        ops: app.create_user("ops1", &[Role::Ops]).await,
        pm: app.create_user("pm1", &[Role::Pm]).await,
        dev: app.create_user("dev1", &[Role::Dev]).await,
        qa: app.create_user("qa1", &[Role::Qa]).await,
    };
    app.create_user("admin1", &[Role::Admin]).await;
    let people = [("ops1", Role::Ops), ("pm1", Role::Pm), ("dev1", Role::Dev), ("qa1", Role::Qa), ("admin1", Role::Admin)];
    let mut browsers = Vec::new();
    for (name, role) in people {
        let mut b = app.browser();
        assert!(b.login(name, PASSWORD).await.status.is_success());
        browsers.push((b, role));
    }
    let mut allowed_cells = 0;
    for stage in Stage::ALL {
        let shared = incident_at(&app.db, &ids, stage).await;
        for (browser, role) in browsers.iter_mut() {
            for kind in ActionKind::ALL {
                let allowed = kind.stage() == stage && kind.role() == *role;
                // An allowed action moves the incident on, so each gets a fresh one.
                let id = if allowed { incident_at(&app.db, &ids, stage).await } else { shared };
                let before = stage_and_version(&app.db, id).await;
                let (path, mut form) = request(kind, &ids);
                form.push(("incident_id".into(), id.to_string()));
                form.push(("version".into(), before.1.to_string()));
                let form_refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let answer = browser.call(path, &form_refs).await;
                let after = stage_and_version(&app.db, id).await;
                if allowed {
                    allowed_cells += 1;
                    assert!(answer.status.is_success(), "{stage:?} {role:?} {kind:?}: {} {}", answer.status, answer.body);
                    assert_eq!(after.1, before.1 + 1, "{stage:?} {role:?} {kind:?}");
                } else {
                    let expected = if kind.stage() != stage { "WrongStage" } else { "NotYourRole" };
                    assert_eq!(answer.json()["Refused"], expected, "{stage:?} {role:?} {kind:?}: {}", answer.body);
                    assert_eq!(after, before, "a refused cell changes nothing: {stage:?} {role:?} {kind:?}");
                }
            }
        }
    }
    assert_eq!(allowed_cells, ActionKind::ALL.len());
    app.stop().await;
});

db_test!(async fn a_stale_version_gets_the_moved_on_answer_and_bad_enums_are_refused(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    app.create_user("pm1", &[Role::Pm]).await;
    let mut browser = app.browser();
    browser.login("ops1", PASSWORD).await;
    let created = browser
        .call(
            "/api/incidents/report",
            &[("title", "Pay button dead"), ("description", "<img src=x onerror=alert(1)>"), ("severity", "P0"), ("channel", "email"), ("reporter_name", "Li"), ("reporter_contact", "li@example.com"), ("external_ref", "")],
        )
        .await;
    assert!(created.status.is_success(), "{}", created.body);
    let key: String = serde_json::from_str(&created.body).unwrap();
    let detail = browser.call("/api/incidents/get", &[("key", &key)]).await;
    let json = detail.json();
    assert_eq!(json["description"], "<img src=x onerror=alert(1)>", "stored verbatim");
    assert_eq!(json["my_actions"], serde_json::json!(["triage_non_technical", "triage_technical"]));
    let id = json["summary"]["id"].as_i64().unwrap();
    let version = json["summary"]["version"].as_i64().unwrap();
    assert_eq!(json["owner_names"][0]["id"].as_i64(), Some(ops));

    let bad = browser
        .call("/api/incidents/report", &[("title", "t"), ("description", "d"), ("severity", "P9"), ("channel", "email"), ("reporter_name", ""), ("reporter_contact", ""), ("external_ref", "")])
        .await;
    assert_eq!(bad.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);

    let first = browser.call("/api/incidents/triage_non_technical", &[("incident_id", &id.to_string()), ("version", &version.to_string()), ("reply", "faq")]).await;
    assert!(first.status.is_success(), "{}", first.body);
    let again = browser.call("/api/incidents/triage_non_technical", &[("incident_id", &id.to_string()), ("version", &version.to_string()), ("reply", "faq")]).await;
    assert_eq!(again.status, reqwest::StatusCode::CONFLICT);
    assert_eq!(again.json()["Refused"], "Stale");
    let timeline = browser.call("/api/incidents/get", &[("key", &key)]).await.json()["timeline"].as_array().unwrap().len();
    assert_eq!(timeline, 2, "creation and one triage: the double submit made no second entry");
    assert!(store::id_by_username(&app.db, "pm1").await.unwrap().is_some());
    app.stop().await;
});

#[tokio::test]
async fn signed_in_users_receive_live_changes_and_shutdown_ends_the_stream() {
    let test_db = app::testing::TestDb::create(app::config::Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn(test_db.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    assert_eq!(app.get("/events").await.status(), reqwest::StatusCode::UNAUTHORIZED);

    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    let cookie = format!("baton_session={}", ops.cookie.clone().unwrap());
    let mut stream = app.client.get(app.url("/events")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    let created = ops
        .call(
            "/api/incidents/report",
            &[
                ("title", "t"),
                ("description", "d"),
                ("severity", "p1"),
                ("channel", "sms"),
                ("reporter_name", ""),
                ("reporter_contact", ""),
                ("external_ref", ""),
            ],
        )
        .await;
    assert!(created.status.is_success(), "{}", created.body);
    let mut received = String::new();
    while !received.contains("\"version\":1") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
            .await
            .expect("event in time")
            .unwrap()
            .expect("stream open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains("data: {\"id\":1,\"version\":1}"), "{received}");
    // The stream is still open here: stopping must not wait for it.
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("graceful shutdown ends open streams");
    test_db.destroy().await;
}
