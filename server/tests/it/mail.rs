//! Email over HTTP: the running server's sender delivers what gate actions queue, and only admins
//! reach the outbox.

use std::time::{Duration, Instant};

use app::{
    auth::Role,
    db::Db,
    db_test,
    mail::test_sink::{free_port, Sink},
    workflow::{
        engine,
        input::{Channel, NewIncident, Severity},
    },
};
use chrono::Utc;
use sqlx::Row;

use crate::helpers::{actor, incident, stage_and_version, TestApp, PASSWORD};

/// Reports a P0 incident by email as the ops user `ops`; returns its id and key.
async fn new_incident(db: &Db, ops: i64) -> (i64, String) {
    let input = NewIncident { severity: Severity::P0, channel: Channel::Email, ..incident("支付按钮无响应") };
    let created = engine::create_incident(db, &actor(ops, Role::Ops), &input, Utc::now()).await.unwrap();
    (created.id, created.key)
}

db_test!(async fn only_admins_may_read_or_retry_the_outbox(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("dev1", &[Role::Dev]).await;
    app.create_user("admin1", &[Role::Admin]).await;
    let mut anonymous = app.browser();
    let answer = anonymous.call("/api/outbox/list", &[]).await;
    assert!(!answer.status.is_success());
    assert_eq!(answer.error().as_deref(), Some("NotSignedIn"), "{}", answer.body);

    let mut dev = app.browser();
    dev.login("dev1", PASSWORD).await;
    for (path, form) in [("/api/outbox/list", vec![]), ("/api/outbox/retry", vec![("id", "1")])] {
        let answer = dev.call(path, &form).await;
        assert_eq!(answer.error().as_deref(), Some("Forbidden"), "{path}: {}", answer.body);
    }

    let mut admin = app.browser();
    admin.login("admin1", PASSWORD).await;
    let answer = admin.call("/api/outbox/list", &[]).await;
    assert!(answer.status.is_success(), "{}", answer.body);
    assert_eq!(answer.json(), serde_json::json!([]));
    let answer = admin.call("/api/outbox/list", &[("status", "bogus")]).await;
    assert!(!answer.status.is_success());
    let page = admin.get("/admin/outbox").await.text().await.unwrap();
    assert!(page.contains("Outbox") || page.contains("发件箱"), "the admin page renders");
    app.stop().await;
});

db_test!(async fn a_gate_action_answers_fast_and_the_running_server_emails_the_next_owner(ctx) {
    let port = free_port();
    let sink = Sink::start(port);
    let port_text = port.to_string();
    let app = TestApp::spawn_with(
        ctx.url.expose(),
        &[
            ("BATON_SMTP_HOST", "127.0.0.1"),
            ("BATON_SMTP_PORT", &port_text),
            ("BATON_SMTP_TLS", "none"),
            ("BATON_SMTP_FROM", "Baton <baton@example.com>"),
        ],
    )
    .await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    let pm = app.create_user("pm1", &[Role::Pm]).await;
    app.create_user("admin1", &[Role::Admin]).await;
    let (id, key) = new_incident(&app.db, ops).await;
    let mut browser = app.browser();
    browser.login("ops1", PASSWORD).await;
    let started = Instant::now();
    let pm_text = pm.to_string();
    let id_text = id.to_string();
    let answer = browser
        .call("/api/incidents/triage_technical", &[("incident_id", &id_text), ("version", "1"), ("pm_id", &pm_text), ("note", "")])
        .await;
    assert!(answer.status.is_success(), "{}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());

    // Woken by the commit, the sender delivers well before its next poll.
    let received = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1, "delivered by the server's own sender");
    let (rcpt, message) = &received[0];
    assert_eq!(rcpt, &vec!["pm1@example.com".to_owned()]);
    assert!(message["subject"].as_str().unwrap().contains(&key));
    let host = app.base.trim_start_matches("http://").split(':').next().unwrap().to_owned();
    let stored: String = app::on_db!(&app.db, pool => sqlx::query_scalar("SELECT message_id FROM outbox WHERE incident_id = $1").bind(id).fetch_one(pool).await.unwrap());
    assert!(stored.starts_with("<outbox-") && stored.ends_with(&format!(".{key}@{host}>")), "{stored}");
    assert_eq!(message["message_id"], stored, "sent with the Message-ID stored with the email");
    let text = message["parts"][0]["content"].as_str().unwrap();
    assert!(text.contains(&format!("{}/incidents/{key}", app.base)), "links to the public base URL:\n{text}");

    // The sink has the message a moment before the sender records the server's answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let status: String = app::on_db!(&app.db, pool => sqlx::query("SELECT status FROM outbox").fetch_one(pool).await.unwrap().get(0));
        if status != "sending" || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, "sent");
    let mut admin = app.browser();
    admin.login("admin1", PASSWORD).await;
    let listed = admin.call("/api/outbox/list", &[]).await.json();
    assert_eq!(listed[0]["status"], "sent");
    assert_eq!(listed[0]["recipients"], serde_json::json!(["pm1@example.com"]));
    app.stop().await;
});

db_test!(async fn without_smtp_the_server_keeps_emails_as_not_configured(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    let pm = app.create_user("pm1", &[Role::Pm]).await;
    let (id, _) = new_incident(&app.db, ops).await;
    let mut browser = app.browser();
    browser.login("ops1", PASSWORD).await;
    let (id_text, pm_text) = (id.to_string(), pm.to_string());
    let answer = browser
        .call("/api/incidents/triage_technical", &[("incident_id", &id_text), ("version", "1"), ("pm_id", &pm_text), ("note", "")])
        .await;
    assert!(answer.status.is_success(), "{}", answer.body);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: String = app::on_db!(&app.db, pool => sqlx::query("SELECT status FROM outbox").fetch_one(pool).await.unwrap().get(0));
        if status == "not_configured" {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An admin sees it rendered and may queue it again; still without SMTP, it is kept again.
    app.create_user("admin1", &[Role::Admin]).await;
    let mut admin = app.browser();
    admin.login("admin1", PASSWORD).await;
    let listed = admin.call("/api/outbox/list", &[("status", "not_configured")]).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert!(listed[0]["body_html"].as_str().unwrap().contains("<html"));
    let email = listed[0]["id"].as_i64().unwrap().to_string();
    let answer = admin.call("/api/outbox/retry", &[("id", &email)]).await;
    assert!(answer.status.is_success(), "{}", answer.body);
    let again = admin.call("/api/outbox/retry", &[("id", "999999")]).await;
    assert_eq!(again.error().as_deref(), Some("NotFound"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: String = app::on_db!(&app.db, pool => sqlx::query("SELECT status FROM outbox").fetch_one(pool).await.unwrap().get(0));
        if status == "not_configured" {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
});

db_test!(async fn the_incident_page_shows_the_report_copy_with_its_delivery_status(ctx) {
    use app::workflow::input::{GateInput, UserConfirmation};
    let app = TestApp::spawn(ctx.url.expose()).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    let pm = app.create_user("pm1", &[Role::Pm]).await;
    let dev = app.create_user("dev1", &[Role::Dev]).await;
    let qa = app.create_user("qa1", &[Role::Qa]).await;
    let (id, key) = new_incident(&app.db, ops).await;
    let path = vec![
        (actor(ops, Role::Ops), GateInput::TriageTechnical { pm_id: pm, note: String::new() }),
        (actor(pm, Role::Pm), GateInput::Dispatch { dev_id: dev, qa_id: qa, note: String::new() }),
        (actor(dev, Role::Dev), GateInput::Propose { root_cause: "r".into(), solution: "s".into() }),
        (actor(pm, Role::Pm), GateInput::VerdictPm { optimal: true, pool: None }),
        (actor(dev, Role::Dev), GateInput::VerdictDev { optimal: true }),
        (actor(dev, Role::Dev), GateInput::SubmitForTest { changes: "c".into(), reference: "r".into() }),
        (actor(qa, Role::Qa), GateInput::TestPass { notes: String::new() }),
        (actor(pm, Role::Pm), GateInput::ApproveRelease { note: String::new() }),
        (actor(dev, Role::Dev), GateInput::MarkReleased { version: "3.1".into(), deployed_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string() }),
        (actor(qa, Role::Qa), GateInput::RegressionPass { notes: String::new() }),
        (actor(ops, Role::Ops), GateInput::ConfirmFollowup { reply: "r".into(), confirmation: UserConfirmation::NoAnswer }),
    ];
    for (who, input) in path {
        let v = stage_and_version(&app.db, id).await.1;
        engine::act(&app.db, &who, id, v, &input, Utc::now()).await.unwrap();
    }
    let mut browser = app.browser();
    browser.login("pm1", PASSWORD).await;
    let detail = browser.call("/api/incidents/get", &[("key", &key)]).await.json();
    assert_eq!(detail["report"], serde_json::Value::Null, "no report before step 9");
    let version = detail["summary"]["version"].as_i64().unwrap().to_string();
    let (id_text, dev_text, qa_text) = (id.to_string(), dev.to_string(), qa.to_string());
    let due = (Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string();
    let yesterday = (Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%d").to_string();
    let form = |row1_owner: &str, row1_due: &str, recipients: &str| {
        vec![
            ("incident_id", id_text.clone()),
            ("version", version.clone()),
            ("summary", "<script>alert(1)</script> 总结".into()),
            ("measures[0][text]", "add alerting".into()),
            ("measures[0][owner_id]", dev_text.clone()),
            ("measures[0][due]", due.clone()),
            ("measures[1][text]", "a runbook".into()),
            ("measures[1][owner_id]", row1_owner.into()),
            ("measures[1][due]", row1_due.into()),
            ("measures[2][text]", String::new()),
            ("measures[2][owner_id]", String::new()),
            ("measures[2][due]", String::new()),
            ("recipients", recipients.into()),
            ("language", "zh-CN".into()),
            ("zone", "UTC".into()),
        ]
    };
    // Each mistake is refused under its own row or field, and nothing is sent.
    for (fields, field, problem) in [
        (form("", &due, ""), "measures[1][owner_id]", "Required"),
        (form(&qa_text, &yesterday, ""), "measures[1][due]", "InPast"),
        (form(&qa_text, &due, "cto@example.com\nnot-an-address"), "recipients", "InvalidAddresses"),
    ] {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = browser.call("/api/incidents/send_report", &pairs).await;
        assert!(!refused.status.is_success(), "{field}: {}", refused.body);
        assert!(refused.body.contains(field) && refused.body.contains(problem), "{field}: {}", refused.body);
    }
    let fields = form(&qa_text, &due, "cto@example.com\nlead@example.com");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = browser.call("/api/incidents/send_report", &pairs).await;
    assert!(answer.status.is_success(), "{}", answer.body);
    let detail = browser.call("/api/incidents/get", &[("key", &key)]).await.json();
    let report = &detail["report"];
    assert_eq!(report["kind"], "report");
    assert!(report["body_text"].as_str().unwrap().contains("<script>alert(1)</script> 总结"));
    assert!(!report["body_html"].as_str().unwrap().contains("<script>"));
    assert!(report["subject"].as_str().unwrap().contains("事件处理结果"), "in the language the PM chose");
    let to: Vec<&str> = report["recipients"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
    assert!(to.contains(&"qa1@example.com") && to.contains(&"lead@example.com"), "{to:?}");
    let page = browser.get(&format!("/incidents/{key}")).await.text().await.unwrap();
    assert!(page.contains("report-email-heading"), "the incident page shows the report copy");
    assert!(!page.contains("<script>alert(1)"), "and escapes it");

    // Its HTML part is framed from its own address, whose policy admits only its inline styles.
    let report_id = report["id"].as_i64().unwrap();
    assert!(page.contains(&format!("src=\"/mail/{report_id}/preview\"")) && !page.contains("srcdoc"));
    let preview = browser.get(&format!("/mail/{report_id}/preview")).await;
    assert_eq!(preview.status(), reqwest::StatusCode::OK);
    assert_eq!(preview.headers()["content-security-policy"], server_preview_csp());
    assert_eq!(preview.headers()["x-frame-options"], "SAMEORIGIN");
    let html = preview.text().await.unwrap();
    assert_eq!(html, report["body_html"].as_str().unwrap());
    assert!(html.contains("style=\""), "the email styles itself inline");
    // Notifications are personal: only admins preview them; nobody signed out previews anything.
    let notification: i64 = app::on_db!(&app.db, pool => sqlx::query_scalar(
        "SELECT id FROM outbox WHERE kind = 'notification' ORDER BY id LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    let status = |r: reqwest::Response| r.status();
    assert_eq!(status(browser.get(&format!("/mail/{notification}/preview")).await), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(status(app.get(&format!("/mail/{report_id}/preview")).await), reqwest::StatusCode::NOT_FOUND);
    app.create_user("admin1", &[Role::Admin]).await;
    let mut admin = app.browser();
    admin.login("admin1", PASSWORD).await;
    assert_eq!(status(admin.get(&format!("/mail/{notification}/preview")).await), reqwest::StatusCode::OK);
    app.stop().await;
});

/// The preview's policy, as the server sends it.
fn server_preview_csp() -> &'static str {
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
}
