//! Running Baton: metrics, backup and restore, draining on shutdown, and the site's build check.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::{
    audit::{store as audit_store, VerifyReport},
    auth::Role,
    config::Backend,
    db::Db,
    db_test,
    mail::test_sink::{free_port, Sink},
    testing::TestDb,
    workflow::{
        engine,
        input::{NewIncident, Severity},
    },
};
use chrono::Utc;
use reqwest::{header, StatusCode};
use server::Application;
use sqlx::Row;
use tokio::net::TcpListener;

use crate::helpers::{actor, add_user, config_for, incident, ServerProcess, TestApp, PASSWORD};

const TOKEN: &str = "scrape-token-0123456789";

/// The scrape of a server process of its own (so every count in it is this test's).
async fn scrape(base: &str) -> prometheus_parse::Scrape {
    let response = reqwest::Client::new().get(format!("{base}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// The value of the sample `name` with these labels among its own (0 when absent).
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name} is not a single value: {other:?}"),
        })
        .unwrap_or(0.0)
}

/// Signs in over HTTP; the session cookie.
async fn sign_in(base: &str, username: &str, password: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| {
            v.to_str().ok()?.strip_prefix("baton_session=").map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
        .next();
    cookie.filter(|_| response.status().is_success())
}

db_test!(async fn metrics_need_the_token_and_count_what_happened(ctx) {
    let closed = TestApp::spawn(ctx.url.expose()).await;
    assert_eq!(closed.get("/metrics").await.status(), StatusCode::NOT_FOUND, "off without a token");
    closed.stop().await;

    let ops = add_user(&ctx.db, "ops1", &[Role::Ops]).await;
    let pm = add_user(&ctx.db, "pm1", &[Role::Pm]).await;
    let smtp_port = free_port();
    let sink = Sink::start(smtp_port);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", ctx.url.expose().to_owned()),
        ("BATON_BASE_URL", base.clone()),
        ("BATON_SITE_ROOT", dir.path().display().to_string()),
        ("BATON_METRICS_TOKEN", TOKEN.to_owned()),
        ("BATON_SMTP_HOST", "127.0.0.1".to_owned()),
        ("BATON_SMTP_PORT", smtp_port.to_string()),
        ("BATON_SMTP_TLS", "none".to_owned()),
        ("BATON_SMTP_FROM", "Baton <baton@example.com>".to_owned()),
        ("BATON_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let server = ServerProcess::start(&env, port, dir.path()).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/metrics")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = client.get(format!("{base}/metrics")).bearer_auth("scrape-token-0123456780").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let before = scrape(&base).await;
    for _ in 0..3 {
        assert_eq!(client.get(format!("{base}/api/v1/openapi.json")).send().await.unwrap().status(), StatusCode::OK);
    }
    // An email delivered: triage notifies the PM.
    let input = NewIncident { severity: Severity::P0, ..incident("支付按钮无响应") };
    let created = engine::create_incident(&ctx.db, &actor(ops, Role::Ops), &input, Utc::now()).await.unwrap();
    let cookie = sign_in(&base, "ops1", PASSWORD).await.expect("signed in");
    let triaged = client
        .post(format!("{base}/api/incidents/triage_technical"))
        .header(header::COOKIE, format!("baton_session={cookie}"))
        .form(&[("incident_id", created.id.to_string()), ("version", "1".into()), ("pm_id", pm.to_string()), ("note", String::new())])
        .send()
        .await
        .unwrap();
    assert!(triaged.status().is_success(), "{}", triaged.text().await.unwrap());
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app::on_db!(&ctx.db, pool => sqlx::query("SELECT status FROM outbox").fetch_one(pool).await.unwrap().get::<String, _>(0))
        != "sent"
    {
        assert!(Instant::now() < deadline, "the email is recorded as sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sign_in(&base, "pm1", "not the password").await, None);

    let after = scrape(&base).await;
    let delta = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    let openapi = [("route", "/api/v1/openapi.json"), ("method", "GET"), ("status", "2xx")];
    assert_eq!(delta("baton_http_requests_total", &openapi), 3.0, "requests are counted by route template");
    assert_eq!(delta("baton_outbox_deliveries_total", &[("transport", "email"), ("outcome", "sent")]), 1.0);
    assert_eq!(delta("baton_sign_in_failures_total", &[]), 1.0);
    let refused = [("route", "/metrics"), ("method", "GET"), ("status", "4xx")];
    assert_eq!(value(&after, "baton_http_requests_total", &refused), 2.0, "the two refused scrapes");
    // Incidents are labelled by the route template, never by their key.
    assert!(
        after.samples.iter().all(|s| s.labels.get("route").is_none_or(|r| !r.contains(&created.key))),
        "no raw paths in labels"
    );
    // Read from the database when scraped: the triaged P0 waits for the PM.
    assert_eq!(value(&after, "baton_incidents_open", &[("stage", "awaiting_pm"), ("severity", "p0")]), 1.0);
    assert_eq!(value(&after, "baton_incidents_open", &[("stage", "reported"), ("severity", "p0")]), 0.0);
    assert_eq!(value(&after, "baton_outbox_messages", &[("transport", "email"), ("status", "queued")]), 0.0);
    assert_eq!(value(&after, "baton_build_info", &[("build_id", app::shell::BUILD_ID)]), 1.0);
    assert_eq!(value(&after, "baton_draining", &[]), 0.0);
    assert!(value(&after, "baton_db_connections", &[("state", "idle")]) + value(&after, "baton_db_connections", &[("state", "in_use")]) >= 1.0);
    for name in [
        "baton_http_request_duration_seconds",
        "baton_outbox_oldest_queued_seconds",
        "baton_stage_clocks",
        "baton_live_subscribers",
    ] {
        assert!(after.samples.iter().any(|s| s.metric.starts_with(name)), "{name} is exported");
    }
    let histogram = after
        .samples
        .iter()
        .find(|s| s.metric == "baton_http_request_duration_seconds" && s.labels.get("route") == Some("/api/v1/openapi.json"));
    assert!(
        matches!(histogram.map(|s| &s.value), Some(prometheus_parse::Value::Histogram(buckets)) if buckets.len() > 5),
        "latency is a histogram with buckets"
    );
    drop(server);
});

/// A SQLite server in `dir`, with its configuration (so a backup can be taken as the CLI would).
async fn sqlite_server(dir: &std::path::Path) -> (app::config::Config, Application) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("sqlite://{}", dir.join("baton.sqlite3").display());
    let config = config_for(&url, dir, &base, &[]);
    let application = Application::build_with_listener(config.clone(), listener).await.expect("app builds");
    (config, application)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writing_restores_into_an_empty_data_dir() {
    let live_dir = tempfile::tempdir().unwrap();
    let (config, application) = sqlite_server(live_dir.path()).await;
    let db = application.state().db.clone();
    let ops = add_user(&db, "ops1", &[Role::Ops]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));

    // A writer reports incidents as fast as it can; each id is recorded once acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = tokio::spawn({
        let (db, acknowledged, writing) = (db.clone(), acknowledged.clone(), writing.clone());
        async move {
            let mut n = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let created =
                    engine::create_incident(&db, &actor(ops, Role::Ops), &incident(&format!("写入 {n}")), Utc::now())
                        .await
                        .unwrap();
                acknowledged.lock().unwrap().push(created.id);
            }
        }
    });
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_backup: Vec<i64> = acknowledged.lock().unwrap().clone();
    let file = live_dir.path().join("copy.sqlite3");
    let written = server::backup::backup_to(&config, &file).await.expect("backup while the app writes");
    assert!(written.bytes > 0);
    assert!(
        server::backup::backup_to(&config, &file).await.unwrap_err().to_string().contains("exists already"),
        "an existing file is never overwritten"
    );

    // The copy: sound, with every incident acknowledged before it started, and a whole chain.
    let inspected = app::db::backup::inspect(&file).await.expect("a sound file");
    assert_eq!(inspected.level, app::db::backup::known_level());
    let copy =
        Db::connect(&app::config::DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap()).await.unwrap();
    let integrity: String =
        app::on_db!(&copy, pool => sqlx::query_scalar("PRAGMA integrity_check").fetch_one(pool).await.unwrap());
    assert_eq!(integrity, "ok");
    let ids: Vec<i64> =
        app::on_db!(&copy, pool => sqlx::query_scalar("SELECT id FROM incidents").fetch_all(pool).await.unwrap());
    for id in &before_backup {
        assert!(ids.contains(id), "incident {id} was acknowledged before the backup started");
    }
    assert!(matches!(audit_store::verify_against(&copy, Vec::new()).await.unwrap(), VerifyReport::Verified { .. }));
    copy.close().await;

    // A database in use is never replaced, even with --force.
    let refused = server::backup::restore_from(&config, &file, true).await.unwrap_err().to_string();
    assert!(refused.contains("in use"), "{refused}");

    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();

    // Restored into an empty data dir, the copy serves: its user signs in and sees an incident.
    let new_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", new_dir.path().join("baton.sqlite3").display());
    let restore_config = config_for(&url, new_dir.path(), "http://127.0.0.1:1", &[]);
    let restored =
        server::backup::restore_from(&restore_config, &file, false).await.expect("restore into an empty dir");
    assert!(matches!(restored.audit, VerifyReport::Verified { .. }), "{:?}", restored.audit);
    assert_eq!(restored.inspected.incidents, ids.len() as i64);
    let refused = server::backup::restore_from(&restore_config, &file, false).await.unwrap_err().to_string();
    assert!(refused.contains("--force"), "a database with data is not replaced without --force: {refused}");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serve_config = config_for(&url, new_dir.path(), &base, &[]);
    let application = Application::build_with_listener(serve_config, listener).await.expect("the restored copy serves");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = client
        .post(format!("{base}/api/auth/login"))
        .header(header::ORIGIN, &base)
        .form(&[("username", "ops1"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
    let key: String = {
        let db = Db::connect(&app::config::DatabaseUrl::parse(&url).unwrap()).await.unwrap();
        let key = app::on_db!(&db, pool => sqlx::query_scalar("SELECT key FROM incidents WHERE id = $1").bind(before_backup[0]).fetch_one(pool).await.unwrap());
        db.close().await;
        key
    };
    let page = client.get(format!("{base}/incidents/{key}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("写入 1"));
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_refuses_an_unsound_file_and_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let file = dir.path().join("copy.sqlite3");
    app::db::backup::write(&test_db.db, &file).await.unwrap();
    // A schema level this binary does not know.
    let newer = dir.path().join("newer.sqlite3");
    std::fs::copy(&file, &newer).unwrap();
    {
        let db = Db::connect(&app::config::DatabaseUrl::parse(&format!("sqlite://{}", newer.display())).unwrap())
            .await
            .unwrap();
        app::on_db!(&db, pool => sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99999, 'future', TRUE, X'00', 0)",
        )
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
        db.close().await;
    }
    let target_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", target_dir.path().join("baton.sqlite3").display());
    let config = config_for(&url, target_dir.path(), "http://127.0.0.1:1", &[]);
    let refused = server::backup::restore_from(&config, &newer, false).await.unwrap_err().to_string();
    assert!(refused.contains("newer than this Baton"), "{refused}");
    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, b"not a database at all, just text").unwrap();
    let refused = server::backup::restore_from(&config, &garbage, false).await.unwrap_err().to_string();
    assert!(refused.contains("not a sound Baton database"), "{refused}");
    assert!(!target_dir.path().join("baton.sqlite3").exists(), "nothing was put in place");
    // A damaged database is replaced with --force only.
    std::fs::write(target_dir.path().join("baton.sqlite3"), b"SQLite format 3\0 but damaged beyond reading").unwrap();
    let refused = server::backup::restore_from(&config, &file, false).await.unwrap_err();
    assert!(format!("{refused:#}").contains("--force"), "{refused:#}");
    server::backup::restore_from(&config, &file, true).await.expect("a sound copy replaces a damaged database");
    test_db.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc::now();
    let mut written = Vec::new();
    for n in 0..4 {
        written.push(
            server::backup::scheduled_once(&test_db.db, dir.path(), 2, t0 + chrono::Duration::hours(n)).await.unwrap(),
        );
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    left.sort();
    assert_eq!(left, written[2..].to_vec(), "the two newest are kept");
    test_db.destroy().await;
}

db_test!(async fn shutdown_drains_says_so_on_healthz_and_ends_live_streams_with_a_retry_hint(ctx) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(ctx.url.expose(), dir.path(), &base, &[("BATON_DRAIN_DELAY", "2s")]);
    let application = Application::build_with_listener(config, listener).await.unwrap();
    let db = application.state().db.clone();
    add_user(&db, "qa1", &[Role::Qa]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let healthz = |client: reqwest::Client| {
        let url = format!("{base}/healthz");
        async move { client.get(url).send().await.map(|r| r.status()) }
    };
    assert_eq!(healthz(client.clone()).await.unwrap(), StatusCode::OK);
    let login = client
        .post(format!("{base}/api/auth/login"))
        .header(header::ORIGIN, &base)
        .form(&[("username", "qa1"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success());
    let mut stream = client.get(format!("{base}/events")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["x-accel-buffering"], "no", "proxies pass the stream on unbuffered");

    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(healthz(client.clone()).await.unwrap(), StatusCode::SERVICE_UNAVAILABLE, "draining is announced at once");
    // The stream ends with a reconnect hint once the drain delay is over.
    let mut received = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(read.is_ok(), "the stream ended");
    assert!(received.contains("retry: 2000"), "a retry hint: {received:?}");
    assert!(asked.elapsed() >= Duration::from_secs(2), "served through the drain delay");
    tokio::time::timeout(Duration::from_secs(15), serving).await.expect("stops in bounded time").unwrap().unwrap();
    assert!(healthz(client).await.is_err(), "no longer listening");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_of_another_build_is_reported_and_its_wasm_not_served() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm_of = |id: &str| format!("\0asm...baton-build-id={id};...").into_bytes();
    std::fs::write(pkg.join("baton.wasm"), wasm_of(app::shell::BUILD_ID)).unwrap();
    std::fs::write(pkg.join("baton.js"), "export default function () {}").unwrap();
    let site_root = site.path().display().to_string();
    let app = TestApp::spawn_with(test_db.url.expose(), &[("BATON_SITE_ROOT", &site_root)]).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!((body["build"].as_str(), body["site"].as_str()), (Some(app::shell::BUILD_ID), Some("ok")));
    assert_eq!(app.get("/pkg/baton.wasm").await.status(), StatusCode::OK);
    let page = app.get("/login").await.text().await.unwrap();
    assert!(page.contains(&format!("data-build=\"{}\"", app::shell::BUILD_ID)), "the page names its build");

    // The site is rebuilt in place from other sources while the server runs.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(pkg.join("baton.wasm"), wasm_of("0123456789abcdef")).unwrap();
    assert_eq!(app.get("/pkg/baton.wasm").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/pkg/baton.js").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Said on /healthz, which keeps the instance in its pool: its pages still work.
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["site"]["mismatch"], "0123456789abcdef");
    // Pages still work: they do without the WASM.
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
    app.stop().await;
    test_db.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_links_to_its_own_configured_address() {
    let test_db = match TestDb::create(Backend::Postgres).await {
        Ok(db) => db,
        Err(app::testing::TestDbError::PostgresUnreachable(why)) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: PostgreSQL unreachable ({why})");
            return;
        }
        Err(err) => panic!("{err:?}"),
    };
    let first = TestApp::spawn(test_db.url.expose()).await;
    // Started last: the address stored in the database is now this one's.
    let second = TestApp::spawn(test_db.url.expose()).await;
    let ops = first.create_user("ops1", &[Role::Ops]).await;
    let pm = first.create_user("pm1", &[Role::Pm]).await;
    let created =
        engine::create_incident(&first.db, &actor(ops, Role::Ops), &incident("链接"), Utc::now()).await.unwrap();
    let mut browser = first.browser();
    browser.login("ops1", PASSWORD).await;
    let answer = browser
        .call(
            "/api/incidents/triage_technical",
            &[("incident_id", &created.id.to_string()), ("version", "1"), ("pm_id", &pm.to_string()), ("note", "")],
        )
        .await;
    assert!(answer.status.is_success(), "{}", answer.body);
    let body: String = app::on_db!(&first.db, pool => sqlx::query_scalar("SELECT body_text FROM outbox").fetch_one(pool).await.unwrap());
    assert!(
        body.contains(&format!("{}/incidents/{}", first.base, created.key)),
        "the acting instance's address:\n{body}"
    );
    assert!(!body.contains(&second.base), "{body}");
    second.stop().await;
    first.stop().await;
    test_db.destroy().await;
}

/// Runs the server binary with `env` and `args`; (success, stdout + stderr).
fn run_binary(env: &[(&str, String)], args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("BATON_LOG", "warn")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_and_restore_commands_say_what_they_did() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    app::users::bootstrap::ensure_first_admin(&test_db.db, &app::auth::password::PasswordHasher::new(1)).await.unwrap();
    let file = tempfile::tempdir().unwrap();
    let copy = file.path().join("copy.sqlite3");
    let copy_arg = copy.display().to_string();
    let data = tempfile::tempdir().unwrap();
    let source =
        [("DATABASE_URL", test_db.url.expose().to_owned()), ("BATON_DATA_DIR", data.path().display().to_string())];
    let (ok, said) = run_binary(&source, &["backup", "--to", &copy_arg]);
    assert!(ok && said.contains("backup written to"), "{said}");
    // A wrong path is said, not backed up as a new empty database.
    let nowhere = tempfile::tempdir().unwrap();
    let (ok, said) = run_binary(
        &[("BATON_DATA_DIR", nowhere.path().display().to_string())],
        &["backup", "--to", &format!("{copy_arg}.2")],
    );
    assert!(!ok && said.contains("there is no database"), "{said}");
    assert!(!nowhere.path().join("baton.sqlite3").exists());

    let empty = tempfile::tempdir().unwrap();
    let target = [("BATON_DATA_DIR", empty.path().display().to_string())];
    let (ok, said) = run_binary(&target, &["restore", "--from", &copy_arg]);
    assert!(ok, "{said}");
    assert!(
        said.contains("restored") && said.contains("1 users") && said.contains("audit chain: verified through entry"),
        "{said}"
    );
    let (ok, said) = run_binary(&target, &["restore", "--from", &copy_arg]);
    assert!(!ok && said.contains("--force"), "{said}");

    // PostgreSQL has its own tools, named with the command to run.
    let pg = [
        ("DATABASE_URL", "postgres://baton@127.0.0.1:1/baton".to_owned()),
        ("BATON_DATA_DIR", data.path().display().to_string()),
    ];
    let (ok, said) = run_binary(&pg, &["backup", "--to", &file.path().join("pg.sqlite3").display().to_string()]);
    assert!(!ok && said.contains("pg_dump --format=custom"), "{said}");
    test_db.destroy().await;
}
