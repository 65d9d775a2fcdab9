//! Measures the reports page's figures over many closed incidents with realistic timelines.
//!
//! `reports_bench sqlite|postgres` seeds a fresh database with `BENCH_INCIDENTS` (default
//! 100,000) closed incidents spread over the past year, each with the timeline and stage clocks
//! the engine writes (a tenth of them with a failed test and a second fix round), then times the
//! figures of the default range (twelve weeks) and of the longest (a year), with and without
//! filters, and the drawing of the charts.
//!
//! `reports_bench seed <database-url>` seeds an existing database the same way (with a PM `pm1`,
//! password "benchmark password") for timing the page of a running server.

use std::time::Instant;

use app::{
    auth::{password::PasswordHasher, Role},
    config::{Backend, DatabaseUrl},
    db::Db,
    insight::{server, stats},
    testing::TestDb,
    users::bootstrap::{self, CliUser},
    workflow::input::{Channel, Severity},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};

async fn person(db: &Db, name: &str, role: Role) -> i64 {
    let user = CliUser {
        username: name.into(),
        display_name: name.into(),
        email: format!("{name}@example.com"),
        language: "en".into(),
        roles: vec![role],
        password: "benchmark password".into(),
        must_change: false,
    };
    bootstrap::create_user(db, &PasswordHasher::new(1), user).await.unwrap()
}

/// The people of the seeded team: (ops, pms, devs, qas).
struct Team {
    ops: Vec<i64>,
    pms: Vec<i64>,
    devs: Vec<i64>,
    qas: Vec<i64>,
}

/// A small deterministic generator: the same history on every run and on both databases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Minutes, spread between `lo` and `hi`.
    fn minutes(&mut self, lo: i64, hi: i64) -> Duration {
        Duration::minutes(lo + (self.next() % (hi - lo + 1) as u64) as i64)
    }

    fn pick(&mut self, from: &[i64]) -> i64 {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// One stay: (stage, role acting at its end, action ending it, started, stopped).
type Stay = (&'static str, &'static str, &'static str, DateTime<Utc>, DateTime<Utc>);

/// The stays of one incident reported at `start`: the whole process, with a failed test (and a
/// second fix round) when `rework`.
fn stays(start: DateTime<Utc>, rework: bool, rng: &mut Rng) -> Vec<Stay> {
    let mut plan: Vec<(&'static str, &'static str, &'static str, Duration)> = vec![
        ("reported", "ops", "triage_technical", rng.minutes(2, 90)),
        ("awaiting_pm", "pm", "dispatch", rng.minutes(5, 240)),
        ("investigating", "dev", "propose", rng.minutes(30, 1440)),
        ("solution_review", "dev", "verdict_dev", rng.minutes(10, 480)),
        ("fixing", "dev", "submit_for_test", rng.minutes(60, 2880)),
    ];
    if rework {
        plan.push(("testing", "qa", "test_fail", rng.minutes(30, 600)));
        plan.push(("fixing", "dev", "submit_for_test", rng.minutes(30, 1440)));
    }
    plan.extend([
        ("testing", "qa", "test_pass", rng.minutes(30, 600)),
        ("release_review", "pm", "approve_release", rng.minutes(10, 480)),
        ("releasing", "dev", "mark_released", rng.minutes(30, 1440)),
        ("verifying", "qa", "regression_pass", rng.minutes(10, 240)),
        ("user_followup", "ops", "confirm_followup", rng.minutes(30, 2880)),
        ("reporting", "pm", "send_report", rng.minutes(30, 1440)),
    ]);
    let mut at = start;
    plan.into_iter()
        .map(|(stage, role, action, took)| {
            let stay = (stage, role, action, at, at + took);
            at += took;
            stay
        })
        .collect()
}

/// Inserts `many` closed incidents reported over the year before `end`, in batches.
async fn seed_history(db: &Db, team: &Team, many: usize, end: DateTime<Utc>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let year = Duration::days(365);
    let batch = 200;
    let mut done = 0;
    while done < many {
        let n = batch.min(many - done);
        let mut tx = db.begin_write().await.unwrap();
        for j in 0..n {
            let i = done + j;
            let start = end - year + Duration::seconds(year.num_seconds() * i as i64 / many as i64);
            let rework = i % 10 == 0;
            let stays = stays(start, rework, &mut rng);
            let closed = stays.last().unwrap().4;
            let (ops, pm, dev, qa) =
                (rng.pick(&team.ops), rng.pick(&team.pms), rng.pick(&team.devs), rng.pick(&team.qas));
            let severity = Severity::ALL[(rng.next() % 4) as usize].as_str();
            let channel = Channel::ALL[(rng.next() % 5) as usize].as_str();
            let plan = if i % 7 == 0 { "interim" } else { "optimal" };
            let id: i64 = app::on_tx!(&mut tx, conn => sqlx::query_scalar(
                "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
                 external_ref, stage, ops_owner, pm_owner, dev_owner, qa_owner, fix_round, plan, resolution, \
                 created_by, created_at, updated_at, stage_entered_at) \
                 VALUES ($1, $2, 'd', $3, $4, '', '', '', 'closed', $5, $6, $7, $8, $9, $10, 'fixed', $5, $11, $12, $12) \
                 RETURNING id",
            )
            .bind(format!("BENCH-{i:07}"))
            .bind(format!("Checkout error {i}"))
            .bind(severity)
            .bind(channel)
            .bind(ops)
            .bind(pm)
            .bind(dev)
            .bind(qa)
            .bind(i64::from(rework))
            .bind(plan)
            .bind(start)
            .bind(closed)
            .fetch_one(&mut *conn)
            .await
            .unwrap());
            let actor = |role: &str| match role {
                "ops" => ops,
                "pm" => pm,
                "dev" => dev,
                _ => qa,
            };
            app::on_tx!(&mut tx, conn => {
                let mut timeline = sqlx::QueryBuilder::new(
                    "INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields) ",
                );
                let mut rows = vec![(start, ops, "ops", "create", "reported", "reported")];
                for (k, (stage, role, action, _, stopped)) in stays.iter().enumerate() {
                    let next = stays.get(k + 1).map_or("closed", |s| s.0);
                    rows.push((*stopped, actor(role), role, action, stage, next));
                }
                timeline.push_values(rows, |mut b, (at, who, role, action, from, to)| {
                    b.push_bind(id).push_bind(at).push_bind(who).push_bind(role).push_bind(action)
                        .push_bind(from).push_bind(to).push_bind("{}");
                });
                timeline.build().execute(&mut *conn).await.unwrap();
                let mut clocks = sqlx::QueryBuilder::new(
                    "INSERT INTO stage_clocks (incident_id, stage, severity, started_at, stopped_at, target_seconds, \
                     basis, escalate_pct, spent_seconds, level, held_seconds, ended_by, ended_role) ",
                );
                clocks.push_values(stays.iter(), |mut b, (stage, role, _, started, stopped)| {
                    let spent = (*stopped - *started).num_seconds();
                    // A target of four hours: the long stays breached it.
                    let level: i64 = if spent > 4 * 3600 {
                        2
                    } else if spent > 3 * 3600 {
                        1
                    } else {
                        0
                    };
                    b.push_bind(id)
                        .push_bind(*stage)
                        .push_bind(severity)
                        .push_bind(*started)
                        .push_bind(*stopped)
                        .push_bind(4 * 3600_i64)
                        .push_bind("wall")
                        .push_bind(200_i64)
                        .push_bind(spent)
                        .push_bind(level)
                        .push_bind(spent)
                        .push_bind(actor(role))
                        .push_bind(*role);
                });
                clocks.build().execute(&mut *conn).await.unwrap();
            });
        }
        tx.commit().await.unwrap();
        done += n;
    }
    app::on_db!(db, pool => { sqlx::query("ANALYZE").execute(pool).await.unwrap(); });
}

async fn team(db: &Db) -> Team {
    let mut t = Team { ops: Vec::new(), pms: Vec::new(), devs: Vec::new(), qas: Vec::new() };
    for (list, role, prefix, n) in [
        (&mut t.ops, Role::Ops, "ops", 4),
        (&mut t.pms, Role::Pm, "pm", 3),
        (&mut t.devs, Role::Dev, "dev", 8),
        (&mut t.qas, Role::Qa, "qa", 4),
    ] {
        for k in 1..=n {
            list.push(person(db, &format!("{prefix}{k}"), role).await);
        }
    }
    t
}

/// Median of `runs` timings of the figures for `query`, in milliseconds, and the incidents in it.
async fn time_figures(db: &Db, query: &server::ReportQuery, today: NaiveDate, runs: usize) -> (f64, i64, f64) {
    let (_, _, range, weeks) = server::range_of(query, "Asia/Shanghai", today).unwrap();
    let mut samples = Vec::new();
    let mut figures = None;
    for _ in 0..runs {
        let start = Instant::now();
        figures = Some(stats::figures(db, &range, &weeks, today).await.unwrap());
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let figures = figures.unwrap();
    let start = Instant::now();
    let charts = server::charts(&figures, app::i18n::Locale::ZhCn.strings());
    let draw = start.elapsed().as_secs_f64() * 1000.0;
    assert!(!charts.stages.is_empty() && !charts.weeks.is_empty());
    (samples[samples.len() / 2], figures.counts.reported, draw)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let many: usize = std::env::var("BENCH_INCIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let end = Utc::now();
    if std::env::args().nth(1).as_deref() == Some("seed") {
        let url = std::env::args().nth(2).expect("seed <database-url>");
        let db = Db::connect(&DatabaseUrl::parse(&url).expect("database url")).await.expect("connect");
        db.migrate().await.expect("migrate");
        let t = team(&db).await;
        seed_history(&db, &t, many, end).await;
        return;
    }
    let backend = match std::env::args().nth(1).as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let test_db = TestDb::create(backend).await.expect("database");
    let db = test_db.db.clone();
    let t = team(&db).await;
    let start = Instant::now();
    seed_history(&db, &t, many, end).await;
    println!("| {backend} | seed {many} closed incidents | {:.1} s |", start.elapsed().as_secs_f64());
    let today = end.date_naive();
    let twelve = server::ReportQuery::default();
    let year = server::ReportQuery {
        from: Some((today - Duration::days(365)).format("%Y-%m-%d").to_string()),
        to: Some(today.format("%Y-%m-%d").to_string()),
        ..Default::default()
    };
    let p1_sms = server::ReportQuery { severity: Some("p1".into()), channel: Some("sms".into()), ..Default::default() };
    for (name, query) in [("12 weeks", &twelve), ("one year", &year), ("12 weeks, P1 by SMS", &p1_sms)] {
        let (ms, n, draw) = time_figures(&db, query, today, 5).await;
        println!("| {backend} | report figures, {name} ({n} incidents) | {ms:.0} ms | charts {draw:.2} ms |");
    }
    test_db.destroy().await;
}
