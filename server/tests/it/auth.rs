//! Sign-in, sessions and authorization over HTTP, on SQLite and PostgreSQL.

use app::{
    auth::{Role, PUBLIC_SERVER_FNS},
    db_test,
    users::store,
};
use reqwest::StatusCode;

use crate::helpers::{TestApp, PASSWORD};

db_test!(async fn a_user_signs_in_and_out(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut browser = app.browser();
    assert_eq!(browser.whoami().await, None);
    let answer = browser.login("OPS1", PASSWORD).await;
    assert!(answer.status.is_success(), "{} {}", answer.status, answer.body);
    let cookie = browser.cookie.clone().expect("session cookie set");
    assert_eq!(browser.whoami().await.as_deref(), Some("ops1"));

    browser.call("/api/auth/logout", &[]).await;
    assert_eq!(browser.whoami().await, None);

    // Replaying the cookie from before the logout gets nowhere.
    browser.cookie = Some(cookie);
    assert_eq!(browser.whoami().await, None);
    app.stop().await;
});

db_test!(async fn the_session_id_changes_at_sign_in(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("attacker", &[Role::Qa]).await;
    app.create_user("victim", &[Role::Pm]).await;
    // The attacker gets a valid cookie and plants it in the victim's browser.
    let mut attacker = app.browser();
    attacker.login("attacker", PASSWORD).await;
    let planted = attacker.cookie.clone().unwrap();

    let mut victim = app.browser();
    victim.cookie = Some(planted.clone());
    victim.login("victim", PASSWORD).await;
    let after = victim.cookie.clone().unwrap();
    assert_ne!(after, planted, "sign-in must issue a new session id");
    assert_eq!(victim.whoami().await.as_deref(), Some("victim"));

    // The planted id is not the victim's session.
    let mut replay = app.browser();
    replay.cookie = Some(planted);
    assert_ne!(replay.whoami().await.as_deref(), Some("victim"));
    app.stop().await;
});

db_test!(async fn deactivation_and_role_removal_apply_to_the_very_next_request(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let id = app.create_user("boss", &[Role::Admin, Role::Pm]).await;
    let mut browser = app.browser();
    browser.login("boss", PASSWORD).await;
    let listed = browser.call("/api/users/list", &[("query", "")]).await;
    assert!(listed.status.is_success(), "{}", listed.body);

    let mut tx = app.db.begin_write().await.unwrap();
    store::set_roles(&mut tx, id, &[Role::Pm]).await.unwrap();
    tx.commit().await.unwrap();
    let refused = browser.call("/api/users/list", &[("query", "")]).await;
    assert_eq!(refused.error().as_deref(), Some("Forbidden"), "{}", refused.body);

    let mut tx = app.db.begin_write().await.unwrap();
    store::set_active(&mut tx, id, false, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(browser.whoami().await, None);
    app.stop().await;
});

db_test!(async fn sessions_end_after_the_idle_and_the_absolute_timeout(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_SESSION_IDLE", "2s"), ("BATON_SESSION_ABSOLUTE", "4s")]).await;
    app.create_user("dev1", &[Role::Dev]).await;

    let mut idle = app.browser();
    idle.login("dev1", PASSWORD).await;
    assert!(idle.whoami().await.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(idle.whoami().await, None, "idle timeout");

    let mut busy = app.browser();
    busy.login("dev1", PASSWORD).await;
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        assert!(busy.whoami().await.is_some(), "activity keeps the session within the absolute limit");
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(busy.whoami().await, None, "absolute timeout");
    app.stop().await;
});

db_test!(async fn unknown_users_and_wrong_passwords_get_identical_answers(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("qa1", &[Role::Qa]).await;
    let wrong = app.browser().login("qa1", "not the password").await;
    let unknown = app.browser().login("nobody-here", "not the password").await;
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.error().as_deref(), Some("InvalidCredentials"));
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
});

db_test!(async fn throttling_counts_per_account_and_per_address_and_ignores_spoofed_forwarding(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("target", &[Role::Ops]).await;
    app.create_user("other", &[Role::Ops]).await;
    let mut attacker = app.browser();
    for i in 0..6 {
        // A fresh spoofed address each time: not trusted, so it changes nothing.
        attacker.headers = vec![("x-forwarded-for", format!("198.51.100.{i}"))];
        attacker.login("target", "guess guess guess").await;
    }
    let blocked = app.browser().login("target", PASSWORD).await;
    assert_eq!(blocked.error().as_deref(), Some("Throttled"), "{}", blocked.body);
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    let fine = app.browser().login("other", PASSWORD).await;
    assert!(fine.status.is_success(), "other accounts are unaffected: {}", fine.body);

    for i in 0..16 {
        attacker.headers = vec![("x-forwarded-for", format!("203.0.113.{i}"))];
        attacker.login(&format!("random{i}"), "guess guess guess").await;
    }
    // 22 failures from 127.0.0.1 in all: the address is blocked, whatever it claims to forward.
    let mut from_same_address = app.browser();
    from_same_address.headers = vec![("x-forwarded-for", "192.0.2.200".into())];
    let answer = from_same_address.login("other", PASSWORD).await;
    assert_eq!(answer.error().as_deref(), Some("Throttled"), "{}", answer.body);
    app.stop().await;
});

db_test!(async fn a_huge_password_is_refused_without_hashing(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_MAX_BODY_BYTES", "2097152")]).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let before = app.hasher.hashes_computed();
    let huge = "x".repeat(1_000_000);
    let answer = app.browser().login("ops1", &huge).await;
    assert_eq!(answer.error().as_deref(), Some("InvalidCredentials"), "{}", &answer.body[..answer.body.len().min(200)]);
    assert_eq!(app.hasher.hashes_computed(), before, "no argon2 run for an over-long password");
    app.stop().await;
});

db_test!(async fn a_cross_site_sign_in_is_refused(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut browser = app.browser();
    browser.headers = vec![("sec-fetch-site", "cross-site".into())];
    let answer = browser.login("ops1", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(browser.cookie.is_none());
    app.stop().await;
});

db_test!(async fn every_admin_function_refuses_non_admins_and_changes_nothing(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let admin_id = app.create_user("boss", &[Role::Admin]).await;
    app.create_user("pm1", &[Role::Pm, Role::Ops, Role::Dev, Role::Qa]).await;
    let mut pm = app.browser();
    pm.login("pm1", PASSWORD).await;
    let id = admin_id.to_string();
    let calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/api/users/list", vec![("query", "")]),
        ("/api/users/get", vec![("id", &id)]),
        (
            "/api/users/create",
            vec![("username", "mallory"), ("display_name", "M"), ("email", "m@example.com"), ("language", "en"), ("password", "mallory's password"), ("role_admin", "on")],
        ),
        ("/api/users/update", vec![("id", &id), ("display_name", "Owned"), ("email", "x@example.com"), ("language", "en")]),
        ("/api/users/set_active", vec![("id", &id), ("active", "false")]),
        ("/api/users/reset_password", vec![("id", &id), ("password", "a new password!!")]),
        ("/api/users/end_sessions", vec![("id", &id)]),
    ];
    for (path, form) in &calls {
        let answer = pm.call(path, form).await;
        assert_eq!(answer.error().as_deref(), Some("Forbidden"), "{path}: {} {}", answer.status, answer.body);
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(store::id_by_username(&app.db, "mallory").await.unwrap().is_none());
    let admin = store::get(&app.db, admin_id).await.unwrap().unwrap();
    assert!(admin.summary.active);
    assert_eq!(admin.summary.display_name, "User boss");
    let mut boss = app.browser();
    assert!(boss.login("boss", PASSWORD).await.status.is_success(), "admin password unchanged");
    app.stop().await;
});

/// Deny by default: every registered server function except the allow-list refuses an anonymous
/// caller before it runs.
#[tokio::test]
async fn every_server_function_outside_the_allow_list_refuses_anonymous_callers() {
    let test_db = app::testing::TestDb::create(app::config::Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn(test_db.url.expose()).await;
    let paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
    assert!(paths.contains(&"/api/users/create"), "server functions are registered: {paths:?}");
    assert!(paths.contains(&"/api/auth/login"));
    let mut checked = 0;
    for path in paths {
        if PUBLIC_SERVER_FNS.contains(&path) {
            continue;
        }
        let answer = app.browser().call(path, &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: {}", answer.body);
        assert_eq!(answer.error().as_deref(), Some("NotSignedIn"), "{path}");
        checked += 1;
    }
    assert!(checked >= 7, "checked {checked}");
    app.stop().await;
    test_db.destroy().await;
}

db_test!(async fn an_admin_manages_a_user_who_must_then_change_the_password(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("boss", &[Role::Admin]).await;
    let mut admin = app.browser();
    admin.login("boss", PASSWORD).await;
    let created = admin
        .call(
            "/api/users/create",
            &[("username", "Zhang.San"), ("display_name", "张三"), ("email", "zs@example.com"), ("language", "zh-CN"), ("password", "temporary pass 1"), ("role_dev", "on"), ("role_qa", "on")],
        )
        .await;
    assert!(created.status.is_success(), "{}", created.body);
    let duplicate = admin
        .call(
            "/api/users/create",
            &[("username", "zhang.san"), ("display_name", "x"), ("email", "x@example.com"), ("language", "en"), ("password", "temporary pass 1")],
        )
        .await;
    assert_eq!(duplicate.json()["Invalid"]["problem"], "UsernameTaken", "{}", duplicate.body);
    let bad = admin
        .call("/api/users/create", &[("username", "ok.name"), ("display_name", "x"), ("email", "not-an-email"), ("language", "en"), ("password", "temporary pass 1")])
        .await;
    assert_eq!(bad.json()["Invalid"]["field"], "email", "{}", bad.body);

    let id = store::id_by_username(&app.db, "zhang.san").await.unwrap().unwrap();
    let mut user = app.browser();
    assert!(user.login("zhang.san", "temporary pass 1").await.status.is_success());
    // Until the password is changed, other functions are refused and pages lead to the change form.
    let page = user.get("/").await;
    assert_eq!(page.headers()["location"], "/account/password");
    let changed = user.call("/api/auth/change_password", &[("current", "temporary pass 1"), ("new", "my own secret 9"), ("confirm", "my own secret 9")]).await;
    assert!(changed.status.is_success(), "{}", changed.body);
    assert_eq!(user.get("/").await.status(), StatusCode::OK);

    // The admin ends the user's sessions, then deactivates them.
    admin.call("/api/users/end_sessions", &[("id", &id.to_string())]).await;
    assert_eq!(user.whoami().await, None);
    assert!(user.login("zhang.san", "my own secret 9").await.status.is_success());
    admin.call("/api/users/set_active", &[("id", &id.to_string()), ("active", "false")]).await;
    assert_eq!(user.whoami().await, None);
    // The right password of a deactivated account gets the very answer of a wrong one, so an
    // attacker cannot tell that it was right; the audit log tells admins.
    let right = app.browser().login("zhang.san", "my own secret 9").await;
    let wrong = app.browser().login("zhang.san", "not the password 1").await;
    assert_eq!((right.status, &right.body), (wrong.status, &wrong.body));
    assert_eq!((right.status, right.error().as_deref()), (StatusCode::UNAUTHORIZED, Some("InvalidCredentials")));
    let reasons: Vec<String> = crate::helpers::audit_entries(&app.db)
        .await
        .into_iter()
        .filter(|e| e.event == app::audit::event::LOGIN && e.target == "zhang.san" && e.outcome == "failed")
        .map(|e| e.details)
        .collect();
    assert_eq!(reasons, [r#"{"reason":"deactivated"}"#, r#"{"reason":"invalid_credentials"}"#]);

    // An admin cannot lock themselves out.
    let own_id = store::id_by_username(&app.db, "boss").await.unwrap().unwrap().to_string();
    let answer = admin.call("/api/users/set_active", &[("id", &own_id), ("active", "false")]).await;
    assert_eq!(answer.error().as_deref(), Some("SelfLockout"));
    app.stop().await;
});

#[tokio::test]
async fn protected_pages_send_anonymous_visitors_to_sign_in() {
    let test_db = app::testing::TestDb::create(app::config::Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn(test_db.url.expose()).await;
    let response = app.get("/admin/users?q=li").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login?next=/admin/users%3Fq%3Dli");
    // Links in emails point at incidents and pool items: they come back after sign-in too.
    for (page, next) in [
        ("/incidents/INC-2026-0042", "/incidents/INC-2026-0042"),
        ("/incidents?stage=testing", "/incidents%3Fstage%3Dtesting"),
        ("/pool/3", "/pool/3"),
        ("/account/password", "/account/password"),
    ] {
        let response = app.get(page).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(response.headers()["location"], format!("/login?next={next}"), "{page}");
    }
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
    assert_eq!(app.get("/").await.status(), StatusCode::OK, "the home page is public");

    // Signing in follows `next` when it is a local path, and goes home otherwise.
    app.create_user("ops1", &[Role::Ops]).await;
    for (next, lands) in [
        ("/incidents/INC-2026-0042", "/incidents/INC-2026-0042"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
    ] {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .form(&[("username", "ops1"), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["location"], lands, "next={next}");
    }
    app.stop().await;
    test_db.destroy().await;
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_host_only_and_secure_behind_https() {
    let test_db = app::testing::TestDb::create(app::config::Backend::Sqlite).await.unwrap();
    for (base, secure) in [(None, false), (Some("https://baton.example.com"), true)] {
        let extra: Vec<(&str, &str)> = base.map(|b| vec![("BATON_BASE_URL", b)]).unwrap_or_default();
        let app = TestApp::spawn_with(test_db.url.expose(), &extra).await;
        if store::id_by_username(&app.db, "ops1").await.unwrap().is_none() {
            app.create_user("ops1", &[Role::Ops]).await;
        }
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .form(&[("username", "ops1"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("baton_session="))
            .expect("session cookie")
            .to_owned();
        // Behind https the cookie carries the __Host- prefix: no other host can set or replace it.
        let name = if secure { "__Host-baton_session" } else { "baton_session" };
        assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert_eq!(cookie.contains("Secure"), secure, "{cookie}");
        let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        let me = |cookie: String| {
            let request = app.client.post(app.url("/api/auth/me")).header("cookie", cookie);
            async move { request.send().await.unwrap().text().await.unwrap() }
        };
        assert!(me(format!("{name}={token}")).await.contains("ops1"));
        if secure {
            // The same token under the plain name (as a sibling subdomain could plant it) opens nothing.
            assert_eq!(me(format!("baton_session={token}")).await, "null");
        }
        app.stop().await;
    }
    test_db.destroy().await;
}
