//! Measures the intake API over HTTP with one source token: deliveries per second from
//! concurrent senders, and the latency the idempotency check adds. Run through
//! `scripts/bench-intake.sh`, which passes the back end (`sqlite` or `postgres`).
//!
//! Three runs against the real server on a fresh database: deliveries without an external id
//! (no idempotency check), deliveries each with a new external id (the check finds nothing and
//! the incident is created), and repeats of one external id (the check finds the incident and
//! nothing is created). The check's cost is the latency difference of the first two.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use app::{
    audit::store::Origin,
    config::{Backend, Config},
    intake::{store, SourceChannel},
    testing::TestDb,
};
use server::Application;
use tokio::net::TcpListener;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No external id: no idempotency check.
    Anonymous,
    /// A new external id each time: the check finds nothing.
    Fresh,
    /// One external id over and over: the check finds the incident.
    Repeated,
}

struct Outcome {
    requests: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

impl Outcome {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_ms.get(i).copied().unwrap_or(0.0)
    }
}

async fn run(base: &str, token: &str, mode: Mode, clients: usize, seconds: u64) -> Outcome {
    let http = reqwest::Client::new();
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, counter) = (http.clone(), counter.clone());
            let (url, token) = (format!("{base}/api/v1/intake"), token.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let external_id = match mode {
                        Mode::Anonymous => None,
                        Mode::Fresh => Some(format!("bench-{n}")),
                        Mode::Repeated => Some("bench-repeat".to_owned()),
                    };
                    let body = serde_json::json!({
                        "title": format!("Checkout fails for user {n}"),
                        "body": "The pay button does nothing since this morning.",
                        "reporter_email": "user@example.com",
                        "external_id": external_id,
                    });
                    let sent = Instant::now();
                    let response = http.post(&url).bearer_auth(&token).json(&body).send().await.expect("request");
                    assert!(response.status().is_success(), "status {}", response.status());
                    let _ = response.bytes().await;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut latencies_ms = Vec::new();
    for t in tasks {
        latencies_ms.extend(t.await.expect("sender"));
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    Outcome { requests: latencies_ms.len(), elapsed: start.elapsed(), latencies_ms }
}

#[tokio::main]
async fn main() {
    let backend = match std::env::args().nth(1).as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let env_number =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let clients = env_number("BENCH_CLIENTS", 16) as usize;
    let seconds = env_number("BENCH_SECONDS", 10);

    let test_db = TestDb::create(backend).await.unwrap_or_else(|e| panic!("cannot create a {backend} database: {e:?}"));
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let settings: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", test_db.url.expose().to_owned()),
        ("BATON_DATA_DIR", data_dir.path().display().to_string()),
        ("BATON_SITE_ROOT", data_dir.path().display().to_string()),
        ("BATON_BASE_URL", base.clone()),
        ("BATON_INTAKE_RATE_PER_MINUTE", "1000000".to_owned()),
        // Every sender is one address without a session: lift the per-address limit too.
        ("BATON_ANONYMOUS_RATE_PER_SECOND", "100000".to_owned()),
        ("BATON_LOG", "off".to_owned()),
    ]);
    let config = Config::from_lookup(|k| settings.get(k).cloned()).expect("config");
    let application = Application::build_with_listener(config, listener).await.expect("server");
    let created = store::create(
        &application.state().db,
        &Origin::system("bench"),
        None,
        "bench",
        SourceChannel::FeedbackSystem.as_str(),
        chrono::Utc::now(),
    )
    .await
    .expect("source");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));

    for (mode, label) in [
        (Mode::Anonymous, "new incidents, no external id (no idempotency check)"),
        (Mode::Fresh, "new incidents, each with a new external id"),
        (Mode::Repeated, "repeats of one external id (nothing created)"),
    ] {
        let outcome = run(&base, &created.token, mode, clients, seconds).await;
        let rate = outcome.requests as f64 / outcome.elapsed.as_secs_f64();
        println!(
            "| {backend} | {label}, {clients} senders | {rate:.0} /s; latency p50 {:.2} ms, p99 {:.2} ms |",
            outcome.percentile(0.5),
            outcome.percentile(0.99),
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    test_db.destroy().await;
}
