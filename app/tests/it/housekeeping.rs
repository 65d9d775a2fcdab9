//! Housekeeping: ended sessions and stale throttle rows go after the retention period, nothing
//! else does; the intake rate is one bucket per source across instances.

use std::time::Duration;

use app::{
    auth::{
        sessions::{self, EndReason, Timeouts},
        throttle, Role,
    },
    db::Db,
    db_test,
    housekeeping::{purge, Purged, Retention},
    intake::{rate, store},
};
use chrono::{DateTime, Utc};

use crate::helpers::{count, person};

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

fn retention() -> Retention {
    Retention {
        after: Duration::from_secs(30 * 86_400),
        sessions: Timeouts { idle: Duration::from_secs(3600), absolute: Duration::from_secs(12 * 3600) },
    }
}

/// A session record opened at `at`, with its record id.
async fn session(db: &Db, user: i64, at: DateTime<Utc>) -> String {
    let mut tx = db.begin_write().await.unwrap();
    let token = sessions::create(&mut tx, user, "10.0.0.1", "test", at).await.unwrap();
    tx.commit().await.unwrap();
    token.record_id()
}

async fn exists(db: &Db, id: &str) -> bool {
    count(db, &format!("SELECT COUNT(*) FROM auth_sessions WHERE id = '{id}'")).await == 1
}

async fn fail_sign_in(db: &Db, key: &str, at: DateTime<Utc>, times: usize) {
    let mut tx = db.begin_write().await.unwrap();
    for _ in 0..times {
        throttle::record_failure(&mut tx, key, throttle::ACCOUNT_THRESHOLD, at).await.unwrap();
    }
    tx.commit().await.unwrap();
}

db_test!(async fn the_purge_deletes_only_what_ended_before_the_retention_period(ctx) {
    let db = &ctx.db;
    let user = person(db, "ops1", &[Role::Ops]).await.id;
    let now = Utc::now();
    let minute = chrono::Duration::minutes(1);

    let live = session(db, user, now - chrono::Duration::minutes(10)).await;
    // Ended (signed out) 29 days ago: kept. 31 days ago: purged.
    let ended_recently = session(db, user, now - days(29) - minute).await;
    sessions::end(db, &ended_recently, EndReason::Logout, now - days(29)).await.unwrap();
    let ended_long_ago = session(db, user, now - days(31) - minute).await;
    sessions::end(db, &ended_long_ago, EndReason::Logout, now - days(31)).await.unwrap();
    // Never revoked, last seen long ago: it ended an hour (the idle timeout) after that.
    let idle_within = session(db, user, now - days(30) + chrono::Duration::minutes(30)).await;
    let idle_past = session(db, user, now - days(30) - chrono::Duration::minutes(61)).await;
    // Active until recently, but opened more than 30 days and 12 hours ago: ended at its
    // absolute limit.
    let absolute_past = session(db, user, now - days(30) - chrono::Duration::hours(12) - minute).await;
    on_db_touch(db, &absolute_past, now - chrono::Duration::minutes(5)).await;

    fail_sign_in(db, "user:recent", now - days(29), 1).await;
    fail_sign_in(db, "user:old", now - days(31), 1).await;
    // Blocked long ago, for the longest block: its row outlived its window by 15 minutes.
    fail_sign_in(db, "user:blocked_old", now - days(31), 12).await;

    let audit_before = count(db, "SELECT COUNT(*) FROM audit_log").await;
    let purged = purge(db, now, retention()).await.unwrap();
    assert_eq!(purged, Purged { sessions: 3, throttles: 2 });
    for kept in [&live, &ended_recently, &idle_within] {
        assert!(exists(db, kept).await, "session {kept} is within retention");
    }
    for gone in [&ended_long_ago, &idle_past, &absolute_past] {
        assert!(!exists(db, gone).await, "session {gone} is past retention");
    }
    assert_eq!(count(db, "SELECT COUNT(*) FROM login_throttle WHERE key = 'user:recent'").await, 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM login_throttle").await, 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM audit_log").await, audit_before, "the audit log is never purged");
    // Nothing more to do a moment later.
    assert_eq!(purge(db, now + minute, retention()).await.unwrap(), Purged::default());
});

/// Sets a session's last request time (what an active user's requests do).
async fn on_db_touch(db: &Db, id: &str, at: DateTime<Utc>) {
    let mut tx = db.begin_write().await.unwrap();
    app::on_tx!(&mut tx, conn => sqlx::query("UPDATE auth_sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))
    .unwrap();
    tx.commit().await.unwrap();
}

db_test!(async fn the_intake_rate_is_one_limit_across_instances(ctx) {
    let origin = app::audit::store::Origin::system("test");
    store::create(&ctx.db, &origin, None, "Feedback", "other", Utc::now()).await.unwrap();
    let source: i64 = count(&ctx.db, "SELECT id FROM intake_sources WHERE name = 'Feedback'").await;
    // A second pool on the same database stands for a second server instance.
    let other = Db::connect(&ctx.url).await.unwrap();
    let t0 = Utc::now();
    let instances = [&ctx.db, &other, &ctx.db, &other];
    let verdicts: Vec<bool> = {
        let mut v = Vec::new();
        for db in instances {
            v.push(rate::check(db, source, 3, t0).await.unwrap().is_ok());
        }
        v
    };
    assert_eq!(verdicts, [true, true, true, false], "three a minute, whichever instance asks");
    let wait = rate::check(&other, source, 3, t0).await.unwrap().unwrap_err();
    assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
    assert!(rate::check(&ctx.db, source, 3, t0 + chrono::Duration::seconds(20)).await.unwrap().is_ok());
    assert!(rate::check(&other, source, 3, t0 + chrono::Duration::seconds(20)).await.unwrap().is_err());
    // Concurrent checks from both instances never grant more than the bucket holds.
    let t1 = t0 + chrono::Duration::minutes(5);
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let db = if n % 2 == 0 { ctx.db.clone() } else { other.clone() };
            tokio::spawn(async move { rate::check(&db, source, 3, t1).await.unwrap().is_ok() })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.unwrap());
    }
    assert_eq!(granted, 3);
    other.close().await;
});
