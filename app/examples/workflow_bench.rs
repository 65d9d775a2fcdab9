//! Measures the workflow engine: gate actions per second under concurrent clients, and the
//! incident list query with many incidents. Run through `scripts/bench-workflow.sh`, which passes
//! the back end (`sqlite` or `postgres`) as the first argument.

use std::time::{Duration, Instant};

use app::{
    auth::{password::PasswordHasher, Role},
    config::Backend,
    db::Db,
    testing::TestDb,
    users::bootstrap::{self, CliUser},
    workflow::{
        engine,
        input::{Channel, GateInput, NewIncident, Severity},
        queries,
        rules::Actor,
        views::IncidentFilter,
    },
};
use chrono::Utc;

async fn person(db: &Db, name: &str, role: Role) -> Actor {
    let user = CliUser {
        username: name.into(),
        display_name: name.into(),
        email: format!("{name}@example.com"),
        language: "en".into(),
        roles: vec![role],
        password: "benchmark password".into(),
        must_change: false,
    };
    let id = bootstrap::create_user(db, &PasswordHasher::new(1), user).await.unwrap();
    Actor { id, roles: vec![role], name: name.into(), ..Default::default() }
}

fn incident(i: usize) -> NewIncident {
    NewIncident {
        title: format!("Checkout error {i}"),
        description: format!("User {i} reports a failure at step {}", i % 9),
        severity: Severity::ALL[i % 4],
        channel: Channel::ALL[i % 5],
        reporter_name: format!("user{i}"),
        reporter_contact: String::new(),
        external_ref: String::new(),
    }
}

/// Median of a few timed runs of `f`, in milliseconds.
async fn time_ms<F, Fut>(runs: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        f().await;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// `seed <database-url>`: migrates the database, adds a team (password "benchmark password"), one
/// incident with a long timeline (printed: its key), and `BENCH_INCIDENTS` more incidents, for
/// benchmarking the pages of a running server.
async fn seed(url: &str, many: usize) {
    let db = Db::connect(&app::config::DatabaseUrl::parse(url).expect("database url")).await.expect("connect");
    db.migrate().await.expect("migrate");
    let ops = person(&db, "ops1", Role::Ops).await;
    let pm = person(&db, "pm1", Role::Pm).await;
    let dev = person(&db, "dev1", Role::Dev).await;
    let qa = person(&db, "qa1", Role::Qa).await;
    let id = engine::create_incident(&db, &ops, &incident(0), Utc::now()).await.unwrap().id;
    let mut version = 1;
    let mut run = vec![
        (ops.clone(), GateInput::TriageTechnical { pm_id: pm.id, note: "please look".into() }),
        (pm.clone(), GateInput::Dispatch { dev_id: dev.id, qa_id: qa.id, note: "urgent".into() }),
        (
            dev.clone(),
            GateInput::Propose { root_cause: "null price in cart".into(), solution: "guard and default".into() },
        ),
        (pm.clone(), GateInput::VerdictPm { optimal: true, pool: None }),
        (dev.clone(), GateInput::VerdictDev { optimal: true }),
    ];
    for round in 0..8 {
        run.push((
            dev.clone(),
            GateInput::SubmitForTest { changes: format!("attempt {round}"), reference: format!("PR #{round}") },
        ));
        run.push((qa.clone(), GateInput::TestFail { defect: format!("still failing in case {round}") }));
    }
    run.push((dev.clone(), GateInput::SubmitForTest { changes: "final".into(), reference: "PR #99".into() }));
    run.push((qa.clone(), GateInput::TestPass { notes: "all green".into() }));
    for (who, input) in run {
        engine::act(&db, &who, id, version, &input, Utc::now()).await.unwrap();
        version += 1;
    }
    let key: String = app::on_db!(&db, pool => sqlx::query_scalar("SELECT key FROM incidents WHERE id = $1").bind(id).fetch_one(pool).await.unwrap());
    bulk_load(&db, &ops, 1, many).await;
    // The clocks a running server would have started for them.
    app::clocks::store::adopt(&db, Utc::now()).await.unwrap();
    // And their search documents, which a server would otherwise add while it is measured.
    app::search::index::fill_missing(&db, std::time::Duration::ZERO).await.unwrap();
    app::on_db!(&db, pool => { sqlx::query("ANALYZE").execute(pool).await.unwrap(); });
    println!("{key}");
}

/// Inserts incidents numbered `from..to` in batches, bypassing the engine (for volume only).
async fn bulk_load(db: &Db, ops: &Actor, from: usize, to: usize) {
    let batch = 1_000;
    let mut created = from;
    while created < to {
        let mut tx = db.begin_write().await.unwrap();
        let n = batch.min(to - created);
        app::on_tx!(&mut tx, conn => {
            let mut sql = String::from(
                "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, external_ref, stage, ops_owner, created_by, created_at, updated_at, stage_entered_at) VALUES ",
            );
            for j in 0..n {
                let i = created + j;
                let inc = incident(i);
                if j > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('BENCH-{i:07}', '{}', '{}', '{}', '{}', '', '', '', 'reported', {}, {}, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
                    inc.title, inc.description, inc.severity.as_str(), inc.channel.as_str(), ops.id, ops.id
                ));
            }
            sqlx::query(&sql).execute(&mut *conn).await.unwrap();
        });
        tx.commit().await.unwrap();
        created += n;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("seed") {
        let url = std::env::args().nth(2).expect("seed <database-url>");
        let many: usize = std::env::var("BENCH_INCIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
        seed(&url, many).await;
        return;
    }
    let backend = match std::env::args().nth(1).as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let clients: usize = std::env::var("BENCH_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let many: usize = std::env::var("BENCH_INCIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let test_db = TestDb::create(backend).await.expect("database");
    let db = test_db.db.clone();
    let ops = person(&db, "ops1", Role::Ops).await;
    let pm = person(&db, "pm1", Role::Pm).await;
    // Chat channels receiving every hand-off: each action then also writes one message per channel.
    let channels: usize = std::env::var("BENCH_CHANNELS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    add_channels(&db, channels).await;

    // Gate actions: each client triages its own incidents (technical, to the PM), as fast as it can.
    let per_client = 2_000;
    let mut ids = Vec::new();
    for i in 0..clients * per_client / 2 {
        ids.push(engine::create_incident(&db, &ops, &incident(i), Utc::now()).await.unwrap().id);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (c, chunk) in ids.chunks(ids.len().div_ceil(clients)).enumerate() {
        let (db, ops, chunk) = (db.clone(), ops.clone(), chunk.to_vec());
        let pm_id = pm.id;
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            for id in chunk {
                if Instant::now() >= deadline {
                    break;
                }
                let input = GateInput::TriageTechnical { pm_id, note: format!("client {c}") };
                engine::act(&db, &ops, id, 1, &input, Utc::now()).await.unwrap();
                done += 1;
            }
            done
        }));
    }
    let start = Instant::now();
    let mut actions = 0;
    for task in tasks {
        actions += task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "| {backend} | gate actions, {clients} concurrent clients, {channels} chat channels | {:.0} /s ({actions} in {elapsed:.1} s) |",
        actions as f64 / elapsed
    );

    // Many incidents: bulk-load them, then time the list queries.
    let start = Instant::now();
    bulk_load(&db, &ops, ids.len(), many).await;
    println!("| {backend} | bulk load to {many} incidents | {:.1} s |", start.elapsed().as_secs_f64());
    // Fresh statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would give a live system.
    app::on_db!(&db, pool => { sqlx::query("ANALYZE").execute(pool).await.unwrap(); });
    let first = time_ms(7, || async {
        queries::list(&db, &IncidentFilter::default(), None, 50).await.unwrap();
    })
    .await;
    let page = queries::list(&db, &IncidentFilter::default(), None, 50).await.unwrap();
    let deep_before = page.items.last().unwrap().id - (many as i64 / 2);
    let deep = time_ms(7, || async {
        queries::list(&db, &IncidentFilter::default(), Some(deep_before), 50).await.unwrap();
    })
    .await;
    let filtered = IncidentFilter {
        stage: Some(app::workflow::rules::Stage::Reported),
        severity: Some(Severity::P0),
        ..Default::default()
    };
    let by_stage = time_ms(7, || async {
        queries::list(&db, &filtered, None, 50).await.unwrap();
    })
    .await;
    let text = IncidentFilter { text: Some("step 7".into()), ..Default::default() };
    let search = time_ms(7, || async {
        queries::list(&db, &text, None, 50).await.unwrap();
    })
    .await;
    println!("| {backend} | list, first page of 50 ({many} incidents) | {first:.2} ms |");
    println!("| {backend} | list, a page in the middle (keyset) | {deep:.2} ms |");
    println!("| {backend} | list filtered by stage and severity | {by_stage:.2} ms |");
    println!("| {backend} | list with text search (substring, no index) | {search:.2} ms |");
    clocks(&db, backend, &ops, many).await;
    test_db.destroy().await;
}

/// The stage clocks with `many` open incidents: starting the clocks of incidents that have none,
/// the scheduler's look for due notices when nothing is due, a burst of due notices, the queue.
async fn clocks(db: &Db, backend: Backend, ops: &Actor, many: usize) {
    use app::clocks::{notices, store};
    let start = Instant::now();
    let adopted = store::adopt(db, Utc::now()).await.unwrap();
    println!(
        "| {backend} | clocks started for {adopted} open incidents without one | {:.1} s |",
        start.elapsed().as_secs_f64()
    );
    app::on_db!(db, pool => { sqlx::query("ANALYZE").execute(pool).await.unwrap(); });
    let next = time_ms(21, || async {
        notices::next_due(db).await.unwrap();
    })
    .await;
    let idle = time_ms(21, || async {
        assert!(notices::run_due(db, Utc::now(), 100).await.unwrap().sent.is_empty());
    })
    .await;
    println!("| {backend} | scheduler: earliest due notice ({many} open clocks) | {next:.3} ms |");
    println!("| {backend} | scheduler: a pass with nothing due | {idle:.3} ms |");
    // The newest clocks: those of the bulk-loaded incidents, reported long ago, so every one of
    // them is past its thresholds and sends a notice.
    let burst = 1_000;
    let due_at = Utc::now() - chrono::Duration::seconds(1);
    app::on_db!(db, pool => sqlx::query(
        "UPDATE stage_clocks SET level = 0, next_due_at = $1 WHERE id IN \
         (SELECT id FROM stage_clocks WHERE stopped_at IS NULL ORDER BY id DESC LIMIT $2)",
    )
    .bind(due_at)
    .bind(burst)
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
    let start = Instant::now();
    let mut sent = 0;
    loop {
        let pass = notices::run_due(db, Utc::now(), 100).await.unwrap();
        if pass.claimed == 0 {
            break;
        }
        sent += pass.sent.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "| {backend} | scheduler: {sent} due notices (email, timeline, audit each) | {:.0} /s |",
        sent as f64 / elapsed
    );
    let queue = time_ms(3, || async {
        queries::my_queue(db, ops).await.unwrap();
    })
    .await;
    println!("| {backend} | queue of an ops user, {many} open incidents with clocks | {queue:.0} ms |");
}

/// Adds `n` webhook channels receiving stage hand-offs (never sent to: no sender runs here).
async fn add_channels(db: &Db, n: usize) {
    use app::chat::{sealed::SecretKey, store};
    if n == 0 {
        return;
    }
    let key = SecretKey::from_base64(&SecretKey::generate_base64()).unwrap();
    let origin = app::audit::store::Origin::system("bench");
    store::set_allowed_hosts(db, &origin, "hooks.example.com", Utc::now()).await.unwrap();
    for i in 0..n {
        let input = store::ChannelInput {
            name: format!("channel {i}"),
            kind: "webhook".into(),
            language: if i % 2 == 0 { "zh-CN".into() } else { "en".into() },
            events: vec!["stage_entered".into()],
            severities: Vec::new(),
            url: format!("https://hooks.example.com/{i}").into(),
            secret: String::new().into(),
            enabled: true,
        };
        store::create(db, Some(&key), &origin, &input, Utc::now()).await.unwrap();
    }
}
