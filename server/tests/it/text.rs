//! Control characters over HTTP on both databases: every text field of every server function and
//! of the intake API is refused with a field error naming it (PostgreSQL used to answer 500 for a
//! NUL, SQLite stored it), nothing changes, and a plain form post is sent back with the error.

use app::{auth::Role, db_test, intake::SourceChannel};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{TestApp, PASSWORD};

const NUL: &str = "bad\u{0}text";
const ESCAPE: &str = "bad\u{1b}[31mtext";

/// Every server function that takes text, with every text field it takes and a valid value for it
/// (numbers for the rest), so that only the control character is wrong.
const TEXT_FIELDS: &[(&str, &[(&str, &str)])] = &[
    ("/api/audit/list", &[("actor", ""), ("event", ""), ("target", ""), ("outcome", ""), ("from", ""), ("to", "")]),
    ("/api/audit/verify", &[("head", "1:abc")]),
    (
        "/api/auth/change_password",
        &[("current", PASSWORD), ("new", "a new long passphrase"), ("confirm", "a new long passphrase")],
    ),
    ("/api/account/time_zone", &[("time_zone", "Asia/Shanghai")]),
    ("/api/intake/sources/create", &[("name", "Mailbox"), ("channel", "email")]),
    ("/api/outbox/list", &[("status", "queued")]),
    ("/api/outbox/retry", &[("id", "1"), ("status", "failed")]),
    ("/api/pool/add", &[("pool_title", "Title"), ("pool_description", "Description"), ("priority", "p2")]),
    ("/api/pool/update", &[("id", "1"), ("status", "open"), ("target_release", "v1"), ("priority", "p2")]),
    ("/api/users/list", &[("query", "someone")]),
    (
        "/api/users/create",
        &[
            ("username", "newbie"),
            ("display_name", "New"),
            ("email", "n@example.com"),
            ("language", "en"),
            ("password", "a long enough passphrase"),
        ],
    ),
    ("/api/users/update", &[("id", "1"), ("display_name", "Admin"), ("email", "a@example.com"), ("language", "en")]),
    ("/api/users/reset_password", &[("id", "1"), ("password", "a long enough passphrase")]),
    (
        "/api/incidents/report",
        &[
            ("title", "Title"),
            ("description", "Description"),
            ("severity", "p2"),
            ("channel", "email"),
            ("reporter_name", "Li"),
            ("reporter_contact", "li@example.com"),
            ("external_ref", "X-1"),
        ],
    ),
    (
        "/api/incidents/list",
        &[
            ("stage", "reported"),
            ("severity", "p2"),
            ("channel", "email"),
            ("created_from", "2026-01-01"),
            ("created_to", "2026-12-31"),
            ("text", "orders"),
        ],
    ),
    ("/api/incidents/get", &[("key", "INC-1")]),
    ("/api/incidents/claim", &[("incident_id", "1"), ("version", "1"), ("role", "ops")]),
    (
        "/api/incidents/reassign",
        &[("incident_id", "1"), ("version", "1"), ("role", "ops"), ("user_id", "1"), ("reason", "Away")],
    ),
    ("/api/incidents/triage_non_technical", &[("incident_id", "1"), ("version", "1"), ("reply", "Answered")]),
    ("/api/incidents/triage_technical", &[("incident_id", "1"), ("version", "1"), ("pm_id", "1"), ("note", "Note")]),
    (
        "/api/incidents/dispatch",
        &[("incident_id", "1"), ("version", "1"), ("dev_id", "1"), ("qa_id", "1"), ("note", "Note")],
    ),
    ("/api/incidents/propose", &[("incident_id", "1"), ("version", "1"), ("root_cause", "Cause"), ("solution", "Fix")]),
    (
        "/api/incidents/verdict_pm",
        &[
            ("incident_id", "1"),
            ("version", "1"),
            ("optimal", "false"),
            ("pool_title", "T"),
            ("pool_description", "D"),
            ("pool_priority", "p2"),
        ],
    ),
    ("/api/incidents/send_back_solution", &[("incident_id", "1"), ("version", "1"), ("reason", "Why")]),
    (
        "/api/incidents/submit_for_test",
        &[("incident_id", "1"), ("version", "1"), ("changes", "Changes"), ("reference", "PR-1")],
    ),
    ("/api/incidents/test_pass", &[("incident_id", "1"), ("version", "1"), ("notes", "Fine")]),
    ("/api/incidents/test_fail", &[("incident_id", "1"), ("version", "1"), ("defect", "Broken")]),
    ("/api/incidents/approve_release", &[("incident_id", "1"), ("version", "1"), ("note", "Go")]),
    ("/api/incidents/send_back_release", &[("incident_id", "1"), ("version", "1"), ("reason", "Wait")]),
    (
        "/api/incidents/mark_released",
        &[
            ("incident_id", "1"),
            ("version", "1"),
            ("release", "v1"),
            ("deployed_at", "2026-12-01T10:00"),
            ("zone", "Asia/Shanghai"),
        ],
    ),
    ("/api/incidents/regression_pass", &[("incident_id", "1"), ("version", "1"), ("notes", "Fine")]),
    ("/api/incidents/regression_fail", &[("incident_id", "1"), ("version", "1"), ("defect", "Broken")]),
    (
        "/api/incidents/confirm_followup",
        &[("incident_id", "1"), ("version", "1"), ("reply", "Done"), ("confirmation", "confirmed")],
    ),
    (
        "/api/incidents/send_report",
        &[
            ("incident_id", "1"),
            ("version", "1"),
            ("summary", "Summary"),
            ("measures[0][text]", "Measure"),
            ("measures[0][owner_id]", "1"),
            ("measures[0][due]", "2099-01-01"),
            ("recipients", "boss@example.com"),
            ("language", "en"),
            ("zone", "Asia/Shanghai"),
        ],
    ),
];

/// What any of those calls could have changed.
async fn footprint(app: &TestApp) -> Vec<i64> {
    app::on_db!(&app.db, pool => {
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM audit_log",
            "SELECT COUNT(*) FROM incidents",
            "SELECT MAX(version) FROM incidents",
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM pool_items",
            "SELECT COUNT(*) FROM intake_sources",
            "SELECT COUNT(*) FROM outbox",
        ] {
            counts.push(sqlx::query(sql).fetch_one(pool).await.unwrap().get::<Option<i64>, _>(0).unwrap_or(0));
        }
        counts
    })
}

db_test!(async fn every_text_field_of_every_server_function_refuses_control_characters(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("chief", &[Role::Ops, Role::Pm, Role::Dev, Role::Qa, Role::Admin]).await;
    let mut chief = app.browser();
    assert!(chief.login("chief", PASSWORD).await.status.is_success());
    assert!(chief.report("An incident to act on").await.status.is_success());
    let before = footprint(&app).await;

    for (path, fields) in TEXT_FIELDS {
        for (i, (field, _)) in fields.iter().enumerate() {
            for bad in [NUL, ESCAPE] {
                let mut form: Vec<(&str, &str)> = fields.to_vec();
                form[i].1 = bad;
                let answer = chief.call(path, &form).await;
                assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {field}: {}", answer.body);
                assert_eq!(
                    answer.json(),
                    json!({ "Invalid": { "field": field, "problem": "ControlCharacter" } }),
                    "{path} {field}"
                );
            }
        }
    }
    assert_eq!(footprint(&app).await, before, "a refused call changed something");
    // The same fields without the control character are accepted (the list is not refused whole).
    let fine = chief.call("/api/incidents/list", &[("text", "tab\tand\nline")]).await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.body);
    // The domain validators hold the rule too, for the command line and anything else that
    // reaches them without this layer.
    let user = app::users::bootstrap::CliUser {
        username: "cli".into(),
        display_name: "C\u{0}LI".into(),
        email: "cli@example.com".into(),
        language: "en".into(),
        roles: vec![Role::Ops],
        password: PASSWORD.into(),
        must_change: false,
    };
    let refused = app::users::bootstrap::create_user(&app.db, &app.hasher, user).await.unwrap_err();
    assert_eq!(refused.field(), Some("display_name"));
    app.stop().await;
});

db_test!(async fn a_plain_form_post_is_sent_back_with_the_field_error(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("opsy", &[Role::Ops]).await;
    let mut ops = app.browser();
    assert!(ops.login("opsy", PASSWORD).await.status.is_success());
    let referer = app.url("/incidents/new?__path=/api/x&__err=old");
    ops.headers = vec![("accept", "text/html,application/xhtml+xml".into()), ("referer", referer)];
    let form = [("title", "A\u{0}B"), ("description", "d"), ("severity", "p2"), ("channel", "email")];
    let response = ops.request_form("/api/incidents/report", &form).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(&app.url("/incidents/new?")), "{location}");
    assert!(location.contains("__path=%2Fapi%2Fincidents%2Freport"), "{location}");
    assert!(!location.contains("__err=old"), "the earlier error is replaced: {location}");
    let encoded = location.split("__err=").nth(1).unwrap();
    let decoded = base64_url(encoded);
    assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap()["Invalid"]["field"], "title");
    // A page address with a control character is refused before any loader runs.
    let page = ops.get("/incidents?text=%00").await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
});

/// Decodes URL-safe base64 (with or without padding).
fn base64_url(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let text = text.split('&').next().unwrap().replace("%3D", "=");
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

db_test!(async fn intake_refuses_control_characters_by_field_and_drops_them_from_decoded_mail(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let origin = app::audit::store::Origin::system("test");
    let now = chrono::Utc::now();
    let feedback = app::intake::store::create(&app.db, &origin, None, "Feedback", SourceChannel::FeedbackSystem.as_str(), now).await.unwrap().token;
    let sms = app::intake::store::create(&app.db, &origin, None, "SMS", SourceChannel::Sms.as_str(), now).await.unwrap().token;
    let mail = app::intake::store::create(&app.db, &origin, None, "Mail", SourceChannel::Email.as_str(), now).await.unwrap().token;
    let before = footprint(&app).await;
    let post = |path: &'static str, token: String, content_type: &'static str, body: String| {
        let request = app.client.post(app.url(path)).bearer_auth(token).header(header::CONTENT_TYPE, content_type);
        async move {
            let response = request.body(body).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let report = json!({ "title": "T", "body": "B", "reporter_name": "N", "reporter_email": "e@example.com",
        "reporter_phone": "1", "external_id": "X" });
    for field in ["title", "body", "reporter_name", "reporter_email", "reporter_phone", "external_id"] {
        let mut bad = report.clone();
        bad[field] = json!(NUL);
        let (status, body) = post("/api/v1/intake", feedback.clone(), "application/json", bad.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert_eq!(body["fields"][0]["field"], field, "{body}");
        assert_eq!(body["fields"][0]["problem"], "control_character", "{body}");
    }
    for field in ["from", "text", "message_id"] {
        let mut bad = json!({ "from": "+86 1", "text": "Crashes", "message_id": "S-1" });
        bad[field] = json!(ESCAPE);
        let (status, body) = post("/api/v1/intake/sms", sms.clone(), "application/json", bad.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert_eq!(body["fields"][0]["field"], field, "{body}");
    }
    assert_eq!(footprint(&app).await, before, "a refused delivery changed something");

    // A base64 body hides a NUL from the raw-message check; the incident keeps the text without it.
    let email = "From: Li <li@example.com>\r\nSubject: Login\r\nMessage-ID: <nul-1@example.com>\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8Ad29ybGQ=\r\n";
    let (status, body) = post("/api/v1/intake/email", mail, "message/rfc822", email.to_owned()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["incident_key"].as_str().unwrap().to_owned();
    let description: String = app::on_db!(&app.db, pool => sqlx::query("SELECT description FROM incidents WHERE key = $1")
        .bind(&key).fetch_one(pool).await.unwrap().get(0));
    assert_eq!(description, "helloworld");
    app.stop().await;
});
