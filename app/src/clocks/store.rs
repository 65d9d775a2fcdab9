//! Stage clocks in the database: started and stopped inside the transaction that moves the
//! incident, paused and resumed by ops, and read for lists and the incident page.
//!
//! A clock counts `spent_seconds` (earlier runs) plus the time since `running_since`, in seconds
//! of its basis. While it runs with a target it stores when it reaches 75 % (`risk_at`), 100 %
//! (`breach_at`) and when its next notice is due (`next_due_at`, the scheduler's only index): the
//! thresholds are computed once, with the calendar of the moment, when the clock starts or
//! resumes, so lists show a clock's state without any working-time arithmetic.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::{calendar::Calendar, policy, Basis, ClockPolicy, ClockState, ClockView, Level, StayView};
use crate::{
    auth::Role,
    db::{parse_stored, Db, WriteTx},
    error::AppError,
    on_db, on_tx,
    workflow::queries::{stored_time, stored_time_opt},
    workflow::{input::Severity, rules::Stage},
};

/// The calendar of `policy`, built only for a working-hours basis.
pub(crate) fn calendar_for(policy: &ClockPolicy, basis: Basis) -> Result<Option<Calendar>, AppError> {
    match basis {
        Basis::Wall => Ok(None),
        Basis::Working => policy::calendar(policy).map(Some),
    }
}

/// Counted time between two instants, in seconds of `basis`.
pub(crate) fn measure(basis: Basis, calendar: Option<&Calendar>, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    match (basis, calendar) {
        (Basis::Working, Some(calendar)) => calendar.working_seconds(from, to),
        _ => (to - from).num_seconds().max(0),
    }
}

/// The instant at which a clock running since `from`, with `spent` already counted, has counted
/// `threshold` seconds; `None` when that never happens (a calendar without working hours).
pub(crate) fn reaches(
    basis: Basis,
    calendar: Option<&Calendar>,
    from: DateTime<Utc>,
    spent: i64,
    threshold: i64,
) -> Option<DateTime<Utc>> {
    let left = (threshold - spent).max(0);
    match (basis, calendar) {
        (Basis::Working, Some(calendar)) => calendar.add_working(from, left),
        _ => Some(from + Duration::seconds(left)),
    }
}

/// When each notice of a running clock comes: reminder, breach, escalation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub risk_at: Option<DateTime<Utc>>,
    pub breach_at: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
}

impl Schedule {
    /// The schedule of a clock with `target` seconds running since `from` with `spent` counted.
    pub fn of(
        basis: Basis,
        calendar: Option<&Calendar>,
        from: DateTime<Utc>,
        spent: i64,
        target: i64,
        escalate_pct: i64,
    ) -> Self {
        Schedule {
            risk_at: reaches(basis, calendar, from, spent, target * 3 / 4),
            breach_at: reaches(basis, calendar, from, spent, target),
            escalate_at: reaches(basis, calendar, from, spent, target * escalate_pct / 100),
        }
    }

    /// When `level` is reached.
    pub fn at(&self, level: Level) -> Option<DateTime<Utc>> {
        match level {
            Level::Reminder => self.risk_at,
            Level::Breach => self.breach_at,
            Level::Escalation => self.escalate_at,
        }
    }

    /// When the notice after `sent` (a stored level) is due.
    pub fn next_after(&self, sent: i64) -> Option<DateTime<Utc>> {
        Level::from_number(sent + 1).and_then(|l| self.at(l))
    }
}

/// A clock as stored (as a row, or inside the incident page's JSON aggregate).
#[derive(sqlx::FromRow, serde::Deserialize, Clone, Debug)]
pub(crate) struct ClockRow {
    pub id: i64,
    pub incident_id: i64,
    pub stage: String,
    pub severity: String,
    #[serde(deserialize_with = "stored_time")]
    pub started_at: DateTime<Utc>,
    #[serde(deserialize_with = "stored_time_opt")]
    pub stopped_at: Option<DateTime<Utc>>,
    pub target_seconds: Option<i64>,
    pub basis: String,
    pub escalate_pct: i64,
    pub spent_seconds: i64,
    #[serde(deserialize_with = "stored_time_opt")]
    pub running_since: Option<DateTime<Utc>>,
    pub level: i64,
    #[serde(deserialize_with = "stored_time_opt")]
    pub risk_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "stored_time_opt")]
    pub breach_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "stored_time_opt")]
    pub escalate_at: Option<DateTime<Utc>>,
}

/// A [`ClockRow`]'s columns of `stage_clocks c`, as the elements of a JSON array (no keys: half
/// the bytes to build, copy and read).
const CLOCK_JSON_ELEMENTS: &str = "c.id, c.incident_id, c.stage, c.severity, c.started_at, c.stopped_at, \
                                   c.target_seconds, c.basis, c.escalate_pct, c.spent_seconds, c.running_since, \
                                   c.level, c.risk_at, c.breach_at, c.escalate_at";

/// The incident page's statement reads an incident's clocks (`i.id`), oldest first, as one JSON
/// array of [`ClockRow`]s, each an array of its columns in [`CLOCK_COLUMNS`] order: one value
/// instead of a row per stay.
pub(crate) fn clocks_json_sql(backend: crate::config::Backend) -> String {
    match backend {
        crate::config::Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({CLOCK_JSON_ELEMENTS}) ORDER BY c.id) FROM stage_clocks c \
             WHERE c.incident_id = i.id"
        ),
        crate::config::Backend::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_array({CLOCK_JSON_ELEMENTS}) ORDER BY c.id), '[]'::json)::text \
             FROM stage_clocks c WHERE c.incident_id = i.id"
        ),
    }
}

/// Two columns for the SQLite statement that locks an incident (`incidents`) in a change:
/// `current_clock`, its running or paused clock as one JSON array (a [`ClockRow`]) or `NULL`, and
/// `clock_policy`, the stored policy (`$1` is [`policy::POLICY_SETTING`]). A stage change then
/// needs no statement of its own to read them ([`Current::from_locked_read`]).
pub(crate) fn current_columns_sql() -> String {
    format!(
        "(SELECT json_array({CLOCK_JSON_ELEMENTS}) FROM stage_clocks c WHERE c.incident_id = incidents.id \
         AND c.stopped_at IS NULL) AS current_clock, (SELECT value FROM settings WHERE key = $1) AS clock_policy"
    )
}

/// The columns of a [`ClockRow`].
pub(crate) const CLOCK_COLUMNS: &str = "id, incident_id, stage, severity, started_at, stopped_at, target_seconds, \
                                        basis, escalate_pct, spent_seconds, running_since, level, risk_at, breach_at, \
                                        escalate_at";

impl ClockRow {
    pub fn basis(&self) -> Result<Basis, AppError> {
        Ok(parse_stored("stage_clocks.basis", &self.basis, Basis::parse)?)
    }

    pub fn stage(&self) -> Result<Stage, AppError> {
        Ok(parse_stored("stage_clocks.stage", &self.stage, Stage::parse)?)
    }

    /// Counted so far at `now`.
    pub fn spent_at(&self, calendar: Option<&Calendar>, now: DateTime<Utc>) -> Result<i64, AppError> {
        let basis = self.basis()?;
        let end = self.stopped_at.unwrap_or(now);
        Ok(self.spent_seconds + self.running_since.map(|since| measure(basis, calendar, since, end)).unwrap_or(0))
    }

    /// The schedule stored when the clock started or resumed (`None` when paused, stopped or
    /// without a target): what the badge shows and when the notices come.
    pub fn stored_schedule(&self) -> Option<Schedule> {
        (self.running_since.is_some() && self.target_seconds.is_some()).then_some(Schedule {
            risk_at: self.risk_at,
            breach_at: self.breach_at,
            escalate_at: self.escalate_at,
        })
    }

    /// The schedule of the running clock computed with `calendar` (`None` when paused, stopped or
    /// without a target).
    pub fn schedule(&self, calendar: Option<&Calendar>) -> Result<Option<Schedule>, AppError> {
        let (Some(since), Some(target)) = (self.running_since, self.target_seconds) else {
            return Ok(None);
        };
        Ok(Some(Schedule::of(self.basis()?, calendar, since, self.spent_seconds, target, self.escalate_pct)))
    }
}

/// Starts the clock of `stage` on an incident, with the policy's target for `severity`.
async fn start(
    tx: &mut WriteTx,
    incident_id: i64,
    stage: Stage,
    severity: Severity,
    policy: &ClockPolicy,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let basis = policy.basis_of(severity);
    let target = policy.target(stage, severity).map(|m| i64::from(m) * 60);
    let calendar = match target {
        Some(_) => calendar_for(policy, basis)?,
        None => None,
    };
    let escalate_pct = i64::from(policy.escalate_percent);
    let schedule = target.map(|t| Schedule::of(basis, calendar.as_ref(), now, 0, t, escalate_pct));
    insert(tx, incident_id, stage, severity, now, target, basis, escalate_pct, schedule, 0).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut WriteTx,
    incident_id: i64,
    stage: Stage,
    severity: Severity,
    started_at: DateTime<Utc>,
    target: Option<i64>,
    basis: Basis,
    escalate_pct: i64,
    schedule: Option<Schedule>,
    level: i64,
) -> Result<bool, AppError> {
    let next_due = schedule.and_then(|s| s.next_after(level));
    let inserted = on_tx!(&mut *tx, conn => sqlx::query(
        "INSERT INTO stage_clocks (incident_id, stage, severity, started_at, target_seconds, basis, escalate_pct, \
         spent_seconds, running_since, level, risk_at, breach_at, escalate_at, next_due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $4, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
    )
    .bind(incident_id)
    .bind(stage.as_str())
    .bind(severity.as_str())
    .bind(started_at)
    .bind(target)
    .bind(basis.as_str())
    .bind(escalate_pct)
    .bind(level)
    .bind(schedule.and_then(|s| s.risk_at))
    .bind(schedule.and_then(|s| s.breach_at))
    .bind(schedule.and_then(|s| s.escalate_at))
    .bind(next_due)
    .execute(conn)
    .await?
    .rows_affected());
    Ok(inserted == 1)
}

/// The running or paused clock of an incident, read inside `tx`.
pub(crate) async fn current_in(tx: &mut WriteTx, incident_id: i64) -> Result<Option<ClockRow>, AppError> {
    let sql = format!("SELECT {CLOCK_COLUMNS} FROM stage_clocks WHERE incident_id = $1 AND stopped_at IS NULL");
    Ok(on_tx!(&mut *tx, conn => sqlx::query_as(&sql).bind(incident_id).fetch_optional(conn).await?))
}

/// Stops the current clock at `now`: its final count is kept, nothing more is due.
async fn stop(
    tx: &mut WriteTx,
    clock: &ClockRow,
    policy: &ClockPolicy,
    now: DateTime<Utc>,
    by: Option<(i64, Role)>,
) -> Result<(), AppError> {
    let calendar = calendar_for(policy, clock.basis()?)?;
    let spent = clock.spent_at(calendar.as_ref(), now)?;
    // The stay's wall-clock length and who handed it on, kept for the reports: they then read
    // one row per stay instead of joining the timeline.
    let held = (now - clock.started_at).num_seconds().max(0);
    on_tx!(&mut *tx, conn => sqlx::query(
        "UPDATE stage_clocks SET stopped_at = $1, spent_seconds = $2, running_since = NULL, risk_at = NULL, \
         breach_at = NULL, escalate_at = NULL, next_due_at = NULL, held_seconds = $3, ended_by = $4, ended_role = $5 \
         WHERE id = $6",
    )
    .bind(now)
    .bind(spent)
    .bind(held)
    .bind(by.map(|(id, _)| id))
    .bind(by.map(|(_, role)| role.as_str()))
    .bind(clock.id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// An incident's current clock and the policy in force, as a change read them in its transaction.
pub(crate) struct Current {
    clock: Option<ClockRow>,
    policy: ClockPolicy,
}

impl Current {
    /// The two columns of [`current_columns_sql`].
    pub(crate) fn from_locked_read(clock: Option<&str>, policy: Option<String>) -> Result<Self, AppError> {
        let clock = clock
            .map(serde_json::from_str)
            .transpose()
            .map_err(|err| AppError::internal(format!("cannot read the current stage clock: {err}")))?;
        Ok(Current { clock, policy: policy::decode(policy)? })
    }

    /// Reads them inside `tx`, in one statement when the incident has a clock (in a change,
    /// each statement lengthens the write lock), two when it has none yet.
    pub(crate) async fn read(tx: &mut WriteTx, incident_id: i64) -> Result<Self, AppError> {
        #[derive(sqlx::FromRow)]
        struct WithPolicy {
            #[sqlx(flatten)]
            clock: ClockRow,
            policy: Option<String>,
        }
        let sql = format!(
            "SELECT {CLOCK_COLUMNS}, (SELECT value FROM settings WHERE key = $2) AS policy \
             FROM stage_clocks WHERE incident_id = $1 AND stopped_at IS NULL"
        );
        let current: Option<WithPolicy> = on_tx!(&mut *tx, conn => sqlx::query_as(&sql)
            .bind(incident_id)
            .bind(policy::POLICY_SETTING)
            .fetch_optional(conn)
            .await?);
        match current {
            Some(WithPolicy { clock, policy: stored }) => {
                Ok(Current { clock: Some(clock), policy: policy::decode(stored)? })
            }
            None => Ok(Current { clock: None, policy: policy::load_in(tx).await? }),
        }
    }
}

/// Starts the first clock of a new incident (`reported`), inside the transaction that creates it.
pub async fn on_created(
    tx: &mut WriteTx,
    incident_id: i64,
    severity: Severity,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let policy = policy::load_in(tx).await?;
    start(tx, incident_id, Stage::Reported, severity, &policy, now).await
}

/// After a move from one stage to another (called inside its transaction, with the current clock
/// and policy read after the incident was locked): stops the clock of the stage left, recording
/// who moved it on (`by`: the user and the role they acted in), and starts the one of the stage
/// entered (none once closed). A stage entered again gets a new clock; the old ones stay, stopped.
pub(crate) async fn on_stage_entered(
    tx: &mut WriteTx,
    incident_id: i64,
    current: Current,
    stage: Stage,
    severity: Severity,
    now: DateTime<Utc>,
    by: Option<(i64, Role)>,
) -> Result<(), AppError> {
    if let Some(clock) = &current.clock {
        stop(tx, clock, &current.policy, now, by).await?;
    }
    if stage != Stage::Closed {
        start(tx, incident_id, stage, severity, &current.policy, now).await?;
    }
    Ok(())
}

/// Pauses the running clock of an incident (ops waiting for the user). Returns false when there
/// was no running clock.
pub async fn pause_in(tx: &mut WriteTx, incident_id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let Some(clock) = current_in(tx, incident_id).await?.filter(|c| c.running_since.is_some()) else {
        return Ok(false);
    };
    let policy = policy::load_in(tx).await?;
    let calendar = calendar_for(&policy, clock.basis()?)?;
    let spent = clock.spent_at(calendar.as_ref(), now)?;
    on_tx!(&mut *tx, conn => sqlx::query(
        "UPDATE stage_clocks SET spent_seconds = $1, running_since = NULL, risk_at = NULL, breach_at = NULL, \
         escalate_at = NULL, next_due_at = NULL WHERE id = $2",
    )
    .bind(spent)
    .bind(clock.id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(true)
}

/// Resumes a paused clock from `now`, counting on from where it stopped. Returns false when the
/// clock was not paused.
pub async fn resume_in(tx: &mut WriteTx, incident_id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let Some(mut clock) = current_in(tx, incident_id).await?.filter(|c| c.running_since.is_none()) else {
        return Ok(false);
    };
    let policy = policy::load_in(tx).await?;
    let calendar = calendar_for(&policy, clock.basis()?)?;
    clock.running_since = Some(now);
    let schedule = clock.schedule(calendar.as_ref())?;
    on_tx!(&mut *tx, conn => sqlx::query(
        "UPDATE stage_clocks SET running_since = $1, risk_at = $2, breach_at = $3, escalate_at = $4, next_due_at = $5 \
         WHERE id = $6",
    )
    .bind(now)
    .bind(schedule.and_then(|s| s.risk_at))
    .bind(schedule.and_then(|s| s.breach_at))
    .bind(schedule.and_then(|s| s.escalate_at))
    .bind(schedule.and_then(|s| s.next_after(clock.level)))
    .bind(clock.id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(true)
}

/// Gives every open incident without a clock one for its current stage, started when it entered
/// that stage (incidents opened before clocks existed). Thresholds already passed then count as
/// notified: a clock never sends notices about time before it existed. Returns how many started.
pub async fn adopt(db: &Db, now: DateTime<Utc>) -> Result<usize, AppError> {
    #[derive(sqlx::FromRow)]
    struct Unclocked {
        id: i64,
        stage: String,
        severity: String,
        stage_entered_at: DateTime<Utc>,
    }
    let mut started = 0;
    loop {
        let mut tx = db.begin_write().await?;
        // PostgreSQL: the incident rows are locked as a gate action locks them (first), and rows a
        // gate action holds are left for the next pass rather than waited for.
        let lock = match &tx {
            WriteTx::Postgres(_) => " FOR UPDATE OF i SKIP LOCKED",
            WriteTx::Sqlite(_) => "",
        };
        let rows: Vec<Unclocked> = on_tx!(&mut tx, conn => sqlx::query_as(&format!(
            "SELECT i.id, i.stage, i.severity, i.stage_entered_at FROM incidents i WHERE i.stage <> 'closed' \
             AND NOT EXISTS (SELECT 1 FROM stage_clocks c WHERE c.incident_id = i.id AND c.stopped_at IS NULL) \
             ORDER BY i.id LIMIT 500{lock}",
        ))
        .fetch_all(conn)
        .await?);
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(started);
        }
        let policy = policy::load_in(&mut tx).await?;
        for row in &rows {
            let stage = parse_stored("incidents.stage", &row.stage, Stage::parse)?;
            let severity = parse_stored("incidents.severity", &row.severity, Severity::parse)?;
            let basis = policy.basis_of(severity);
            let target = policy.target(stage, severity).map(|m| i64::from(m) * 60);
            let calendar = calendar_for(&policy, basis)?;
            let escalate_pct = i64::from(policy.escalate_percent);
            let schedule =
                target.map(|t| Schedule::of(basis, calendar.as_ref(), row.stage_entered_at, 0, t, escalate_pct));
            let passed = schedule
                .map(|s| Level::ALL.into_iter().filter(|l| s.at(*l).is_some_and(|at| at <= now)).count() as i64)
                .unwrap_or(0);
            let entered = row.stage_entered_at;
            if insert(&mut tx, row.id, stage, severity, entered, target, basis, escalate_pct, schedule, passed).await? {
                started += 1;
            }
        }
        tx.commit().await?;
    }
}

/// How a clock stands at `now`.
fn state_of(clock: &ClockRow, now: DateTime<Utc>) -> ClockState {
    if clock.target_seconds.is_none() {
        ClockState::NoTarget
    } else if clock.running_since.is_none() {
        ClockState::Paused
    } else if clock.breach_at.is_some_and(|t| t <= now) {
        ClockState::Breached
    } else if clock.risk_at.is_some_and(|t| t <= now) {
        ClockState::AtRisk
    } else {
        ClockState::Ok
    }
}

fn view_of(clock: &ClockRow, calendar: Option<&Calendar>, now: DateTime<Utc>) -> Result<ClockView, AppError> {
    let spent = clock.spent_at(calendar, now)?;
    let left_seconds = match (clock.target_seconds, clock.running_since, clock.breach_at) {
        (None, _, _) => None,
        (Some(_), Some(_), Some(breach)) => Some((breach - now).num_seconds()),
        (Some(target), _, _) => Some(target - spent),
    };
    Ok(ClockView {
        stage: clock.stage()?,
        target_seconds: clock.target_seconds,
        basis: clock.basis()?,
        risk_at: clock.risk_at.map(|t| t.to_rfc3339()),
        breach_at: clock.breach_at.map(|t| t.to_rfc3339()),
        spent_seconds: spent,
        paused: clock.running_since.is_none(),
        state: state_of(clock, now),
        read_at: now.to_rfc3339(),
        left_seconds,
    })
}

/// The current clocks of the incidents `ids`, by incident id.
pub async fn current_of(db: &Db, ids: &[i64], now: DateTime<Utc>) -> Result<HashMap<i64, ClockView>, AppError> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let mut rows: Vec<ClockRow> = Vec::with_capacity(ids.len());
    if ids.len() > 500 {
        // A long queue: every open clock in one statement (the partial index of open clocks),
        // rather than hundreds of IN lists.
        let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
        let sql = format!("SELECT {CLOCK_COLUMNS} FROM stage_clocks WHERE stopped_at IS NULL");
        let all: Vec<ClockRow> = on_db!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
        rows.extend(all.into_iter().filter(|r| wanted.contains(&r.incident_id)));
    }
    for chunk in ids.chunks(500).filter(|_| ids.len() <= 500) {
        let placeholders = (1..=chunk.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {CLOCK_COLUMNS} FROM stage_clocks WHERE stopped_at IS NULL AND incident_id IN ({placeholders})"
        );
        let chunk_rows: Vec<ClockRow> = on_db!(db, pool => {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        rows.extend(chunk_rows);
    }
    let calendar = calendar_if_needed(db, &rows).await?;
    for row in rows {
        out.insert(row.incident_id, view_of(&row, calendar.as_ref(), now)?);
    }
    Ok(out)
}

/// The calendar, when one of `rows` needs it to count time so far (a running clock counted in
/// working hours); reading the policy is skipped otherwise, which is the common case on a page.
async fn calendar_if_needed(db: &Db, rows: &[ClockRow]) -> Result<Option<Calendar>, AppError> {
    if rows.iter().any(|r| r.running_since.is_some() && r.basis == Basis::Working.as_str()) {
        policy::calendar(&policy::load(db).await?).map(Some)
    } else {
        Ok(None)
    }
}

/// Every stay of an incident in a stage, oldest first, and its current clock.
pub async fn stays_of(
    db: &Db,
    incident_id: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<StayView>, Option<ClockView>), AppError> {
    let sql = format!("SELECT {CLOCK_COLUMNS} FROM stage_clocks WHERE incident_id = $1 ORDER BY id");
    let rows: Vec<ClockRow> = on_db!(db, pool => sqlx::query_as(&sql).bind(incident_id).fetch_all(pool).await?);
    views_from(db, rows, now).await
}

/// The stays and the current clock of an incident's clocks (oldest first), as of `now`.
pub(crate) async fn views_from(
    db: &Db,
    rows: Vec<ClockRow>,
    now: DateTime<Utc>,
) -> Result<(Vec<StayView>, Option<ClockView>), AppError> {
    if rows.is_empty() {
        return Ok((Vec::new(), None));
    }
    let calendar = calendar_if_needed(db, &rows).await?;
    let calendar = calendar.as_ref();
    let mut stays = Vec::with_capacity(rows.len());
    let mut current = None;
    for row in &rows {
        let spent = row.spent_at(calendar, now)?;
        stays.push(StayView {
            stage: row.stage()?,
            started_at: row.started_at.to_rfc3339(),
            stopped_at: row.stopped_at.map(|t| t.to_rfc3339()),
            spent_seconds: spent,
            target_seconds: row.target_seconds,
            basis: row.basis()?,
            breached: row.target_seconds.is_some_and(|t| spent > t) || row.level >= Level::Breach.number(),
        });
        if row.stopped_at.is_none() {
            current = Some(view_of(row, calendar, now)?);
        }
    }
    Ok((stays, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock read as JSON decodes by position, so its elements are the row's columns in order.
    #[test]
    fn the_json_elements_are_the_clock_columns_in_order() {
        let elements: Vec<&str> = CLOCK_JSON_ELEMENTS.split(',').map(|c| c.trim().trim_start_matches("c.")).collect();
        let columns: Vec<&str> = CLOCK_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(elements, columns);
    }
}
