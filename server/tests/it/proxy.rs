//! Two server processes behind a real nginx (round-robin) on one PostgreSQL database, configured
//! with the deployment files of `deploy/`: an incident walks the whole process with requests
//! landing on both instances; live updates, emails and the intake limit behave as with one
//! instance; SIGTERM to one instance during a burst loses no acknowledged action.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use app::{
    auth::Role,
    config::Backend,
    mail::test_sink::{free_port, Sink},
    testing::{TestDb, TestDbError},
};
use reqwest::{header, StatusCode};
use tokio::process::{Child, Command};

use crate::helpers::{add_user, ServerProcess, PASSWORD};

/// The repository's deployment files.
fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(name)
}

/// `KEY=VALUE` lines of an environment file.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

struct Nginx {
    /// Killed when dropped (nginx runs as one process here: `master_process off`).
    _child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// nginx with `deploy/nginx-baton.conf`, its addresses replaced by the test's.
    async fn start(dir: &Path, listen: u16, upstreams: [u16; 2]) -> Self {
        let site = std::fs::read_to_string(deploy("nginx-baton.conf")).unwrap();
        let replaced = [
            ("listen 80;", format!("listen 127.0.0.1:{listen};")),
            ("server 127.0.0.1:3001 ", format!("server 127.0.0.1:{} ", upstreams[0])),
            ("server 127.0.0.1:3002 ", format!("server 127.0.0.1:{} ", upstreams[1])),
        ]
        .iter()
        .fold(site, |text, (from, to)| {
            assert!(text.contains(from), "deploy/nginx-baton.conf has `{from}`");
            text.replace(from, to)
        });
        let d = dir.display();
        // The rest of nginx.conf, as a distribution's would be, with every path in the test's dir
        // and an access log that names the instance each request went to.
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log info;\n\
             events {{ worker_connections 512; }}\nhttp {{\n\
             log_format upstream '$request_method $uri $status $upstream_addr';\n\
             access_log {d}/nginx-access.log upstream;\n\
             client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{replaced}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .args(["-c", path.to_str().unwrap(), "-p", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", listen)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx not listening: {}",
                std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { _child: child, dir: dir.to_owned() }
    }

    /// `(method, path, status, upstream)` of every request so far.
    fn requests(&self) -> Vec<(String, String, u16, String)> {
        std::fs::read_to_string(self.dir.join("nginx-access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.split(' ');
                Some((
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                    parts.next()?.parse().ok()?,
                    parts.next()?.to_owned(),
                ))
            })
            .collect()
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// A client of the proxy with its own session cookie.
struct Client {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl Client {
    fn new(base: &str) -> Self {
        Self { base: base.to_owned(), http: reqwest::Client::new(), cookie: None }
    }

    async fn call(&mut self, path: &str, form: &[(&str, String)]) -> (StatusCode, serde_json::Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, format!("baton_session={cookie}"));
        }
        let response = request.send().await.unwrap();
        for value in response.headers().get_all(header::SET_COOKIE) {
            if let Some(rest) = value.to_str().unwrap_or_default().strip_prefix("baton_session=") {
                self.cookie = Some(rest.split(';').next().unwrap_or_default().to_owned());
            }
        }
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    async fn login(base: &str, username: &str) -> Self {
        let mut client = Self::new(base);
        let (status, body) =
            client.call("/api/auth/login", &[("username", username.into()), ("password", PASSWORD.into())]).await;
        assert!(status.is_success(), "{username}: {status} {body}");
        client
    }
}

/// The form of each action the walk takes, by the action's name in `my_actions`.
fn fields(action: &str, ids: &HashMap<&str, i64>) -> Vec<(&'static str, String)> {
    let today = chrono::Utc::now();
    match action {
        "triage_technical" => vec![("pm_id", ids["pm1"].to_string()), ("note", String::new())],
        "dispatch" => {
            vec![("dev_id", ids["dev1"].to_string()), ("qa_id", ids["qa1"].to_string()), ("note", String::new())]
        }
        "propose" => vec![("root_cause", "缓存失效".into()), ("solution", "重建索引".into())],
        "verdict_pm" | "verdict_dev" => vec![("optimal", "true".into())],
        "submit_for_test" => vec![("changes", "c".into()), ("reference", "PR 1".into())],
        "test_pass" | "regression_pass" => vec![("notes", "ok".into())],
        "approve_release" => vec![("note", String::new())],
        "mark_released" => vec![
            ("release", "1.2.3".into()),
            ("deployed_at", today.format("%Y-%m-%dT%H:%M").to_string()),
            ("zone", "UTC".into()),
        ],
        "confirm_followup" => vec![("reply", "done".into()), ("confirmation", "confirmed".into())],
        "send_report" => vec![
            ("summary", "s".into()),
            ("measures[0][text]", "add alerting".into()),
            ("measures[0][owner_id]", ids["dev1"].to_string()),
            ("measures[0][due]", (today + chrono::Duration::days(30)).format("%Y-%m-%d").to_string()),
        ],
        other => panic!("the walk does not take {other}"),
    }
}

/// The actions that move an incident forward, never back.
const FORWARD: &[&str] = &[
    "triage_technical",
    "dispatch",
    "propose",
    "verdict_pm",
    "verdict_dev",
    "submit_for_test",
    "test_pass",
    "approve_release",
    "mark_released",
    "regression_pass",
    "confirm_followup",
    "send_report",
];

/// Reads the stream until an event names incident `id` (true), or `within` passes.
async fn sees_change(mut stream: reqwest::Response, id: i64, within: Duration) -> bool {
    let wanted = format!("\"id\":{id}");
    tokio::time::timeout(within, async move {
        let mut seen = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&wanted) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

async fn open_stream(base: &str, cookie: &str) -> reqwest::Response {
    let stream = reqwest::Client::new()
        .get(format!("{base}/events"))
        .header(header::COOKIE, format!("baton_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_nginx_act_as_one() {
    let test_db = match TestDb::create(Backend::Postgres).await {
        Ok(db) => db,
        Err(TestDbError::PostgresUnreachable(why)) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: PostgreSQL unreachable ({why})");
            return;
        }
        Err(err) => panic!("{err:?}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let (proxy_port, ports) = (free_port(), [free_port(), free_port()]);
    let base = format!("http://127.0.0.1:{proxy_port}");
    let smtp_port = free_port();
    let sink = Sink::start(smtp_port);

    // Users and an intake source exist before the instances start.
    let mut ids = HashMap::new();
    for (name, role) in [("ops1", Role::Ops), ("pm1", Role::Pm), ("dev1", Role::Dev), ("qa1", Role::Qa)] {
        ids.insert(name, add_user(&test_db.db, name, &[role]).await);
    }
    let source = app::intake::store::create(
        &test_db.db,
        &app::audit::store::Origin::system("test"),
        None,
        "Feedback",
        "other",
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .token;

    // The deployment's shared settings, with this machine's database, proxy and mail server.
    let mut env = env_file(&deploy("baton.env"));
    let secret = dir.path().join("secret.key");
    std::fs::write(&secret, crate::helpers::TEST_SECRET_KEY).unwrap();
    let overrides: [(&str, String); 10] = [
        ("DATABASE_URL", test_db.url.expose().to_owned()),
        ("BATON_BASE_URL", base.clone()),
        ("BATON_SITE_ROOT", dir.path().display().to_string()),
        ("BATON_SECRET_KEY_FILE", secret.display().to_string()),
        ("BATON_SMTP_HOST", "127.0.0.1".into()),
        ("BATON_SMTP_PORT", smtp_port.to_string()),
        ("BATON_SMTP_TLS", "none".into()),
        ("BATON_DRAIN_DELAY", "1s".into()),
        ("BATON_INTAKE_RATE_PER_MINUTE", "5".into()),
        ("BATON_LOG_FORMAT", "text".into()),
    ];
    for (key, value) in overrides {
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value));
    }
    assert!(
        env.iter().any(|(k, v)| k == "BATON_TRUSTED_PROXIES" && v == "127.0.0.1"),
        "the example trusts the local proxy"
    );
    let first = ServerProcess::start(&env, ports[0], dir.path()).await;
    let second = ServerProcess::start(&env, ports[1], dir.path()).await;
    let nginx = Nginx::start(dir.path(), proxy_port, ports).await;

    // The walk: every owner acts through the proxy, and their requests land on both instances.
    let mut clients = HashMap::new();
    for name in ["ops1", "pm1", "dev1", "qa1"] {
        clients.insert(name, Client::login(&base, name).await);
    }
    let report = [
        ("title", "支付页白屏".to_owned()),
        ("description", "下单后页面空白".into()),
        ("severity", "p1".into()),
        ("channel", "email".into()),
        ("reporter_name", "王小明".into()),
        ("reporter_contact", "xm@example.com".into()),
        ("external_ref", String::new()),
    ];
    let ops = clients.get_mut("ops1").unwrap();
    let (status, key) =
        ops.call("/api/incidents/report", &report.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()).await;
    assert!(status.is_success(), "{status} {key}");
    let key = key.as_str().unwrap().to_owned();
    let mut moves = 0;
    'walk: loop {
        for name in ["ops1", "pm1", "dev1", "qa1"] {
            let client = clients.get_mut(name).unwrap();
            let (status, detail) = client.call("/api/incidents/get", &[("key", key.clone())]).await;
            assert!(status.is_success(), "{status} {detail}");
            if detail["summary"]["stage"] == "closed" {
                break 'walk;
            }
            let mine: Vec<String> =
                detail["my_actions"].as_array().unwrap().iter().filter_map(|a| a.as_str().map(str::to_owned)).collect();
            let Some(action) = FORWARD.iter().find(|a| mine.iter().any(|m| m == *a)) else { continue };
            let mut form = vec![
                ("incident_id", detail["summary"]["id"].to_string()),
                ("version", detail["summary"]["version"].to_string()),
            ];
            form.extend(fields(action, &ids));
            let (status, body) = client.call(&format!("/api/incidents/{action}"), &form).await;
            assert!(status.is_success(), "{name} {action}: {status} {body}");
            moves += 1;
            assert!(moves < 30, "the walk does not end");
        }
    }
    assert_eq!(moves, FORWARD.len(), "every step taken once");
    let actions: Vec<(String, String, u16, String)> =
        nginx.requests().into_iter().filter(|(m, p, _, _)| m == "POST" && p.starts_with("/api/incidents/")).collect();
    let upstreams: HashSet<&str> = actions.iter().map(|(_, _, _, u)| u.as_str()).collect();
    assert_eq!(upstreams.len(), 2, "requests landed on both instances: {upstreams:?}");
    assert!(actions.iter().all(|(_, _, s, _)| *s == 200), "{actions:?}");

    // Emails: every notification and the report sent once to each recipient, by whichever
    // instance claimed it.
    let outbox: Vec<(String, String)> = app::on_db!(&test_db.db, pool => sqlx::query_as(
        "SELECT status, recipients FROM outbox WHERE transport = 'email' ORDER BY id",
    ).fetch_all(pool).await.unwrap());
    let deliveries: usize = outbox.iter().map(|(_, r)| serde_json::from_str::<Vec<String>>(r).unwrap().len()).sum();
    let received = sink.wait_for(deliveries, Duration::from_secs(20)).await;
    assert_eq!(received.len(), deliveries, "{outbox:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = sink.wait_for(deliveries + 1, Duration::from_millis(10)).await;
    assert_eq!(received.len(), deliveries, "nothing sent twice");
    let pairs: HashSet<(String, Vec<String>)> =
        received.iter().map(|(r, m)| (m["message_id"].as_str().unwrap_or_default().to_owned(), r.clone())).collect();
    assert_eq!(pairs.len(), deliveries, "no message sent twice to anyone");
    // The sink has a message a moment before its sender records the answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let unsent: i64 = app::on_db!(&test_db.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE transport = 'email' AND status <> 'sent'",
        ).fetch_one(pool).await.unwrap());
        if unsent == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{unsent} emails not recorded as sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The client address recorded is the one nginx saw, whatever the client claimed.
    let mut spoofing = Client::new(&base);
    spoofing.http = reqwest::Client::builder()
        .default_headers(
            [(header::HeaderName::from_static("x-forwarded-for"), "203.0.113.9".parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();
    spoofing.call("/api/auth/login", &[("username", "qa1".into()), ("password", "wrong password".into())]).await;
    let addr: String = app::on_db!(&test_db.db, pool => sqlx::query_scalar(
        "SELECT client_addr FROM audit_log WHERE event = 'auth.login' AND outcome = 'failed' ORDER BY seq DESC LIMIT 1",
    ).fetch_one(pool).await.unwrap());
    assert_eq!(addr, "127.0.0.1");

    // Live updates: a stream on the first instance hears a change made through the second, and
    // one through the proxy hears changes at once (nginx does not buffer it).
    let watcher = Client::login(&base, "ops1").await;
    let cookie = watcher.cookie.clone().unwrap();
    let direct = open_stream(&format!("http://127.0.0.1:{}", first.port), &cookie).await;
    let proxied = open_stream(&base, &cookie).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut on_second = Client::new(&format!("http://127.0.0.1:{}", second.port));
    on_second.cookie = Some(cookie.clone());
    let (status, created) =
        on_second.call("/api/incidents/report", &report.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()).await;
    assert!(status.is_success(), "{created}");
    let new_id: i64 = app::on_db!(&test_db.db, pool => sqlx::query_scalar("SELECT MAX(id) FROM incidents").fetch_one(pool).await.unwrap());
    let (direct_saw, proxied_saw) = tokio::join!(
        sees_change(direct, new_id, Duration::from_secs(3)),
        sees_change(proxied, new_id, Duration::from_secs(3))
    );
    assert!(direct_saw, "the first instance relays a change made on the second");
    assert!(proxied_saw, "the stream through nginx is not buffered");

    // The intake limit is one across instances: the sixth report in the minute is refused,
    // whichever instance answers it.
    let intake = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..7 {
        let body =
            serde_json::json!({ "title": format!("外部反馈 {n}"), "body": "b", "external_id": format!("FB-{n}") });
        let sent = intake.post(format!("{base}/api/v1/intake")).bearer_auth(&source).json(&body).send().await.unwrap();
        statuses.push(sent.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429, 429]);
    let intake_upstreams: HashSet<String> =
        nginx.requests().into_iter().filter(|(_, p, _, _)| p == "/api/v1/intake").map(|(_, _, _, u)| u).collect();
    assert_eq!(intake_upstreams.len(), 2, "both instances answered intake requests");

    // SIGTERM to one instance in the middle of a burst: every acknowledged report is stored.
    let burst: Vec<_> = (0..100)
        .map(|n| {
            let mut client = Client::new(&base);
            client.cookie = Some(cookie.clone());
            let form: Vec<(&str, String)> =
                report.iter().map(|(k, v)| (*k, if *k == "title" { format!("突发 {n}") } else { v.clone() })).collect();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(25 * n)).await;
                let (status, body) = client.call("/api/incidents/report", &form).await;
                (status, body)
            })
        })
        .collect();
    // Mid-burst: the first instance drains for 1 s, then closes; the last second of the burst
    // can only be answered by the second instance.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.terminate();
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for task in burst {
        let (status, body) = task.await.unwrap();
        if status.is_success() {
            acknowledged.push(body.as_str().unwrap().to_owned());
        } else {
            refused += 1;
        }
    }
    for key in &acknowledged {
        let entries: i64 = app::on_db!(&test_db.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM incident_timeline t JOIN incidents i ON i.id = t.incident_id WHERE i.key = $1 AND t.action = 'create'",
        ).bind(key).fetch_one(pool).await.unwrap());
        assert_eq!(entries, 1, "acknowledged {key} has its timeline entry");
    }
    assert!(
        acknowledged.len() >= 80,
        "the second instance took over: {} acknowledged, {refused} refused",
        acknowledged.len()
    );
    let mut first = first;
    let exit = tokio::time::timeout(Duration::from_secs(30), first.child.wait())
        .await
        .expect("exits within its bounds")
        .unwrap();
    assert!(exit.success(), "clean exit: {exit:?}\n{}", first.log_text());
    let log = first.log_text();
    assert!(log.contains("draining"), "{log}");

    drop(nginx);
    drop(second);
    test_db.destroy().await;
}
