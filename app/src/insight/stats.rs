//! The reports' figures, computed in SQL on either database from the incidents, their timeline
//! and their stage clocks (one row per stay in a stage), never by loading incidents into memory.
//!
//! - The range selects incidents by when they were reported (`[from, to)`), with optional
//!   severity and channel filters; "open now" figures ignore the range (they are about today).
//! - MTTA: reported → the first action by a person (a claim, triage or any gate action; not the
//!   creation, an intake delivery, a reassignment or a clock notice).
//! - MTTR: reported → closed.
//! - Time in a stage: per incident, the wall-clock time of all its finished stays in the stage
//!   added up (a fix that failed its test comes back to `fixing`: both stays count). Each stay's
//!   length and who ended it are written on its clock row when it stops, so these figures read
//!   one row per stay and never join the timeline.
//! - Holding the baton: per stay in a stage, the time from the stage being entered to the action
//!   that moved it on, attributed to the person who took that action and the role they took it
//!   in (in solution review, whoever gave the second verdict).
//! - Breaches: stays whose clock sent its breach notice (passed its target).
//! - Weeks run Monday to Sunday in the reader's time zone; a week's MTTR is over the incidents
//!   closed in it.
//!
//! Medians and 90th percentiles are nearest-rank ([`super::Figure`]), computed with window
//! functions (`ROW_NUMBER`, `COUNT` over a partition) that both databases have. The only
//! difference between the two is how a duration in seconds is written ([`Dialect`]).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Counts, Figure, Figures, HolderFigure, MeasureCounts, StageFigure, WeekFigure};
use crate::{
    auth::Role,
    db::{parse_stored, Db},
    error::AppError,
    on_db,
    workflow::{
        input::{Channel, Severity},
        rules::{ActionKind, Stage},
    },
};

/// What a report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// First instant (the first day's midnight in the reader's zone).
    pub from: DateTime<Utc>,
    /// The instant after the range (midnight after the last day).
    pub to: DateTime<Utc>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only this channel.
    pub channel: Option<Channel>,
}

/// One week of the trend: its first day and the instants it spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Week {
    /// The Monday.
    pub start_date: NaiveDate,
    /// Its midnight.
    pub starts: DateTime<Utc>,
    /// The next Monday's midnight.
    pub ends: DateTime<Utc>,
}

/// How each database writes the seconds between two timestamps.
#[derive(Clone, Copy, Debug)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn of(db: &Db) -> Self {
        match db {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Whole seconds from `a` to `b`.
    fn secs(self, a: &str, b: &str) -> String {
        match self {
            // Julian days as doubles keep about 50 µs of precision today: rounded, exact seconds.
            Dialect::Sqlite => format!("CAST(ROUND((julianday({b}) - julianday({a})) * 86400) AS INTEGER)"),
            Dialect::Postgres => format!("CAST(ROUND(EXTRACT(EPOCH FROM ({b}) - ({a}))) AS BIGINT)"),
        }
    }
}

/// The incidents of the range: `$1`..`$4` are from, to, severity, channel.
const COHORT: &str = "i.created_at >= $1 AND i.created_at < $2 AND ($3 IS NULL OR i.severity = $3) \
                      AND ($4 IS NULL OR i.channel = $4)";

/// The nearest-rank distribution of `secs` in the CTE `vals` (written by `ctes`), per `keys`,
/// with `extra` aggregates over the same groups.
fn distribution(ctes: &str, keys: &str, extra: &str) -> String {
    let extra = if extra.is_empty() { String::new() } else { format!(", {extra}") };
    format!(
        "{ctes}, ranked AS (SELECT v.*, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY v.secs) AS rn, \
         COUNT(*) OVER (PARTITION BY {keys}) AS cnt FROM vals v) \
         SELECT {keys}, CAST(MAX(cnt) AS BIGINT) AS n, \
         CAST(MAX(CASE WHEN rn = (cnt + 1) / 2 THEN secs END) AS BIGINT) AS median, \
         CAST(MAX(CASE WHEN rn = (9 * cnt + 9) / 10 THEN secs END) AS BIGINT) AS p90, \
         CAST(ROUND(AVG(secs)) AS BIGINT) AS mean{extra} FROM ranked GROUP BY {keys}"
    )
}

#[derive(sqlx::FromRow)]
struct DistRow {
    n: i64,
    median: Option<i64>,
    p90: Option<i64>,
    mean: Option<i64>,
}

impl DistRow {
    fn figure(&self) -> Figure {
        Figure { n: self.n, median: self.median, p90: self.p90, mean: self.mean }
    }
}

/// Binds the range's four parameters, in `COHORT`'s order.
macro_rules! bind_range {
    ($query:expr, $range:expr) => {
        $query
            .bind($range.from)
            .bind($range.to)
            .bind($range.severity.map(Severity::as_str))
            .bind($range.channel.map(Channel::as_str))
    };
}

/// Every figure of the reports page for `range`, with `weeks` for the trend and `today` (the
/// installation's date) for overdue measures.
pub async fn figures(db: &Db, range: &Range, weeks: &[Week], today: NaiveDate) -> Result<Figures, AppError> {
    let d = Dialect::of(db);
    let timer = std::time::Instant::now();
    let lap = |what: &str| tracing::debug!(part = what, ms = timer.elapsed().as_secs_f64() * 1000.0, "report figures");
    let counts = counts(db, range).await?;
    lap("counts");
    let (mtta, mttr) = response_times(db, d, range).await?;
    lap("response times");
    let stages = stages(db, range).await?;
    lap("stages");
    let (people, roles) = holders(db, range).await?;
    lap("holders");
    let weeks = trend(db, d, range, weeks).await?;
    lap("weeks");
    let measures = measure_counts(db, range, today).await?;
    lap("measures");
    Ok(Figures { counts, mtta, mttr, stages, people, roles, weeks, measures })
}

async fn counts(db: &Db, range: &Range) -> Result<Counts, AppError> {
    let sum = |cond: &str| format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)");
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT), {}, {}, {}, {}, {}, CAST(COALESCE(SUM(i.fix_round), 0) AS BIGINT), {}, {}, {} \
         FROM incidents i WHERE {COHORT}",
        sum("i.stage <> 'reported' AND COALESCE(i.resolution, '') <> 'non_technical'"),
        sum("i.resolution = 'non_technical'"),
        sum("i.stage = 'reported'"),
        sum("i.stage = 'closed'"),
        sum("i.stage <> 'closed'"),
        sum("i.fix_round > 0"),
        sum("i.plan = 'optimal'"),
        sum("i.plan = 'interim'"),
    );
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let r: Row = on_db!(db, pool => bind_range!(sqlx::query_as(&sql), range).fetch_one(pool).await?);
    Ok(Counts {
        reported: r.0,
        technical: r.1,
        non_technical: r.2,
        untriaged: r.3,
        closed: r.4,
        open: r.5,
        fix_rounds: r.6,
        reworked: r.7,
        optimal: r.8,
        interim: r.9,
    })
}

/// The actions that are a person's response (everything but the creation, intake deliveries,
/// reassignments and clock notices).
fn first_response_actions() -> String {
    let mut names: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
    names.extend(["claim", "pause", "resume"]);
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

async fn response_times(db: &Db, d: Dialect, range: &Range) -> Result<(Figure, Figure), AppError> {
    let first = format!(
        "(SELECT t.at FROM incident_timeline t WHERE t.incident_id = i.id AND t.action IN ({}) ORDER BY t.id LIMIT 1)",
        first_response_actions()
    );
    let ctes = format!(
        "WITH vals AS (SELECT metric, secs FROM (\
           SELECT 'mtta' AS metric, {} AS secs FROM incidents i WHERE {COHORT} \
           UNION ALL SELECT 'mttr' AS metric, {} AS secs FROM incidents i WHERE {COHORT} AND i.stage = 'closed'\
         ) x WHERE secs IS NOT NULL)",
        d.secs("i.created_at", &first),
        d.secs("i.created_at", "i.stage_entered_at"),
    );
    let sql = distribution(&ctes, "metric", "");
    #[derive(sqlx::FromRow)]
    struct Row {
        metric: String,
        #[sqlx(flatten)]
        dist: DistRow,
    }
    let rows: Vec<Row> = on_db!(db, pool => bind_range!(sqlx::query_as(&sql), range).fetch_all(pool).await?);
    let of = |m: &str| rows.iter().find(|r| r.metric == m).map(|r| r.dist.figure()).unwrap_or_default();
    Ok((of("mtta"), of("mttr")))
}

async fn stages(db: &Db, range: &Range) -> Result<Vec<StageFigure>, AppError> {
    let ctes = format!(
        "WITH vals AS (SELECT c.stage AS stage, c.incident_id, SUM(c.held_seconds) AS secs, \
           SUM(CASE WHEN c.level >= 2 THEN 1 ELSE 0 END) AS breached \
         FROM incidents i JOIN stage_clocks c ON c.incident_id = i.id \
         WHERE {COHORT} AND c.held_seconds IS NOT NULL GROUP BY c.stage, c.incident_id)"
    );
    let sql = distribution(&ctes, "stage", "CAST(SUM(breached) AS BIGINT) AS breaches");
    #[derive(sqlx::FromRow)]
    struct Row {
        stage: String,
        #[sqlx(flatten)]
        dist: DistRow,
        breaches: i64,
    }
    let rows: Vec<Row> = on_db!(db, pool => bind_range!(sqlx::query_as(&sql), range).fetch_all(pool).await?);
    let mut out = Vec::new();
    for stage in Stage::ALL {
        if let Some(r) = rows.iter().find(|r| r.stage == stage.as_str()) {
            out.push(StageFigure { stage, time: r.dist.figure(), breaches: r.breaches });
        }
    }
    // A stage name this version does not know is corruption, not something to skip silently.
    if let Some(r) = rows.iter().find(|r| Stage::parse(&r.stage).is_none()) {
        parse_stored("stage_clocks.stage", &r.stage, Stage::parse)?;
    }
    Ok(out)
}

/// Per person and role, then per role.
async fn holders(db: &Db, range: &Range) -> Result<(Vec<HolderFigure>, Vec<HolderFigure>), AppError> {
    let ctes = format!(
        "WITH vals AS (SELECT c.ended_by AS person, c.ended_role AS role, c.incident_id, c.held_seconds AS secs, \
           CASE WHEN c.level >= 2 THEN 1 ELSE 0 END AS breached \
         FROM incidents i JOIN stage_clocks c ON c.incident_id = i.id \
         WHERE {COHORT} AND c.held_seconds IS NOT NULL AND c.ended_by IS NOT NULL)"
    );
    let extra = "CAST(COUNT(DISTINCT incident_id) AS BIGINT) AS handled, CAST(SUM(breached) AS BIGINT) AS breaches";
    #[derive(sqlx::FromRow)]
    struct PersonRow {
        person: i64,
        role: String,
        #[sqlx(flatten)]
        dist: DistRow,
        handled: i64,
        breaches: i64,
    }
    #[derive(sqlx::FromRow)]
    struct RoleRow {
        role: String,
        #[sqlx(flatten)]
        dist: DistRow,
        handled: i64,
        breaches: i64,
    }
    let person_sql = distribution(&ctes, "person, role", extra);
    let role_sql = distribution(&ctes, "role", extra);
    let by_person: Vec<PersonRow> =
        on_db!(db, pool => bind_range!(sqlx::query_as(&person_sql), range).fetch_all(pool).await?);
    let by_role: Vec<RoleRow> =
        on_db!(db, pool => bind_range!(sqlx::query_as(&role_sql), range).fetch_all(pool).await?);
    let open = open_now(db, range).await?;
    let names: HashMap<i64, String> =
        on_db!(db, pool => sqlx::query_as::<_, (i64, String)>("SELECT id, display_name FROM users")
            .fetch_all(pool)
            .await?)
        .into_iter()
        .collect();
    let role_of = |name: &str| parse_stored("incident_timeline.actor_role", name, Role::parse);
    let mut people = Vec::new();
    for r in by_person {
        let role = role_of(&r.role)?;
        people.push(HolderFigure {
            user_id: Some(r.person),
            name: names.get(&r.person).cloned().unwrap_or_default(),
            role,
            handled: r.handled,
            holding: r.dist.figure(),
            breaches: r.breaches,
            open_now: open.iter().filter(|(p, ro, _)| *p == r.person && *ro == role).map(|(_, _, n)| n).sum(),
        });
    }
    // Whoever holds open incidents but handed nothing on in the range still appears.
    for (person, role, n) in &open {
        if !people.iter().any(|p| p.user_id == Some(*person) && p.role == *role) {
            people.push(HolderFigure {
                user_id: Some(*person),
                name: names.get(person).cloned().unwrap_or_default(),
                role: *role,
                handled: 0,
                holding: Figure::default(),
                breaches: 0,
                open_now: *n,
            });
        }
    }
    people.sort_by(|a, b| b.holding.n.cmp(&a.holding.n).then(b.open_now.cmp(&a.open_now)).then(a.name.cmp(&b.name)));
    let mut roles = Vec::new();
    for role in Role::ALL {
        let row = by_role.iter().find(|r| r.role == role.as_str());
        let open_now: i64 = open.iter().filter(|(_, ro, _)| *ro == role).map(|(_, _, n)| n).sum();
        if row.is_none() && open_now == 0 {
            continue;
        }
        roles.push(HolderFigure {
            user_id: None,
            name: String::new(),
            role,
            handled: row.map_or(0, |r| r.handled),
            holding: row.map(|r| r.dist.figure()).unwrap_or_default(),
            breaches: row.map_or(0, |r| r.breaches),
            open_now,
        });
    }
    Ok((people, roles))
}

/// (person, role, open incidents whose current stage that role owns and they are named for),
/// with the severity and channel filters but whatever the dates.
async fn open_now(db: &Db, range: &Range) -> Result<Vec<(i64, Role, i64)>, AppError> {
    let mut parts = Vec::new();
    for role in [Role::Ops, Role::Pm, Role::Dev, Role::Qa] {
        let stages: Vec<String> = Stage::ALL
            .into_iter()
            .filter(|s| s.owner_roles().contains(&role))
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        if stages.is_empty() {
            continue;
        }
        let r = role.as_str();
        parts.push(format!(
            "SELECT i.{r}_owner AS person, '{r}' AS role FROM incidents i WHERE i.stage IN ({}) \
             AND i.{r}_owner IS NOT NULL AND ($1 IS NULL OR i.severity = $1) AND ($2 IS NULL OR i.channel = $2)",
            stages.join(", ")
        ));
    }
    let sql = format!(
        "SELECT person, role, CAST(COUNT(*) AS BIGINT) AS n FROM ({}) x GROUP BY person, role",
        parts.join(" UNION ALL ")
    );
    let rows: Vec<(i64, String, i64)> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(range.severity.map(Severity::as_str))
        .bind(range.channel.map(Channel::as_str))
        .fetch_all(pool)
        .await?);
    rows.into_iter()
        .map(|(p, r, n)| Ok((p, parse_stored("incidents.role", &r, Role::parse)?, n)))
        .collect::<Result<_, crate::db::UnknownStoredValue>>()
        .map_err(Into::into)
}

/// The weeks as a `VALUES` list: `(n, starts, ends)` with parameters `$1`.. in order; returns the
/// CTE and the number of parameters it uses.
fn weeks_cte(weeks: &[Week]) -> (String, usize) {
    let rows = (0..weeks.len())
        .map(|n| format!("(CAST({n} AS BIGINT), ${}, ${})", 2 * n + 1, 2 * n + 2))
        .collect::<Vec<_>>()
        .join(", ");
    (format!("weeks (n, starts, ends) AS (VALUES {rows})"), 2 * weeks.len())
}

async fn trend(db: &Db, d: Dialect, range: &Range, weeks: &[Week]) -> Result<Vec<WeekFigure>, AppError> {
    if weeks.is_empty() {
        return Ok(Vec::new());
    }
    let (cte, used) = weeks_cte(weeks);
    let (sev, chan) = (used + 1, used + 2);
    let filters = format!("(${sev} IS NULL OR i.severity = ${sev}) AND (${chan} IS NULL OR i.channel = ${chan})");
    // The range bounds the weeks: the first and last weeks are cut to the range.
    let (lo, hi) = (used + 3, used + 4);
    let incoming_sql = format!(
        "WITH {cte} SELECT w.n, CAST(COUNT(i.id) AS BIGINT) AS incoming FROM weeks w \
         LEFT JOIN incidents i ON i.created_at >= w.starts AND i.created_at < w.ends AND {filters} \
           AND i.created_at >= ${lo} AND i.created_at < ${hi} \
         GROUP BY w.n"
    );
    let ctes = format!(
        "WITH {cte}, vals AS (SELECT w.n AS week, {} AS secs FROM weeks w JOIN incidents i \
           ON i.stage = 'closed' AND i.stage_entered_at >= w.starts AND i.stage_entered_at < w.ends \
         WHERE {filters} AND i.stage_entered_at >= ${lo} AND i.stage_entered_at < ${hi})",
        d.secs("i.created_at", "i.stage_entered_at"),
    );
    let closed_sql = distribution(&ctes, "week", "");
    macro_rules! bind_weeks {
        ($query:expr) => {{
            let mut q = $query;
            for w in weeks {
                q = q.bind(w.starts).bind(w.ends);
            }
            q.bind(range.severity.map(Severity::as_str))
                .bind(range.channel.map(Channel::as_str))
                .bind(range.from)
                .bind(range.to)
        }};
    }
    #[derive(sqlx::FromRow)]
    struct ClosedRow {
        week: i64,
        #[sqlx(flatten)]
        dist: DistRow,
    }
    let incoming: Vec<(i64, i64)> =
        on_db!(db, pool => bind_weeks!(sqlx::query_as(&incoming_sql)).fetch_all(pool).await?);
    let closed: Vec<ClosedRow> = on_db!(db, pool => bind_weeks!(sqlx::query_as(&closed_sql)).fetch_all(pool).await?);
    Ok(weeks
        .iter()
        .enumerate()
        .map(|(n, w)| {
            let n = n as i64;
            let mttr = closed.iter().find(|r| r.week == n).map(|r| r.dist.figure()).unwrap_or_default();
            WeekFigure {
                start: w.start_date.format("%Y-%m-%d").to_string(),
                incoming: incoming.iter().find(|(k, _)| *k == n).map_or(0, |(_, c)| *c),
                closed: mttr.n,
                mttr,
            }
        })
        .collect())
}

async fn measure_counts(db: &Db, range: &Range, today: NaiveDate) -> Result<MeasureCounts, AppError> {
    let sum = |cond: &str| format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)");
    let sql = format!(
        "SELECT {}, {}, {}, {} FROM measures m JOIN incidents i ON i.id = m.incident_id WHERE {COHORT}",
        sum("m.status = 'open'"),
        sum("m.status = 'open' AND m.due < $5"),
        sum("m.status = 'done'"),
        sum("m.status = 'dropped'"),
    );
    let today = today.format("%Y-%m-%d").to_string();
    let r: (i64, i64, i64, i64) =
        on_db!(db, pool => bind_range!(sqlx::query_as(&sql), range).bind(&today).fetch_one(pool).await?);
    Ok(MeasureCounts { open: r.0, overdue: r.1, done: r.2, dropped: r.3 })
}
