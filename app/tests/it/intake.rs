//! Intake on both back ends: a delivered report becomes one unowned incident in `reported` that
//! every ops user sees, repeated deliveries (also concurrent ones) create nothing, tokens are
//! checked, and Chinese mail in legacy encodings arrives decoded.

use app::{
    audit::{event, store as audit},
    auth::Role,
    collab::storage::InDatabase,
    db::Db,
    db_test,
    error::{AppError, FieldProblem},
    intake::{
        parse,
        store::{self, Authenticated, Source},
        Report, SourceChannel,
    },
    workflow::{
        engine,
        input::{GateInput, Severity},
        queries,
        rules::{Refusal, Stage},
    },
};
use chrono::Utc;
use sqlx::Row;

use crate::helpers::{audit_entries, client, count, person};

async fn source(db: &Db, name: &str, channel: SourceChannel) -> (Source, String) {
    let admin = audit::Origin::system("test");
    let created = store::create(db, &admin, None, name, channel.as_str(), Utc::now()).await.unwrap();
    match store::authenticate(db, &created.token).await.unwrap() {
        Authenticated::Valid(source) => (source, created.token),
        other => panic!("a new token must be valid, got {other:?}"),
    }
}

fn report(external_id: &str) -> Report {
    Report {
        title: "Checkout fails".into(),
        description: "<script>alert(1)</script> '; DROP TABLE incidents; --".into(),
        severity: Some(Severity::P1),
        reporter_name: "王小明".into(),
        reporter_email: "xm@example.com".into(),
        reporter_phone: "+86 138 0000 0000".into(),
        external_id: external_id.into(),
        received_at: None,
        attachments: Vec::new(),
    }
}

/// Where the deliveries come from.
const MAILER: &str = "203.0.113.5";

db_test!(async fn a_report_becomes_an_unowned_reported_incident_in_every_ops_queue(ctx) {
    let db = &ctx.db;
    let ops1 = person(db, "ops1", &[Role::Ops]).await;
    let ops2 = person(db, "ops2", &[Role::Ops]).await;
    let pm = person(db, "pm1", &[Role::Pm]).await;
    let (src, _) = source(db, "Feedback system", SourceChannel::FeedbackSystem).await;

    let delivered = engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &report("FB-1"), Utc::now()).await.unwrap();
    assert!(delivered.created);
    let row = app::on_db!(db, pool => {
        let r = sqlx::query(
            "SELECT stage, ops_owner, created_by, channel, severity, title, description, reporter_name, \
             reporter_contact, external_ref, intake_source_id FROM incidents WHERE id = $1",
        )
        .bind(delivered.incident.id)
        .fetch_one(pool)
        .await
        .unwrap();
        (
            r.get::<String, _>(0),
            r.get::<Option<i64>, _>(1),
            r.get::<Option<i64>, _>(2),
            r.get::<String, _>(3),
            r.get::<String, _>(4),
            r.get::<String, _>(5),
            r.get::<String, _>(6),
            r.get::<String, _>(7),
            r.get::<String, _>(8),
            r.get::<String, _>(9),
            r.get::<Option<i64>, _>(10),
        )
    });
    assert_eq!((row.0.as_str(), row.1, row.2), ("reported", None, None));
    assert_eq!((row.3.as_str(), row.4.as_str(), row.5.as_str()), ("feedback_system", "p1", "Checkout fails"));
    assert_eq!(row.6, "<script>alert(1)</script> '; DROP TABLE incidents; --", "stored verbatim");
    assert_eq!((row.7.as_str(), row.8.as_str()), ("王小明", "xm@example.com / +86 138 0000 0000"));
    assert_eq!((row.9.as_str(), row.10), ("FB-1", Some(src.id)));
    assert_eq!(count(db, "SELECT COUNT(*) FROM incident_timeline WHERE actor_id IS NULL AND action = 'intake'").await, 1);

    let entries = audit_entries(db).await;
    let received = entries.iter().find(|e| e.event == event::INTAKE_RECEIVED).expect("recorded");
    assert_eq!((received.actor_kind.as_str(), received.actor_name.as_str()), ("intake", "Feedback system"));
    assert_eq!((received.target.as_str(), received.client_addr.as_str()), (delivered.incident.key.as_str(), "203.0.113.5"));
    let listed = store::list(db).await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "last use is kept");

    for ops in [&ops1, &ops2] {
        let queue = queries::my_queue(db, ops).await.unwrap();
        assert!(queue.items.iter().any(|i| i.summary.key == delivered.incident.key), "{}'s queue", ops.name);
    }
    let pm_queue = queries::my_queue(db, &pm).await.unwrap();
    assert!(pm_queue.items.iter().all(|i| i.summary.key != delivered.incident.key));

    // The first ops user to act on it becomes its ops owner.
    let reply = GateInput::TriageNonTechnical { reply: "Fixed by clearing the cache.".into() };
    let moved = engine::act(db, &ops2, delivered.incident.id, 1, &reply, Utc::now()).await.unwrap();
    assert_eq!(moved.stage, Stage::Closed);
});

db_test!(async fn the_same_external_id_twice_creates_one_incident_even_at_once(ctx) {
    let db = &ctx.db;
    let (src, _) = source(db, "Mail", SourceChannel::Email).await;
    let (other, _) = source(db, "Other mail", SourceChannel::Email).await;
    let first = engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &report("<m1@example.com>"), Utc::now()).await.unwrap();
    let again = engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &report("<m1@example.com>"), Utc::now()).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.incident, again.incident);
    // Another source may use the same id: ids are per source.
    let elsewhere = engine::create_from_intake(db, &InDatabase, &other, &client(MAILER), &report("<m1@example.com>"), Utc::now()).await.unwrap();
    assert!(elsewhere.created);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (db, src) = (db.clone(), src.clone());
            tokio::spawn(async move {
                engine::create_from_intake(&db, &InDatabase, &src, &client(MAILER), &report("<race@example.com>"), Utc::now()).await.unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results.iter().filter(|r| r.created).count(), 1, "exactly one delivery creates");
    assert!(results.iter().all(|r| r.incident == results[0].incident));
    assert_eq!(count(db, "SELECT COUNT(*) FROM incidents").await, 3);
    assert_eq!(count(db, "SELECT COUNT(*) FROM incident_timeline").await, 3);
    assert_eq!(count(db, "SELECT COUNT(*) FROM audit_log WHERE event = 'intake.received'").await, 3);
    assert!(matches!(audit::verify(db, None).await.unwrap(), app::audit::VerifyReport::Verified { .. }));
});

db_test!(async fn reports_without_an_external_id_are_not_deduplicated_and_invalid_ones_create_nothing(ctx) {
    let db = &ctx.db;
    let (src, _) = source(db, "SMS", SourceChannel::Sms).await;
    for _ in 0..2 {
        assert!(engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &report(""), Utc::now()).await.unwrap().created);
    }
    let mut empty = report("X-1");
    empty.title = "  ".into();
    let err = engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &empty, Utc::now()).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::Invalid { field: "title".into(), problem: FieldProblem::Required }));
    assert_eq!(count(db, "SELECT COUNT(*) FROM incidents").await, 2);
});

db_test!(async fn tokens_are_stored_hashed_and_paused_or_revoked_ones_are_refused(ctx) {
    let db = &ctx.db;
    let admin = audit::Origin::system("test");
    let (src, token) = source(db, "Feedback", SourceChannel::FeedbackSystem).await;
    assert_eq!(count(db, "SELECT COUNT(*) FROM intake_sources WHERE token_hash = token_hint").await, 0);
    let stored = app::on_db!(db, pool => sqlx::query("SELECT token_hash FROM intake_sources").fetch_one(pool).await.unwrap().get::<String, _>(0));
    assert_ne!(stored, token);
    assert_eq!(stored, app::intake::tokens::hash(&token));
    assert_eq!(store::authenticate(db, "btn_nope").await.unwrap(), Authenticated::Unknown);
    let duplicate = store::create(db, &admin, None, "Feedback", "other", Utc::now()).await.unwrap_err();
    assert_eq!(duplicate, AppError::invalid("name", FieldProblem::Taken));
    let bad_channel = store::create(db, &admin, None, "X", "fax", Utc::now()).await.unwrap_err();
    assert_eq!(bad_channel, AppError::invalid("channel", FieldProblem::InvalidChoice));

    store::set_enabled(db, &admin, src.id, false, Utc::now()).await.unwrap();
    assert_eq!(store::authenticate(db, &token).await.unwrap(), Authenticated::Disabled("Feedback".into()));
    store::set_enabled(db, &admin, src.id, true, Utc::now()).await.unwrap();
    assert!(matches!(store::authenticate(db, &token).await.unwrap(), Authenticated::Valid(_)));
    store::revoke(db, &admin, src.id, Utc::now()).await.unwrap();
    assert_eq!(store::authenticate(db, &token).await.unwrap(), Authenticated::Revoked("Feedback".into()));
    store::set_enabled(db, &admin, src.id, true, Utc::now()).await.unwrap();
    assert_eq!(store::authenticate(db, &token).await.unwrap(), Authenticated::Revoked("Feedback".into()), "revoked for good");
    let listed = store::list(db).await.unwrap();
    assert!(listed[0].revoked && listed[0].token_hint.starts_with("btn_"));
    for ev in [event::INTAKE_SOURCE_CREATED, event::INTAKE_SOURCE_UPDATED, event::INTAKE_SOURCE_REVOKED] {
        assert!(count(db, &format!("SELECT COUNT(*) FROM audit_log WHERE event = '{ev}'")).await > 0, "{ev}");
    }
});

/// Standard base64 (the test builds its messages byte by byte).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Quoted-printable: every byte outside printable ASCII as `=XX`.
fn quoted_printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'!'..=b'<' | b'>'..=b'~' | b' ' => (*b as char).to_string(),
            _ => format!("={b:02X}"),
        })
        .collect()
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

const SUBJECT: &str = "支付页面打不开";
const BODY: &str = "用户反馈：点击“支付”后一直转圈，无法下单。";

#[test]
fn a_gbk_email_with_a_base64_subject_and_base64_body_is_decoded() {
    let raw = format!(
        "From: =?GBK?B?{}?= <li@example.cn>\r\nSubject: =?GBK?B?{}?=\r\nMessage-ID: <gbk-1@example.cn>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&gbk("李雷")),
        base64(&gbk(SUBJECT)),
        base64(&gbk(BODY)),
    );
    let r = parse::email(raw.as_bytes()).unwrap();
    assert_eq!((r.title.as_str(), r.description.as_str()), (SUBJECT, BODY));
    assert_eq!((r.reporter_name.as_str(), r.reporter_email.as_str()), ("李雷", "li@example.cn"));
    assert_eq!(r.external_id, "gbk-1@example.cn");
}

#[test]
fn a_gb2312_email_with_a_quoted_printable_body_is_decoded() {
    let raw = format!(
        "From: li@example.cn\r\nSubject: =?gb2312?B?{}?=\r\nContent-Type: text/plain; charset=\"gb2312\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n",
        base64(&gbk(SUBJECT)),
        quoted_printable(&gbk(BODY)),
    );
    let r = parse::email(raw.as_bytes()).unwrap();
    assert_eq!((r.title.as_str(), r.description.as_str()), (SUBJECT, BODY));
}

#[test]
fn a_utf8_multipart_email_prefers_its_text_part() {
    let raw = format!(
        "From: \"王五\" <w@example.cn>\r\nSubject: =?UTF-8?B?{}?=\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p>HTML version</p>\r\n--b1--\r\n",
        base64(SUBJECT.as_bytes()),
        base64(BODY.as_bytes()),
    );
    let r = parse::email(raw.as_bytes()).unwrap();
    assert_eq!((r.title.as_str(), r.description.as_str(), r.reporter_name.as_str()), (SUBJECT, BODY, "王五"));
}

db_test!(async fn a_new_report_emails_every_active_ops_user_once_and_a_repeat_emails_nobody(ctx) {
    let db = &ctx.db;
    person(db, "ops1", &[Role::Ops]).await;
    person(db, "ops2", &[Role::Ops, Role::Pm]).await;
    person(db, "pm1", &[Role::Pm]).await;
    let (src, _) = source(db, "Support mailbox", SourceChannel::Email).await;
    let first = engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &report("<n1@example.com>"), Utc::now()).await.unwrap();
    engine::create_from_intake(db, &InDatabase, &src, &client(MAILER), &report("<n1@example.com>"), Utc::now()).await.unwrap();
    let emails: Vec<(String, String, String)> = app::on_db!(db, pool => sqlx::query(
        "SELECT recipients, subject, body_text FROM outbox WHERE incident_id = $1 ORDER BY id",
    )
    .bind(first.incident.id)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect());
    let to: Vec<&str> = emails.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(to, [r#"["ops1@example.com"]"#, r#"["ops2@example.com"]"#]);
    assert!(emails[0].1.contains(&first.incident.key) && emails[0].1.contains("Checkout fails"), "{}", emails[0].1);
    assert!(emails[0].2.contains("Support mailbox"), "{}", emails[0].2);
    assert!(emails[0].2.contains(&format!("/incidents/{}", first.incident.key)));
});
