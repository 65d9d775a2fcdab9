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
    let Db::Sqlite(pool) = &test_db.db else { panic!("expected SQLite") };
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

#[tokio::test]
async fn an_unreachable_postgres_url_fails_with_a_message_naming_database_url() {
    let url = app::config::DatabaseUrl::parse("postgres://nobody:secret@127.0.0.1:1/none").unwrap();
    let err = Db::connect(&url).await.unwrap_err().to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}
