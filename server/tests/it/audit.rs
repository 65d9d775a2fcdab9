//! The audit log over HTTP on both databases: admins only (refusals recorded), reads and exports
//! recorded, exports that verify, and cross-site requests on record.

use app::{
    audit::{chain::Verifier, event, store, AuditEntry, VerifyReport},
    auth::Role,
    db_test,
};
use reqwest::StatusCode;

use crate::helpers::{audit_entries, last_audit_entry, TestApp, PASSWORD};

db_test!(async fn non_admins_are_refused_the_log_and_each_refusal_is_recorded(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("pm1", &[Role::Pm]).await;
    let mut pm = app.browser();
    pm.login("pm1", PASSWORD).await;
    for (path, form) in [
        ("/api/audit/list", vec![]),
        ("/api/audit/get", vec![("seq", "1")]),
        ("/api/audit/verify", vec![]),
    ] {
        let before = audit_entries(&app.db).await.len();
        let answer = pm.call(path, &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}: {}", answer.body);
        let after = audit_entries(&app.db).await;
        assert_eq!(after.len(), before + 1, "{path}: exactly the refusal is recorded");
        let refusal = after.last().unwrap();
        assert_eq!((refusal.event.as_str(), refusal.outcome.as_str()), (event::ACCESS_DENIED, "denied"));
        assert_eq!((refusal.actor_name.as_str(), refusal.target.as_str()), ("pm1", path));
    }
    let export = pm.get("/admin/audit/export.jsonl").await;
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
    let refusal = last_audit_entry(&app.db, event::ACCESS_DENIED).await.unwrap();
    assert_eq!(refusal.target, "/admin/audit/export.jsonl");
    // Anonymous visitors are sent to sign in and never reach the data.
    let anonymous = app.get("/admin/audit/export.csv").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.browser().call("/api/audit/list", &[]).await.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
});

db_test!(async fn admins_read_filter_verify_and_export_and_every_read_is_recorded(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("root", &[Role::Admin]).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut ops = app.browser();
    ops.login("ops1", "not the password").await;
    ops.login("ops1", PASSWORD).await;
    let mut admin = app.browser();
    admin.login("root", PASSWORD).await;

    let page = admin.call("/api/audit/list", &[("event", event::LOGIN), ("actor", "ops1")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let items = page.json()["items"].as_array().unwrap().clone();
    let outcomes: Vec<&str> = items.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok", "failed"], "newest first, only ops1's sign-ins");
    let viewed = last_audit_entry(&app.db, event::AUDIT_VIEWED).await.expect("the read is recorded");
    assert_eq!(viewed.actor_name, "root");
    assert!(viewed.details.contains("ops1"), "{}", viewed.details);

    let bad = admin.call("/api/audit/list", &[("from", "last tuesday")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);

    let verified = admin.call("/api/audit/verify", &[]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert!(verified.json()["Verified"]["through"].as_i64().unwrap() > 3);
    assert!(last_audit_entry(&app.db, event::AUDIT_VERIFIED).await.is_some());
    let wrong_head = admin.call("/api/audit/verify", &[("head", "5:zz")]).await;
    assert_eq!(wrong_head.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The JSON Lines export is the whole log up to and including its own record, and verifies.
    let export = admin.get("/admin/audit/export.jsonl").await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-disposition"].to_str().unwrap().contains("baton-audit.jsonl"));
    let text = export.text().await.unwrap();
    let exported: Vec<AuditEntry> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported.first().map(|e| e.seq), Some(1));
    assert_eq!(exported.last().map(|e| e.event.as_str()), Some(event::AUDIT_EXPORTED));
    let mut verifier = Verifier::new(None);
    for e in &exported {
        verifier.push(e).unwrap();
    }
    assert!(matches!(verifier.finish(), VerifyReport::Verified { .. }));

    // The CSV export honours the filters.
    let csv = admin.get("/admin/audit/export.csv?outcome=failed").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = csv.text().await.unwrap();
    let rows: Vec<&str> = body.lines().collect();
    assert!(rows[0].starts_with("seq,at,actor_kind"));
    assert_eq!(rows.len(), 2, "header and the one failed sign-in: {body}");
    assert!(rows[1].contains(",ops1,") && rows[1].contains(",failed,"), "{}", rows[1]);
    app.stop().await;
});

db_test!(async fn a_cross_site_request_is_refused_and_recorded(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("pm1", &[Role::Pm]).await;
    let mut browser = app.browser();
    browser.login("pm1", PASSWORD).await;
    browser.headers.push(("origin", "https://evil.example".into()));
    browser.headers.push(("sec-fetch-site", "cross-site".into()));
    let answer = browser.call("/api/auth/logout", &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let entry = last_audit_entry(&app.db, event::CROSS_SITE).await.expect("recorded");
    assert_eq!((entry.outcome.as_str(), entry.target.as_str()), ("denied", "/api/auth/logout"));
    assert!(entry.details.contains("https://evil.example"));
    assert_eq!(entry.client_addr, "127.0.0.1");
    app.stop().await;
});

db_test!(async fn user_changes_are_recorded_with_before_and_after(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("root", &[Role::Admin]).await;
    let id = app.create_user("dev1", &[Role::Dev]).await.to_string();
    let mut admin = app.browser();
    admin.login("root", PASSWORD).await;
    let answer = admin
        .call(
            "/api/users/update",
            &[
                ("id", id.as_str()),
                ("display_name", "Dev One"),
                ("email", "dev1@example.com"),
                ("language", "zh-CN"),
                ("role_dev", "on"),
                ("role_qa", "on"),
            ],
        )
        .await;
    assert!(answer.status.is_success() || answer.status.is_redirection(), "{} {}", answer.status, answer.body);
    let details = last_audit_entry(&app.db, event::USER_UPDATED).await.expect("details change recorded");
    let d: serde_json::Value = serde_json::from_str(&details.details).unwrap();
    assert_eq!(d["before"]["language"], "en");
    assert_eq!(d["after"]["language"], "zh-CN");
    assert_eq!(d["after"]["display_name"], "Dev One");
    let roles = last_audit_entry(&app.db, event::USER_ROLES_CHANGED).await.expect("role change recorded");
    let r: serde_json::Value = serde_json::from_str(&roles.details).unwrap();
    assert_eq!(r["before"], serde_json::json!(["dev"]));
    assert_eq!(r["after"], serde_json::json!(["dev", "qa"]));
    assert_eq!(roles.target, "dev1");
    admin.call("/api/users/set_active", &[("id", id.as_str()), ("active", "false")]).await;
    let deactivated = last_audit_entry(&app.db, event::USER_ACTIVATION).await.unwrap();
    assert!(deactivated.details.contains("\"after\":{\"active\":false}"), "{}", deactivated.details);
    admin.call("/api/auth/logout", &[]).await;
    assert!(last_audit_entry(&app.db, event::LOGOUT).await.is_some_and(|e| e.actor_name == "root"));
    assert!(matches!(store::verify(&app.db, None).await.unwrap(), VerifyReport::Verified { .. }));
    app.stop().await;
});

db_test!(async fn the_head_is_anchored_outside_the_database_and_a_cut_tail_is_caught_against_it(ctx) {
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("anchors.log");
    let settings = [("BATON_AUDIT_ANCHOR_FILE", file.to_str().unwrap()), ("BATON_AUDIT_ANCHOR_EVERY", "1s")];
    let app = TestApp::spawn_with(ctx.url.expose(), &settings).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut ops = app.browser();
    assert!(ops.login("ops1", PASSWORD).await.status.is_success());
    // Within a period the head that moved is anchored; the stop anchors the last one.
    let mut anchored = Vec::new();
    for _ in 0..50 {
        anchored = app::audit::anchor::parse(&std::fs::read_to_string(&file).unwrap_or_default()).unwrap();
        if !anchored.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!anchored.is_empty(), "no anchor written within 5 s");
    assert!(ops.report("Anchored").await.status.is_success());
    app.stop().await;
    // The app's pool is closed with it; the test's own is not.
    let db = ctx.db.clone();
    let anchors = app::audit::anchor::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let head = store::head(&db).await.unwrap().unwrap();
    assert_eq!(anchors.last(), Some(&head), "the shutdown anchors the final head");
    assert!(anchors.windows(2).all(|w| w[0].seq < w[1].seq), "only moved heads are written: {anchors:?}");
    assert!(matches!(store::verify_against(&db, anchors.clone()).await.unwrap(), VerifyReport::Verified { .. }));

    // Someone with the database drops the guard and deletes the newest entries: the chain left is
    // valid on its own, but not against the anchors.
    app::on_db!(&db, pool => {
        let drop = match ctx.db.backend() {
            app::config::Backend::Sqlite => "DROP TRIGGER audit_log_no_delete",
            app::config::Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log",
        };
        sqlx::query(drop).execute(pool).await.unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq > $1").bind(anchors[0].seq).execute(pool).await.unwrap();
    });
    assert!(matches!(store::verify(&db, None).await.unwrap(), VerifyReport::Verified { .. }));
    assert!(matches!(
        store::verify_against(&db, anchors).await.unwrap(),
        VerifyReport::Broken { reason: app::audit::BreakReason::Truncated, .. }
    ));
});
