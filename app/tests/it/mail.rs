//! Email through the outbox, on both databases and against a real SMTP server on localhost
//! (`scripts/smtp_sink.py`, aiosmtpd): what is queued by a whole incident, what arrives, and how
//! failures, outages, races and crashes end.

use std::time::{Duration, Instant};

use app::{
    config::{SmtpConfig, SmtpTls},
    db::Db,
    db_test,
    error::AppError,
    mail::{
        compose, outbox,
        sender::{Sender, Tuning},
        smtp::Smtp,
        test_sink::{free_port, Sink},
        EmailKind, EmailStatus,
    },
    workflow::{
        engine,
        input::{GateInput, Measure},
        rules::{Refusal, Stage},
    },
};
use chrono::Utc;
use sqlx::Row;

use crate::helpers::{audit_entries, incident, key_of, step, version, Team};

// ---------------------------------------------------------------------------------------------
// The SMTP server.

fn smtp(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: String::new(),
        password: String::new().into(),
        from: "Baton <baton@example.com>".into(),
        timeout: Duration::from_secs(5),
    }
}

/// Test timing: retries come due within milliseconds.
fn fast() -> Tuning {
    Tuning {
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(50),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        max_attempts: 5,
        batch: 20,
    }
}

/// Runs sender passes until one finds nothing due.
async fn drain(sender: &Sender) -> usize {
    let mut total = 0;
    loop {
        let n = sender.run_once().await.unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

// ---------------------------------------------------------------------------------------------
// The team and the incident.

/// Ops, dev and QA read English; the PM reads Chinese; everyone's display name is as the report
/// prints it. `qa_email` lets a test make QA unreachable.
async fn mail_team(db: &Db, qa_email: &str) -> Team {
    compose::remember_base_url(db, "https://baton.example.com").await.unwrap();
    Team::create(db, |p| {
        let display_name = format!("{} 名", p.username());
        let p = p.display_name(display_name);
        match p.username() {
            "pm1" => p.language("zh-CN"),
            "qa1" => p.email(qa_email),
            _ => p,
        }
    })
    .await
}

/// Markup in the title, which every email must escape.
const TITLE: &str = "结账失败 <b>500</b>";

fn report_input(t: &Team) -> GateInput {
    GateInput::SendReport {
        summary: "价格为空导致结账失败。".into(),
        measures: vec![Measure {
            text: "为 500 错误加告警".into(), owner_id: t.dev.id, due: "2026-12-15".into()
        }],
        recipients: vec!["cto@example.com".into(), "PM1@example.com".into()],
        language: None,
    }
}

/// Walks a new incident to `reporting` (one failed test on the way); returns its id.
async fn to_reporting(db: &Db, t: &Team) -> i64 {
    crate::helpers::walk_to_reporting(db, t, TITLE).await
}

/// (kind, recipients, language, subject, status, attempts, message_id) of every outbox row, by id.
type Row7 = (String, Vec<String>, String, String, String, i64, String);

async fn rows(db: &Db) -> Vec<Row7> {
    app::on_db!(db, pool => sqlx::query(
        "SELECT kind, recipients, language, subject, status, attempts, message_id FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let recipients: String = r.get(1);
        (r.get(0), serde_json::from_str(&recipients).unwrap(), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))
    })
    .collect())
}

// ---------------------------------------------------------------------------------------------
// What is queued.

db_test!(async fn a_whole_incident_queues_the_hand_offs_and_one_report_in_each_readers_language(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let id = to_reporting(db, &t).await;
    assert_eq!(step(db, &t.pm, id, report_input(&t)).await.unwrap().stage, Stage::Closed);

    let all = rows(db).await;
    let got: Vec<(&str, &str)> =
        all.iter().map(|r| (r.0.as_str(), r.1.first().map(String::as_str).unwrap_or(""))).collect();
    let expected = vec![
        ("notification", "pm1@example.com"),  // awaiting_pm
        ("notification", "dev1@example.com"), // investigating: dev and QA
        ("notification", "qa1@example.com"),
        ("notification", "pm1@example.com"), // solution_review: PM and dev
        ("notification", "dev1@example.com"),
        ("notification", "dev1@example.com"), // fixing (the PM's verdict alone kept the stage)
        ("notification", "qa1@example.com"),  // testing
        ("notification", "dev1@example.com"), // fixing again after the failed test
        ("notification", "qa1@example.com"),  // testing
        ("notification", "pm1@example.com"),  // release_review
        ("notification", "dev1@example.com"), // releasing
        ("notification", "qa1@example.com"),  // verifying
        ("notification", "ops1@example.com"), // user_followup
        ("notification", "pm1@example.com"),  // reporting
        ("report", "ops1@example.com"),
    ];
    assert_eq!(got, expected);

    let key = key_of(db, id).await;
    let (_, _, lang, subject, status, attempts, _) = &all[0];
    assert_eq!((lang.as_str(), status.as_str(), *attempts), ("zh-CN", "queued", 0));
    assert_eq!(subject, &format!("[{key}] 轮到您：待产品对接 · 结账失败 <b>500</b>"));
    assert_eq!(all[1].3, format!("[{key}] Your turn: Investigating · 结账失败 <b>500</b>"));
    let mut ids = std::collections::HashSet::new();
    for row in &all {
        let token = row.6.strip_prefix("<outbox-").and_then(|rest| rest.strip_suffix(&format!(".{key}@baton.example.com>")));
        assert!(token.is_some_and(|t| t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())), "{}", row.6);
        assert!(ids.insert(row.6.clone()), "a Message-ID of its own per row: {}", row.6);
    }

    let report = outbox::report_of(db, id).await.unwrap().expect("a report row");
    assert_eq!(report.kind, EmailKind::Report);
    assert_eq!(report.language, "zh-CN", "the PM's language");
    assert_eq!(report.subject, format!("[{key}] 事件处理结果：结账失败 <b>500</b>"));
    assert_eq!(
        report.recipients,
        vec!["ops1@example.com", "pm1@example.com", "dev1@example.com", "qa1@example.com", "cto@example.com"],
        "every named owner plus the added addresses, each once"
    );
    let deployed = app::workflow::queries::detail(db, &key, &t.pm).await.unwrap().facts.deployed_at.unwrap();
    for needle in [
        "价格为空导致结账失败。",
        "价格字段为空",
        "默认价格为 0",
        "最优方案",
        "2.4.1",
        // In the installation's zone, named (no server recorded one: the default).
        app::clock::with_zone_name(&deployed, "Asia/Shanghai").as_str(),
        "生产环境正常",
        "已修复",
        "已确认解决",
        "为 500 错误加告警",
        "dev1 名",
        "2026-12-15",
        "修复中",
        // One failed test: the second fix round, and the second stay in fixing.
        "修复轮次：2",
        "（2 次）",
        "ops1 名",
        "qa1 名",
        "https://baton.example.com/incidents/",
    ] {
        assert!(report.body_text.contains(needle), "text part lacks {needle:?}:\n{}", report.body_text);
    }
    assert!(report.body_html.contains("结账失败 &lt;b&gt;500&lt;/b&gt;"), "user text is escaped in HTML");
    assert!(!report.body_html.contains("<b>500"), "no user markup in HTML");
    let link = format!("https://baton.example.com/incidents/{key}");
    assert!(all[0].3.contains(&key) && report.body_html.contains(&link));
});

db_test!(async fn refused_actions_and_unchanged_stages_queue_nothing(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let id = engine::create_incident(db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    assert_eq!(rows(db).await.len(), 0, "reporting an incident emails nobody");
    let err = step(db, &t.dev, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await;
    assert_eq!(err.unwrap_err(), AppError::Refused(Refusal::NotYourRole));
    let bad_pm = step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.dev.id, note: String::new() }).await;
    assert!(bad_pm.is_err());
    assert_eq!(rows(db).await.len(), 0, "refusals roll back and email nobody");
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    step(db, &t.dev, id, GateInput::Propose { root_cause: "r".into(), solution: "s".into() }).await.unwrap();
    let before = rows(db).await.len();
    step(db, &t.pm, id, GateInput::VerdictPm { optimal: true, pool: None }).await.unwrap();
    assert_eq!(rows(db).await.len(), before, "a verdict that keeps the stage notifies nobody");
});

// ---------------------------------------------------------------------------------------------
// What arrives.

db_test!(async fn emails_arrive_with_their_recipients_both_parts_and_intact_chinese(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let id = to_reporting(db, &t).await;
    step(db, &t.pm, id, report_input(&t)).await.unwrap();
    let port = free_port();
    let sink = Sink::start(port);
    let sender = Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap();
    let queued = rows(db).await;
    assert_eq!(drain(&sender).await, queued.len());

    let sent = rows(db).await;
    assert!(sent.iter().all(|r| r.4 == "sent" && r.5 == 1), "{sent:?}");
    let received = sink.messages();
    // One SMTP transaction per recipient, so one refused address cannot stop the others.
    assert_eq!(received.len(), sent.iter().map(|r| r.1.len()).sum::<usize>(), "one message per recipient");
    for row in &sent {
        let expected: std::collections::BTreeMap<String, usize> = row.1.iter().map(|r| (r.clone(), 1)).collect();
        assert_eq!(copies(&received, &row.6), expected, "envelope recipients of {}", row.6);
    }
    for (rcpt, message) in &received {
        let row = sent.iter().find(|r| message["message_id"] == r.6.as_str()).expect("a message of a row");
        assert_eq!(rcpt.len(), 1);
        let to = message["to"].to_string().to_lowercase();
        assert!(row.1.iter().all(|r| to.contains(&r.to_lowercase())), "the headers name every recipient: {to}");
        assert_eq!(message["subject"], row.3.as_str(), "subject decodes to the stored one");
        assert_eq!(message["message_id"], row.6.as_str());
        assert_eq!(message["from"], "Baton <baton@example.com>");
        assert_eq!(message["content_type"], "multipart/alternative");
        let parts = message["parts"].as_array().unwrap();
        let types: Vec<&str> = parts.iter().map(|p| p["content_type"].as_str().unwrap()).collect();
        assert_eq!(types, ["text/plain", "text/html"]);
        for part in parts {
            assert_eq!(part["charset"], "utf-8");
            let cte = part["transfer_encoding"].as_str().unwrap().to_ascii_lowercase();
            assert!(["quoted-printable", "base64", "7bit", "8bit"].contains(&cte.as_str()), "{cte}");
        }
    }
    let stored = outbox::report_of(db, id).await.unwrap().unwrap();
    let (_, report) = received.iter().find(|(_, m)| m["message_id"] == stored.message_id.as_str()).unwrap();
    assert_eq!(copies(&received, &stored.message_id).len(), 5);
    assert_eq!(stored.status, EmailStatus::Sent);
    let text = report["parts"][0]["content"].as_str().unwrap();
    let html = report["parts"][1]["content"].as_str().unwrap();
    assert_eq!(text.replace("\r\n", "\n").trim_end(), stored.body_text.trim_end(), "text part arrives intact");
    assert!(text.contains("价格为空导致结账失败。") && text.contains("为 500 错误加告警"));
    assert!(html.contains("结账失败 &lt;b&gt;500&lt;/b&gt;") && html.contains("生产环境正常"));
    assert!(report["subject"].as_str().unwrap().contains("事件处理结果"));
    // The footer carries the audit head of the closing transaction, which verifies as recorded.
    let head_line = text.lines().find(|l| l.contains("审计日志链头")).expect("audit head in the footer");
    let head: app::audit::chain::Head = head_line.rsplit('：').next().unwrap().trim().parse().unwrap();
    let close = audit_entries(db).await.into_iter().find(|e| e.seq == head.seq).unwrap();
    assert_eq!((close.event.as_str(), close.hash.as_str()), ("incident.action", head.hash.as_str()));
    assert!(close.details.contains("send_report"));
    assert!(matches!(
        app::audit::store::verify(db, Some(head)).await.unwrap(),
        app::audit::VerifyReport::Verified { .. }
    ));
    // Every delivery is on record.
    let sent_entries = audit_entries(db).await.into_iter().filter(|e| e.event == "email.sent").count();
    assert_eq!(sent_entries, sent.len());
});

db_test!(async fn an_action_during_an_smtp_outage_answers_at_once_and_its_email_arrives_once_smtp_is_back(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let id = engine::create_incident(db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    let port = free_port(); // nothing listens here yet
    let sender = Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap();
    let started = Instant::now();
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(900), "the action never waits for SMTP: {:?}", started.elapsed());

    assert_eq!(sender.run_once().await.unwrap(), 1);
    let (status, attempts, error): (String, i64, String) = app::on_db!(db, pool => {
        let r = sqlx::query("SELECT status, attempts, last_error FROM outbox").fetch_one(pool).await.unwrap();
        (r.get(0), r.get(1), r.get(2))
    });
    assert_eq!((status.as_str(), attempts), ("queued", 1), "a refused connection is retried");
    assert!(!error.is_empty());

    let sink = Sink::start(port);
    tokio::time::sleep(Duration::from_millis(60)).await; // the backoff (at most 40 ms here)
    assert_eq!(drain(&sender).await, 1);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(drain(&sender).await, 0, "nothing left to send");
    let received = sink.messages();
    assert_eq!(received.len(), 1, "delivered exactly once");
    assert_eq!(received[0].0, vec!["pm1@example.com".to_owned()]);
    let rows = rows(db).await;
    assert_eq!((rows[0].4.as_str(), rows[0].5), ("sent", 2));
});

db_test!(async fn a_permanently_refused_recipient_fails_once_visibly_and_is_not_retried(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "reject-qa@example.com").await;
    let id = engine::create_incident(db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    let port = free_port();
    let sink = Sink::start(port);
    let sender = Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap();
    drain(&sender).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(drain(&sender).await, 0, "a permanent failure is not retried");

    let failed = outbox::list(db, Some(EmailStatus::Failed), None, 50).await.unwrap();
    assert_eq!(failed.len(), 1, "the admins' list shows it");
    assert_eq!(failed[0].recipients, vec!["reject-qa@example.com".to_owned()]);
    assert_eq!(failed[0].attempts, 1);
    assert!(failed[0].last_error.contains("550"), "{}", failed[0].last_error);
    assert_eq!(sink.messages().len(), 2, "the PM's and dev's emails still arrive");
    let failures: Vec<_> = audit_entries(db).await.into_iter().filter(|e| e.event == "email.failed").collect();
    assert_eq!(failures.len(), 1, "the failure is on record once");
    assert_eq!((failures[0].outcome.as_str(), failures[0].target.clone()), ("failed", failed[0].id.to_string()));
    assert!(failures[0].details.contains("reject-qa@example.com") && failures[0].details.contains("550"));

    // An admin may send it again: it is queued, tried once more, and fails the same way.
    assert!(outbox::retry(db, failed[0].id, Utc::now()).await.unwrap());
    assert!(!outbox::retry(db, failed[0].id, Utc::now()).await.unwrap(), "already queued");
    drain(&sender).await;
    let again = outbox::list(db, Some(EmailStatus::Failed), None, 50).await.unwrap();
    assert_eq!(again[0].attempts, 2);
});

db_test!(async fn twenty_concurrent_report_submissions_make_one_report_email(ctx) {
    let db = ctx.db.clone();
    let t = mail_team(&db, "qa1@example.com").await;
    let id = to_reporting(&db, &t).await;
    let v = version(&db, id).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (db, pm, input) = (db.clone(), t.pm.clone(), report_input(&t));
        tasks.push(tokio::spawn(async move { engine::act(&db, &pm, id, v, &input, Utc::now()).await }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(err) => assert_eq!(err, AppError::Refused(Refusal::Stale)),
        }
    }
    assert_eq!(accepted, 1);
    let reports = rows(&db).await.into_iter().filter(|r| r.0 == "report").count();
    assert_eq!(reports, 1);

    // The database itself refuses a second report for the incident, whatever the caller.
    let second = outbox::NewEmail {
        kind: EmailKind::Report,
        incident_id: id,
        incident_key: "K".into(),
        dedupe_key: Some(app::mail::report::dedupe_key(id)),
        recipients: vec!["x@example.com".into()],
        subject: "s".into(),
        body_text: "t".into(),
        body_html: "h".into(),
        language: "en".into(),
        message_domain: "example.com".into(),
    };
    let mut tx = db.begin_write().await.unwrap();
    assert!(outbox::enqueue(&mut tx, &second, Utc::now()).await.is_err());
    drop(tx);

    let port = free_port();
    let sink = Sink::start(port);
    drain(&Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap()).await;
    let reports: std::collections::BTreeSet<String> = sink
        .messages()
        .iter()
        .filter(|(_, m)| m["subject"].as_str().unwrap().contains("事件处理结果"))
        .map(|(_, m)| m["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reports.len(), 1, "one report email");
});

db_test!(async fn a_crash_between_acceptance_and_marking_sent_repeats_at_most_once_with_the_same_message_id(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let id = engine::create_incident(db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    let port = free_port();
    let sink = Sink::start(port);

    // A sender claims the email, the server accepts it, and the sender dies before recording it.
    let lease = Duration::from_millis(300);
    let claimed = outbox::claim_due(db, Utc::now(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let server = Smtp::new(&smtp(port)).unwrap();
    let prepared = server.prepare(&claimed[0]).unwrap();
    server.send_to(&prepared, &claimed[0].recipients[0]).await.unwrap();
    // While the lease holds, no other sender touches it.
    let sender = Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap();
    assert_eq!(sender.run_once().await.unwrap(), 0, "leased to the dead sender");

    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert_eq!(drain(&sender).await, 1, "the expired lease is taken over");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(drain(&sender).await, 0);
    let received = sink.messages();
    assert_eq!(received.len(), 2, "one extra delivery, no more");
    assert_eq!(received[0].1["message_id"], received[1].1["message_id"], "recognisable as the same email");
    let rows = rows(db).await;
    assert_eq!((rows[0].4.as_str(), rows[0].5), ("sent", 2));
    // The dead sender's late outcome is not recorded over the new claim's.
    assert!(!outbox::mark_failed(db, &claimed[0], "late").await.unwrap());
});

db_test!(async fn two_senders_never_claim_the_same_email(ctx) {
    let db = ctx.db.clone();
    let t = mail_team(&db, "qa1@example.com").await;
    let id = engine::create_incident(&db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    let mut tx = db.begin_write().await.unwrap();
    for n in 0..60 {
        let email = outbox::NewEmail {
            kind: EmailKind::Notification,
            incident_id: id,
            incident_key: "K".into(),
            dedupe_key: None,
            recipients: vec![format!("u{n}@example.com")],
            subject: "s".into(),
            body_text: "t".into(),
            body_html: "h".into(),
            language: "en".into(),
            message_domain: "example.com".into(),
        };
        outbox::enqueue(&mut tx, &email, Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let claim_all = |db: Db| async move {
        let mut ids = Vec::new();
        loop {
            let batch = outbox::claim_due(&db, Utc::now(), Duration::from_secs(60), 7).await.unwrap();
            if batch.is_empty() {
                return ids;
            }
            ids.extend(batch.into_iter().map(|c| c.id));
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(claim_all(db.clone())), tokio::spawn(claim_all(db.clone())));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.iter().all(|id| !b.contains(id)), "no email claimed twice");
    assert_eq!(a.len() + b.len(), 60);
});

db_test!(async fn without_smtp_emails_stay_readable_as_not_configured_until_an_admin_retries(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let id = engine::create_incident(db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    let unconfigured = Sender::new(db.clone(), None, fast()).unwrap();
    unconfigured.run_once().await.unwrap();
    let kept = outbox::list(db, None, None, 50).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].status, kept[0].attempts), (EmailStatus::NotConfigured, 0));
    assert!(kept[0].body_text.contains("/incidents/"), "rendered, for admins to read");

    // SMTP configured later: the email is sent when an admin asks for it.
    let port = free_port();
    let sink = Sink::start(port);
    let configured = Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap();
    assert_eq!(drain(&configured).await, 0, "not sent on its own");
    assert!(outbox::retry(db, kept[0].id, Utc::now()).await.unwrap());
    assert_eq!(drain(&configured).await, 1);
    assert_eq!(sink.messages().len(), 1);
});

// ---------------------------------------------------------------------------------------------
// Faults of the mail server itself (scripts/smtp_sink.py plays them by recipient).

/// The longest retry delay of [`slow_retry`].
const SLOW_RETRY: Duration = Duration::from_millis(1000);

/// Retries that cannot come due while the first pass is still running on a busy machine, so a
/// test can look at the email between its attempts.
fn slow_retry() -> Tuning {
    Tuning { backoff_base: SLOW_RETRY, backoff_max: SLOW_RETRY, ..fast() }
}

/// How many copies of the email with `message_id` each address received, among `received`
/// (`Sink::messages`, read once: each read decodes every message).
fn copies(
    received: &[(Vec<String>, serde_json::Value)],
    message_id: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut count = std::collections::BTreeMap::new();
    for (rcpt, message) in received {
        if message["message_id"] == message_id {
            for address in rcpt {
                *count.entry(address.clone()).or_insert(0) += 1;
            }
        }
    }
    count
}

/// The PM sends the step-9 report to `extra` recipients besides themselves; the report's row.
async fn report_to(db: &Db, t: &Team, extra: &[&str]) -> Row7 {
    let id = to_reporting(db, t).await;
    let GateInput::SendReport { summary, measures, language, .. } = report_input(t) else { unreachable!() };
    let recipients = extra.iter().map(|r| r.to_string()).collect();
    step(db, &t.pm, id, GateInput::SendReport { summary, measures, recipients, language }).await.unwrap();
    rows(db).await.into_iter().find(|r| r.0 == "report").expect("the report is queued")
}

db_test!(async fn a_451_is_retried_and_the_email_arrives_once(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "once-qa@example.com").await;
    let id = engine::create_incident(db, &t.ops, &incident(TITLE), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    let port = free_port();
    let sink = Sink::start(port);
    let sender = Sender::new(db.clone(), Some(&smtp(port)), slow_retry()).unwrap();
    drain(&sender).await;
    let qa_row = || async { rows(db).await.into_iter().find(|r| r.1 == ["once-qa@example.com"]).unwrap() };
    let first = qa_row().await;
    assert_eq!((first.4.as_str(), first.5), ("queued", 1), "greylisted: queued again");
    tokio::time::sleep(SLOW_RETRY).await;
    drain(&sender).await;
    let second = qa_row().await;
    assert_eq!((second.4.as_str(), second.5), ("sent", 2));
    assert_eq!(copies(&sink.messages(), &second.6), [("once-qa@example.com".to_owned(), 1)].into());
});

db_test!(async fn a_550_for_one_recipient_does_not_stop_the_others(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    let report = report_to(db, &t, &["cto@example.com", "reject-cfo@example.com", "ceo@example.com"]).await;
    let port = free_port();
    let sink = Sink::start(port);
    let sender = Sender::new(db.clone(), Some(&smtp(port)), fast()).unwrap();
    drain(&sender).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    drain(&sender).await;
    let everyone_else: std::collections::BTreeMap<String, usize> =
        report.1.iter().filter(|r| !r.starts_with("reject")).map(|r| (r.clone(), 1)).collect();
    assert!(everyone_else.len() >= 3, "{everyone_else:?}");
    assert_eq!(copies(&sink.messages(), &report.6), everyone_else, "everyone else has the report, once");
    let failed = outbox::list(db, Some(EmailStatus::Failed), None, 50).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.contains("reject-cfo@example.com") && failed[0].last_error.contains("550"));
    assert!(!failed[0].last_error.contains("cto@example.com:"), "{}", failed[0].last_error);
    // An admin's retry goes to the refused address only: nobody gets the report twice.
    assert!(outbox::retry(db, failed[0].id, Utc::now()).await.unwrap());
    drain(&sender).await;
    assert_eq!(copies(&sink.messages(), &report.6), everyone_else);
});

db_test!(async fn a_connection_dropped_in_data_is_retried_with_at_most_one_duplicate(ctx) {
    let db = &ctx.db;
    let t = mail_team(db, "qa1@example.com").await;
    // cut-: the server loses the data; drop-: it keeps the data but the answer never comes.
    let report = report_to(db, &t, &["cut-cto@example.com", "drop-ceo@example.com"]).await;
    let port = free_port();
    let sink = Sink::start(port);
    let sender = Sender::new(db.clone(), Some(&smtp(port)), slow_retry()).unwrap();
    drain(&sender).await;
    let after_first = rows(db).await.into_iter().find(|r| r.0 == "report").unwrap();
    assert_eq!((after_first.4.as_str(), after_first.5), ("queued", 1), "a dropped connection is transient");
    tokio::time::sleep(SLOW_RETRY).await;
    drain(&sender).await;
    let after = rows(db).await.into_iter().find(|r| r.0 == "report").unwrap();
    assert_eq!((after.4.as_str(), after.5), ("sent", 2));
    let expected: std::collections::BTreeMap<String, usize> =
        report.1.iter().map(|r| (r.clone(), if r.starts_with("drop") { 2 } else { 1 })).collect();
    assert!(expected.contains_key("cut-cto@example.com") && expected.len() >= 3, "{expected:?}");
    assert_eq!(
        copies(&sink.messages(), &report.6),
        expected,
        "the one duplicate is the copy whose acceptance never arrived, with the same Message-ID"
    );
});
