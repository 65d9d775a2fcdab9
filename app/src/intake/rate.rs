//! A token bucket per intake source, kept in the database.
//!
//! Each source may deliver `per_minute` reports a minute on average, in bursts of up to
//! `per_minute`. The bucket is a row read and written in one short transaction (locked for update
//! on PostgreSQL), so several server instances on one database grant the rate together: the
//! N+1-th report of a burst is refused whichever instance receives it. A restart changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    db::{Db, DbError, WriteTx},
    on_tx,
};

/// A bucket's content at a moment.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// Refills `bucket` up to `now_ms` and takes one token: the bucket after, and how long to wait
/// when there was no token to take.
fn take(bucket: Bucket, now_ms: i64, per_minute: u32) -> (Bucket, Result<(), Duration>) {
    let capacity = f64::from(per_minute.max(1));
    let per_ms = capacity / 60_000.0;
    // Instances' clocks may differ a little: time never runs backwards for a bucket.
    let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
    let tokens = (bucket.tokens + elapsed * per_ms).min(capacity);
    let at_ms = now_ms.max(bucket.at_ms);
    if tokens >= 1.0 {
        (Bucket { tokens: tokens - 1.0, at_ms }, Ok(()))
    } else {
        (Bucket { tokens, at_ms }, Err(Duration::from_secs_f64((1.0 - tokens) / per_ms / 1000.0)))
    }
}

/// Takes one report from `source`'s bucket at `now`, or says how long to wait.
pub async fn check(db: &Db, source: i64, per_minute: u32, now: DateTime<Utc>) -> Result<Result<(), Duration>, DbError> {
    let now_ms = now.timestamp_millis();
    let mut tx = db.begin_write().await?;
    let bucket = load(&mut tx, source, f64::from(per_minute.max(1)), now_ms).await?;
    let (after, verdict) = take(bucket, now_ms, per_minute);
    on_tx!(&mut tx, conn => sqlx::query("UPDATE intake_rate SET tokens = $1, at_ms = $2 WHERE source_id = $3")
        .bind(after.tokens)
        .bind(after.at_ms)
        .bind(source)
        .execute(conn)
        .await
        .map(|_| ()))?;
    tx.commit().await?;
    Ok(verdict)
}

/// The bucket of `source`, created full when missing, locked until the transaction ends.
async fn load(tx: &mut WriteTx, source: i64, capacity: f64, now_ms: i64) -> Result<Bucket, DbError> {
    on_tx!(&mut *tx, conn => sqlx::query(
        "INSERT INTO intake_rate (source_id, tokens, at_ms) VALUES ($1, $2, $3) ON CONFLICT (source_id) DO NOTHING",
    )
    .bind(source)
    .bind(capacity)
    .bind(now_ms)
    .execute(conn)
    .await
    .map(|_| ()))?;
    // SQLite's write transaction already excludes every other writer; PostgreSQL locks the row.
    let (tokens, at_ms): (f64, i64) = match tx {
        WriteTx::Sqlite(tx) => {
            sqlx::query_as("SELECT tokens, at_ms FROM intake_rate WHERE source_id = $1")
                .bind(source)
                .fetch_one(&mut **tx)
                .await?
        }
        WriteTx::Postgres(tx) => {
            sqlx::query_as("SELECT tokens, at_ms FROM intake_rate WHERE source_id = $1 FOR UPDATE")
                .bind(source)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    Ok(Bucket { tokens, at_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_waits() {
        let mut bucket = Bucket { tokens: 3.0, at_ms: 0 };
        for _ in 0..3 {
            let (after, verdict) = take(bucket, 0, 3);
            assert!(verdict.is_ok());
            bucket = after;
        }
        let (after, verdict) = take(bucket, 0, 3);
        let wait = verdict.unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        let (after, verdict) = take(after, 20_000, 3);
        assert!(verdict.is_ok(), "one report back after 20 s");
        assert!(take(after, 20_000, 3).1.is_err());
        // A clock behind the last writer's neither refills nor rewinds the bucket.
        let (behind, verdict) = take(Bucket { tokens: 0.5, at_ms: 60_000 }, 30_000, 3);
        assert!(verdict.is_err());
        assert_eq!(behind, Bucket { tokens: 0.5, at_ms: 60_000 });
    }
}
