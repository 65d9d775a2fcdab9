//! Purging records that only mattered for a while: ended session records and stale sign-in
//! throttle rows, once they are older than the retention period (`BATON_PURGE_AFTER`).
//!
//! A session record is kept while it may still be presented, and for the retention period after
//! it ended (signed out, revoked, or expired by its idle or absolute timeout), so an admin can
//! still see recent sessions. A throttle row is kept while its window or block runs, and for the
//! retention period after. The audit log, which records every sign-in and session end, is never
//! purged here: it is the lasting record.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    auth::sessions::Timeouts,
    db::{Db, DbError},
    on_tx,
};

/// What a purge keeps.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// How long an ended record is kept after it ended.
    pub after: Duration,
    /// The session timeouts in force: a session with no request for `idle` has ended.
    pub sessions: Timeouts,
}

/// How many records a purge deleted, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Session records.
    pub sessions: u64,
    /// Sign-in throttle rows.
    pub throttles: u64,
}

/// The longest a throttle row matters after its window started (its window or its longest
/// block, whichever ends later).
const THROTTLE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Deletes what ended more than `retention.after` before `now`, in one short transaction.
pub async fn purge(db: &Db, now: DateTime<Utc>, retention: Retention) -> Result<Purged, DbError> {
    // Nothing here is older than 1970: an absurdly long retention keeps everything.
    let before = |d: Duration| {
        chrono::Duration::from_std(d).ok().and_then(|d| now.checked_sub_signed(d)).unwrap_or(DateTime::UNIX_EPOCH)
    };
    let cutoff = before(retention.after);
    // A session not revoked ended when it went idle or reached its absolute limit, whichever
    // came first; it is past retention when either of those lies before the cut-off.
    let idle_cutoff = before(retention.after.saturating_add(retention.sessions.idle));
    let absolute_cutoff = before(retention.after.saturating_add(retention.sessions.absolute));
    let throttle_cutoff_ms = before(retention.after.saturating_add(THROTTLE_LIFETIME)).timestamp_millis();
    let mut tx = db.begin_write().await?;
    // SQLite keeps times as text; julianday() compares them whatever their offset notation.
    let sessions = on_tx!(&mut tx, conn => {
        let sql = if matches!(db.backend(), crate::config::Backend::Sqlite) {
            "DELETE FROM auth_sessions WHERE (revoked_at IS NOT NULL AND julianday(revoked_at) < julianday($1)) \
             OR (revoked_at IS NULL AND (julianday(last_seen_at) < julianday($2) OR julianday(created_at) < julianday($3)))"
        } else {
            "DELETE FROM auth_sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1) \
             OR (revoked_at IS NULL AND (last_seen_at < $2 OR created_at < $3))"
        };
        sqlx::query(sql)
            .bind(cutoff)
            .bind(idle_cutoff)
            .bind(absolute_cutoff)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    let throttles = on_tx!(&mut tx, conn => sqlx::query(
        "DELETE FROM login_throttle WHERE window_start_ms < $1 AND blocked_until_ms < $1",
    )
    .bind(throttle_cutoff_ms)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(Purged { sessions, throttles })
}
