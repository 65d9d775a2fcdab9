//! What the tests of every area share: the real app on port 0 and a small cookie-keeping client.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use app::{
    audit::{
        store::{self as audit_store, Cursor, Query},
        AuditEntry,
    },
    auth::{password::PasswordHasher, Role},
    config::Config,
    db::Db,
    users::bootstrap::{self, CliUser},
    workflow::{
        input::{Channel, NewIncident, Severity},
        rules::Actor,
    },
};
use reqwest::{header, redirect::Policy, StatusCode};
use server::Application;
use sqlx::Row;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A password meeting the policy, used for every test account.
pub const PASSWORD: &str = "correct horse battery";

/// A running server.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub hasher: PasswordHasher,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _data_dir: tempfile::TempDir,
}

/// The secret key of test servers (32 bytes, base64).
pub const TEST_SECRET_KEY: &str = "dGVzdCBrZXkgb2YgMzIgYnl0ZXMgZm9yIGJhdG9uISE=";

pub fn config_for(database_url: &str, data_dir: &std::path::Path, base: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url.into()),
        ("BATON_DATA_DIR".into(), data_dir.display().to_string()),
        ("BATON_SITE_ROOT".into(), data_dir.display().to_string()),
        ("BATON_BASE_URL".into(), base.into()),
        ("BATON_MAX_BODY_BYTES".into(), "4096".into()),
        // Chat channels need a key to seal their credentials with.
        ("BATON_SECRET_KEY".into(), TEST_SECRET_KEY.into()),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("valid test config")
}

impl TestApp {
    pub async fn spawn(database_url: &str) -> Self {
        Self::spawn_with(database_url, &[]).await
    }

    pub async fn spawn_with(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let data_dir = tempfile::tempdir().unwrap();
        let config = config_for(database_url, data_dir.path(), &base, extra);
        let application = Application::build_with_listener(config, listener).await.expect("app builds");
        let db = application.state().db.clone();
        let hasher = application.state().hasher.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(application.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        Self { base, client, db, hasher, shutdown: Some(tx), handle: Some(handle), _data_dir: data_dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Creates an account with `roles` and the test password (no forced change).
    pub async fn create_user(&self, username: &str, roles: &[Role]) -> i64 {
        add_user(&self.db, username, roles).await
    }

    /// A fresh client with an empty cookie jar.
    pub fn browser(&self) -> Browser<'_> {
        Browser { app: self, cookie: None, headers: Vec::new() }
    }

    pub async fn stop(mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
        self.handle.take().unwrap().await.unwrap().expect("server stops cleanly");
    }
}

/// Creates an account in `db` with `roles` and the test password (no forced change), for tests
/// that run a server of their own.
pub async fn add_user(db: &Db, username: &str, roles: &[Role]) -> i64 {
    let user = CliUser {
        username: username.into(),
        display_name: format!("User {username}"),
        email: format!("{username}@example.com"),
        language: "en".into(),
        roles: roles.to_vec(),
        password: PASSWORD.into(),
        must_change: false,
    };
    bootstrap::create_user(db, &PasswordHasher::new(1), user).await.expect("user created")
}

/// A client that keeps the session cookie the way a browser would, so tests can also copy, plant
/// and replay it.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

/// The answer of a server function call.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The error variant name of an `AppError` body (`"Forbidden"`, `{"Throttled": 30}` -> `"Throttled"`).
    pub fn error(&self) -> Option<String> {
        match self.json() {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(map) => map.keys().next().cloned(),
            _ => None,
        }
    }
}

impl Browser<'_> {
    fn absorb(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default();
            if let Some(rest) = text.strip_prefix("baton_session=") {
                let value = rest.split(';').next().unwrap_or_default();
                let removed = value.is_empty() || text.contains("Max-Age=0");
                self.cookie = if removed { None } else { Some(value.to_owned()) };
            }
        }
    }

    fn request(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut builder = builder;
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, format!("baton_session={cookie}"));
        }
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        builder
    }

    /// Calls a server function with form fields, as a script would (JSON answers).
    pub async fn call(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let response = self.request(self.app.client.post(self.app.url(path)).form(form)).send().await.unwrap();
        self.absorb(&response);
        Answer { status: response.status(), body: response.text().await.unwrap() }
    }

    /// Posts form fields and returns the raw answer (for redirects and headers).
    pub async fn request_form(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self.request(self.app.client.post(self.app.url(path)).form(form)).send().await.unwrap();
        self.absorb(&response);
        response
    }

    /// Posts files as a browser's multipart form does: one `file` part per (name, bytes).
    pub async fn upload(&mut self, path: &str, files: &[(&str, &[u8])]) -> reqwest::Response {
        self.upload_with(path, &[], files, false).await
    }

    /// A multipart post with text `fields` before the files, as a form (or, with `json`, as a
    /// script asking for JSON).
    pub async fn upload_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
        json: bool,
    ) -> reqwest::Response {
        let boundary = "----baton-test-boundary-7d3f";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let builder = self
            .app
            .client
            .post(self.app.url(path))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .header(header::ACCEPT, if json { "application/json" } else { "text/html" })
            .body(body);
        let response = self.request(builder).send().await.unwrap();
        self.absorb(&response);
        response
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self.request(self.app.client.get(self.app.url(path))).send().await.unwrap();
        self.absorb(&response);
        response
    }

    /// Reports a P2 incident by email titled `title`, with no reporter details.
    pub async fn report(&mut self, title: &str) -> Answer {
        let fields = [
            ("title", title),
            ("description", "d"),
            ("severity", "p2"),
            ("channel", "email"),
            ("reporter_name", ""),
            ("reporter_contact", ""),
            ("external_ref", ""),
        ];
        self.call("/api/incidents/report", &fields).await
    }

    pub async fn login(&mut self, username: &str, password: &str) -> Answer {
        self.call("/api/auth/login", &[("username", username), ("password", password)]).await
    }

    /// The signed-in user's username, or `None` when the session is not (or no longer) valid.
    pub async fn whoami(&mut self) -> Option<String> {
        let answer = self.call("/api/auth/me", &[]).await;
        assert!(answer.status.is_success(), "me: {} {}", answer.status, answer.body);
        answer.json().get("username").and_then(|u| u.as_str()).map(str::to_owned)
    }
}

/// The user `id` acting in `role`, for driving the engine directly.
pub fn actor(id: i64, role: Role) -> Actor {
    Actor { id, roles: vec![role], ..Default::default() }
}

/// A P2 report by SMS with a one-letter description and no reporter details.
pub fn incident(title: &str) -> NewIncident {
    NewIncident {
        title: title.into(),
        description: "d".into(),
        severity: Severity::P2,
        channel: Channel::Sms,
        reporter_name: String::new(),
        reporter_contact: String::new(),
        external_ref: String::new(),
    }
}

/// The incident's stage and version.
pub async fn stage_and_version(db: &Db, id: i64) -> (String, i64) {
    app::on_db!(db, pool => {
        let r = sqlx::query("SELECT stage, version FROM incidents WHERE id = $1").bind(id).fetch_one(pool).await.unwrap();
        (r.get(0), r.get(1))
    })
}

/// The whole audit log, oldest entry first.
pub async fn audit_entries(db: &Db) -> Vec<AuditEntry> {
    audit_store::page(db, &Query::default(), Cursor::After(0), 100_000).await.unwrap()
}

/// The newest audit entry of `event`.
pub async fn last_audit_entry(db: &Db, event: &str) -> Option<AuditEntry> {
    audit_entries(db).await.into_iter().rev().find(|e| e.event == event)
}

/// The server binary in a process of its own, configured by environment only (its metrics
/// recorder is its own too); killed when dropped.
pub struct ServerProcess {
    pub port: u16,
    pub child: tokio::process::Child,
    log: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts `server serve` on `port` with exactly `env`, a data dir in `dir`, and waits until
    /// `/healthz` answers 200.
    pub async fn start(env: &[(String, String)], port: u16, dir: &std::path::Path) -> Self {
        let data = dir.join(format!("data-{port}"));
        let log = dir.join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // What the unit file sets per instance.
            .env("BATON_LISTEN", format!("127.0.0.1:{port}"))
            .env("BATON_DATA_DIR", &data)
            .stdout(std::process::Stdio::from(out.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(out))
            .kill_on_drop(true);
        let child = command.spawn().expect("server binary starts");
        let instance = Self { port, child, log };
        instance.wait_ready().await;
        instance
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{}/healthz", self.port)).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "instance {} not ready:\n{}", self.port, self.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }
}
