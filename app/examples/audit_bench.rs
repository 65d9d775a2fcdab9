//! Measures the audit log with many entries: the admin page's first page and a page deep in the
//! log (with and without a filter), and chain verification throughput. Run through
//! `scripts/bench-audit.sh`, which passes the back end (`sqlite` or `postgres`).

use std::time::{Duration, Instant};

use app::{
    audit::{
        chain::{entry_hash, GENESIS},
        store::{self, Cursor, Query},
        AuditEntry, AuditFilter, VerifyReport,
    },
    config::Backend,
    db::Db,
    testing::TestDb,
};

const EVENTS: [&str; 5] = ["incident.action", "auth.login", "audit.viewed", "incident.claim", "user.updated"];

/// A realistic entry: a gate action by one of 50 users, with a few hundred bytes of details.
fn entry(seq: i64, prev_hash: &str) -> AuditEntry {
    let user = seq % 50;
    let mut e = AuditEntry {
        seq,
        at: format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00.000000Z",
            1 + (seq / 100_000) % 12,
            1 + (seq / 4000) % 28,
            (seq / 60) % 24,
            seq % 60
        ),
        actor_kind: "user".into(),
        actor_id: Some(user),
        actor_name: format!("user{user}"),
        actor_roles: "dev,qa".into(),
        client_addr: format!("10.0.{}.{}", user / 10, user % 250),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
            .into(),
        event: EVENTS[(seq % 5) as usize].into(),
        target_kind: "incident".into(),
        target: format!("INC-2026-{:04}", seq % 9000),
        outcome: if seq % 37 == 0 { "denied".into() } else { "ok".into() },
        details: format!(
            r#"{{"action":"test_pass","before":{{"stage":"testing","version":{seq}}},"after":{{"stage":"release_review","version":{}}},"input":{{"notes":"checked on staging, build 4.2.{}"}}}}"#,
            seq + 1,
            seq % 1000
        ),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    e.hash = entry_hash(&e);
    e
}

/// Appends `n` chained entries in batches, bypassing the per-entry lock (for volume only).
async fn load(db: &Db, n: i64) {
    let batch = 400;
    let mut prev = GENESIS.to_owned();
    let mut seq = 1;
    while seq <= n {
        let entries: Vec<AuditEntry> = (seq..(seq + batch).min(n + 1))
            .map(|s| {
                let e = entry(s, &prev);
                prev.clone_from(&e.hash);
                e
            })
            .collect();
        let mut tx = db.begin_write().await.unwrap();
        app::on_tx!(&mut tx, conn => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_name, actor_roles, client_addr, user_agent, \
                 event, target_kind, target, outcome, details, prev_hash, hash) ",
            );
            q.push_values(&entries, |mut b, e| {
                b.push_bind(e.seq)
                    .push_bind(&e.at)
                    .push_bind(&e.actor_kind)
                    .push_bind(e.actor_id)
                    .push_bind(&e.actor_name)
                    .push_bind(&e.actor_roles)
                    .push_bind(&e.client_addr)
                    .push_bind(&e.user_agent)
                    .push_bind(&e.event)
                    .push_bind(&e.target_kind)
                    .push_bind(&e.target)
                    .push_bind(&e.outcome)
                    .push_bind(&e.details)
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            q.build().execute(&mut *conn).await.unwrap();
        });
        tx.commit().await.unwrap();
        seq += batch;
    }
    app::on_db!(db, pool => { sqlx::query("ANALYZE").execute(pool).await.unwrap(); });
}

/// Mean and 99th percentile of `runs` calls of a page query.
async fn time_page(db: &Db, query: &Query, cursor: Cursor, runs: usize) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let page = store::page(db, query, cursor, 51).await.unwrap();
        times.push(start.elapsed());
        assert!(!page.is_empty());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / runs as u32;
    (mean, times[(runs * 99 / 100).min(runs - 1)])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backend = match std::env::args().nth(1).as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let n: i64 = std::env::var("BENCH_AUDIT_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let test_db = TestDb::create(backend).await.expect("benchmark database");
    let db = test_db.db.clone();
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let start = Instant::now();
    load(&db, n).await;
    let loaded = start.elapsed();
    println!("| {name} | load {n} entries (batched) | {:.1} s |", loaded.as_secs_f64());

    let all = Query::default();
    let (mean, p99) = time_page(&db, &all, Cursor::Before(None), 200).await;
    println!("| {name} | first page, no filter | mean {}, p99 {} |", ms(mean), ms(p99));
    let (mean, p99) = time_page(&db, &all, Cursor::Before(Some(100)), 200).await;
    println!("| {name} | page at entry 100 of {n} (deepest) | mean {}, p99 {} |", ms(mean), ms(p99));
    let by_event = Query::new(&AuditFilter { event: Some("incident.claim".into()), ..Default::default() }).unwrap();
    let (mean, p99) = time_page(&db, &by_event, Cursor::Before(None), 200).await;
    println!("| {name} | first page, event filter | mean {}, p99 {} |", ms(mean), ms(p99));
    let (mean, p99) = time_page(&db, &by_event, Cursor::Before(Some(1000)), 200).await;
    println!("| {name} | deepest page, event filter | mean {}, p99 {} |", ms(mean), ms(p99));
    let by_actor = Query::new(&AuditFilter { actor: Some("user7".into()), ..Default::default() }).unwrap();
    let (mean, p99) = time_page(&db, &by_actor, Cursor::Before(Some(n / 2)), 200).await;
    println!("| {name} | middle page, actor filter | mean {}, p99 {} |", ms(mean), ms(p99));

    let start = Instant::now();
    let report = store::verify(&db, None).await.unwrap();
    let took = start.elapsed();
    assert_eq!(report, VerifyReport::Verified { through: n, hash: store::head(&db).await.unwrap().unwrap().hash });
    println!(
        "| {name} | verify chain of {n} | {:.1} s, {:.0} entries/s |",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    test_db.destroy().await;
}
