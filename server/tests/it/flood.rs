//! Anonymous floods over HTTP on both databases: every refusal is accounted for in the audit log,
//! at a bounded number of entries, and the per-address limit answers 429 before the database.

use app::{audit::AuditEntry, auth::Role, db_test, intake::SourceChannel};
use reqwest::{header, StatusCode};

use crate::helpers::{audit_entries, TestApp, PASSWORD};

/// The entries of `event`, and how many refusals they stand for (each entry is one refusal plus
/// the repeats it summarises).
fn accounted(entries: &[AuditEntry], event: &str) -> (usize, u64) {
    let of: Vec<&AuditEntry> = entries.iter().filter(|e| e.event == event).collect();
    let refusals = of
        .iter()
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
            details.get("coalesced").and_then(|n| n.as_u64()).unwrap_or(0)
                + if details.get("coalesced").is_some() { 0 } else { 1 }
        })
        .sum();
    (of.len(), refusals)
}

db_test!(async fn a_cross_site_flood_is_limited_and_recorded_in_a_few_entries_that_count_it_all(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_ANONYMOUS_RATE_PER_SECOND", "10")]).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut ops = app.browser();
    assert!(ops.login("ops1", PASSWORD).await.status.is_success());
    let before = audit_entries(&app.db).await.len();

    let (mut refused, mut limited) = (0, 0);
    let started = std::time::Instant::now();
    for _ in 0..300 {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .header(header::ORIGIN, "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .form(&[("username", "ops1"), ("password", "guess")])
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::FORBIDDEN => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key(header::RETRY_AFTER));
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    // The burst (ten seconds' worth) passes to the cross-site check, and then ten a second for as
    // long as the loop ran (a loaded machine takes longer); the rest stops at the limit.
    let refill = (started.elapsed().as_secs_f64() * 10.0).ceil() as usize;
    assert!((100..=100 + refill.max(10)).contains(&refused), "{refused} refused, {limited} limited in {:?}", started.elapsed());
    assert_eq!(refused + limited, 300);
    // A signed-in user is not held up by someone else's flood from the same address.
    assert_eq!(ops.whoami().await.as_deref(), Some("ops1"));
    let during = audit_entries(&app.db).await.len() - before;
    assert!(during <= 2, "the first refusal of each kind is recorded at once, the rest counted: {during}");

    let db = ctx.db.clone();
    app.stop().await;
    let entries = audit_entries(&db).await;
    let (cross_entries, cross) = accounted(&entries, "request.cross_site");
    let (limit_entries, limit) = accounted(&entries, "request.rate_limited");
    assert_eq!((cross, limit), (refused as u64, limited as u64), "every refusal is counted");
    assert_eq!((cross_entries, limit_entries), (2, 2), "a first entry and a summary of each kind");
    let summary = entries.iter().rev().find(|e| e.event == "request.cross_site").unwrap();
    assert!(summary.details.contains("\"first_at\"") && summary.client_addr == "127.0.0.1", "{summary:?}");
    assert!(matches!(app::audit::store::verify(&db, None).await.unwrap(), app::audit::VerifyReport::Verified { .. }));
});

db_test!(async fn bad_intake_tokens_are_recorded_coalesced_and_the_window_is_closed_on_time(ctx) {
    let settings = [("BATON_ANONYMOUS_RATE_PER_SECOND", "100"), ("BATON_AUDIT_COALESCE_WINDOW", "1s")];
    let app = TestApp::spawn_with(ctx.url.expose(), &settings).await;
    app.create_user("chief", &[Role::Admin]).await;
    let origin = app::audit::store::Origin::system("test");
    app::intake::store::create(&app.db, &origin, None, "Real", SourceChannel::Sms.as_str(), chrono::Utc::now())
        .await
        .unwrap();
    let before = audit_entries(&app.db).await.len();
    for i in 0..40 {
        let response = app
            .client
            .post(app.url("/api/v1/intake/sms"))
            .bearer_auth(format!("not-a-token-{i}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"from":"1","text":"t"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(audit_entries(&app.db).await.len() - before, 1, "one entry while the window is open");
    // The housekeeping closes the window without waiting for another refusal or the shutdown.
    let mut summarised = (0, 0);
    for _ in 0..40 {
        summarised = accounted(&audit_entries(&app.db).await, "intake.refused");
        if summarised.0 == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(summarised, (2, 40), "the repeats are one entry counting them, within a window or two");
    // Admins see the count on the audit page.
    let mut chief = app.browser();
    assert!(chief.login("chief", PASSWORD).await.status.is_success());
    let page = chief.get("/admin/audit").await.text().await.unwrap();
    assert!(page.contains("data-coalesced=\"39\""), "the page shows the count of the repeats");
    app.stop().await;
});
