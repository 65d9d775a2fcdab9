//! Sign-in throttling per account and per client address, kept in the database so that every
//! server instance sees the same counts.
//!
//! A key may fail `threshold` times within the window freely; each further failure blocks it for
//! a doubling delay (30 s, 60 s, ... up to 15 min). A success clears the account's key.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    db::{Db, DbError, WriteTx},
    on_db, on_tx,
};

/// Free failures per account within the window.
pub const ACCOUNT_THRESHOLD: i64 = 5;
/// Free failures per client address within the window (addresses may be shared, e.g. an office).
pub const ADDRESS_THRESHOLD: i64 = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);
const FIRST_BLOCK: Duration = Duration::from_secs(30);
const LONGEST_BLOCK: Duration = Duration::from_secs(15 * 60);

/// The throttle key of an account.
pub fn account_key(username_key: &str) -> String {
    format!("user:{username_key}")
}

/// The throttle key of a client address.
pub fn address_key(addr: &str) -> String {
    format!("addr:{addr}")
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Seconds until every one of `keys` may try again; `None` when none is blocked.
pub async fn blocked_for(db: &Db, keys: &[String], now: DateTime<Utc>) -> Result<Option<u64>, DbError> {
    let mut longest: Option<u64> = None;
    for key in keys {
        let until: Option<i64> = on_db!(db, pool => sqlx::query_scalar("SELECT blocked_until_ms FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?);
        if let Some(until) = until {
            let wait_ms = until - millis(now);
            if wait_ms > 0 {
                let secs = (wait_ms as u64).div_ceil(1000);
                longest = Some(longest.map_or(secs, |l| l.max(secs)));
            }
        }
    }
    Ok(longest)
}

/// Counts a failed sign-in against `key`, blocking it once past `threshold`; returns the seconds
/// of the block this failure set, if it set one.
pub async fn record_failure(
    tx: &mut WriteTx,
    key: &str,
    threshold: i64,
    now: DateTime<Utc>,
) -> Result<Option<u64>, DbError> {
    let now_ms = millis(now);
    let current = match tx {
        WriteTx::Sqlite(tx) => {
            sqlx::query_as::<_, ThrottleRow>("SELECT failures, window_start_ms FROM login_throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?
        }
        WriteTx::Postgres(tx) => {
            sqlx::query_as::<_, ThrottleRow>(
                "SELECT failures, window_start_ms FROM login_throttle WHERE key = $1 FOR UPDATE",
            )
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?
        }
    };
    let (failures, window_start) = match current {
        Some(row) if now_ms - row.window_start_ms < WINDOW.as_millis() as i64 => {
            (row.failures + 1, row.window_start_ms)
        }
        _ => (1, now_ms),
    };
    let blocked_until = if failures > threshold {
        let doublings = (failures - threshold - 1).min(10) as u32;
        let block = FIRST_BLOCK.saturating_mul(2u32.pow(doublings)).min(LONGEST_BLOCK);
        now_ms + block.as_millis() as i64
    } else {
        0
    };
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO login_throttle (key, failures, window_start_ms, blocked_until_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start_ms = excluded.window_start_ms, \
         blocked_until_ms = excluded.blocked_until_ms",
    )
    .bind(key)
    .bind(failures)
    .bind(window_start)
    .bind(blocked_until)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok((blocked_until > 0).then(|| ((blocked_until - now_ms) as u64).div_ceil(1000)))
}

/// The failures counted against a key in its current window.
#[derive(sqlx::FromRow)]
struct ThrottleRow {
    failures: i64,
    window_start_ms: i64,
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(tx: &mut WriteTx, key: &str) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(conn).await.map(|_| ()))?;
    Ok(())
}
