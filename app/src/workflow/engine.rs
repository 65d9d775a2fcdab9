//! The server side of the rule book: every gate action as one transaction.
//!
//! An action loads the incident (row-locked on PostgreSQL; SQLite's write transaction holds the
//! lock), checks the version the user saw, asks [`rules::transition`] what happens, checks the
//! users it names, then writes the stage change with a compare-and-set on the version, the
//! timeline entry, any pool item and the audit entry, and calls [`effects::on_transition`] where
//! queued emails join the same transaction. Either all of it commits or none of it does.

use chrono::{DateTime, Datelike, Utc};
use sqlx::Row;

use super::{
    effects::{self, TransitionEvent},
    input::{GateInput, NewIncident},
    rules::{self, Actor, IncidentState, Owners, Plan, Refusal, Stage},
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
        Outcome,
    },
    auth::Role,
    db::{Db, WriteTx},
    error::{AppError, FieldProblem},
    on_tx,
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

fn refused(refusal: Refusal) -> AppError {
    AppError::Refused(refusal)
}

fn invalid(field: &str, problem: FieldProblem) -> AppError {
    refused(Refusal::Invalid { field: field.to_owned(), problem })
}

/// Records a refused attempt in the audit log, in a transaction of its own since the attempt's
/// rolled back. Form mistakes (invalid fields) are not attempts to overstep and are not recorded;
/// a failure to record is logged and the refusal still stands.
async fn record_refusal(
    db: &Db,
    actor: &Actor,
    event: &'static str,
    incident_id: Option<i64>,
    mut details: serde_json::Value,
    err: &AppError,
    now: DateTime<Utc>,
) {
    let reason = match err {
        AppError::Refused(Refusal::Invalid { .. }) => return,
        AppError::Refused(r) => serde_json::to_value(r).unwrap_or_default(),
        AppError::NotFound => serde_json::json!("NotFound"),
        _ => return,
    };
    details["refusal"] = reason;
    let result = async {
        let key = match incident_id {
            Some(id) => incident_key(db, id).await?.unwrap_or_else(|| id.to_string()),
            None => String::new(),
        };
        let kind = if incident_id.is_some() { "incident" } else { "" };
        Record::new(&Origin::actor(actor), event)
            .target(kind, key)
            .outcome(Outcome::Denied)
            .details(details)
            .record(db, now)
            .await
    }
    .await;
    if let Err(e) = result {
        tracing::error!("cannot record a refused action in the audit log: {e}");
    }
}

async fn incident_key(db: &Db, id: i64) -> Result<Option<String>, crate::db::DbError> {
    let key = crate::on_db!(db, pool => sqlx::query("SELECT key FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?);
    Ok(key)
}

/// Reports a new incident in `reported`; the reporting ops user becomes its ops owner.
pub async fn create_incident(
    db: &Db,
    actor: &Actor,
    input: &NewIncident,
    now: DateTime<Utc>,
) -> Result<Created, AppError> {
    let result = create_incident_tx(db, actor, input, now).await;
    if let Err(err) = &result {
        record_refusal(db, actor, event::INCIDENT_CREATED, None, serde_json::json!({}), err, now).await;
    }
    result
}

async fn create_incident_tx(
    db: &Db,
    actor: &Actor,
    input: &NewIncident,
    now: DateTime<Utc>,
) -> Result<Created, AppError> {
    if !actor.roles.contains(&Role::Ops) {
        return Err(refused(Refusal::NotYourRole));
    }
    input.validate().map_err(refused)?;
    let mut tx = db.begin_write().await?;
    // The per-year counter row serialises concurrent creations: no two share a key.
    let year = i64::from(now.year());
    let seq: i64 = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO incident_counters (year, last) VALUES ($1, 1) \
         ON CONFLICT (year) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
    )
    .bind(year)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    let key = format!("INC-{year}-{seq:04}");
    let id: i64 = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
         external_ref, stage, ops_owner, created_by, created_at, updated_at, stage_entered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
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
    .bind(actor.id)
    .bind(actor.id)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    let fields = serde_json::to_string(input).map_err(AppError::internal)?;
    insert_timeline(
        &mut tx,
        id,
        now,
        Some(actor.id),
        Role::Ops.as_str(),
        "create",
        Stage::Reported,
        Stage::Reported,
        &fields,
    )
    .await?;
    Record::new(&Origin::actor(actor), event::INCIDENT_CREATED)
        .target("incident", &key)
        .details(serde_json::json!({ "after": input }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(Created { id, key })
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
        severity: report.severity.unwrap_or(super::input::Severity::P2),
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
    let year = i64::from(now.year());
    let seq: i64 = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO incident_counters (year, last) VALUES ($1, 1) \
         ON CONFLICT (year) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
    )
    .bind(year)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    let key = format!("INC-{year}-{seq:04}");
    // DO NOTHING: a concurrent delivery of the same external id (PostgreSQL, where the check
    // above cannot see an uncommitted twin) waits for the twin here and then inserts nothing.
    let id: Option<i64> = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
         external_ref, stage, intake_source_id, created_at, updated_at, stage_entered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&key)
    .bind(&input.title)
    .bind(&input.description)
    .bind(input.severity.as_str())
    .bind(input.channel.as_str())
    .bind(&input.reporter_name)
    .bind(&input.reporter_contact)
    .bind(&input.external_ref)
    .bind(Stage::Reported.as_str())
    .bind(source.id)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?);
    let Some(id) = id else {
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
    insert_timeline(&mut tx, id, now, None, "intake", "intake", Stage::Reported, Stage::Reported, &fields).await?;
    Record::new(&Origin::intake(&source.name, client), event::INTAKE_RECEIVED)
        .target("incident", &key)
        .details(serde_json::json!({ "source_id": source.id, "received_at": received_at, "after": input }))
        .append(&mut tx, now)
        .await?;
    touch_source(&mut tx, source.id, now).await?;
    crate::intake::notify_ops_of_intake(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Delivered { incident: Created { id, key }, created: true })
}

/// The incident an earlier delivery of `external_ref` from `source_id` created.
async fn delivered_before(tx: &mut WriteTx, source_id: i64, external_ref: &str) -> Result<Option<Created>, AppError> {
    if external_ref.is_empty() {
        return Ok(None);
    }
    // The last condition repeats the partial index's own, so SQLite can use that index: without
    // it this lookup scans every incident.
    let found = on_tx!(tx, conn => sqlx::query(
        "SELECT id, key FROM incidents WHERE intake_source_id = $1 AND external_ref = $2 AND external_ref <> ''",
    )
        .bind(source_id)
        .bind(external_ref)
        .fetch_optional(conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>(Created { id: r.try_get(0)?, key: r.try_get(1)? }))
        .transpose()?);
    Ok(found)
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

#[allow(clippy::too_many_arguments)]
async fn insert_timeline(
    tx: &mut WriteTx,
    incident_id: i64,
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    role: &str,
    action: &str,
    from: Stage,
    to: Stage,
    fields: &str,
) -> Result<(), AppError> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO incident_timeline (incident_id, at, actor_id, actor_role, action, from_stage, to_stage, fields) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(incident_id)
    .bind(at)
    .bind(actor_id)
    .bind(role)
    .bind(action)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(fields)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(())
}

struct Locked {
    key: String,
    state: IncidentState,
    version: i64,
    fix_round: i64,
    pool_item_id: Option<i64>,
}

async fn load_for_update(tx: &mut WriteTx, id: i64) -> Result<Option<Locked>, AppError> {
    const COLUMNS: &str =
        "stage, ops_owner, pm_owner, dev_owner, qa_owner, pm_verdict, dev_verdict, version, fix_round, pool_item_id, key";
    macro_rules! locked {
        ($row:expr) => {{
            let stage: String = $row.try_get(0)?;
            Locked {
                key: $row.try_get(10)?,
                state: IncidentState {
                    stage: Stage::parse(&stage).unwrap_or(Stage::Closed),
                    owners: Owners {
                        ops: $row.try_get(1)?,
                        pm: $row.try_get(2)?,
                        dev: $row.try_get(3)?,
                        qa: $row.try_get(4)?,
                    },
                    pm_verdict: $row.try_get(5)?,
                    dev_verdict: $row.try_get(6)?,
                },
                version: $row.try_get(7)?,
                fix_round: $row.try_get(8)?,
                pool_item_id: $row.try_get(9)?,
            }
        }};
    }
    let locked = match tx {
        WriteTx::Sqlite(tx) => sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| Ok::<_, sqlx::Error>(locked!(r)))
            .transpose()?,
        WriteTx::Postgres(tx) => sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| Ok::<_, sqlx::Error>(locked!(r)))
            .transpose()?,
    };
    Ok(locked)
}

/// Locks the incident and checks that it is still at the version the user saw.
async fn lock_at_version(tx: &mut WriteTx, id: i64, expected_version: i64) -> Result<Locked, AppError> {
    let locked = load_for_update(tx, id).await?.ok_or(AppError::NotFound)?;
    if locked.version != expected_version {
        return Err(refused(Refusal::Stale));
    }
    Ok(locked)
}

/// Whether `user_id` is an active user holding `role`.
async fn holds_role(tx: &mut WriteTx, user_id: i64, role: Role) -> Result<bool, AppError> {
    let n: i64 = on_tx!(tx, conn => sqlx::query(
        "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id WHERE u.id = $1 AND r.role = $2 AND u.active = $3",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(true)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    Ok(n > 0)
}

async fn require_holder(tx: &mut WriteTx, user_id: i64, role: Role, field: &str) -> Result<(), AppError> {
    if holds_role(tx, user_id, role).await? {
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
    let result = act_tx(db, actor, id, expected_version, input, now).await;
    if let Err(err) = &result {
        let details = serde_json::json!({ "action": input.kind().as_str(), "version": expected_version });
        record_refusal(db, actor, event::INCIDENT_ACTION, Some(id), details, err, now).await;
    }
    result
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
    let kind = input.kind();
    let mut tx = db.begin_write().await?;
    let locked = lock_at_version(&mut tx, id, expected_version).await?;
    let pool_given = matches!(input, GateInput::VerdictPm { pool: Some(_), .. });
    let t = rules::transition(&locked.state, actor, kind, input.optimal(), pool_given).map_err(refused)?;

    let mut owners = locked.state.owners;
    if let Some(role) = t.claim {
        owners.set(role, actor.id);
    }
    match input {
        GateInput::TriageTechnical { pm_id, .. } => {
            require_holder(&mut tx, *pm_id, Role::Pm, "pm_id").await?;
            owners.pm = Some(*pm_id);
        }
        GateInput::Dispatch { dev_id, qa_id, .. } => {
            require_holder(&mut tx, *dev_id, Role::Dev, "dev_id").await?;
            require_holder(&mut tx, *qa_id, Role::Qa, "qa_id").await?;
            owners.dev = Some(*dev_id);
            owners.qa = Some(*qa_id);
        }
        GateInput::SendReport { measures, .. } => {
            for m in measures {
                let n: i64 = on_tx!(&mut tx, conn => sqlx::query("SELECT COUNT(*) FROM users WHERE id = $1 AND active = $2")
                    .bind(m.owner_id)
                    .bind(true)
                    .fetch_one(conn)
                    .await?
                    .try_get(0)?);
                if n == 0 {
                    return Err(invalid("measure_owner", FieldProblem::InvalidChoice));
                }
            }
        }
        _ => {}
    }

    let (mut pm_verdict, mut dev_verdict) = (locked.state.pm_verdict, locked.state.dev_verdict);
    if t.clear_verdicts {
        (pm_verdict, dev_verdict) = (None, None);
    }
    match t.verdict {
        Some((Role::Pm, v)) => pm_verdict = Some(v),
        Some((Role::Dev, v)) => dev_verdict = Some(v),
        _ => {}
    }
    let mut pool_item_id = locked.pool_item_id;
    if let (true, GateInput::VerdictPm { pool: Some(draft), .. }) = (t.creates_pool_item, input) {
        let item: i64 = on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO pool_items (title, description, priority, status, source_incident_id, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(draft.title.trim())
        .bind(&draft.description)
        .bind(draft.priority.as_str())
        .bind("open")
        .bind(id)
        .bind(actor.id)
        .bind(now)
        .bind(now)
        .fetch_one(conn)
        .await?
        .try_get(0)?);
        pool_item_id = Some(item);
    }
    let from = locked.state.stage;
    let to = t.to.unwrap_or(from);
    let fix_round = locked.fix_round + i64::from(t.next_round);
    let plan = t.plan.map(|p| match p {
        Plan::Optimal => "optimal",
        Plan::Interim => "interim",
    });
    let resolution = t.resolution.map(|r| match r {
        rules::Resolution::NonTechnical => "non_technical",
        rules::Resolution::Fixed => "fixed",
    });
    let release_version = match input {
        GateInput::MarkReleased { version, .. } => Some(version.trim().to_owned()),
        _ => None,
    };
    // Compare-and-set: the version check above ran under the lock, and this WHERE makes the write
    // itself refuse a moved incident, so no interleaving can apply two actions to one version.
    let updated = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE incidents SET stage = $1, ops_owner = $2, pm_owner = $3, dev_owner = $4, qa_owner = $5, \
         pm_verdict = $6, dev_verdict = $7, fix_round = $8, plan = COALESCE($9, plan), pool_item_id = $10, \
         resolution = COALESCE($11, resolution), release_version = COALESCE($12, release_version), \
         version = version + 1, updated_at = $13, \
         stage_entered_at = CASE WHEN stage = $1 THEN stage_entered_at ELSE $13 END \
         WHERE id = $14 AND version = $15",
    )
    .bind(to.as_str())
    .bind(owners.ops)
    .bind(owners.pm)
    .bind(owners.dev)
    .bind(owners.qa)
    .bind(pm_verdict)
    .bind(dev_verdict)
    .bind(fix_round)
    .bind(plan)
    .bind(pool_item_id)
    .bind(resolution)
    .bind(release_version)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .execute(conn)
    .await?
    .rows_affected());
    if updated != 1 {
        return Err(refused(Refusal::Stale));
    }
    let fields = serde_json::to_string(input).map_err(AppError::internal)?;
    insert_timeline(&mut tx, id, now, Some(actor.id), kind.role().as_str(), kind.as_str(), from, to, &fields).await?;
    Record::new(&Origin::actor(actor), event::INCIDENT_ACTION)
        .target("incident", &locked.key)
        .details(serde_json::json!({
            "action": kind.as_str(),
            "before": { "stage": from.as_str(), "version": expected_version },
            "after": { "stage": to.as_str(), "version": expected_version + 1 },
            "input": input,
        }))
        .append(&mut tx, now)
        .await?;
    let event = TransitionEvent { incident_id: id, actor_id: actor.id, kind, from, to, owners };
    effects::on_transition(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Moved { stage: to, version: expected_version + 1 })
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
    let result = claim_tx(db, actor, id, expected_version, role, now).await;
    if let Err(err) = &result {
        record_refusal(
            db,
            actor,
            event::INCIDENT_CLAIM,
            Some(id),
            serde_json::json!({ "role": role.as_str(), "version": expected_version }),
            err,
            now,
        )
        .await;
    }
    result
}

async fn claim_tx(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    if role == Role::Admin {
        return Err(invalid("role", FieldProblem::InvalidChoice));
    }
    if !actor.roles.contains(&role) {
        return Err(refused(Refusal::NotYourRole));
    }
    let mut tx = db.begin_write().await?;
    let locked = lock_at_version(&mut tx, id, expected_version).await?;
    if locked.state.stage == Stage::Closed {
        return Err(refused(Refusal::WrongStage));
    }
    if locked.state.owners.get(role).is_some() {
        return Err(refused(Refusal::NotNamedOwner));
    }
    let mut owners = locked.state.owners;
    owners.set(role, actor.id);
    set_owners(&mut tx, id, expected_version, owners, now).await?;
    let fields = serde_json::json!({ "role": role.as_str(), "user_id": actor.id }).to_string();
    let stage = locked.state.stage;
    insert_timeline(&mut tx, id, now, Some(actor.id), role.as_str(), "claim", stage, stage, &fields).await?;
    Record::new(&Origin::actor(actor), event::INCIDENT_CLAIM)
        .target("incident", &locked.key)
        .details(
            serde_json::json!({ "role": role.as_str(), "before": null, "after": actor.id, "stage": stage.as_str() }),
        )
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(Moved { stage, version: expected_version + 1 })
}

/// Names another owner for `role`: the incident's PM may reassign dev and QA, an admin any role.
/// The new owner must hold the role.
pub async fn reassign(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    role: Role,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    let result = reassign_tx(db, actor, id, expected_version, role, user_id, now).await;
    if let Err(err) = &result {
        record_refusal(
            db,
            actor,
            event::INCIDENT_REASSIGN,
            Some(id),
            serde_json::json!({ "role": role.as_str(), "to": user_id, "version": expected_version }),
            err,
            now,
        )
        .await;
    }
    result
}

async fn reassign_tx(
    db: &Db,
    actor: &Actor,
    id: i64,
    expected_version: i64,
    role: Role,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Moved, AppError> {
    if role == Role::Admin {
        return Err(invalid("role", FieldProblem::InvalidChoice));
    }
    let mut tx = db.begin_write().await?;
    let locked = lock_at_version(&mut tx, id, expected_version).await?;
    if locked.state.stage == Stage::Closed {
        return Err(refused(Refusal::WrongStage));
    }
    let as_admin = actor.roles.contains(&Role::Admin);
    let as_pm = actor.roles.contains(&Role::Pm)
        && matches!(role, Role::Dev | Role::Qa)
        && locked.state.owners.pm.is_none_or(|pm| pm == actor.id);
    if !as_admin && !as_pm {
        return Err(refused(if actor.roles.contains(&Role::Pm) {
            Refusal::NotNamedOwner
        } else {
            Refusal::NotYourRole
        }));
    }
    require_holder(&mut tx, user_id, role, "user_id").await?;
    let mut owners = locked.state.owners;
    owners.set(role, user_id);
    set_owners(&mut tx, id, expected_version, owners, now).await?;
    let acting_role = if as_pm { Role::Pm } else { Role::Admin };
    let fields =
        serde_json::json!({ "role": role.as_str(), "from": locked.state.owners.get(role), "to": user_id }).to_string();
    let stage = locked.state.stage;
    insert_timeline(&mut tx, id, now, Some(actor.id), acting_role.as_str(), "reassign", stage, stage, &fields).await?;
    Record::new(&Origin::actor(actor), event::INCIDENT_REASSIGN)
        .target("incident", &locked.key)
        .details(serde_json::json!({
            "role": role.as_str(),
            "before": locked.state.owners.get(role),
            "after": user_id,
            "stage": stage.as_str(),
        }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(Moved { stage, version: expected_version + 1 })
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
    if updated == 1 {
        Ok(())
    } else {
        Err(refused(Refusal::Stale))
    }
}

/// A PM adds an item to the requirement pool directly.
pub async fn create_pool_item(
    db: &Db,
    actor: &Actor,
    draft: &super::input::PoolDraft,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let result = create_pool_item_tx(db, actor, draft, now).await;
    if let Err(err) = &result {
        record_refusal(db, actor, event::POOL_CREATED, None, serde_json::json!({}), err, now).await;
    }
    result
}

async fn create_pool_item_tx(
    db: &Db,
    actor: &Actor,
    draft: &super::input::PoolDraft,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    if !actor.roles.contains(&Role::Pm) {
        return Err(refused(Refusal::NotYourRole));
    }
    GateInput::VerdictPm { optimal: false, pool: Some(draft.clone()) }.validate().map_err(refused)?;
    let mut tx = db.begin_write().await?;
    let id: i64 = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO pool_items (title, description, priority, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(draft.title.trim())
    .bind(&draft.description)
    .bind(draft.priority.as_str())
    .bind("open")
    .bind(actor.id)
    .bind(now)
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    Record::new(&Origin::actor(actor), event::POOL_CREATED)
        .target("pool_item", id.to_string())
        .details(serde_json::json!({ "after": draft }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// A PM changes a pool item's status and target release.
pub async fn update_pool_item(
    db: &Db,
    actor: &Actor,
    id: i64,
    status: super::views::PoolStatus,
    target_release: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let result = update_pool_item_tx(db, actor, id, status, target_release, now).await;
    if let Err(err) = &result {
        record_refusal(db, actor, event::POOL_UPDATED, None, serde_json::json!({ "pool_item": id }), err, now).await;
    }
    result
}

async fn update_pool_item_tx(
    db: &Db,
    actor: &Actor,
    id: i64,
    status: super::views::PoolStatus,
    target_release: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if !actor.roles.contains(&Role::Pm) {
        return Err(refused(Refusal::NotYourRole));
    }
    if target_release.chars().count() > super::input::MAX_SHORT {
        return Err(invalid("target_release", FieldProblem::TooLong(super::input::MAX_SHORT)));
    }
    let mut tx = db.begin_write().await?;
    let before = on_tx!(&mut tx, conn => sqlx::query("SELECT status, target_release FROM pool_items WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
        .transpose()?);
    let Some((status_before, release_before)) = before else { return Err(AppError::NotFound) };
    let updated = on_tx!(&mut tx, conn => sqlx::query("UPDATE pool_items SET status = $1, target_release = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(target_release.trim())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected());
    if updated == 0 {
        return Err(AppError::NotFound);
    }
    Record::new(&Origin::actor(actor), event::POOL_UPDATED)
        .target("pool_item", id.to_string())
        .details(serde_json::json!({
            "before": { "status": status_before, "target_release": release_before },
            "after": { "status": status.as_str(), "target_release": target_release.trim() },
        }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}
