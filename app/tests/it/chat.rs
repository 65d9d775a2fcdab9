//! Chat channels on both back ends, against a real HTTP receiver on 127.0.0.1 that checks each
//! platform's signature and JSON independently: a full incident walk, a receiver that is down,
//! a burst beyond the rate limit, permanent errors, hostile titles, refused destinations, sealed
//! credentials, and two senders on one database.

use std::{sync::Arc, time::Duration};

use app::{
    audit::store::Origin,
    auth::Role,
    chat::{
        notify,
        sealed::SecretKey,
        sender::ChatSender,
        store::{self, ChannelInput},
        test_receiver::{Received, Receiver, Scripted},
        ChannelKind, ChatIdentity,
    },
    clock::{Clock as _, ManualClock},
    db::Db,
    db_test,
    error::{AppError, FieldProblem},
    mail::sender::Tuning,
    workflow::{
        engine,
        input::{GateInput, Measure},
        rules::Actor,
    },
};
use chrono::Utc;
use sqlx::Row;

use crate::helpers::{count, incident, step, team, Team};

const DINGTALK_SECRET: &str = "SECb6a1f1d0c2e34f5a9e8d7c6b5a4f3e2d1";
const FEISHU_SECRET: &str = "feishu-signing-secret";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn key() -> SecretKey {
    SecretKey::from_base64("dGVzdCBrZXkgb2YgMzIgYnl0ZXMgZm9yIGJhdG9uISE=").unwrap()
}

fn admin() -> Origin {
    Origin::system("test")
}

/// Fast retries, so a test moves its clock a little to reach the next attempt.
fn tuning() -> Tuning {
    Tuning {
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(50),
        backoff_base: Duration::from_secs(2),
        backoff_max: Duration::from_secs(4),
        max_attempts: 5,
        batch: 100,
    }
}

fn sender(db: &Db, clock: &Arc<ManualClock>) -> ChatSender {
    ChatSender::new(db.clone(), Some(key()), clock.clone(), tuning()).unwrap()
}

fn input(name: &str, kind: ChannelKind, url: String, secret: &str, events: &[&str]) -> ChannelInput {
    ChannelInput {
        name: name.into(),
        kind: kind.as_str().into(),
        language: "en".into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        severities: Vec::new(),
        url: url.into(),
        secret: secret.to_owned().into(),
        enabled: true,
    }
}

/// Allows the receiver's host and adds a channel of `kind` posting to `path` on it.
async fn channel(db: &Db, rx: &Receiver, name: &str, kind: ChannelKind, secret: Option<&str>, events: &[&str]) -> i64 {
    store::set_allowed_hosts(db, &admin(), "127.0.0.1", Utc::now()).await.unwrap();
    let path = format!("/{name}");
    rx.endpoint(&path, kind, secret);
    let url = match kind {
        ChannelKind::Wecom => format!("{}{path}?key=robot-key", rx.base_url()),
        ChannelKind::Dingtalk => format!("{}{path}?access_token=robot-token", rx.base_url()),
        _ => format!("{}{path}", rx.base_url()),
    };
    store::create(db, Some(&key()), &admin(), &input(name, kind, url, secret.unwrap_or(""), events), Utc::now())
        .await
        .unwrap()
        .0
}

/// Gives the team chat identities: dev1 and qa1 have all three, pm1 a mobile only.
async fn identities(db: &Db, t: &Team) {
    let set = |id: i64, user: &'static str, identity: ChatIdentity| async move {
        app::users::store::set_chat_identity(db, &admin(), id, user, &identity, Utc::now()).await.unwrap();
    };
    set(
        t.dev.id,
        "dev1",
        ChatIdentity { mobile: "13800000001".into(), wecom_userid: "dev.one".into(), feishu_open_id: "ou_dev1".into() },
    )
    .await;
    set(
        t.qa.id,
        "qa1",
        ChatIdentity { mobile: "13800000002".into(), wecom_userid: "qa.one".into(), feishu_open_id: "ou_qa1".into() },
    )
    .await;
    set(t.pm.id, "pm1", ChatIdentity { mobile: "+86 138-0000-0003".into(), ..ChatIdentity::default() }).await;
}

/// Delivers until nothing is due (at most `passes` passes).
async fn drain(s: &ChatSender, passes: usize) {
    for _ in 0..passes {
        if s.run_once().await.unwrap() == 0 {
            return;
        }
    }
}

/// (status, last_error) of every chat row, by id.
async fn chat_rows(db: &Db) -> Vec<(String, String)> {
    app::on_db!(db, pool => sqlx::query("SELECT status, last_error FROM outbox WHERE transport = 'chat' ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect())
}

/// The stage named in each webhook event received.
fn stages(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.body["data"]["incident"]["stage"].as_str().unwrap_or_default().to_owned()).collect()
}

fn assert_valid(received: &[Received]) {
    for r in received {
        assert!(r.signature_ok, "{}: signature {:?}", r.path, r.signature_error);
        assert!(r.problems.is_empty(), "{}: {:?}", r.path, r.problems);
    }
}

/// Walks a new incident to closed (one failed test on the way); returns its id.
async fn walk(db: &Db, t: &Team, title: &str) -> i64 {
    let id = crate::helpers::walk_to_reporting(db, t, title).await;
    let report = GateInput::SendReport {
        summary: "price was empty".into(),
        measures: vec![Measure { text: "alert on 500s".into(), owner_id: t.dev.id, due: "2099-12-15".into() }],
        recipients: vec!["cto@example.com".into()],
        language: None,
    };
    step(db, &t.pm, id, report).await.unwrap();
    id
}

db_test!(async fn a_full_walk_reaches_every_kind_signed_with_the_owner_mentioned(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    identities(db, &t).await;
    let rx = Receiver::start().await;
    let events = ["stage_entered", "report"];
    channel(db, &rx, "ding", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &events).await;
    channel(db, &rx, "wecom", ChannelKind::Wecom, None, &events).await;
    channel(db, &rx, "feishu", ChannelKind::Feishu, Some(FEISHU_SECRET), &events).await;
    channel(db, &rx, "hook", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &events).await;
    walk(db, &t, "Checkout fails").await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    drain(&sender(db, &clock), 10).await;

    let hook = rx.received("/hook");
    assert_valid(&hook);
    // Every hand-off in order (a failed test sends the fix back), then the report: no more.
    assert_eq!(
        stages(&hook),
        [
            "awaiting_pm", "investigating", "solution_review", "fixing", "testing", "fixing", "testing",
            "release_review", "releasing", "verifying", "user_followup", "reporting", "closed",
        ]
    );
    let types: Vec<&str> = hook.iter().map(|r| r.body["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(types.iter().filter(|t| **t == "incident.stage_entered").count(), 12);
    assert_eq!(types.last(), Some(&"incident.report_sent"));
    // Dispatch: dev and QA must act now.
    let dispatched = &hook[1].body["data"];
    let must: Vec<&str> = dispatched["must_act"].as_array().unwrap().iter().map(|p| p["username"].as_str().unwrap()).collect();
    assert_eq!(must, ["dev1", "qa1"]);
    for (path, n) in [("/ding", 13), ("/wecom", 13), ("/feishu", 13)] {
        let got = rx.received(path);
        assert_valid(&got);
        assert_eq!(got.len(), n, "{path}");
    }
    let ding = &rx.received("/ding")[1].body;
    assert_eq!(ding["at"]["atMobiles"], serde_json::json!(["13800000001", "13800000002"]));
    let text = ding["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("@13800000001") && text.contains("@13800000002"), "{text}");
    assert_eq!(ding["at"]["isAtAll"], false);
    let wecom = &rx.received("/wecom")[1].body;
    let content = wecom["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("<@dev.one>") && content.contains("<@qa.one>"), "{content}");
    let feishu = serde_json::to_string(&rx.received("/feishu")[1].body).unwrap();
    assert!(feishu.contains("<at id=ou_dev1></at>") && feishu.contains("<at id=ou_qa1></at>"), "{feishu}");
    assert!(feishu.contains("/incidents/"), "a button to the incident: {feishu}");
    // The PM's hand-off (triage) mentions the PM by mobile, as typed without spaces.
    assert_eq!(rx.received("/ding")[0].body["at"]["atMobiles"], serde_json::json!(["+8613800000003"]));
    assert!(chat_rows(db).await.iter().all(|(s, _)| s == "sent"));
    // Each delivery is audited, without the URL.
    assert_eq!(count(db, "SELECT COUNT(*) FROM audit_log WHERE event = 'chat.sent'").await, 52);
    let leaked = count(db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%robot-token%' OR details LIKE '%robot-key%'").await;
    assert_eq!(leaked, 0);
});

db_test!(async fn a_receiver_that_was_down_gets_every_message_in_order_and_none_twice(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let rx = Receiver::start().await;
    channel(db, &rx, "hook", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &["stage_entered"]).await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let s = sender(db, &clock);
    rx.go_down().await;
    let id = engine::create_incident(db, &t.ops, &incident("Down"), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    clock.set(Utc::now());
    s.run_once().await.unwrap();
    // The first failed and waits for its retry; the second waits behind it, untried.
    let rows = chat_rows(db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "queued");
    assert!(rows[0].1.contains("cannot connect") || rows[0].1.contains("request failed"), "{:?}", rows[0]);
    assert!(!rows[0].1.contains("127.0.0.1:"), "the URL is never shown: {}", rows[0].1);
    assert_eq!(rows[1], ("queued".to_owned(), String::new()));
    step(db, &t.dev, id, GateInput::Propose { root_cause: "r".into(), solution: "s".into() }).await.unwrap();
    // Before the retry is due nothing is tried, even for the newer messages.
    assert_eq!(s.run_once().await.unwrap(), 0);
    rx.resume().await;
    clock.advance(chrono::Duration::seconds(5));
    drain(&s, 5).await;
    let got = rx.received("/hook");
    assert_valid(&got);
    assert_eq!(stages(&got), ["awaiting_pm", "investigating", "solution_review"]);
    // A second pass sends nothing again.
    drain(&s, 3).await;
    assert_eq!(rx.received("/hook").len(), 3);
    assert!(chat_rows(db).await.iter().all(|(s, _)| s == "sent"));
});

db_test!(async fn a_burst_beyond_the_rate_limit_becomes_one_digest_and_the_next_minute_waits(ctx) {
    let db = &ctx.db;
    let rx = Receiver::start().await;
    let id = channel(db, &rx, "ding", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &["stage_entered"]).await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let s = sender(db, &clock);
    let mut tx = db.begin_write().await.unwrap();
    for n in 0..25 {
        notify::queue_test(&mut tx, id, "en", &format!("admin {n}"), clock.now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(s.run_once().await.unwrap(), 20);
    let got = rx.received("/ding");
    assert_valid(&got);
    // DingTalk takes 20 a minute: 19 single messages, and the 20th carries the other 6.
    assert_eq!(got.len(), 20);
    let digest = got[19].body["markdown"]["text"].as_str().unwrap();
    for n in 19..25 {
        assert!(digest.contains(&format!("admin {n}")), "message {n} is in the digest: {digest}");
    }
    assert!(!got[18].body["markdown"]["text"].as_str().unwrap().contains("admin 19"));
    let digested = count(db, "SELECT COUNT(*) FROM outbox WHERE transport = 'chat' AND digest_of IS NOT NULL").await;
    assert_eq!(digested, 6);
    assert!(chat_rows(db).await.iter().all(|(s, _)| s == "sent"));
    // The minute is used up: two more wait for the next one, then go singly.
    let mut tx = db.begin_write().await.unwrap();
    for n in 25..27 {
        notify::queue_test(&mut tx, id, "en", &format!("admin {n}"), clock.now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(s.run_once().await.unwrap(), 0);
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(s.run_once().await.unwrap(), 2);
    assert_eq!(rx.received("/ding").len(), 22);
});

db_test!(async fn a_permanent_error_stops_retrying_and_the_rate_limit_code_backs_off(ctx) {
    let db = &ctx.db;
    let rx = Receiver::start().await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let s = sender(db, &clock);
    // Stored with a secret the receiver does not share: it answers "sign not match".
    let bad = channel(db, &rx, "bad", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &["stage_entered"]).await;
    rx.endpoint("/bad", ChannelKind::Dingtalk, Some("SECsomething-else"));
    let mut tx = db.begin_write().await.unwrap();
    notify::queue_test(&mut tx, bad, "en", "admin", clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    s.run_once().await.unwrap();
    clock.advance(chrono::Duration::minutes(10));
    drain(&s, 3).await;
    assert_eq!(rx.received("/bad").len(), 1, "no retry after a permanent error");
    let rows = chat_rows(db).await;
    assert_eq!(rows[0].0, "failed");
    assert!(rows[0].1.contains("310000"), "the remote answer is kept: {}", rows[0].1);
    let listed = app::mail::outbox::list_filtered(db, None, Some("chat"), None, 50).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].channel.as_deref(), listed[0].transport.as_str()), (Some("bad"), "chat"));
    let channels = store::list(db).await.unwrap();
    assert_eq!(channels[0].last_outcome, "failed");

    // "Sending too fast" (130101) and a 503 are retried, then delivered.
    let fast = channel(db, &rx, "fast", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &["stage_entered"]).await;
    rx.script(
        "/fast",
        vec![
            Scripted::Status(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#.into()),
            Scripted::Status(503, String::new()),
        ],
    );
    let mut tx = db.begin_write().await.unwrap();
    notify::queue_test(&mut tx, fast, "en", "admin", clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    s.run_once().await.unwrap();
    assert_eq!(chat_rows(db).await[1].0, "queued");
    clock.advance(chrono::Duration::seconds(5));
    s.run_once().await.unwrap();
    clock.advance(chrono::Duration::seconds(5));
    s.run_once().await.unwrap();
    assert_eq!(rx.received("/fast").len(), 3);
    assert_eq!(chat_rows(db).await[1].0, "sent");
});

db_test!(async fn a_hostile_intake_title_reaches_every_chat_neutralised(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let rx = Receiver::start().await;
    let events = ["stage_entered"];
    channel(db, &rx, "ding", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &events).await;
    channel(db, &rx, "wecom", ChannelKind::Wecom, None, &events).await;
    channel(db, &rx, "feishu", ChannelKind::Feishu, Some(FEISHU_SECRET), &events).await;
    let title = "@all <at user_id=\"all\">x</at> <at id=all></at> [link](http://evil) <b>bold</b>\n# heading <@all>";
    let id = engine::create_incident(db, &t.ops, &incident(title), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    drain(&sender(db, &clock), 3).await;
    for path in ["/ding", "/wecom", "/feishu"] {
        let got = rx.received(path);
        assert_eq!(got.len(), 1, "{path}");
        assert_valid(&got);
        let body = serde_json::to_string(&got[0].body).unwrap();
        for bad in ["@all", "<at user_id", "<at id=all", "](http://evil)", "<b>", "\\n# ", "<@all>"] {
            assert!(!body.contains(bad), "{path} carries {bad:?}: {body}");
        }
    }
    assert_eq!(rx.received("/ding")[0].body["at"]["isAtAll"], false);
});

db_test!(async fn internal_and_unknown_hosts_are_refused_when_saved_and_when_sent(ctx) {
    let db = &ctx.db;
    let k = key();
    let refused = |r: Result<(i64, Option<String>), AppError>| match r {
        Err(AppError::Invalid { field, problem }) => (field, problem),
        other => panic!("expected a refusal, got {other:?}"),
    };
    for (url, problem) in [
        ("http://127.0.0.1:9/x", FieldProblem::InternalAddress("127.0.0.1".into())),
        ("http://10.1.2.3/x", FieldProblem::InternalAddress("10.1.2.3".into())),
        ("https://hooks.example.com/x", FieldProblem::HostNotAllowed("hooks.example.com".into())),
        ("https://oapi.dingtalk.com/robot/send", FieldProblem::UrlNotOfKind),
    ] {
        let got = store::create(db, Some(&k), &admin(), &input("x", ChannelKind::Dingtalk, url.into(), "", &["intake"]), Utc::now()).await;
        assert_eq!(refused(got), ("url".to_owned(), problem), "{url}");
    }
    let no_key =
        store::create(db, None, &admin(), &input("x", ChannelKind::Wecom, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k".into(), "", &["intake"]), Utc::now()).await;
    assert_eq!(refused(no_key), ("url".to_owned(), FieldProblem::SecretKeyMissing));
    assert_eq!(count(db, "SELECT COUNT(*) FROM chat_channels").await, 0, "nothing stored");

    // Allowed when saved; the host is taken off the list before the message goes.
    let rx = Receiver::start().await;
    let id = channel(db, &rx, "hook", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &["intake"]).await;
    store::set_allowed_hosts(db, &admin(), "", Utc::now()).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    notify::queue_test(&mut tx, id, "en", "admin", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    sender(db, &clock).run_once().await.unwrap();
    assert!(rx.received("/hook").is_empty());
    let rows = chat_rows(db).await;
    assert_eq!(rows[0].0, "failed");
    assert!(rows[0].1.contains("internal address"), "{}", rows[0].1);
});

db_test!(async fn credentials_are_sealed_and_a_wrong_or_missing_key_stops_start_up(ctx) {
    let db = &ctx.db;
    let url = "https://oapi.dingtalk.com/robot/send?access_token=very-secret-token";
    let (_, generated) = store::create(db, Some(&key()), &admin(), &input("ding", ChannelKind::Dingtalk, url.into(), DINGTALK_SECRET, &["intake"]), Utc::now())
        .await
        .unwrap();
    assert_eq!(generated, None);
    let leaked = count(db, "SELECT COUNT(*) FROM chat_channels WHERE url_sealed LIKE '%very-secret%' OR secret_sealed LIKE '%SECb6a1%' OR url_hint LIKE '%very-secret%'").await;
    assert_eq!(leaked, 0);
    let audit = count(db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%very-secret%' OR details LIKE '%SECb6a1%'").await;
    assert_eq!(audit, 0, "the audit log never holds a credential");
    let listed = store::list(db).await.unwrap();
    assert_eq!(listed[0].url_hint, "https://oapi.dingtalk.com/robot/send?…");
    assert!(listed[0].has_secret);
    assert_eq!(store::check_key(db, Some(&key())).await, Ok(1));
    assert!(store::check_key(db, None).await.unwrap_err().contains("BATON_SECRET_KEY"));
    let other = SecretKey::from_base64(&SecretKey::generate_base64()).unwrap();
    assert!(store::check_key(db, Some(&other)).await.unwrap_err().contains("not the key"));
    // A webhook left without a secret gets one, returned once.
    store::set_allowed_hosts(db, &admin(), "hooks.example.com", Utc::now()).await.unwrap();
    let (_, generated) = store::create(db, Some(&key()), &admin(), &input("hook", ChannelKind::Webhook, "https://hooks.example.com/in".into(), "", &["intake"]), Utc::now())
        .await
        .unwrap();
    assert!(generated.unwrap().starts_with("whsec_"));
});

db_test!(async fn two_senders_on_one_database_deliver_each_message_once_in_order(ctx) {
    let db = &ctx.db;
    let rx = Receiver::start().await;
    let id = channel(db, &rx, "hook", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &["intake"]).await;
    let mut tx = db.begin_write().await.unwrap();
    for n in 0..12 {
        notify::queue_test(&mut tx, id, "en", &format!("admin {n}"), Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let (a, b) = (sender(db, &clock), sender(db, &clock));
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    drain(&a, 3).await;
    let got = rx.received("/hook");
    assert_valid(&got);
    assert_eq!(got.len(), 12, "each once (passes made {ra} and {rb} requests)");
    let order: Vec<String> = got.iter().map(|r| r.body["data"]["headline"].as_str().unwrap_or_default().to_owned()).collect();
    for (n, headline) in order.iter().enumerate() {
        assert!(headline.contains(&format!("admin {n} ")) || headline.contains(&format!("admin {n}:")), "{n}: {headline}");
    }
});

db_test!(async fn a_pool_item_and_an_intake_report_reach_the_channels_that_want_them(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let rx = Receiver::start().await;
    channel(db, &rx, "pool", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &["pool_item"]).await;
    channel(db, &rx, "p0only", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &["stage_entered"]).await;
    // Only P0 incidents for the second channel.
    let listed = store::list(db).await.unwrap();
    let p0 = listed.iter().find(|c| c.name == "p0only").unwrap().id;
    let mut only = input("p0only", ChannelKind::Webhook, String::new(), "", &["stage_entered"]);
    only.severities = vec!["p0".into()];
    store::update(db, Some(&key()), &admin(), p0, &only, Utc::now()).await.unwrap();
    let id = engine::create_incident(db, &t.ops, &incident("P1 only"), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    let draft = app::pool::PoolDraft { title: "Rewrite pricing".into(), description: "d".into(), priority: app::workflow::input::Severity::P2 };
    let pm = Actor { roles: vec![Role::Pm], ..t.pm.clone() };
    app::pool::store::create(db, &pm, &draft, Utc::now()).await.unwrap();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    drain(&sender(db, &clock), 3).await;
    assert!(rx.received("/p0only").is_empty(), "a P1 hand-off does not reach a P0-only channel");
    let pool = rx.received("/pool");
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].body["type"], "pool.item_added");
    assert_eq!(pool[0].body["data"]["title"], "Rewrite pricing");
    assert!(pool[0].body["data"]["url"].as_str().unwrap().contains("/pool/"));
});

db_test!(async fn a_reassignment_mentions_the_new_owner_with_the_reason(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    identities(db, &t).await;
    let rx = Receiver::start().await;
    channel(db, &rx, "ding", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &["owner_changed"]).await;
    let id = engine::create_incident(db, &t.ops, &incident("Reassigned"), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.other_dev.id, qa_id: t.qa.id, note: String::new() })
        .await
        .unwrap();
    let v = crate::helpers::version(db, id).await;
    let change = engine::Reassignment { role: Role::Dev, user_id: t.dev.id, reason: "knows the pricing code".into() };
    engine::reassign(db, &t.pm, id, v, &change, Utc::now()).await.unwrap();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    drain(&sender(db, &clock), 3).await;
    let got = rx.received("/ding");
    assert_valid(&got);
    // Only the reassignment: this channel does not take hand-offs.
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["at"]["atMobiles"], serde_json::json!(["13800000001"]));
    let text = got[0].body["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("dev1") && text.contains("dev2") && text.contains("knows the pricing code"), "{text}");
});

db_test!(async fn a_sender_whose_lease_ran_out_during_a_slow_delivery_stops_and_leaves_the_rest(ctx) {
    let db = &ctx.db;
    let rx = Receiver::start().await;
    let id = channel(db, &rx, "hook", ChannelKind::Webhook, Some(WEBHOOK_SECRET), &["intake"]).await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let mut tx = db.begin_write().await.unwrap();
    for n in 0..3 {
        notify::queue_test(&mut tx, id, "en", &format!("admin {n}"), clock.now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    // The first request hangs for a while; meanwhile the lease (60 s here) runs out.
    rx.script("/hook", vec![Scripted::Delay(Duration::from_millis(1500))]);
    let slow = sender(db, &clock);
    let task = tokio::spawn(async move { slow.work_channel(id).await.unwrap() });
    rx.wait_for("/hook", 1, Duration::from_secs(5)).await;
    clock.advance(chrono::Duration::seconds(61));
    // Another sender takes the channel: it sends the message in doubt again, then the rest.
    sender(db, &clock).work_channel(id).await.unwrap();
    assert_eq!(rx.received("/hook").len(), 4);
    // The first sender, answered at last, finds the channel no longer its own and stops.
    assert_eq!(task.await.unwrap(), 1);
    assert_eq!(rx.received("/hook").len(), 4, "nothing sent twice but the message in doubt");
    assert!(chat_rows(db).await.iter().all(|(s, _)| s == "sent"));
});

db_test!(async fn a_comment_mention_reaches_the_channel_with_the_person_at_mentioned(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    identities(db, &t).await;
    let rx = Receiver::start().await;
    channel(db, &rx, "ding", ChannelKind::Dingtalk, Some(DINGTALK_SECRET), &["mention"]).await;
    let id = engine::create_incident(db, &t.ops, &incident("Mentioned"), Utc::now()).await.unwrap().id;
    // A comment without a mention, and one naming qa1 and an unknown name: one message.
    app::collab::store::add(db, &t.dev, id, "looking at the logs", Utc::now()).await.unwrap();
    app::collab::store::add(db, &t.dev, id, "@qa1 can you retry on Android? @ghost", Utc::now()).await.unwrap();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    drain(&sender(db, &clock), 3).await;
    let got = rx.received("/ding");
    assert_valid(&got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["at"]["atMobiles"], serde_json::json!(["13800000002"]));
    let text = got[0].body["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("dev1") && text.contains("retry on Android"), "{text}");
});
