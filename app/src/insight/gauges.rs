//! Figures about the installation's current state, read from the database for the metrics
//! endpoint: they are the same whichever instance is asked.

use chrono::{DateTime, Utc};

use crate::{
    db::{Db, DbError},
    on_db,
};

/// The outbox series reported, each set every scrape (a zero is reported, not left out):
/// delivered messages are counted by the senders instead, since the outbox keeps them all.
pub const OUTBOX_SERIES: &[(&str, &str)] = &[
    ("email", "queued"),
    ("email", "sending"),
    ("email", "failed"),
    ("email", "not_configured"),
    ("chat", "queued"),
    ("chat", "sending"),
    ("chat", "failed"),
];

/// Outbox messages of one transport and status.
#[derive(Debug, sqlx::FromRow)]
pub struct OutboxCount {
    /// `email` or `chat`.
    pub transport: String,
    /// The outbox status.
    pub status: String,
    /// How many.
    pub count: i64,
}

/// Open incidents of one stage and severity.
#[derive(Debug, sqlx::FromRow)]
pub struct OpenCount {
    /// The stage's stored name.
    pub stage: String,
    /// `p0` to `p3`.
    pub severity: String,
    /// How many.
    pub count: i64,
}

/// Running stage clocks past each notice.
#[derive(Debug, Default)]
pub struct ClockCounts {
    /// Past the reminder (75 % of the target), not yet breached.
    pub at_risk: i64,
    /// Past the target, not yet escalated.
    pub breached: i64,
    /// Past the escalation threshold.
    pub escalated: i64,
}

/// Everything [`read`] returns.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Undelivered outbox messages by transport and status.
    pub outbox: Vec<OutboxCount>,
    /// Per transport, the age in seconds of the oldest message still waiting to go.
    pub oldest_queued: Vec<(String, f64)>,
    /// Open incidents by stage and severity.
    pub open: Vec<OpenCount>,
    /// Running clocks past a threshold.
    pub clocks: ClockCounts,
}

/// Reads the figures; each query is served by an index (outbox status, incident stage, the
/// running clocks).
pub async fn read(db: &Db, now: DateTime<Utc>) -> Result<Gauges, DbError> {
    let outbox: Vec<OutboxCount> = on_db!(db, pool => sqlx::query_as(
        "SELECT transport, status, COUNT(*) AS count FROM outbox \
         WHERE status IN ('queued', 'sending', 'failed', 'not_configured') GROUP BY transport, status",
    )
    .fetch_all(pool)
    .await)?;
    let oldest: Vec<(String, Option<DateTime<Utc>>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT transport, MIN(created_at) FROM outbox WHERE status IN ('queued', 'sending') GROUP BY transport",
    )
    .fetch_all(pool)
    .await)?;
    let open: Vec<OpenCount> = on_db!(db, pool => sqlx::query_as(
        "SELECT stage, severity, COUNT(*) AS count FROM incidents WHERE stage <> 'closed' GROUP BY stage, severity",
    )
    .fetch_all(pool)
    .await)?;
    let levels: Vec<(i64, i64)> = on_db!(db, pool => sqlx::query_as(
        "SELECT CAST(level AS BIGINT), COUNT(*) FROM stage_clocks WHERE stopped_at IS NULL AND level > 0 GROUP BY level",
    )
    .fetch_all(pool)
    .await)?;
    let level = |n: i64| levels.iter().find(|(l, _)| *l == n).map_or(0, |(_, c)| *c);
    Ok(Gauges {
        outbox,
        oldest_queued: oldest
            .into_iter()
            .filter_map(|(t, at)| at.map(|at| (t, (now - at).num_milliseconds().max(0) as f64 / 1000.0)))
            .collect(),
        open,
        clocks: ClockCounts { at_risk: level(1), breached: level(2), escalated: level(3) },
    })
}
