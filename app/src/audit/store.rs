//! Appending to the audit log, reading it back page by page, and checking its chain.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::{
    chain::{entry_hash, Head, Verifier, GENESIS},
    refusals::{Refusals, Refused},
    AuditEntry, AuditFilter, Outcome, VerifyReport,
};
use crate::{
    auth::{ClientInfo, CurrentUser, Role},
    db::{Db, DbError, WriteTx},
    error::{AppError, FieldProblem},
    on_db, on_tx,
};

/// Longest actor name kept (a failed sign-in records whatever username was typed).
const MAX_NAME: usize = 256;
/// Longest user agent kept.
const MAX_USER_AGENT: usize = 300;

/// Who acts, as the audit log records them.
#[derive(Clone, Debug)]
pub struct Origin {
    kind: &'static str,
    id: Option<i64>,
    name: String,
    roles: Vec<Role>,
    client: ClientInfo,
}

impl Origin {
    /// A signed-in user.
    pub fn user(id: i64, name: &str, roles: &[Role], client: &ClientInfo) -> Self {
        Origin { kind: "user", id: Some(id), name: name.to_owned(), roles: roles.to_vec(), client: client.clone() }
    }

    /// The user acting, when a user acts.
    pub fn user_id(&self) -> Option<i64> {
        self.id.filter(|_| self.kind == "user")
    }

    /// A workflow actor.
    pub fn actor(actor: &crate::workflow::rules::Actor) -> Self {
        Self::user(actor.id, &actor.name, &actor.roles, &actor.client)
    }

    /// The user of a request.
    pub fn of(user: &CurrentUser, client: &ClientInfo) -> Self {
        Self::user(user.me.id, &user.me.username, &user.me.roles, client)
    }

    /// Someone not signed in; `name` is what they claimed to be (the username tried), if anything.
    pub fn anonymous(name: &str, client: &ClientInfo) -> Self {
        Origin { kind: "anonymous", id: None, name: name.to_owned(), roles: Vec::new(), client: client.clone() }
    }

    /// An intake source (by name) delivering reports.
    pub fn intake(source: &str, client: &ClientInfo) -> Self {
        Origin { kind: "intake", id: None, name: source.to_owned(), roles: Vec::new(), client: client.clone() }
    }

    /// The client address recorded for this origin.
    pub fn addr(&self) -> &str {
        &self.client.addr
    }

    /// The server itself (`part` says which: `cli`, `sessions`, `mailer`).
    pub fn system(part: &str) -> Self {
        let client = ClientInfo { addr: "local".into(), user_agent: String::new() };
        Origin { kind: "system", id: None, name: part.to_owned(), roles: Vec::new(), client }
    }
}

/// An entry to append. Build it with [`Record::new`] and the setters, then [`Record::append`]
/// it inside the action's transaction or [`Record::record`] it on its own.
#[derive(Debug)]
pub struct Record<'a> {
    origin: &'a Origin,
    event: &'static str,
    target_kind: &'static str,
    target: String,
    outcome: Outcome,
    details: serde_json::Value,
}

impl<'a> Record<'a> {
    /// An entry for `event` by `origin`, outcome ok, no target, no details.
    pub fn new(origin: &'a Origin, event: &'static str) -> Self {
        Record {
            origin,
            event,
            target_kind: "",
            target: String::new(),
            outcome: Outcome::Ok,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// What was acted on.
    pub fn target(mut self, kind: &'static str, target: impl Into<String>) -> Self {
        self.target_kind = kind;
        self.target = target.into();
        self
    }

    /// How it ended.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Details (before/after for changes).
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Appends the entry inside `tx`: it commits or rolls back with the action it records.
    pub async fn append(self, tx: &mut WriteTx, now: DateTime<Utc>) -> Result<i64, DbError> {
        // Appends are serialised so that the head read here is the head the insert extends. On
        // SQLite the transaction already holds the database's single write lock; on PostgreSQL
        // the row of `audit_head` is locked until the commit (and, once the previous append has
        // committed, read as that append left it).
        let head = match tx {
            WriteTx::Sqlite(conn) => sqlx::query_as::<_, HeadRow>(HEAD).fetch_optional(&mut **conn).await?,
            WriteTx::Postgres(conn) => {
                let head = sqlx::query_as::<_, HeadRow>(LOCK_HEAD).fetch_one(&mut **conn).await?;
                (head.seq > 0).then_some(head)
            }
        };
        let (seq, prev_hash) = head.map_or((1, GENESIS.to_owned()), |head| (head.seq + 1, head.hash));
        let origin = self.origin;
        let mut entry = AuditEntry {
            seq,
            at: timestamp(now),
            actor_kind: origin.kind.to_owned(),
            actor_id: origin.id,
            actor_name: origin.name.chars().take(MAX_NAME).collect(),
            actor_roles: origin.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
            client_addr: origin.client.addr.clone(),
            user_agent: origin.client.user_agent.chars().take(MAX_USER_AGENT).collect(),
            event: self.event.to_owned(),
            target_kind: self.target_kind.to_owned(),
            target: self.target,
            outcome: self.outcome.as_str().to_owned(),
            details: self.details.to_string(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry);
        insert(tx, &entry).await?;
        Ok(seq)
    }

    /// Appends the entry in a transaction of its own (refusals, whose action rolled back, and
    /// reads of the log).
    pub async fn record(self, db: &Db, now: DateTime<Utc>) -> Result<i64, DbError> {
        let mut tx = db.begin_write().await?;
        let seq = self.append(&mut tx, now).await?;
        tx.commit().await?;
        Ok(seq)
    }
}

impl<'a> Record<'a> {
    fn of_refused(refused: &'a Refused) -> Self {
        Record {
            origin: &refused.origin,
            event: refused.event,
            target_kind: refused.target_kind,
            target: refused.target.clone(),
            outcome: refused.outcome,
            details: refused.details.clone(),
        }
    }
}

impl Record<'_> {
    /// Records this refusal of an anonymous request through `refusals`: the first of its kind
    /// (event, `reason`, client address) in a window now, the repeats as one entry when the
    /// window closes (see [`super::refusals`]).
    pub async fn record_refusal(
        self,
        db: &Db,
        refusals: &Refusals,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let refused = Refused {
            origin: self.origin.clone(),
            event: self.event,
            target_kind: self.target_kind,
            target: self.target,
            outcome: self.outcome,
            details: self.details,
        };
        coalesce(db, refusals, reason, refused, now).await
    }
}

async fn coalesce(
    db: &Db,
    refusals: &Refusals,
    reason: &str,
    refused: Refused,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let admitted = refusals.admit(reason, &refused, now);
    if let Some(summary) = admitted.closed {
        Record::of_refused(&summary.last).record(db, now).await?;
    }
    if admitted.record_now {
        Record::of_refused(&refused).record(db, now).await?;
    }
    Ok(())
}

/// Records the summaries of the refusal windows that have closed by `now` (all of them when
/// `all`, at shutdown); how many were recorded.
pub async fn record_closed_refusals(
    db: &Db,
    refusals: &Refusals,
    now: DateTime<Utc>,
    all: bool,
) -> Result<usize, DbError> {
    let closed = refusals.take_closed(now, all);
    for summary in &closed {
        Record::of_refused(&summary.last).record(db, now).await?;
    }
    Ok(closed.len())
}

/// Inserts an entry exactly as given (hash included), the new head of the chain: on PostgreSQL
/// `audit_head` moves to it in the same statement.
async fn insert(tx: &mut WriteTx, e: &AuditEntry) -> Result<(), DbError> {
    const COLUMNS: &str = "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_name, actor_roles, \
         client_addr, user_agent, event, target_kind, target, outcome, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
    let sql = match tx {
        WriteTx::Sqlite(_) => COLUMNS.to_owned(),
        WriteTx::Postgres(_) => {
            format!("WITH appended AS ({COLUMNS} RETURNING seq) UPDATE audit_head SET seq = (SELECT seq FROM appended), hash = $15")
        }
    };
    on_tx!(tx, conn => sqlx::query(&sql)
    .bind(e.seq)
    .bind(&e.at)
    .bind(&e.actor_kind)
    .bind(e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.actor_roles)
    .bind(&e.client_addr)
    .bind(&e.user_agent)
    .bind(&e.event)
    .bind(&e.target_kind)
    .bind(&e.target)
    .bind(&e.outcome)
    .bind(&e.details)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The stored time format: fixed width, so text order is time order.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Which way to page.
#[derive(Clone, Copy, Debug)]
pub enum Cursor {
    /// Newest first, entries before this number (`None`: from the newest).
    Before(Option<i64>),
    /// Oldest first, entries after this number (0: from the first).
    After(i64),
}

/// A filter checked and converted to stored forms.
#[derive(Clone, Debug, Default)]
pub struct Query {
    actor: Option<String>,
    event: Option<String>,
    target: Option<String>,
    outcome: Option<Outcome>,
    from: Option<String>,
    to: Option<String>,
}

impl Query {
    /// Checks the filter's fields; bad times are field errors.
    pub fn new(filter: &AuditFilter) -> Result<Self, AppError> {
        let text = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(Query {
            actor: text(&filter.actor),
            event: text(&filter.event),
            target: text(&filter.target),
            outcome: filter.outcome,
            from: text(&filter.from).map(|v| bound(&v, false).ok_or(())).transpose().map_err(|_| bad_time("from"))?,
            to: text(&filter.to).map(|v| bound(&v, true).ok_or(())).transpose().map_err(|_| bad_time("to"))?,
        })
    }

    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.actor.is_none()
            && self.event.is_none()
            && self.target.is_none()
            && self.outcome.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }
}

fn bad_time(field: &str) -> AppError {
    AppError::invalid(field, FieldProblem::InvalidChoice)
}

/// A time bound in stored form: a date is the start of that day, or of the next day for an
/// exclusive upper bound; a full RFC 3339 time is taken as is.
fn bound(value: &str, upper: bool) -> Option<String> {
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if upper { date.succ_opt()? } else { date };
        return Some(timestamp(day.and_hms_opt(0, 0, 0)?.and_utc()));
    }
    DateTime::parse_from_rfc3339(value).ok().map(|t| timestamp(t.with_timezone(&Utc)))
}

const COLUMNS: &str = "seq, at, actor_kind, actor_id, actor_name, actor_roles, client_addr, user_agent, event, \
                       target_kind, target, outcome, details, prev_hash, hash";

/// A stored entry. Its text is taken verbatim, the enumerated columns (actor kind, outcome)
/// included: the hash covers exactly this text, and verification must be able to read an entry
/// that was tampered with in order to report it.
#[derive(sqlx::FromRow)]
struct AuditEntryRow {
    seq: i64,
    at: String,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_name: String,
    actor_roles: String,
    client_addr: String,
    user_agent: String,
    event: String,
    target_kind: String,
    target: String,
    outcome: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditEntryRow> for AuditEntry {
    fn from(row: AuditEntryRow) -> Self {
        AuditEntry {
            seq: row.seq,
            at: row.at,
            actor_kind: row.actor_kind,
            actor_id: row.actor_id,
            actor_name: row.actor_name,
            actor_roles: row.actor_roles,
            client_addr: row.client_addr,
            user_agent: row.user_agent,
            event: row.event,
            target_kind: row.target_kind,
            target: row.target,
            outcome: row.outcome,
            details: row.details,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// The newest entry's number and hash.
const HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// On PostgreSQL: locks the chain's head row until the commit and returns it (`seq` 0 before the
/// first entry).
const LOCK_HEAD: &str = "SELECT seq, hash FROM audit_head FOR UPDATE";

#[derive(sqlx::FromRow)]
struct HeadRow {
    seq: i64,
    hash: String,
}

impl From<HeadRow> for Head {
    fn from(row: HeadRow) -> Self {
        Head { seq: row.seq, hash: row.hash }
    }
}

/// Up to `limit` entries matching `query` from `cursor` on. Every filter column has an index
/// ending in `seq`, so a page costs the same at the newest entry and a million entries deep.
pub async fn page(db: &Db, query: &Query, cursor: Cursor, limit: i64) -> Result<Vec<AuditEntry>, DbError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    let mut param = |sql: &mut String, cond: &str, value: String| {
        binds.push(value);
        sql.push_str(&format!(" AND {cond} ${}", binds.len()));
    };
    if let Some(v) = &query.actor {
        param(&mut sql, "actor_name =", v.clone());
    }
    if let Some(v) = &query.event {
        param(&mut sql, "event =", v.clone());
    }
    if let Some(v) = &query.target {
        param(&mut sql, "target =", v.clone());
    }
    if let Some(v) = query.outcome {
        param(&mut sql, "outcome =", v.as_str().to_owned());
    }
    if let Some(v) = &query.from {
        param(&mut sql, "at >=", v.clone());
    }
    if let Some(v) = &query.to {
        param(&mut sql, "at <", v.clone());
    }
    let n = binds.len();
    let (seq_bound, order) = match cursor {
        Cursor::Before(Some(before)) => (Some(before), format!(" AND seq < ${} ORDER BY seq DESC", n + 1)),
        Cursor::Before(None) => (None, " ORDER BY seq DESC".to_owned()),
        Cursor::After(after) => (Some(after), format!(" AND seq > ${} ORDER BY seq ASC", n + 1)),
    };
    sql.push_str(&order);
    sql.push_str(&format!(" LIMIT ${}", n + 1 + usize::from(seq_bound.is_some())));
    let rows = on_db!(db, pool => {
        let mut q = sqlx::query_as::<_, AuditEntryRow>(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        if let Some(seq) = seq_bound {
            q = q.bind(seq);
        }
        q.bind(limit).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// One entry by number.
pub async fn get(db: &Db, seq: i64) -> Result<Option<AuditEntry>, DbError> {
    let row = on_db!(db, pool => sqlx::query_as::<_, AuditEntryRow>(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"))
        .bind(seq)
        .fetch_optional(pool)
        .await?);
    Ok(row.map(AuditEntry::from))
}

/// The newest entry's number and hash, to record outside the database.
pub async fn head(db: &Db) -> Result<Option<Head>, DbError> {
    let row = on_db!(db, pool => sqlx::query_as::<_, HeadRow>(HEAD).fetch_optional(pool).await?);
    Ok(row.map(Head::from))
}

/// Entries read per batch while verifying.
const VERIFY_BATCH: i64 = 5000;

/// Checks the whole chain in the database, optionally against a head recorded earlier.
pub async fn verify(db: &Db, recorded_head: Option<Head>) -> Result<VerifyReport, DbError> {
    verify_against(db, recorded_head.into_iter().collect()).await
}

/// Verifies the whole chain in the database against every head recorded outside it (anchors).
pub async fn verify_against(db: &Db, recorded: Vec<Head>) -> Result<VerifyReport, DbError> {
    let mut verifier = Verifier::against(recorded);
    let all = Query::default();
    let mut after = 0;
    loop {
        let batch = page(db, &all, Cursor::After(after), VERIFY_BATCH).await?;
        for e in &batch {
            if let Err(report) = verifier.push(e) {
                return Ok(report);
            }
        }
        match batch.last() {
            Some(last) if batch.len() as i64 == VERIFY_BATCH => after = last.seq,
            _ => return Ok(verifier.finish()),
        }
    }
}
