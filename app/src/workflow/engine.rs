//! The server side of the rule book: every change to an incident as one transaction.
//!
//! A gate action ([`act`]) runs these named steps inside one write transaction:
//! [`lock_at_version`] (row lock on PostgreSQL; SQLite's write transaction already holds the
//! lock) and the version check, [`rules::transition`], [`owners_after`] (claim, the users the
//! action names, checked to hold their role), [`verdicts_after`], [`park_in_pool`] (the optimal
//! solution of an interim plan), [`Facts::of`] (root cause, solution, release, reply...) and
//! [`write_move`] (a compare-and-set on the version), then the timeline entry, the audit entry
//! and [`effects::on_transition`], where queued emails join. Either all of it commits or none
//! does. Every entry point is wrapped by [`audited`], which records refusals in the audit log.

use std::future::Future;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{
    effects::{self, TransitionEvent},
    input::{self, GateInput, NewIncident, UserConfirmation},
    rules::{self, Actor, IncidentState, Owners, Refusal, Stage, TimelineAction, Transition},
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
        Outcome,
    },
    auth::Role,
    clocks::store::Current,
    db::{parse_stored, Db, WriteTx},
    error::{AppError, FieldProblem},
    mail::compose::OwnerChange,
    on_db, on_tx,
};

/// A created incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// Row id.
    pub id: i64,
    /// Human key, `INC-2026-0042`.
    pub key: String,
}

/// The incident after an accepted action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// Stage now.
    pub stage: Stage,
    /// Version now (the one to send with the next action).
    pub version: i64,
}

pub(crate) fn refused(refusal: Refusal) -> AppError {
    AppError::Refused(refusal)
}

fn invalid(field: &str, problem: FieldProblem) -> AppError {
    refused(Refusal::Invalid { field: field.to_owned(), problem })
}

/// What an attempt is, for the audit entry written when it is refused.
pub(crate) struct Attempt {
    /// The audit event of the attempted change.
    pub event: &'static str,
    /// The incident it was about, if any (its key becomes the entry's target).
    pub incident: Option<i64>,
    /// What was attempted.
    pub details: serde_json::Value,
}

/// Runs `change`; when it is refused, records the refused attempt in the audit log in a
/// transaction of its own (the attempt's rolled back). Form mistakes (invalid fields) are not
/// attempts to overstep and are not recorded; a failure to record is logged and the refusal
/// still stands.
pub(crate) async fn audited<T>(
    db: &Db,
    actor: &Actor,
    attempt: Attempt,
    now: DateTime<Utc>,
    change: impl Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = change.await;
    if let Err(err) = &result {
        let reason = match err {
            AppError::Refused(Refusal::Invalid { .. }) => return result,
            AppError::Refused(r) => serde_json::to_value(r).unwrap_or_default(),
            AppError::NotFound => serde_json::json!("NotFound"),
            _ => return result,
        };
        let mut details = attempt.details;
        details["refusal"] = reason;
        let recorded = async {
            let (kind, key) = match attempt.incident {
                Some(id) => ("incident", incident_key(db, id).await?.unwrap_or_else(|| id.to_string())),
                None => ("", String::new()),
            };
            Record::new(&Origin::actor(actor), attempt.event)
                .target(kind, key)
                .outcome(Outcome::Denied)
                .details(details)
                .record(db, now)
                .await
        }
        .await;
        if let Err(e) = recorded {
            tracing::error!("cannot record a refused action in the audit log: {e}");
        }
    }
    result
}

async fn incident_key(db: &Db, id: i64) -> Result<Option<String>, crate::db::DbError> {
    Ok(on_db!(db, pool => sqlx::query_scalar("SELECT key FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?))
}

/// Who an incident row starts with, besides the report itself.
struct Origination<'a> {
    /// The ops owner (the reporting ops user), or none for intake deliveries.
    ops_owner: Option<i64>,
    /// The intake source that delivered it.
    intake_source: Option<&'a crate::intake::store::Source>,
}

/// Inserts an incident in `reported` with the next key of the year. Returns `None` when the
/// intake delivery index refused it (a concurrent twin of the same delivery committed first).
async fn insert_incident(
    tx: &mut WriteTx,
    input: &NewIncident,
    origin: Origination<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Created>, AppError> {
    // The per-year counter row serialises concurrent creations: no two share a key.
    let year = i64::from(now.year());
    let seq: i64 = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "INSERT INTO incident_counters (year, last) VALUES ($1, 1) \
         ON CONFLICT (year) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
    )
    .bind(year)
    .fetch_one(conn)
    .await?);
    let key = format!("INC-{year}-{seq:04}");
    // DO NOTHING: a concurrent delivery of the same external id (PostgreSQL, where a lookup
    // cannot see an uncommitted twin) waits for the twin here and then inserts nothing.
    let id: Option<i64> = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
         external_ref, stage, ops_owner, created_by, intake_source_id, created_at, updated_at, stage_entered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $12, $12) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&key)
    .bind(input.title.trim())
    .bind(&input.description)
    .bind(input.severity.as_str())
    .bind(input.channel.as_str())
    .bind(input.reporter_name.trim())
    .bind(input.reporter_contact.trim())
    .bind(input.external_ref.trim())
    .bind(Stage::Reported.as_str())
    .bind(origin.ops_owner)
    .bind(origin.intake_source.map(|s| s.id))
    .bind(now)
    .fetch_optional(conn)
    .await?);
    if let Some(id) = id {
        crate::search::index::put_incident(tx, id).await?;
    }
    Ok(id.map(|id| Created { id, key }))
}

/// Reports a new incident in `reported`; the reporting ops user becomes its ops owner.
pub async fn create_incident(
    db: &Db,
    actor: &Actor,
    input: &NewIncident,
    now: DateTime<Utc>,
) -> Result<Created, AppError> {
    let attempt = Attempt { event: event::INCIDENT_CREATED, incident: None, details: serde_json::json!({}) };
    audited(db, actor, attempt, now, async {
        rules::may_create_incident(actor).map_err(refused)?;
        input.validate().map_err(refused)?;
        let mut tx = db.begin_write().await?;
        let origin = Origination { ops_owner: Some(actor.id), intake_source: None };
        let created = insert_incident(&mut tx, input, origin, now)
            .await?
            .ok_or_else(|| AppError::internal("a reported incident conflicted with an existing one"))?;
        let fields = serde_json::to_string(input).map_err(AppError::internal)?;
        let entry = TimelineRow::new(created.id, now, Some(actor.id), Role::Ops.as_str(), TimelineAction::Create);
        entry.stay(Stage::Reported).insert(&mut tx, &fields).await?;
        crate::clocks::store::on_created(&mut tx, created.id, input.severity, now).await?;
        Record::new(&Origin::actor(actor), event::INCIDENT_CREATED)
            .target("incident", &created.key)
            .details(serde_json::json!({ "after": input }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(created)
    })
    .await
}

/// The outcome of an intake delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The incident the delivery is about.
    pub incident: Created,
    /// False when the delivery repeated an earlier one (same source and external id) and the
    /// existing incident was returned without creating anything.
    pub created: bool,
}

/// Turns a report delivered by an intake source into an incident in `reported`, with no ops owner
/// yet (every ops user sees it in their queue, and the first to act claims it).
///
/// The incident, its timeline entry, the audit entry ([`event::INTAKE_RECEIVED`], actor kind
/// `intake`), the source's last use and the ops notification ([`notify_ops_of_intake`]) commit
/// together. A delivery whose external id this source already delivered returns that incident
/// and creates nothing, also when the two arrive at once: the unique index on (source, external
/// id) decides, and the loser finds the winner's incident.
///
/// [`notify_ops_of_intake`]: crate::intake::notify_ops_of_intake
pub async fn create_from_intake(
    db: &Db,
    blobs: &dyn crate::collab::storage::BlobStore,
    source: &crate::intake::store::Source,
    client: &crate::auth::ClientInfo,
    report: &crate::intake::Report,
    now: DateTime<Utc>,
) -> Result<Delivered, AppError> {
    let contact = [report.reporter_email.trim(), report.reporter_phone.trim()]
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let input = NewIncident {
        title: report.title.trim().to_owned(),
        description: report.description.clone(),
        // A hint at most: ops sets the real severity at triage.
        severity: report.severity.unwrap_or(input::Severity::P2),
        channel: source.channel.incident_channel(),
        reporter_name: report.reporter_name.trim().to_owned(),
        reporter_contact: contact,
        external_ref: report.external_id.trim().to_owned(),
    };
    input.validate().map_err(refused)?;
    let mut tx = db.begin_write().await?;
    if let Some(existing) = delivered_before(&mut tx, source.id, &input.external_ref).await? {
        touch_source(&mut tx, source.id, now).await?;
        tx.commit().await?;
        return Ok(Delivered { incident: existing, created: false });
    }
    let origin = Origination { ops_owner: None, intake_source: Some(source) };
    let Some(created) = insert_incident(&mut tx, &input, origin, now).await? else {
        tx.rollback().await?;
        let mut tx = db.begin_write().await?;
        let existing = delivered_before(&mut tx, source.id, &input.external_ref).await?;
        touch_source(&mut tx, source.id, now).await?;
        tx.commit().await?;
        return existing
            .map(|incident| Delivered { incident, created: false })
            .ok_or_else(|| AppError::internal("an intake insert conflicted but no earlier delivery was found"));
    };
    let received_at = report.received_at.map(|t| t.to_rfc3339());
    let fields = serde_json::json!({
        "source": source.name,
        "title": input.title,
        "description": input.description,
        "reporter_name": input.reporter_name,
        "reporter_contact": input.reporter_contact,
        "external_ref": input.external_ref,
        "received_at": received_at,
    })
    .to_string();
    let entry = TimelineRow::new(created.id, now, None, "intake", TimelineAction::Intake);
    entry.stay(Stage::Reported).insert(&mut tx, &fields).await?;
    crate::clocks::store::on_created(&mut tx, created.id, input.severity, now).await?;
    let origin = crate::collab::files::Source { incident_id: created.id, comment_id: None, by: None };
    crate::collab::files::insert(&mut tx, blobs, origin, &report.attachments, now).await?;
    touch_source(&mut tx, source.id, now).await?;
    crate::intake::notify_ops_of_intake(&mut tx, created.id).await?;
    // Last, as in every change: the audit append holds the chain's lock until the commit.
    Record::new(&Origin::intake(&source.name, client), event::INTAKE_RECEIVED)
        .target("incident", &created.key)
        .details(serde_json::json!({
            "source_id": source.id,
            "received_at": received_at,
            "after": input,
            "attachments": report.attachments.iter().map(|f| f.name()).collect::<Vec<_>>(),
        }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(Delivered { incident: created, created: true })
}

/// The incident an earlier delivery of `external_ref` from `source_id` created.
async fn delivered_before(tx: &mut WriteTx, source_id: i64, external_ref: &str) -> Result<Option<Created>, AppError> {
    #[derive(sqlx::FromRow)]
    struct CreatedRow {
        id: i64,
        key: String,
    }
    if external_ref.is_empty() {
        return Ok(None);
    }
    // The last condition repeats the partial index's own, so SQLite can use that index: without
    // it this lookup scans every incident.
    let found: Option<CreatedRow> = on_tx!(tx, conn => sqlx::query_as(
        "SELECT id, key FROM incidents WHERE intake_source_id = $1 AND external_ref = $2 AND external_ref <> ''",
    )
    .bind(source_id)
    .bind(external_ref)
    .fetch_optional(conn)
    .await?);
    Ok(found.map(|r| Created { id: r.id, key: r.key }))
}

async fn touch_source(tx: &mut WriteTx, source_id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    on_tx!(tx, conn => sqlx::query("UPDATE intake_sources SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(source_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// One timeline entry to write.
pub(crate) struct TimelineRow<'a> {
    incident_id: i64,
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    role: &'a str,
    action: TimelineAction,
    from: Stage,
    to: Stage,
}

impl<'a> TimelineRow<'a> {
    pub(crate) fn new(
        incident_id: i64,
        at: DateTime<Utc>,
        actor_id: Option<i64>,
        role: &'a str,
        action: TimelineAction,
    ) -> Self {
        TimelineRow { incident_id, at, actor_id, role, action, from: Stage::Reported, to: Stage::Reported }
    }

    /// An entry that does not change the stage.
    pub(crate) fn stay(self, stage: Stage) -> Self {
        self.moving(stage, stage)
    }

    fn moving(self, from: Stage, to: Stage) -> Self {
        TimelineRow { from, to, ..self }
    }

    pub(crate) async fn insert(self, tx: &mut WriteTx, fields: &str) -> Result<(), AppError> {
        on_tx!(tx, conn => sqlx::query(
            "INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.incident_id)
        .bind(self.at)
        .bind(self.actor_id)
        .bind(self.role)
        .bind(self.action.as_str())
        .bind(self.from.as_str())
        .bind(self.to.as_str())
        .bind(fields)
        .execute(conn)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

/// The incident as a change reads it under its lock.
struct Locked {
    key: String,
    severity: input::Severity,
    created_at: DateTime<Utc>,
    state: IncidentState,
    version: i64,
    fix_round: i64,
    pool_item_id: Option<i64>,
    /// The current stage clock (JSON) and the stored policy as read with the lock (SQLite), or
    /// `None` when they were not (PostgreSQL): decoded only by a change that moves the stage.
    clock_read: Option<(Option<String>, Option<String>)>,
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    key: String,
    severity: String,
    created_at: DateTime<Utc>,
    stage: String,
    ops_owner: Option<i64>,
    pm_owner: Option<i64>,
    dev_owner: Option<i64>,
    qa_owner: Option<i64>,
    pm_verdict: Option<bool>,
    dev_verdict: Option<bool>,
    version: i64,
    fix_round: i64,
    pool_item_id: Option<i64>,
    /// The current clock (JSON) and the stored policy, read with the lock on SQLite only (the
    /// columns are missing on PostgreSQL).
    #[sqlx(default)]
    current_clock: Option<String>,
    #[sqlx(default)]
    clock_policy: Option<String>,
}

impl TryFrom<LockedRow> for Locked {
    type Error = crate::db::UnknownStoredValue;

    fn try_from(r: LockedRow) -> Result<Self, Self::Error> {
        Ok(Locked {
            key: r.key,
            severity: parse_stored("incidents.severity", &r.severity, input::Severity::parse)?,
            created_at: r.created_at,
            state: IncidentState {
                stage: parse_stored("incidents.stage", &r.stage, Stage::parse)?,
                owners: Owners { ops: r.ops_owner, pm: r.pm_owner, dev: r.dev_owner, qa: r.qa_owner },
                pm_verdict: r.pm_verdict,
                dev_verdict: r.dev_verdict,
            },
            version: r.version,
            fix_round: r.fix_round,
            pool_item_id: r.pool_item_id,
            clock_read: None,
        })
    }
}

/// A release cannot have been deployed before the incident was reported (the form has minutes,
/// so the reported minute counts) nor after now (a few minutes allowed for clocks that differ).
fn check_times(facts: &Facts, reported: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), AppError> {
    if let Some(deployed) = facts.deployed_at {
        // The start of the reported minute: 59 s back was short by the fraction of a second.
        let reported_minute = reported
            - chrono::Duration::nanoseconds(reported.timestamp_subsec_nanos().into())
            - chrono::Duration::seconds(reported.timestamp() % 60);
        if deployed < reported_minute {
            return Err(invalid("deployed_at", FieldProblem::BeforeReported));
        }
        if deployed > now + chrono::Duration::minutes(5) {
            return Err(invalid("deployed_at", FieldProblem::InFuture));
        }
    }
    Ok(())
}

/// Locks the incident and checks that it is still at the version the user saw.
///
/// On SQLite the same statement reads the incident's current stage clock and the clock policy,
/// which a stage change needs next: the transaction holds the database's only write lock from its
/// start, so nothing can change them before the commit. On PostgreSQL they are read later, in a
/// statement of their own ([`crate::clocks::store::Current::read`]): the subqueries of a
/// `SELECT ... FOR UPDATE` see the database as it was before the statement waited for the row
/// lock, so a clock that the lock's previous holder wrote without moving the version (the
/// start-up adoption of clocks) would be missed.
async fn lock_at_version(tx: &mut WriteTx, id: i64, expected_version: i64) -> Result<Locked, AppError> {
    const COLUMNS: &str = "key, severity, created_at, stage, ops_owner, pm_owner, dev_owner, qa_owner, pm_verdict, \
                           dev_verdict, version, fix_round, pool_item_id";
    let (row, clock_read): (Option<LockedRow>, bool) = match tx {
        WriteTx::Sqlite(conn) => {
            let sql = format!(
                "SELECT {COLUMNS}, {} FROM incidents WHERE id = $2",
                crate::clocks::store::current_columns_sql()
            );
            let row = sqlx::query_as(&sql)
                .bind(crate::clocks::policy::POLICY_SETTING)
                .bind(id)
                .fetch_optional(&mut **conn)
                .await?;
            (row, true)
        }
        WriteTx::Postgres(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE");
            (sqlx::query_as(&sql).bind(id).fetch_optional(&mut **conn).await?, false)
        }
    };
    let mut row = row.ok_or(AppError::NotFound)?;
    let read = clock_read.then(|| (row.current_clock.take(), row.clock_policy.take()));
    let mut locked = Locked::try_from(row)?;
    locked.clock_read = read;
    if locked.version != expected_version {
        return Err(refused(Refusal::Stale));
    }
    Ok(locked)
}

/// Refuses `user_id` for `field` unless it is an active user holding `role` (any role if `None`).
pub(crate) async fn require_user(
    tx: &mut WriteTx,
    user_id: i64,
    role: Option<Role>,
    field: &str,
) -> Result<(), AppError> {
    let n: i64 = on_tx!(tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u WHERE u.id = $1 AND u.active = $2 AND \
         ($3 IS NULL OR EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = $3))",
    )
    .bind(user_id)
    .bind(true)
    .bind(role.map(Role::as_str))
    .fetch_one(conn)
    .await?);
    if n > 0 {
        Ok(())
    } else {
        Err(invalid(field, FieldProblem::InvalidChoice))
    }
}

/// Takes one gate action on incident `id`, which the user last saw at `expected_version`.
pub async fn act(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    input: &GateInput,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    let details = serde_json::json!({ "action": input.kind().as_str(), "version": expected_version });
    let attempt = Attempt { event: event::INCIDENT_ACTION, incident: Some(id), details };
    audited(db, actor, attempt, now, act_tx(db, actor, id, expected_version, input, now)).await
}

async fn act_tx(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    input: &GateInput,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    input.validate().map_err(refused)?;
    let facts = Facts::of(input)?;
    let kind = input.kind();
    let mut tx = db.begin_write().await?;
    let mut locked = lock_at_version(&mut tx, id, expected_version).await?;
    check_times(&facts, locked.created_at, now)?;
    let pool_given = matches!(input, GateInput::VerdictPm { pool: Some(_), .. });
    let t = rules::transition(&locked.state, actor, kind, input.optimal(), pool_given).map_err(refused)?;
    let owners = owners_after(&mut tx, &locked, actor, &t, input).await?;
    let verdicts = verdicts_after(&locked.state, &t);
    let pool_item_id = park_in_pool(&mut tx, id, locked.pool_item_id, actor, &t, input, now).await?;
    let change = Move { owners, verdicts, pool_item_id, fix_round: locked.fix_round + i64::from(t.next_round) };
    write_move(&mut tx, id, expected_version, &t, &change, &facts, now).await?;
    // A proposal's root cause and solution are searched with the incident.
    if facts.root_cause.is_some() || facts.solution.is_some() {
        crate::search::index::put_incident(&mut tx, id).await?;
    }
    let (from, to) = (locked.state.stage, t.to);
    if from != to {
        let current = match locked.clock_read.take() {
            Some((clock, policy)) => Current::from_locked_read(clock.as_deref(), policy)?,
            None => Current::read(&mut tx, id).await?,
        };
        let by = Some((actor.id, kind.role()));
        crate::clocks::store::on_stage_entered(&mut tx, id, current, to, locked.severity, now, by).await?;
    }
    record_replaced_owners(&mut tx, id, &locked, actor, &owners, input, now).await?;
    if let GateInput::SendReport { measures, .. } = input {
        crate::insight::measures::insert_for_report(&mut tx, id, measures, now).await?;
    }
    let fields = serde_json::to_string(input).map_err(AppError::internal)?;
    let entry = TimelineRow::new(id, now, Some(actor.id), kind.role().as_str(), TimelineAction::Gate(kind));
    entry.moving(from, to).insert(&mut tx, &fields).await?;
    let event = TransitionEvent { incident_id: id, actor_id: actor.id, kind, from, to, owners };
    let origin = Origin::actor(actor);
    let audit =
        Record::new(&origin, event::INCIDENT_ACTION).target("incident", &locked.key).details(serde_json::json!({
            "action": kind.as_str(),
            "before": { "stage": from.as_str(), "version": expected_version },
            "after": { "stage": to.as_str(), "version": expected_version + 1 },
            "input": input,
        }));
    // The audit entry comes last: appending takes the chain's lock (on PostgreSQL, one for the
    // whole database), held until the commit, so the emails are queued before it. The report is
    // the exception: its footer quotes the chain's head including this closing entry.
    if effects::quotes_audit_head(kind) {
        audit.append(&mut tx, now).await?;
        effects::on_transition(&mut tx, &event).await?;
    } else {
        effects::on_transition(&mut tx, &event).await?;
        audit.append(&mut tx, now).await?;
    }
    tx.commit().await?;
    Ok(Moved { stage: to, version: expected_version + 1 })
}

/// A dispatch that names someone else than a dev or QA owner already named (by a claim or a
/// reassignment) replaces them: the timeline says so, as a reassignment with the dispatch's note,
/// and the replaced owner is told (the new one hears of it from the stage notification).
async fn record_replaced_owners(
    tx: &mut WriteTx,
    id: i64,
    locked: &Locked,
    actor: &Actor,
    after: &Owners,
    input: &GateInput,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let GateInput::Dispatch { note, .. } = input else { return Ok(()) };
    for role in [Role::Dev, Role::Qa] {
        let (before, Some(new)) = (locked.state.owners.get(role), after.get(role)) else { continue };
        if before.is_none() || before == Some(new) {
            continue;
        }
        let fields = serde_json::json!({ "role": role.as_str(), "from": before, "to": new, "reason": note.trim() });
        let entry = TimelineRow::new(id, now, Some(actor.id), Role::Pm.as_str(), TimelineAction::Reassign);
        entry.stay(locked.state.stage).insert(tx, &fields.to_string()).await?;
        let told = OwnerChange {
            incident_id: id,
            role,
            before,
            after: new,
            actor_id: actor.id,
            reason: note,
            tell_new_owner: false,
        };
        crate::mail::compose::notify_owner_change(tx, &told).await?;
    }
    Ok(())
}

/// The named owners after the action: the actor claims an unowned role, triage names the PM,
/// dispatch the dev and QA owners. Every user an action names (owners, measure owners) must be
/// active, and owners must hold their role.
async fn owners_after(
    tx: &mut WriteTx,
    locked: &Locked,
    actor: &Actor,
    t: &Transition,
    input: &GateInput,
) -> Result<Owners, AppError> {
    let mut owners = locked.state.owners;
    if let Some(role) = t.claim {
        owners.set(role, actor.id);
    }
    match input {
        GateInput::TriageTechnical { pm_id, .. } => {
            require_user(tx, *pm_id, Some(Role::Pm), "pm_id").await?;
            owners.pm = Some(*pm_id);
        }
        GateInput::Dispatch { dev_id, qa_id, .. } => {
            require_user(tx, *dev_id, Some(Role::Dev), "dev_id").await?;
            require_user(tx, *qa_id, Some(Role::Qa), "qa_id").await?;
            owners.dev = Some(*dev_id);
            owners.qa = Some(*qa_id);
        }
        GateInput::SendReport { measures, .. } => {
            for m in measures {
                require_user(tx, m.owner_id, None, "measure_owner").await?;
            }
        }
        _ => {}
    }
    Ok(owners)
}

/// Both verdicts after the action: a new proposal or a send-back clears them, a verdict sets its
/// author's.
fn verdicts_after(state: &IncidentState, t: &Transition) -> (Option<bool>, Option<bool>) {
    let (mut pm, mut dev) = if t.clear_verdicts { (None, None) } else { (state.pm_verdict, state.dev_verdict) };
    match t.verdict {
        Some((Role::Pm, v)) => pm = Some(v),
        Some((Role::Dev, v)) => dev = Some(v),
        _ => {}
    }
    (pm, dev)
}

/// The PM's not-optimal verdict parks the optimal solution in the requirement pool; returns the
/// incident's pool item after the action.
async fn park_in_pool(
    tx: &mut WriteTx,
    incident_id: i64,
    current: Option<i64>,
    actor: &Actor,
    t: &Transition,
    input: &GateInput,
    now: DateTime<Utc>,
) -> Result<Option<i64>, AppError> {
    match (t.creates_pool_item, input) {
        (true, GateInput::VerdictPm { pool: Some(draft), .. }) => {
            let source = crate::pool::store::Source { incident_id: Some(incident_id), created_by: actor.id };
            Ok(Some(crate::pool::store::insert(tx, draft, source, now).await?))
        }
        _ => Ok(current),
    }
}

/// The facts a gate action establishes for later steps and the report: written to their own
/// typed columns; `None` leaves a column as it is.
#[derive(Debug, Default, PartialEq)]
pub struct Facts {
    /// Root cause of the latest proposal.
    pub root_cause: Option<String>,
    /// Solution of the latest proposal.
    pub solution: Option<String>,
    /// The released version.
    pub release_version: Option<String>,
    /// When the release was deployed.
    pub deployed_at: Option<DateTime<Utc>>,
    /// Notes of the passing regression test.
    pub regression_notes: Option<String>,
    /// The reply sent to the user (at triage or at follow-up).
    pub user_reply: Option<String>,
    /// The user's answer at follow-up.
    pub user_confirmation: Option<UserConfirmation>,
}

impl Facts {
    /// The facts `input` establishes (it has been validated).
    pub fn of(input: &GateInput) -> Result<Self, AppError> {
        let text = |s: &str| Some(s.trim().to_owned());
        Ok(match input {
            GateInput::Propose { root_cause, solution } => {
                Facts { root_cause: text(root_cause), solution: text(solution), ..Facts::default() }
            }
            GateInput::MarkReleased { version, deployed_at } => Facts {
                release_version: text(version),
                deployed_at: Some(
                    utc_time(deployed_at).ok_or_else(|| invalid("deployed_at", FieldProblem::InvalidDate))?,
                ),
                ..Facts::default()
            },
            GateInput::RegressionPass { notes } => Facts { regression_notes: text(notes), ..Facts::default() },
            GateInput::TriageNonTechnical { reply } => Facts { user_reply: text(reply), ..Facts::default() },
            GateInput::ConfirmFollowup { reply, confirmation } => {
                Facts { user_reply: text(reply), user_confirmation: Some(*confirmation), ..Facts::default() }
            }
            _ => Facts::default(),
        })
    }
}

/// A `YYYY-MM-DDTHH:MM[:SS]` time in UTC (see [`input::parse_date_time`]).
fn utc_time(value: &str) -> Option<DateTime<Utc>> {
    let (y, mo, d, h, mi, s) = input::parse_date_time(value)?;
    Some(NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s)?.and_utc())
}

/// What an accepted action writes besides the stage and the facts.
struct Move {
    owners: Owners,
    verdicts: (Option<bool>, Option<bool>),
    pool_item_id: Option<i64>,
    fix_round: i64,
}

/// Writes the stage change with a compare-and-set on the version: the version check ran under
/// the lock, and this WHERE makes the write itself refuse a moved incident, so no interleaving can
/// apply two actions to one version.
async fn write_move(
    tx: &mut WriteTx,
    id: i64,
    expected_version: i64,
    t: &Transition,
    change: &Move,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let o = change.owners;
    let updated = on_tx!(tx, conn => sqlx::query(
        "UPDATE incidents SET stage = $1, ops_owner = $2, pm_owner = $3, dev_owner = $4, qa_owner = $5, \
         pm_verdict = $6, dev_verdict = $7, fix_round = $8, plan = COALESCE($9, plan), pool_item_id = $10, \
         resolution = COALESCE($11, resolution), root_cause = COALESCE($12, root_cause), \
         solution = COALESCE($13, solution), release_version = COALESCE($14, release_version), \
         deployed_at = COALESCE($15, deployed_at), regression_notes = COALESCE($16, regression_notes), \
         user_reply = COALESCE($17, user_reply), user_confirmation = COALESCE($18, user_confirmation), \
         version = version + 1, updated_at = $19, \
         stage_entered_at = CASE WHEN stage = $1 THEN stage_entered_at ELSE $19 END \
         WHERE id = $20 AND version = $21",
    )
    .bind(t.to.as_str())
    .bind(o.ops)
    .bind(o.pm)
    .bind(o.dev)
    .bind(o.qa)
    .bind(change.verdicts.0)
    .bind(change.verdicts.1)
    .bind(change.fix_round)
    .bind(t.plan.map(rules::Plan::as_str))
    .bind(change.pool_item_id)
    .bind(t.resolution.map(rules::Resolution::as_str))
    .bind(facts.root_cause.as_deref())
    .bind(facts.solution.as_deref())
    .bind(facts.release_version.as_deref())
    .bind(facts.deployed_at)
    .bind(facts.regression_notes.as_deref())
    .bind(facts.user_reply.as_deref())
    .bind(facts.user_confirmation.map(UserConfirmation::as_str))
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .execute(conn)
    .await?
    .rows_affected());
    exactly_one(updated)
}

/// A compare-and-set on the version updated one row, or the incident moved on meanwhile.
fn exactly_one(updated: u64) -> Result<(), AppError> {
    if updated == 1 {
        Ok(())
    } else {
        Err(refused(Refusal::Stale))
    }
}

/// Makes the actor the named owner of `role` on an incident where that role has none yet.
pub async fn claim(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    let details = serde_json::json!({ "role": role.as_str(), "version": expected_version });
    let attempt = Attempt { event: event::INCIDENT_CLAIM, incident: Some(id), details };
    audited(db, actor, attempt, now, async {
        let mut tx = db.begin_write().await?;
        let locked = lock_at_version(&mut tx, id, expected_version).await?;
        rules::may_claim(&locked.state, actor, role).map_err(refused)?;
        let mut owners = locked.state.owners;
        owners.set(role, actor.id);
        set_owners(&mut tx, id, expected_version, owners, now).await?;
        let fields = serde_json::json!({ "role": role.as_str(), "user_id": actor.id }).to_string();
        let stage = locked.state.stage;
        let entry = TimelineRow::new(id, now, Some(actor.id), role.as_str(), TimelineAction::Claim);
        entry.stay(stage).insert(&mut tx, &fields).await?;
        Record::new(&Origin::actor(actor), event::INCIDENT_CLAIM)
            .target("incident", &locked.key)
            .details(
                serde_json::json!({ "role": role.as_str(), "before": null, "after": actor.id, "stage": stage.as_str() }),
            )
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(Moved { stage, version: expected_version + 1 })
    })
    .await
}

/// A change of one named owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassignment {
    /// The role whose owner changes.
    pub role: Role,
    /// The new owner; must hold the role.
    pub user_id: i64,
    /// Why (recorded on the timeline and in the audit log).
    pub reason: String,
}

/// Names another owner for a role ([`rules::may_reassign`]: the PM owner the ops, dev and QA
/// owners; an admin any owner), always with a reason.
pub async fn reassign(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    change: &Reassignment,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    let details = serde_json::json!({
        "role": change.role.as_str(), "to": change.user_id, "reason": change.reason, "version": expected_version,
    });
    let attempt = Attempt { event: event::INCIDENT_REASSIGN, incident: Some(id), details };
    audited(db, actor, attempt, now, async {
        if change.reason.trim().is_empty() {
            return Err(invalid("reason", FieldProblem::Required));
        }
        if change.reason.chars().count() > input::MAX_TEXT {
            return Err(invalid("reason", FieldProblem::TooLong(input::MAX_TEXT)));
        }
        crate::text::check("reason", &change.reason)?;
        let mut tx = db.begin_write().await?;
        let locked = lock_at_version(&mut tx, id, expected_version).await?;
        let acting_as = rules::may_reassign(&locked.state, actor, change.role).map_err(refused)?;
        require_user(&mut tx, change.user_id, Some(change.role), "user_id").await?;
        let before = locked.state.owners.get(change.role);
        let mut owners = locked.state.owners;
        owners.set(change.role, change.user_id);
        set_owners(&mut tx, id, expected_version, owners, now).await?;
        let reason = change.reason.trim();
        let role = change.role.as_str();
        let fields = serde_json::json!({ "role": role, "from": before, "to": change.user_id, "reason": reason });
        let stage = locked.state.stage;
        let entry = TimelineRow::new(id, now, Some(actor.id), acting_as.as_str(), TimelineAction::Reassign);
        entry.stay(stage).insert(&mut tx, &fields.to_string()).await?;
        let told = OwnerChange {
            incident_id: id,
            role: change.role,
            before,
            after: change.user_id,
            actor_id: actor.id,
            reason,
            tell_new_owner: true,
        };
        crate::mail::compose::notify_owner_change(&mut tx, &told).await?;
        Record::new(&Origin::actor(actor), event::INCIDENT_REASSIGN)
            .target("incident", &locked.key)
            .details(serde_json::json!({
                "role": role,
                "before": before,
                "after": change.user_id,
                "reason": reason,
                "as": acting_as.as_str(),
                "stage": stage.as_str(),
            }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(Moved { stage, version: expected_version + 1 })
    })
    .await
}

/// Pauses the clock of an incident in user follow-up while ops waits for the user's answer,
/// with a reason: only who may confirm the follow-up may pause it (the ops owner, or any ops user
/// while it has none). Recorded on the timeline and in the audit log.
pub async fn pause_clock(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    let details = serde_json::json!({ "reason": reason, "version": expected_version });
    let attempt = Attempt { event: event::CLOCK_PAUSED, incident: Some(id), details };
    audited(db, actor, attempt, now, async {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", FieldProblem::Required));
        }
        if reason.chars().count() > input::MAX_TEXT {
            return Err(invalid("reason", FieldProblem::TooLong(input::MAX_TEXT)));
        }
        crate::text::check("reason", reason)?;
        let mut tx = db.begin_write().await?;
        let locked = lock_at_version(&mut tx, id, expected_version).await?;
        rules::may_act(&locked.state, actor, rules::ActionKind::ConfirmFollowup).map_err(refused)?;
        if !crate::clocks::store::pause_in(&mut tx, id, now).await? {
            return Err(refused(Refusal::WrongStage));
        }
        clock_change(&mut tx, id, &locked, actor, TimelineAction::Pause, serde_json::json!({ "reason": reason }), now)
            .await?;
        tx.commit().await?;
        Ok(Moved { stage: locked.state.stage, version: expected_version + 1 })
    })
    .await
}

/// Resumes a paused clock (same people as [`pause_clock`]); it counts on from where it stopped.
pub async fn resume_clock(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    let details = serde_json::json!({ "version": expected_version });
    let attempt = Attempt { event: event::CLOCK_RESUMED, incident: Some(id), details };
    audited(db, actor, attempt, now, async {
        let mut tx = db.begin_write().await?;
        let locked = lock_at_version(&mut tx, id, expected_version).await?;
        rules::may_act(&locked.state, actor, rules::ActionKind::ConfirmFollowup).map_err(refused)?;
        if !crate::clocks::store::resume_in(&mut tx, id, now).await? {
            return Err(refused(Refusal::WrongStage));
        }
        clock_change(&mut tx, id, &locked, actor, TimelineAction::Resume, serde_json::json!({}), now).await?;
        tx.commit().await?;
        Ok(Moved { stage: locked.state.stage, version: expected_version + 1 })
    })
    .await
}

/// The version bump, timeline entry and audit entry of a pause or a resume.
async fn clock_change(
    tx: &mut WriteTx,
    id: i64,
    locked: &Locked,
    actor: &Actor,
    action: TimelineAction,
    fields: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    set_owners(tx, id, locked.version, locked.state.owners, now).await?;
    let stage = locked.state.stage;
    let entry = TimelineRow::new(id, now, Some(actor.id), Role::Ops.as_str(), action);
    entry.stay(stage).insert(tx, &fields.to_string()).await?;
    let event = if action == TimelineAction::Pause { event::CLOCK_PAUSED } else { event::CLOCK_RESUMED };
    let mut details = fields;
    details["stage"] = stage.as_str().into();
    Record::new(&Origin::actor(actor), event).target("incident", &locked.key).details(details).append(tx, now).await?;
    Ok(())
}

async fn set_owners(
    tx: &mut WriteTx,
    id: i64,
    expected_version: i64,
    owners: Owners,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let updated = on_tx!(tx, conn => sqlx::query(
        "UPDATE incidents SET ops_owner = $1, pm_owner = $2, dev_owner = $3, qa_owner = $4, version = version + 1, \
         updated_at = $5 WHERE id = $6 AND version = $7",
    )
    .bind(owners.ops)
    .bind(owners.pm)
    .bind(owners.dev)
    .bind(owners.qa)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .execute(conn)
    .await?
    .rows_affected());
    exactly_one(updated)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::{check_times, invalid, Facts};
    use crate::error::FieldProblem;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_deploy_in_the_reported_minute_counts_however_late_in_that_minute_it_was_reported() {
        let reported = at("2026-12-02T06:20:59.600Z");
        let now = at("2026-12-02T06:30:00Z");
        let deployed = |t: &str| Facts { deployed_at: Some(at(t)), ..Default::default() };
        assert_eq!(check_times(&deployed("2026-12-02T06:20:00Z"), reported, now), Ok(()));
        assert_eq!(
            check_times(&deployed("2026-12-02T06:19:00Z"), reported, now),
            Err(invalid("deployed_at", FieldProblem::BeforeReported))
        );
    }
}
