//! HTTP tests: the real app on port 0, driven by an HTTP client.

use app::{config::Backend, db_test, testing::TestDb};
use reqwest::{header, StatusCode};
use server::Application;
use tokio::net::TcpListener;

use crate::helpers::{config_for, TestApp};

/// Runs `test` against a server on a fresh SQLite database.
async fn with_sqlite_app<F, Fut>(test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = TestApp>,
{
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn(db.url.expose()).await;
    test(app).await.stop().await;
    db.destroy().await;
}

db_test!(async fn health_check_answers_from_the_database(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], ctx.db.backend().to_string());
    app.stop().await;
});

#[tokio::test]
async fn home_page_renders_in_english_by_default_with_hydration_script() {
    with_sqlite_app(|app| async move {
        let response = app.get("/").await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("<html lang=\"en\""), "{html}");
        assert!(html.contains("Every urgent bug, handed on by name"), "{html}");
        assert!(html.contains("/pkg/baton.js"), "hydration script missing: {html}");
        app
    })
    .await;
}

#[tokio::test]
async fn language_follows_the_cookie_then_accept_language() {
    with_sqlite_app(|app| async move {
        let zh = app
            .client
            .get(app.url("/"))
            .header(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.5")
            .send()
            .await
            .unwrap();
        let html = zh.text().await.unwrap();
        assert!(html.contains("<html lang=\"zh-CN\""), "{html}");
        assert!(html.contains("每个紧急问题，都交接到具体的人"), "{html}");

        let en = app
            .client
            .get(app.url("/"))
            .header(header::ACCEPT_LANGUAGE, "zh-CN")
            .header(header::COOKIE, "baton_lang=en")
            .send()
            .await
            .unwrap();
        let html = en.text().await.unwrap();
        assert!(html.contains("<html lang=\"en\""), "{html}");
        app
    })
    .await;
}

#[tokio::test]
async fn language_form_sets_the_cookie_and_returns_to_a_local_page_only() {
    with_sqlite_app(|app| async move {
        let response = app
            .client
            .post(app.url("/lang"))
            .header("sec-fetch-site", "same-origin")
            .form(&[("lang", "zh-CN"), ("back", "/somewhere?x=1")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/somewhere?x=1");
        let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("baton_lang=zh-CN;"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");

        let response = app
            .client
            .post(app.url("/lang"))
            .form(&[("lang", "en"), ("back", "//evil.example/")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[header::LOCATION], "/");

        let response =
            app.client.post(app.url("/lang")).form(&[("lang", "klingon"), ("back", "/")]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        app
    })
    .await;
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    with_sqlite_app(|app| async move {
        for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
            let response = app
                .client
                .post(app.url("/lang"))
                .header(name, value)
                .form(&[("lang", "zh-CN"), ("back", "/")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {value}");
            assert!(response.headers().get(header::SET_COOKIE).is_none());
        }
        let same = app
            .client
            .post(app.url("/lang"))
            .header("origin", app.base.clone())
            .form(&[("lang", "zh-CN"), ("back", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(same.status(), StatusCode::SEE_OTHER);
        app
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_get_the_404_page_with_status_404() {
    with_sqlite_app(|app| async move {
        let response =
            app.client.get(app.url("/no/such/page")).header(header::ACCEPT_LANGUAGE, "zh-CN").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let html = response.text().await.unwrap();
        assert!(html.contains("页面不存在"), "{html}");
        app
    })
    .await;
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_csp_nonce_matching_the_scripts() {
    with_sqlite_app(|app| async move {
        let response = app.get("/").await;
        let headers = response.headers().clone();
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "strict-origin-when-cross-origin");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
        assert!(!csp.contains("'unsafe-inline'"), "{csp}");
        let nonce =
            csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("nonce in CSP").to_owned();
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!("nonce=\"{nonce}\"")), "script nonce must match the CSP: {nonce}\n{html}");

        // A fresh nonce per response.
        let again = app.get("/").await;
        assert_ne!(again.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap(), csp);
        app
    })
    .await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_given_one() {
    with_sqlite_app(|app| async move {
        let response = app.get("/livez").await;
        let id = response.headers().get("x-request-id").expect("request id").to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "{id}");
        assert_ne!(app.get("/livez").await.headers()["x-request-id"].to_str().unwrap(), id);

        let given = app.client.get(app.url("/livez")).header("x-request-id", "trace-me-42").send().await.unwrap();
        assert_eq!(given.headers()["x-request-id"], "trace-me-42");
        app
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    with_sqlite_app(|app| async move {
        let big = "x".repeat(10_000);
        let response =
            app.client.post(app.url("/lang")).form(&[("lang", "en"), ("back", big.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        app
    })
    .await;
}

#[tokio::test]
async fn start_up_fails_naming_database_url_when_the_database_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for("postgres://baton:pw@127.0.0.1:1/baton", dir.path(), "http://127.0.0.1:1", &[]);
    let err = Application::build_with_listener(config, listener).await.err().expect("must fail").to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains(":pw@"), "{err}");
}

#[tokio::test]
async fn start_up_fails_naming_the_data_dir_when_it_is_unwritable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    let data_dir = file.path().join("data");
    let url = format!("sqlite://{}", data_dir.join("baton.sqlite3").display());
    let config = config_for(&url, &data_dir, "http://127.0.0.1:1", &[]);
    let err = Application::build_with_listener(config, listener).await.err().expect("must fail").to_string();
    assert!(err.contains("BATON_DATA_DIR"), "{err}");
}

/// The binary itself: a bad setting stops it at once with a message naming the setting.
#[test]
fn the_binary_refuses_a_bad_setting_and_names_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .env("DATABASE_URL", "mysql://nope")
        .env("BATON_DATA_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

/// The binary stops cleanly on SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn the_binary_shuts_down_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .env("BATON_LISTEN", format!("127.0.0.1:{port}"))
        .env("BATON_DATA_DIR", dir.path())
        .env("BATON_SITE_ROOT", dir.path())
        .env("BATON_LOG", "warn")
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status =
        tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await.expect("exits in time").unwrap();
    assert!(status.success(), "{status}");
    assert!(dir.path().join("baton.sqlite3").exists());
}

db_test!(async fn pages_abandoned_mid_render_leave_the_server_answering(ctx) {
    // Dropping a response right after its headers used to drop the render's reactive owner while
    // the page's data loaders still ran, which could block a worker thread for good.
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[app::auth::Role::Ops]).await;
    let mut browser = app.browser();
    browser.login("ops1", crate::helpers::PASSWORD).await;
    let cookie = browser.cookie.clone().expect("signed in");
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (client, url, cookie) = (app.client.clone(), app.url("/"), cookie.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..50 {
                let response =
                    client.get(&url).header(header::COOKIE, format!("baton_session={cookie}")).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                drop(response);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let page = browser.get("/").await;
        (page.status(), page.text().await.unwrap())
    })
    .await
    .expect("the server still renders pages after abandoned ones");
    assert_eq!(answered.0, StatusCode::OK);
    assert!(answered.1.contains("</html>"), "a whole page");
    app.stop().await;
});

db_test!(async fn a_signed_in_users_language_switch_becomes_their_preferred_language_on_record(ctx) {
    use app::{auth::Role, i18n::Locale, users::store};
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let id = store::id_by_username(&app.db, "ops1").await.unwrap().unwrap();
    let language = |db: app::db::Db| async move { store::get(&db, id).await.unwrap().unwrap().language };
    assert_eq!(language(app.db.clone()).await, Locale::En);
    let mut ops = app.browser();
    assert!(ops.login("ops1", crate::helpers::PASSWORD).await.status.is_success());
    let switched = ops.call("/lang", &[("lang", "zh-CN"), ("back", "/")]).await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(language(app.db.clone()).await, Locale::ZhCn, "emails and reports now come in Chinese");
    // Switching to the language already stored writes nothing more.
    ops.call("/lang", &[("lang", "zh-CN"), ("back", "/")]).await;
    let updates: Vec<String> = app::on_db!(&app.db, pool => sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE event = 'user.updated' AND target = 'ops1' ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(updates.len(), 1, "{updates:?}");
    let details: serde_json::Value = serde_json::from_str(&updates[0]).unwrap();
    assert_eq!((details["before"]["language"].as_str(), details["after"]["language"].as_str()), (Some("en"), Some("zh-CN")));
    // Anonymous visitors only get the cookie.
    let response = app.client.post(app.url("/lang")).form(&[("lang", "en"), ("back", "/")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(language(app.db.clone()).await, Locale::ZhCn);
    app.stop().await;
});

#[tokio::test]
async fn the_account_page_shows_the_user_and_their_language_and_needs_a_session() {
    with_sqlite_app(|app| async move {
        let anonymous = app.get("/account").await;
        assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
        assert_eq!(anonymous.headers()[header::LOCATION], "/login?next=/account");

        app.create_user("ops1", &[app::auth::Role::Ops]).await;
        let mut ops = app.browser();
        ops.login("ops1", crate::helpers::PASSWORD).await;
        let page = ops.get("/account").await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        for needle in
            ["User ops1", "action=\"/lang\"", "name=\"back\" value=\"/account\"", "href=\"/account/password\""]
        {
            assert!(html.contains(needle), "{needle} missing");
        }
        assert!(html.contains("<option value=\"en\" selected"), "the stored language is chosen");
        ops.call("/lang", &[("lang", "zh-CN"), ("back", "/account")]).await;
        let html = ops.get("/account").await.text().await.unwrap();
        assert!(html.contains("<option value=\"zh-CN\" selected"), "now Chinese is");
        app
    })
    .await;
}

db_test!(async fn admin_pages_show_others_only_a_403_page(ctx) {
    use app::auth::Role;
    let app = TestApp::spawn(ctx.url.expose()).await;
    let dev_id = app.create_user("dev1", &[Role::Dev]).await;
    app.create_user("admin1", &[Role::Admin]).await;
    let mut dev = app.browser();
    dev.login("dev1", crate::helpers::PASSWORD).await;
    let dev_page = format!("/admin/users/{dev_id}");
    for path in ["/admin/audit", "/admin/outbox", "/admin/users", "/admin/intake", "/admin/audit/1", dev_page.as_str()] {
        let before = crate::helpers::audit_entries(&app.db).await.len();
        let page = dev.get(path).await;
        assert_eq!(page.status(), StatusCode::FORBIDDEN, "{path}");
        let html = page.text().await.unwrap();
        assert!(html.contains("No permission"), "{path}");
        assert!(!html.contains("export.csv") && !html.contains("name=\"target\""), "{path} shows none of its tools");
        // Each refused visit is on record once, as a refused server function is.
        let after = crate::helpers::audit_entries(&app.db).await;
        assert_eq!(after.len(), before + 1, "{path}: exactly the refusal is recorded");
        let refusal = after.last().unwrap();
        assert_eq!((refusal.event.as_str(), refusal.outcome.as_str()), (app::audit::event::ACCESS_DENIED, "denied"));
        assert_eq!((refusal.actor_name.as_str(), refusal.target.as_str()), ("dev1", path));
    }
    let mut admin = app.browser();
    admin.login("admin1", crate::helpers::PASSWORD).await;
    let page = admin.get("/admin/audit").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("export.csv"));
    // A page that loads its own data inside the admin check renders to its end (it once hung).
    let user_page = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let page = admin.get(&dev_page).await;
        (page.status(), page.text().await.unwrap())
    })
    .await
    .expect("the user page renders");
    assert_eq!(user_page.0, StatusCode::OK);
    assert!(user_page.1.contains("<title>dev1 · Baton</title>"), "titled by the user it shows");
    app.stop().await;
});

db_test!(async fn pages_titled_by_their_data_always_carry_that_title(ctx) {
    // The head goes out with the first chunk of a streamed page; the incident page's title comes
    // from its data, so it was missing whenever the head left first (a race: about half the time).
    use app::auth::Role;
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut ops = app.browser();
    ops.login("ops1", crate::helpers::PASSWORD).await;
    let key = ops.report("Checkout fails").await.json().as_str().unwrap().to_owned();
    let wanted = format!("<title>{key} Checkout fails · Baton</title>");
    for attempt in 0..20 {
        let html = ops.get(&format!("/incidents/{key}")).await.text().await.unwrap();
        assert!(html.contains(&wanted), "attempt {attempt}: no incident title in the head");
    }
    app.stop().await;
});

/// Reads one HTTP/1.1 answer (head and a `Content-Length` body) from `stream`; `None` when the
/// server closed or reset the connection first.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buffer.len() >= end + 4 + length {
                return Some(head);
            }
        }
        match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buffer.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

#[tokio::test]
async fn a_refused_post_leaves_the_keep_alive_connection_usable_or_says_it_closes() {
    use tokio::io::AsyncWriteExt;
    with_sqlite_app(|app| async move {
        let addr = app.base.trim_start_matches("http://").to_owned();
        // A signed-out post refused before its body is read: the body arrives in two parts, the
        // second after the server could already have answered.
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let body = "note=".to_owned() + &"x".repeat(3000);
        let head = format!(
            "POST /api/incidents/dispatch HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body.as_bytes()[..1000]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        stream.write_all(&body.as_bytes()[1000..]).await.unwrap();
        let refused = read_answer(&mut stream).await.expect("the refusal arrives");
        assert!(refused.starts_with("http/1.1 401"), "{refused}");
        assert!(!refused.contains("connection: close"), "a read body needs no close: {refused}");
        stream.write_all(format!("GET /livez HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let next = read_answer(&mut stream).await.expect("the connection stays usable after the refusal");
        assert!(next.starts_with("http/1.1 200"), "{next}");

        // A body that never arrives: the refusal says the connection closes, so no client reuses it.
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/incidents/dispatch HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: 2000\r\n\r\nnote=x"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let refused = read_answer(&mut stream).await.expect("the refusal arrives");
        assert!(refused.starts_with("http/1.1 401"), "{refused}");
        assert!(refused.contains("connection: close"), "{refused}");
        app
    })
    .await;
}

db_test!(async fn an_incident_pool_item_or_user_that_does_not_exist_answers_404_with_the_not_found_page(ctx) {
    use app::auth::Role;
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("lead", &[Role::Pm, Role::Admin]).await;
    let mut pm = app.browser();
    pm.login("lead", crate::helpers::PASSWORD).await;
    for path in ["/incidents/INC-2026-9999", "/pool/99999", "/admin/users/99999"] {
        let answer = pm.get(path).await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        let html = answer.text().await.unwrap();
        assert!(html.contains("<title>Page not found · Baton</title>"), "{path}: titled as not found");
    }
    app.stop().await;
});
