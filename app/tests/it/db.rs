//! Storage tests. Each `db_test!` runs on SQLite and on PostgreSQL.

use app::{
    config::Backend,
    db::{settings, Db},
    db_test,
    testing::TestDb,
};
use chrono::Utc;
use sqlx::Row;

db_test!(async fn migrations_are_applied_once_and_can_run_again(ctx) {
    ctx.db.migrate().await.expect("re-running migrations is a no-op");
    ctx.db.ping().await.expect("database answers");
    assert_eq!(settings::get(&ctx.db, "missing").await.unwrap(), None);
});

db_test!(async fn a_committed_setting_is_read_back(ctx) {
    let mut tx = ctx.db.begin_write().await.unwrap();
    settings::put(&mut tx, "greeting", "你好, Baton", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(settings::get(&ctx.db, "greeting").await.unwrap().as_deref(), Some("你好, Baton"));

    let mut tx = ctx.db.begin_write().await.unwrap();
    settings::put(&mut tx, "greeting", "hello", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(settings::get(&ctx.db, "greeting").await.unwrap().as_deref(), Some("hello"));
});

db_test!(async fn a_rolled_back_or_dropped_transaction_changes_nothing(ctx) {
    let mut tx = ctx.db.begin_write().await.unwrap();
    settings::put(&mut tx, "k", "v", Utc::now()).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(settings::get(&ctx.db, "k").await.unwrap(), None);

    {
        let mut tx = ctx.db.begin_write().await.unwrap();
        settings::put(&mut tx, "k", "v", Utc::now()).await.unwrap();
        // dropped here without commit, as when a request is cancelled mid-way
    }
    assert_eq!(settings::get(&ctx.db, "k").await.unwrap(), None);
});

db_test!(async fn a_connection_left_inside_a_transaction_is_never_handed_out_again(ctx) {
    // Whatever leaves a pooled connection inside a transaction (here a transaction that is never
    // dropped, so never rolled back), the next writer must get a clean connection: before the
    // pool checked, every later write on that connection failed with "begin_with at non-zero
    // transaction depth", and on PostgreSQL it would have run inside the leaked transaction.
    async fn leak<C: sqlx::Connection>(conn: &mut C) {
        std::mem::forget(conn.begin().await.expect("begin"))
    }
    match &ctx.db {
        // On SQLite the write transactions have a connection of their own: that is the one.
        Db::Sqlite(_, writer) => {
            let mut conn = writer.pool().acquire().await.unwrap();
            leak(&mut *conn).await;
            assert!(sqlx::Connection::is_in_transaction(&*conn));
        }
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await.unwrap();
            leak(&mut *conn).await;
            assert!(sqlx::Connection::is_in_transaction(&*conn));
        }
    }
    // Idle connections are handed out in turn: more writes than the pool holds (on SQLite, one)
    // reach that one.
    for i in 0..17 {
        let mut tx = ctx.db.begin_write().await.expect("a clean connection begins a write transaction");
        settings::put(&mut tx, &format!("after-leak-{i}"), "ok", Utc::now()).await.unwrap();
        tx.commit().await.expect("and commits it");
    }
    for i in 0..17 {
        let key = format!("after-leak-{i}");
        assert_eq!(settings::get(&ctx.db, &key).await.unwrap().as_deref(), Some("ok"), "{key} is committed");
    }
});

/// PostgreSQL only: SQLite has no connection to lose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_by_the_server_while_idle_is_replaced_before_use() {
    app::testing::run_on(Backend::Postgres, |ctx| async move { connection_dropped_while_idle(ctx).await }).await
}

async fn connection_dropped_while_idle(ctx: app::testing::TestContext) {
    // Connections are not pinged before every use (a round trip each); one idle for long is, so a
    // server restart or a dropped network connection costs no request.
    let idle_after = std::time::Duration::from_millis(200);
    let db = Db::connect_pinging_after(&ctx.url, idle_after).await.unwrap();
    let Db::Postgres(pool) = &db else { unreachable!() };
    let first: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(pool).await.unwrap();
    // Another session ends every connection of this pool, as a restarted server would.
    let Db::Postgres(other) = &ctx.db else { unreachable!() };
    let ended: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid = $1) t",
    )
    .bind(first)
    .fetch_one(other)
    .await
    .unwrap();
    assert_eq!(ended, 1, "the pool's connection was ended");
    tokio::time::sleep(idle_after * 2).await;
    let again: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("the next query gets a live connection");
    assert_ne!(again, first, "on a new connection");
    db.close().await;
}

db_test!(async fn concurrent_read_modify_write_transactions_lose_no_update(ctx) {
    // Each task reads the counter and writes it back plus one. With a deferred SQLite transaction
    // the read-then-write upgrade fails at once with SQLITE_BUSY; without a row lock on
    // PostgreSQL updates are lost. Both must come out exact.
    const WRITERS: usize = 24;
    let mut tx = ctx.db.begin_write().await.unwrap();
    settings::put(&mut tx, "counter", "0", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let db = ctx.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin_write().await?;
            let n: u64 = settings::get_for_update(&mut tx, "counter").await?.unwrap().parse().unwrap();
            tokio::task::yield_now().await;
            settings::put(&mut tx, "counter", &(n + 1).to_string(), Utc::now()).await?;
            tx.commit().await
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every writer commits");
    }
    assert_eq!(settings::get(&ctx.db, "counter").await.unwrap().as_deref(), Some(WRITERS.to_string().as_str()));
});

/// SQLite connection settings are per connection: check them on a pooled one.
#[tokio::test]
async fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let Db::Sqlite(pool, _) = &test_db.db else { panic!("expected SQLite") };
    let mut conn = pool.acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap().get(0);
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap().get(0);
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap().get(0);
    assert!(busy >= 5000, "busy_timeout is {busy} ms");
    drop(conn);
    test_db.destroy().await;
}

/// SQLite only. A write transaction's statements run on the task's own thread, but a wait for
/// another connection's write lock (here one outside this process's queue of writers, as another
/// process would hold it) must not: on this single-threaded runtime, waiting there would keep the
/// lock's holder from ever committing, and the writer would fail after the busy timeout with
/// "database is locked".
#[tokio::test]
async fn a_sqlite_writer_meeting_another_connections_lock_waits_off_the_runtime_thread() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let Db::Sqlite(pool, _) = &test_db.db else { panic!("expected SQLite") };
    let mut holder = pool.acquire().await.unwrap();
    let mut held = sqlx::Connection::begin_with(&mut *holder, "BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('k', 'first', $1)")
        .bind(Utc::now())
        .execute(&mut *held)
        .await
        .unwrap();

    let db = test_db.db.clone();
    let writer = tokio::spawn(async move {
        let mut tx = db.begin_write().await?;
        settings::put(&mut tx, "k", "second", Utc::now()).await?;
        tx.commit().await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the writer waits for the lock (it neither failed at once nor got it)");
    held.commit().await.unwrap();
    writer.await.unwrap().expect("the writer commits once the lock is free");
    assert_eq!(settings::get(&test_db.db, "k").await.unwrap().as_deref(), Some("second"));
    drop(holder);
    test_db.destroy().await;
}

/// SQLite only. Write transactions take turns on one connection of their own: they need none of
/// the readers' connections, and they keep one page cache (SQLite drops a connection's whole
/// cache when another connection has written since its last transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_take_turns_on_one_connection_of_their_own() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let Db::Sqlite(pool, _) = &test_db.db else { panic!("expected SQLite") };
    let mut readers = Vec::new();
    while readers.len() < pool.options().get_max_connections() as usize {
        readers.push(pool.acquire().await.unwrap());
    }
    // A temporary table exists on one connection only: each writer adds its row to it, and the
    // rows are all found together only if every writer ran on the same connection.
    let writers: Vec<_> = (0..8)
        .map(|i: i64| {
            let db = test_db.db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin_write().await?;
                app::on_tx!(&mut tx, conn => {
                    sqlx::query("CREATE TEMP TABLE IF NOT EXISTS turns (n BIGINT)").execute(&mut *conn).await?;
                    sqlx::query("INSERT INTO temp.turns (n) VALUES ($1)").bind(i).execute(&mut *conn).await?;
                });
                tx.commit().await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().expect("a writer commits while every reader's connection is taken");
    }
    let mut tx = test_db.db.begin_write().await.unwrap();
    let turns: i64 = app::on_tx!(&mut tx, conn => sqlx::query_scalar("SELECT count(DISTINCT n) FROM temp.turns")
        .fetch_one(conn)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(turns, 8, "every write transaction ran on the same connection");
    drop(readers);
    test_db.destroy().await;
}

/// SQLite only. The writer's commits never checkpoint the write-ahead log themselves (each queued
/// writer would wait for the copy and its `fsync`s); a checkpoint runs beside them once
/// enough write transactions have committed, and copies their pages into the database file,
/// which in WAL mode nothing else writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_run_beside_the_writer_once_enough_commits_are_made() {
    use app::db::checkpoint::COMMITS_PER_CHECKPOINT;
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let file = std::path::PathBuf::from(test_db.url.expose().trim_start_matches("sqlite://"));
    let mut tx = test_db.db.begin_write().await.unwrap();
    let automatic: i64 =
        app::on_tx!(&mut tx, conn => sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(conn).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(automatic, 0, "the writer's commits do not checkpoint");

    let before = std::fs::metadata(&file).unwrap().len();
    // Well under SQLite's own threshold (1,000 pages): only Baton's checkpoint copies these.
    let value = "x".repeat(16 * 1024);
    for i in 0..COMMITS_PER_CHECKPOINT {
        let mut tx = test_db.db.begin_write().await.unwrap();
        settings::put(&mut tx, &format!("large-{i}"), &value, Utc::now()).await.unwrap();
        tx.commit().await.unwrap();
    }
    let written = u64::from(COMMITS_PER_CHECKPOINT) * value.len() as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut size = before;
    while size < before + written && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        size = std::fs::metadata(&file).unwrap().len();
    }
    assert!(size >= before + written, "the database file grew from {before} to {size} bytes, not by {written}");
    test_db.destroy().await;
}

/// SQLite only. Inside a write transaction the statements run on the task's own thread, where
/// the driver never lets SQLite wait for a lock (the busy timeout reads 0 there); outside one
/// they run on the connection's thread, with the configured timeout.
#[tokio::test]
async fn sqlite_write_transactions_run_on_the_tasks_own_thread() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut tx = test_db.db.begin_write().await.unwrap();
    let inside: i64 =
        app::on_tx!(&mut tx, conn => sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(conn).await.unwrap());
    tx.commit().await.unwrap();
    let outside: i64 =
        app::on_db!(&test_db.db, pool => sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(pool).await.unwrap());
    assert_eq!(inside, 0, "inside a write transaction");
    assert!(outside >= 5000, "outside one: {outside} ms");
    test_db.destroy().await;
}

/// SQLite only. Statements outside a transaction (reports, exports, lists) stay on the
/// connection's thread: a long read must leave the runtime's thread free for other requests.
#[tokio::test]
async fn a_long_sqlite_read_leaves_the_runtime_thread_free() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    tokio::task::yield_now().await;
    let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
    let counted: i64 = app::on_db!(&test_db.db, pool => sqlx::query_scalar(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    // Read before this task yields again: ticks counted while the read ran, not after it.
    let during = ticks.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert_eq!(counted, 3_000_000);
    assert!(during >= 3, "the runtime's only thread ran other tasks during the read ({during} ticks)");
    ticker.abort();
    test_db.destroy().await;
}

#[tokio::test]
async fn an_unreachable_postgres_url_fails_with_a_message_naming_database_url() {
    let url = app::config::DatabaseUrl::parse("postgres://nobody:secret@127.0.0.1:1/none").unwrap();
    let err = Db::connect(&url).await.unwrap_err().to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

db_test!(async fn the_typed_facts_migration_keeps_every_row_and_lifts_the_facts_out_of_the_timeline(ctx) {
    use app::workflow::{input::UserConfirmation, queries, rules::Actor};
    // A database as the previous version left it, with one released incident and its email.
    let old = TestDb::create_until(ctx.db.backend(), Some(6)).await.expect("a database at migration 6");
    let db = &old.db;
    let now = Utc::now();
    let statements = [
        "INSERT INTO users (username, username_key, display_name, email, password_hash, created_at, updated_at) \
         VALUES ('pm1', 'pm1', 'PM One', 'pm1@example.com', 'x', $1, $1)",
        "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
         external_ref, stage, ops_owner, pm_owner, plan, release_version, created_by, created_at, updated_at, \
         stage_entered_at) VALUES ('INC-2026-0001', 'Checkout', 'd', 'p1', 'email', '', '', '', 'reporting', 1, 1, \
         'interim', '2.4.1', 1, $1, $1, $1)",
        r#"INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields)
           VALUES (1, $1, 1, 'dev', 'propose', 'investigating', 'solution_review',
                   '{"action":"propose","root_cause":"old cause","solution":"old fix"}')"#,
        r#"INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields)
           VALUES (1, $1, 1, 'dev', 'propose', 'investigating', 'solution_review',
                   '{"action":"propose","root_cause":"null price","solution":"default to 0"}')"#,
        r#"INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields)
           VALUES (1, $1, 1, 'dev', 'mark_released', 'releasing', 'verifying',
                   '{"action":"mark_released","version":"2.4.1","deployed_at":"2026-11-26T18:00"}')"#,
        r#"INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields)
           VALUES (1, $1, 1, 'ops', 'confirm_followup', 'user_followup', 'reporting',
                   '{"action":"confirm_followup","reply":"fixed","confirmation":"no_answer"}')"#,
        "INSERT INTO outbox (kind, incident_id, recipients, subject, body_text, body_html, language, status, \
         next_attempt_at, created_at) VALUES ('notification', 1, '[\"pm1@example.com\"]', 's', 't', 'h', 'en', \
         'sent', $1, $1)",
    ];
    for sql in statements {
        app::on_db!(db, pool => sqlx::query(sql).bind(now).execute(pool).await.map(|_| ()).unwrap());
    }

    db.migrate().await.expect("migration 7 applies to existing data");

    let pm = Actor { id: 1, roles: vec![app::auth::Role::Pm], ..Default::default() };
    let detail = queries::detail(db, "INC-2026-0001", &pm).await.unwrap();
    let f = &detail.facts;
    assert_eq!((f.root_cause.as_str(), f.solution.as_str()), ("null price", "default to 0"), "the latest proposal");
    assert_eq!(f.deployed_at.as_deref(), Some("2026-11-26T18:00:00+00:00"));
    assert_eq!((f.user_reply.as_str(), f.user_confirmation), ("fixed", Some(UserConfirmation::NoAnswer)));
    assert_eq!(detail.timeline.len(), 4, "every timeline entry survives the rebuild");
    let emails: i64 = app::on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE incident_id = 1")
        .fetch_one(pool)
        .await
        .unwrap());
    assert_eq!(emails, 1, "the outbox survives the rebuild");
    if let Db::Sqlite(pool, _) = db {
        let broken = sqlx::query("PRAGMA foreign_key_check").fetch_all(pool).await.unwrap();
        assert!(broken.is_empty(), "no dangling reference after the rebuild");
    }
    old.destroy().await;
});

db_test!(async fn the_audit_head_migration_continues_the_existing_chain(ctx) {
    use app::audit::{
        event,
        store::{self, Origin, Record},
        VerifyReport,
    };
    if ctx.db.backend() != Backend::Postgres {
        return; // The head row exists on PostgreSQL only; SQLite's write lock serialises appends.
    }
    // A log of two entries, appended by the previous version.
    let old = TestDb::create_until(ctx.db.backend(), Some(8)).await.expect("a database at migration 8");
    let db = &old.db;
    let origin = Origin::system("test");
    for (seq, prev, hash) in [(1, "0".repeat(64), "a".repeat(64)), (2, "a".repeat(64), "b".repeat(64))] {
        app::on_db!(db, pool => sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_name, actor_roles, client_addr, user_agent, \
             event, target_kind, target, outcome, details, prev_hash, hash) \
             VALUES ($1, '2026-11-30T00:00:00.000000Z', 'system', NULL, 'test', '', '', '', 'settings.changed', '', '', \
             'ok', '{}', $2, $3)",
        )
        .bind(seq)
        .bind(prev)
        .bind(hash)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    }

    db.migrate().await.expect("migration 9 applies to an existing log");
    let seq = Record::new(&origin, event::SETTINGS_CHANGED).record(db, Utc::now()).await.unwrap();
    assert_eq!(seq, 3, "the next entry follows the last one");
    let entries = crate::helpers::audit_entries(db).await;
    assert_eq!(entries.last().unwrap().prev_hash, "b".repeat(64), "and links to it");
    // The two hand-made entries do not verify (their hashes are fake); the new one links anyway.
    assert!(matches!(store::verify(db, None).await.unwrap(), VerifyReport::Broken { at: 1, .. }));
    old.destroy().await;
});

/// The planner keeps statistics (`PRAGMA optimize` on open) without STAT4, whose histograms make
/// SQLite prepare statements again on every bind.
#[tokio::test]
async fn sqlite_gathers_planner_statistics_on_open_without_stat4() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let Db::Sqlite(pool, _) = &test_db.db else { panic!("expected SQLite") };
    let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options").fetch_all(pool).await.unwrap();
    assert!(!options.iter().any(|o| o == "ENABLE_STAT4"), "SQLite is built with STAT4: {options:?}");
    let limit: i64 = sqlx::query_scalar("PRAGMA analysis_limit").fetch_one(pool).await.unwrap();
    assert_eq!(limit, 400);

    // A table grown without statistics, as a live installation's is, has them after the refresh
    // the server runs at start-up.
    let mut tx = test_db.db.begin_write().await.unwrap();
    for i in 0..2_000 {
        settings::put(&mut tx, &format!("key {i}"), "value", Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let stat1 = || async {
        let Db::Sqlite(pool, _) = &test_db.db else { unreachable!() };
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(stat1().await, 0, "no statistics before the refresh");
    test_db.db.refresh_statistics().await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'settings'")
        .fetch_one(pool)
        .await
        .expect("sqlite_stat1 exists after the refresh");
    assert!(rows > 0, "settings has statistics");

    // And when the pool retires a connection (here: all of them, at close).
    sqlx::query("DROP TABLE sqlite_stat1").execute(pool).await.unwrap();
    test_db.db.close().await;
    let reopened = Db::connect(&test_db.url).await.unwrap();
    let Db::Sqlite(pool, _) = &reopened else { panic!("expected SQLite") };
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'settings'")
        .fetch_one(pool)
        .await
        .expect("sqlite_stat1 exists after the close");
    assert!(rows > 0, "settings has statistics again");
    reopened.close().await;
    test_db.destroy().await;
}
