//! The intake API over HTTP on both databases: each channel creates one incident, repeats create
//! nothing, bad tokens are refused and recorded, bad input gets its typed error and creates
//! nothing, hostile text arrives verbatim and renders escaped, and each source is rate limited.

use app::{
    audit::{event, store::Origin},
    auth::Role,
    db::Db,
    db_test,
    intake::{store, SourceChannel},
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{last_audit_entry, TestApp, PASSWORD};

/// Creates a source the way the admin page does (minus the page) and returns its token.
async fn token(app: &TestApp, name: &str, channel: SourceChannel) -> String {
    store::create(&app.db, &Origin::system("test"), None, name, channel.as_str(), chrono::Utc::now())
        .await
        .unwrap()
        .token
}

async fn incidents(db: &Db) -> i64 {
    app::on_db!(db, pool => sqlx::query("SELECT COUNT(*) FROM incidents").fetch_one(pool).await.unwrap().get::<i64, _>(0))
}

/// (title, description, channel, reporter_name, reporter_contact, external_ref, stage, ops_owner)
type Row8 = (String, String, String, String, String, String, String, Option<i64>);

async fn incident(db: &Db, key: &str) -> Row8 {
    app::on_db!(db, pool => {
        let r = sqlx::query(
            "SELECT title, description, channel, reporter_name, reporter_contact, external_ref, stage, ops_owner \
             FROM incidents WHERE key = $1",
        )
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7))
    })
}

struct Sent {
    status: StatusCode,
    body: Value,
    retry_after: Option<String>,
}

async fn send(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Sent {
    let mut request = app.client.post(app.url(path)).header(header::CONTENT_TYPE, content_type).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let retry_after = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    Sent { status, body, retry_after }
}

async fn send_json(app: &TestApp, path: &str, token: &str, body: Value) -> Sent {
    send(app, path, Some(token), "application/json", body.to_string()).await
}

const EMAIL: &str = "From: Li Lei <lilei@example.com>\r\nTo: support@example.com\r\nSubject: Cannot log in\r\n\
Message-ID: <login-1@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The login page says <b>error 42</b>.</p>\r\n";

db_test!(async fn each_channel_creates_exactly_one_incident_with_the_right_fields(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let feedback = token(&app, "Feedback system", SourceChannel::FeedbackSystem).await;
    let mail = token(&app, "Support mailbox", SourceChannel::Email).await;
    let sms = token(&app, "SMS gateway", SourceChannel::Sms).await;

    let report = json!({
        "title": "Orders page is blank",
        "body": "Since 09:00 the orders page shows nothing.",
        "reporter_name": "Zhang San",
        "reporter_email": "zs@example.com",
        "reporter_phone": "+86 139 0000 0000",
        "external_id": "FB-1001",
        "received_at": "2026-11-27T01:00:00Z",
        "severity": "p1",
        "channel": "feedback_system"
    });
    let first = send_json(&app, "/api/v1/intake", &feedback, report.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let key = first.body["incident_key"].as_str().unwrap().to_owned();
    assert_eq!(first.body["incident_url"], format!("{}/incidents/{key}", app.base));
    assert_eq!(first.body["created"], true);
    let row = incident(&app.db, &key).await;
    assert_eq!(row.0, "Orders page is blank");
    assert_eq!(row.1, "Since 09:00 the orders page shows nothing.");
    assert_eq!((row.2.as_str(), row.3.as_str()), ("feedback_system", "Zhang San"));
    assert_eq!((row.4.as_str(), row.5.as_str()), ("zs@example.com / +86 139 0000 0000", "FB-1001"));
    assert_eq!((row.6.as_str(), row.7), ("reported", None));
    let again = send_json(&app, "/api/v1/intake", &feedback, report).await;
    assert_eq!((again.status, again.body["incident_key"].as_str()), (StatusCode::OK, Some(key.as_str())));
    assert_eq!(again.body["created"], false);
    assert_eq!(incidents(&app.db).await, 1);

    let email = send(&app, "/api/v1/intake/email", Some(&mail), "message/rfc822", EMAIL).await;
    assert_eq!(email.status, StatusCode::CREATED, "{}", email.body);
    let email_key = email.body["incident_key"].as_str().unwrap().to_owned();
    let row = incident(&app.db, &email_key).await;
    assert_eq!((row.0.as_str(), row.2.as_str()), ("Cannot log in", "email"));
    assert!(row.1.contains("error 42") && !row.1.contains("<b>"), "HTML body as text: {}", row.1);
    assert_eq!((row.3.as_str(), row.4.as_str(), row.5.as_str()), ("Li Lei", "lilei@example.com", "login-1@example.com"));
    let email_again = send(&app, "/api/v1/intake/email", Some(&mail), "message/rfc822; charset=utf-8", EMAIL).await;
    assert_eq!((email_again.status, email_again.body["incident_key"].as_str()), (StatusCode::OK, Some(email_key.as_str())));
    assert_eq!(incidents(&app.db).await, 2);

    let text = json!({ "from": "+8613800000000", "text": "App crashes when I open my orders, please help", "message_id": "SM-9" });
    let sent = send_json(&app, "/api/v1/intake/sms", &sms, text.clone()).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let sms_key = sent.body["incident_key"].as_str().unwrap().to_owned();
    let row = incident(&app.db, &sms_key).await;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("App crashes when I open my orders, please…", "App crashes when I open my orders, please help"));
    assert_eq!((row.2.as_str(), row.4.as_str(), row.5.as_str()), ("sms", "+8613800000000", "SM-9"));
    assert_eq!(send_json(&app, "/api/v1/intake/sms", &sms, text).await.status, StatusCode::OK);
    assert_eq!(incidents(&app.db).await, 3);
    app.stop().await;
});

/// Standard base64, for building the raw message.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

db_test!(async fn a_chinese_email_in_gbk_becomes_a_decoded_incident(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let mail = token(&app, "Support mailbox", SourceChannel::Email).await;
    let gbk = |text: &str| encoding_rs::GBK.encode(text).0.into_owned();
    let (subject, body) = ("支付页面打不开", "用户反馈：点击“支付”后一直转圈，无法下单。");
    let mut raw = format!(
        "From: =?GBK?B?{}?= <li@example.cn>\r\nSubject: =?GBK?B?{}?=\r\nMessage-ID: <gbk-1@example.cn>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        base64(&gbk("李雷")),
        base64(&gbk(subject)),
    )
    .into_bytes();
    // The body as raw 8-bit GBK: not UTF-8, which the email endpoint must accept.
    raw.extend(gbk(body));
    raw.extend(b"\r\n");
    let sent = send(&app, "/api/v1/intake/email", Some(&mail), "message/rfc822", raw).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let row = incident(&app.db, sent.body["incident_key"].as_str().unwrap()).await;
    assert_eq!((row.0.as_str(), row.1.as_str(), row.3.as_str()), (subject, body, "李雷"));
    app.stop().await;
});

db_test!(async fn bad_tokens_are_refused_and_recorded(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let live = token(&app, "Feedback", SourceChannel::FeedbackSystem).await;
    let revoked = token(&app, "Old feedback", SourceChannel::FeedbackSystem).await;
    let id = store::list(&app.db).await.unwrap().into_iter().find(|s| s.name == "Old feedback").unwrap().id;
    store::revoke(&app.db, &Origin::system("test"), id, chrono::Utc::now()).await.unwrap();
    let report = json!({ "title": "t", "body": "b" });

    for (token, reason) in [(Some(revoked.as_str()), "revoked"), (Some("btn_guess"), "unknown_token"), (None, "missing_token")] {
        let sent = send(&app, "/api/v1/intake", token, "application/json", report.to_string()).await;
        assert_eq!((sent.status, sent.body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{reason}");
        let entry = last_audit_entry(&app.db, event::INTAKE_REFUSED).await.unwrap();
        assert_eq!((entry.outcome.as_str(), entry.actor_kind.as_str()), ("denied", "intake"));
        assert!(entry.details.contains(reason), "{}", entry.details);
        if reason == "revoked" {
            assert_eq!(entry.actor_name, "Old feedback");
        }
    }
    assert_eq!(incidents(&app.db).await, 0);
    assert_eq!(send_json(&app, "/api/v1/intake", &live, report).await.status, StatusCode::CREATED);
    app.stop().await;
});

/// (path, token, content type, body, expected status, expected error code)
type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, StatusCode, &'a str);

db_test!(async fn bad_input_gets_its_typed_error_and_creates_nothing(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let feedback = token(&app, "Feedback", SourceChannel::FeedbackSystem).await;
    let mail = token(&app, "Mail", SourceChannel::Email).await;
    let sms = token(&app, "SMS", SourceChannel::Sms).await;
    let json_type = "application/json";
    let cases: Vec<Case> = vec![
        ("/api/v1/intake", &feedback, json_type, b"{\"title\": \"x\", ".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("/api/v1/intake", &feedback, json_type, b"[1, 2]".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("/api/v1/intake", &feedback, json_type, b"{\"title\": \"x\"}".to_vec(), StatusCode::BAD_REQUEST, "invalid_fields"),
        ("/api/v1/intake", &feedback, json_type, b"{\"title\": 7, \"body\": [\"b\"]}".to_vec(), StatusCode::BAD_REQUEST, "invalid_fields"),
        ("/api/v1/intake", &feedback, json_type, b"{\"title\": \"\xff\xfe\", \"body\": \"b\"}".to_vec(), StatusCode::BAD_REQUEST, "invalid_utf8"),
        ("/api/v1/intake", &feedback, "text/plain", b"{\"title\": \"t\", \"body\": \"b\"}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("/api/v1/intake", &feedback, json_type, b"{\"title\": \"t\", \"body\": \"b\", \"channel\": \"sms\"}".to_vec(), StatusCode::CONFLICT, "channel_mismatch"),
        ("/api/v1/intake/email", &feedback, "message/rfc822", EMAIL.as_bytes().to_vec(), StatusCode::CONFLICT, "channel_mismatch"),
        ("/api/v1/intake/email", &mail, json_type, EMAIL.as_bytes().to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("/api/v1/intake/email", &mail, "message/rfc822", b"this is not a message\r\n\x00\x01".to_vec(), StatusCode::BAD_REQUEST, "invalid_message"),
        ("/api/v1/intake/email", &mail, "message/rfc822", b"Subject: no sender\r\n\r\nbody".to_vec(), StatusCode::BAD_REQUEST, "invalid_message"),
        ("/api/v1/intake/sms", &sms, json_type, b"{\"text\": \"no sender\"}".to_vec(), StatusCode::BAD_REQUEST, "invalid_fields"),
        ("/api/v1/intake/sms", &mail, json_type, b"{\"from\": \"1\", \"text\": \"t\"}".to_vec(), StatusCode::CONFLICT, "channel_mismatch"),
        ("/api/v1/intake", &feedback, json_type, vec![b' '; 5 * 1024 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (path, token, content_type, body, status, code) in cases {
        let sent = send(&app, path, Some(token), content_type, body).await;
        assert_eq!((sent.status, sent.body["error"].as_str()), (status, Some(code)), "{path} {code}: {}", sent.body);
    }
    let fields = send(&app, "/api/v1/intake", Some(&feedback), json_type, "{\"title\": 7, \"severity\": \"urgent\"}").await;
    let named: Vec<(&str, &str)> = fields.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap(), f["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(named, [("title", "wrong_type"), ("body", "required"), ("severity", "invalid_choice")]);
    assert_eq!(incidents(&app.db).await, 0, "nothing was created");
    app.stop().await;
});

db_test!(async fn hostile_text_arrives_verbatim_and_renders_escaped(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let feedback = token(&app, "Feedback", SourceChannel::FeedbackSystem).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let title = "</title><script>alert('t')</script>";
    let body = "Robert'); DROP TABLE incidents;-- <img src=x onerror=alert(1)>";
    let sent = send_json(&app, "/api/v1/intake", &feedback, json!({ "title": title, "body": body })).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let key = sent.body["incident_key"].as_str().unwrap().to_owned();
    let row = incident(&app.db, &key).await;
    assert_eq!((row.0.as_str(), row.1.as_str()), (title, body));

    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    let page = ops.get(&format!("/incidents/{key}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("&lt;/title&gt;&lt;script&gt;alert("), "title escaped, in the head too");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "description escaped");
    assert!(html.contains("DROP TABLE incidents;"));
    assert!(html.contains("<strong>Feedback</strong>"), "the timeline names the source");
    for needle in ["<script>alert(", "<img src=x", "</title><script>"] {
        if let Some(at) = html.find(needle) {
            panic!("{needle} as markup: {}", &html[at.saturating_sub(300)..(at + 200).min(html.len())]);
        }
    }
    // And the incident is in the ops user's queue, unowned.
    let queue = ops.call("/api/incidents/queue", &[]).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    assert!(queue.body.contains(&key), "{}", queue.body);
    app.stop().await;
});

db_test!(async fn each_source_is_rate_limited(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_INTAKE_RATE_PER_MINUTE", "2")]).await;
    let a = token(&app, "A", SourceChannel::Other).await;
    let b = token(&app, "B", SourceChannel::Other).await;
    let report = json!({ "title": "t", "body": "b" });
    for _ in 0..2 {
        assert_eq!(send_json(&app, "/api/v1/intake", &a, report.clone()).await.status, StatusCode::CREATED);
    }
    let limited = send_json(&app, "/api/v1/intake", &a, report.clone()).await;
    assert_eq!((limited.status, limited.body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    let wait: u64 = limited.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=31).contains(&wait), "{wait}");
    assert_eq!(send_json(&app, "/api/v1/intake", &b, report).await.status, StatusCode::CREATED, "other sources unaffected");
    assert_eq!(incidents(&app.db).await, 3);
    app.stop().await;
});

db_test!(async fn admins_manage_sources_and_the_api_describes_itself(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("root", &[Role::Admin]).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    let refused = ops.call("/api/intake/sources/create", &[("name", "X"), ("channel", "sms")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut admin = app.browser();
    admin.login("root", PASSWORD).await;
    let created = admin.call("/api/intake/sources/create", &[("name", "Gateway"), ("channel", "sms")]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let listed = admin.call("/api/intake/sources/list", &[]).await;
    assert!(!listed.body.contains(&token), "the token is shown once, never listed");
    let sent = send_json(&app, "/api/v1/intake/sms", &token, json!({ "from": "10086", "text": "hi" })).await;
    assert_eq!(sent.status, StatusCode::CREATED);
    let id = created.json()["id"].as_i64().unwrap().to_string();
    assert_eq!(admin.call("/api/intake/sources/revoke", &[("id", id.as_str())]).await.status, StatusCode::OK);
    let after = send_json(&app, "/api/v1/intake/sms", &token, json!({ "from": "10086", "text": "hi again" })).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let page = admin.get("/admin/intake").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Gateway"));

    let doc = app.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status(), StatusCode::OK);
    let doc: Value = doc.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/intake/email"]["post"]["requestBody"]["content"]["message/rfc822"].is_object());
    app.stop().await;
});

db_test!(async fn concurrent_deliveries_of_one_external_id_create_one_incident(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let feedback = token(&app, "Feedback", SourceChannel::FeedbackSystem).await;
    let report = json!({ "title": "Same report", "body": "Delivered six times at once", "external_id": "FB-RACE" });
    let sends = (0..6).map(|_| send_json(&app, "/api/v1/intake", &feedback, report.clone()));
    let answers = futures::future::join_all(sends).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5, "{statuses:?}");
    assert!(answers.iter().all(|a| a.body["incident_key"] == answers[0].body["incident_key"]));
    assert_eq!(incidents(&app.db).await, 1);
    app.stop().await;
});

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb([10, 160, 60]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// The attachments of an incident: (name, content type, uploaded by someone).
async fn attachments_of(db: &Db, key: &str) -> Vec<(String, String, bool)> {
    app::on_db!(db, pool => sqlx::query(
        "SELECT a.name, a.content_type, a.uploaded_by IS NOT NULL FROM attachments a JOIN incidents i ON i.id = a.incident_id \
         WHERE i.key = $1 ORDER BY a.id",
    )
    .bind(key)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect())
}

db_test!(async fn a_gbk_email_keeps_its_attachment_and_its_inline_image(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let mail = token(&app, "Support mailbox", SourceChannel::Email).await;
    let gbk = |text: &str| encoding_rs::GBK.encode(text).0.into_owned();
    let wrap = |bytes: &[u8]| base64(bytes).as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\r\n");
    let (subject, body) = ("截图里的支付错误", "见附件截图和正文里的图。");
    let mut raw = format!(
        "From: =?GBK?B?{}?= <li@example.cn>\r\nSubject: =?GBK?B?{}?=\r\nMessage-ID: <gbk-att-1@example.cn>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: multipart/related; boundary=\"inner\"\r\n\r\n\
         --inner\r\nContent-Type: text/html; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        base64(&gbk("李雷")),
        base64(&gbk(subject)),
    )
    .into_bytes();
    raw.extend(gbk(&format!("<p>{body}</p><img src=\"cid:shot1@example.cn\">")));
    raw.extend(
        format!(
            "\r\n--inner\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <shot1@example.cn>\r\n\
             Content-Disposition: inline\r\n\r\n{}\r\n--inner--\r\n\
             --outer\r\nContent-Type: image/png; name=\"=?GBK?B?{}?=\"\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"=?GBK?B?{}?=\"\r\n\r\n{}\r\n--outer--\r\n",
            wrap(&png(40, 30)),
            base64(&gbk("错误截图.png")),
            base64(&gbk("错误截图.png")),
            wrap(&png(320, 200)),
        )
        .as_bytes(),
    );
    let sent = send(&app, "/api/v1/intake/email", Some(&mail), "message/rfc822", raw.clone()).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let key = sent.body["incident_key"].as_str().unwrap().to_owned();
    assert_eq!(incidents(&app.db).await, 1);
    let row = incident(&app.db, &key).await;
    assert_eq!(row.0, subject);
    assert!(row.1.contains(body), "{}", row.1);
    let files = attachments_of(&app.db, &key).await;
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|(_, t, by)| t == "image/png" && !by), "{files:?}");
    assert!(files.iter().any(|(name, _, _)| name == "错误截图.png"), "the decoded file name: {files:?}");
    assert!(files.iter().any(|(name, _, _)| name.starts_with("inline-") && name.ends_with(".png")), "{files:?}");
    // The same delivery again: one incident, still two files.
    let again = send(&app, "/api/v1/intake/email", Some(&mail), "message/rfc822", raw).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(attachments_of(&app.db, &key).await.len(), 2);

    // JSON carries files as base64; a bad one is a field error and creates nothing.
    let feedback = token(&app, "Feedback", SourceChannel::FeedbackSystem).await;
    let report = json!({
        "title": "App crash log", "body": "attached",
        "attachments": [{ "name": "crash.log", "content_base64": base64("FATAL 支付 NullPointerException\n".as_bytes()) }],
    });
    let ok = send(&app, "/api/v1/intake", Some(&feedback), "application/json", report.to_string()).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let log = attachments_of(&app.db, ok.body["incident_key"].as_str().unwrap()).await;
    assert_eq!(log, [("crash.log".to_owned(), "text/plain; charset=utf-8".to_owned(), false)]);
    let bad = json!({ "title": "t", "body": "b", "attachments": [{ "name": "x.png", "content_base64": "not base64!" }] });
    let refused = send(&app, "/api/v1/intake", Some(&feedback), "application/json", bad.to_string()).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_fields")), "{}", refused.body);
    assert_eq!(refused.body["fields"][0]["field"], "attachments[0].content_base64");
    assert_eq!(incidents(&app.db).await, 2);
    app.stop().await;
});
