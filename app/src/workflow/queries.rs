//! Reading incidents and the pool: my queue, the filtered list, one incident, the pool.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{
    input::{Channel, Severity},
    rules::{self, Actor, IncidentState, Owners, Stage},
    views::{
        IncidentDetail, IncidentFilter, IncidentPage, IncidentSummary, MyQueueView, Person, PoolItem, PoolStatus,
        QueueItem, TimelineEntry,
    },
};
use crate::{db::Db, error::AppError, on_db};

const SUMMARY_COLUMNS: &str =
    "id, key, title, severity, channel, stage, ops_owner, pm_owner, dev_owner, qa_owner, version, \
                               stage_entered_at, created_at, pm_verdict, dev_verdict";

/// Builds an [`IncidentSummary`] and the verdicts from a row of either back end.
macro_rules! summary {
    ($r:expr) => {{
        let severity: String = $r.try_get(3)?;
        let channel: String = $r.try_get(4)?;
        let stage: String = $r.try_get(5)?;
        let stage_entered_at: DateTime<Utc> = $r.try_get(11)?;
        let created_at: DateTime<Utc> = $r.try_get(12)?;
        let verdicts: Verdicts = ($r.try_get(13)?, $r.try_get(14)?);
        (
            IncidentSummary {
                id: $r.try_get(0)?,
                key: $r.try_get(1)?,
                title: $r.try_get(2)?,
                severity: Severity::parse(&severity).unwrap_or(Severity::P3),
                channel: Channel::parse(&channel).unwrap_or(Channel::Other),
                stage: Stage::parse(&stage).unwrap_or(Stage::Closed),
                owners: Owners { ops: $r.try_get(6)?, pm: $r.try_get(7)?, dev: $r.try_get(8)?, qa: $r.try_get(9)? },
                version: $r.try_get(10)?,
                stage_entered_at: stage_entered_at.to_rfc3339(),
                created_at: created_at.to_rfc3339(),
            },
            verdicts,
        )
    }};
}

/// The PM's and dev's verdicts in solution review.
type Verdicts = (Option<bool>, Option<bool>);

fn state_of(summary: &IncidentSummary, verdicts: Verdicts) -> IncidentState {
    IncidentState { stage: summary.stage, owners: summary.owners, pm_verdict: verdicts.0, dev_verdict: verdicts.1 }
}

/// Open incidents where `actor` must act now (most severe first, then longest waiting), with the
/// actions owed, and the open incidents per stage of the actor's roles.
pub async fn my_queue(db: &Db, actor: &Actor) -> Result<MyQueueView, AppError> {
    // Open incidents are few next to closed ones; the rule book decides which are the actor's.
    let rows: Vec<(IncidentSummary, Verdicts)> = on_db!(db, pool => sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM incidents WHERE stage <> 'closed' ORDER BY severity, stage_entered_at, id"
    ))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok::<_, sqlx::Error>(summary!(r)))
    .collect::<Result<_, _>>()?);
    let counts = Stage::ALL
        .into_iter()
        .filter(|stage| stage.owner_roles().iter().any(|r| actor.roles.contains(r)))
        .map(|stage| (stage, rows.iter().filter(|(s, _)| s.stage == stage).count() as i64))
        .collect();
    let items = rows
        .into_iter()
        .filter_map(|(summary, verdicts)| {
            let actions = rules::available_actions(&state_of(&summary, verdicts), actor);
            (!actions.is_empty()).then_some(QueueItem { summary, actions })
        })
        .collect();
    Ok(MyQueueView { items, counts })
}

enum Bind {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AppError::invalid(field, crate::error::FieldProblem::InvalidChoice))
}

/// One page of incidents matching `filter`, newest first, before incident id `before`.
pub async fn list(db: &Db, filter: &IncidentFilter, before: Option<i64>, limit: i64) -> Result<IncidentPage, AppError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    // Placeholders are numbered in the order they are added (see `db` on portable SQL).
    let mut add = |clause: &dyn Fn(usize) -> String, bind: Bind, binds: &mut Vec<Bind>| {
        binds.push(bind);
        clauses.push(clause(binds.len()));
    };
    if let Some(stage) = filter.stage {
        add(&|n| format!("stage = ${n}"), Bind::Text(stage.as_str().into()), &mut binds);
    }
    if let Some(severity) = filter.severity {
        add(&|n| format!("severity = ${n}"), Bind::Text(severity.as_str().into()), &mut binds);
    }
    if let Some(channel) = filter.channel {
        add(&|n| format!("channel = ${n}"), Bind::Text(channel.as_str().into()), &mut binds);
    }
    if let Some(owner) = filter.owner {
        add(
            &|n| format!("(ops_owner = ${n} OR pm_owner = ${n} OR dev_owner = ${n} OR qa_owner = ${n})"),
            Bind::Int(owner),
            &mut binds,
        );
    }
    if let Some(from) = filter.created_from.as_deref().filter(|s| !s.is_empty()) {
        add(&|n| format!("created_at >= ${n}"), Bind::Time(parse_time("created_from", from)?), &mut binds);
    }
    if let Some(to) = filter.created_to.as_deref().filter(|s| !s.is_empty()) {
        add(&|n| format!("created_at < ${n}"), Bind::Time(parse_time("created_to", to)?), &mut binds);
    }
    if let Some(text) = filter.text.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern =
            format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        add(
            &|n| {
                format!("(LOWER(key) LIKE ${n} ESCAPE '\\' OR LOWER(title) LIKE ${n} ESCAPE '\\' OR LOWER(description) LIKE ${n} ESCAPE '\\')")
            },
            Bind::Text(pattern),
            &mut binds,
        );
    }
    if let Some(before) = before {
        add(&|n| format!("id < ${n}"), Bind::Int(before), &mut binds);
    }
    let limit = limit.clamp(1, 200);
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    // One extra row tells whether another page follows.
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM incidents {where_sql} ORDER BY id DESC LIMIT {}", limit + 1);
    let mut items: Vec<IncidentSummary> = on_db!(db, pool => {
        let mut query = sqlx::query(&sql);
        for bind in &binds {
            query = match bind {
                Bind::Text(v) => query.bind(v.clone()),
                Bind::Int(v) => query.bind(*v),
                Bind::Time(v) => query.bind(*v),
            };
        }
        query.fetch_all(pool).await?.iter().map(|r| Ok::<_, sqlx::Error>(summary!(r).0)).collect::<Result<_, _>>()?
    });
    let next_before = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|i| i.id)
    } else {
        None
    };
    Ok(IncidentPage { items, next_before })
}

/// One pool item.
pub async fn pool_item(db: &Db, id: i64) -> Result<Option<PoolItem>, AppError> {
    Ok(pool_items(db, Some(id)).await?.into_iter().next())
}

/// The requirement pool, open items first, then by priority; or one item.
pub async fn pool_items(db: &Db, only: Option<i64>) -> Result<Vec<PoolItem>, AppError> {
    let filter = if only.is_some() { "WHERE p.id = $1" } else { "" };
    let sql = format!(
        "SELECT p.id, p.title, p.description, p.priority, p.status, p.target_release, i.key FROM pool_items p \
         LEFT JOIN incidents i ON i.id = p.source_incident_id {filter} \
         ORDER BY CASE p.status WHEN 'open' THEN 0 WHEN 'scheduled' THEN 1 ELSE 2 END, p.priority, p.id"
    );
    let items = on_db!(db, pool => {
        let mut query = sqlx::query(&sql);
        if let Some(id) = only {
            query = query.bind(id);
        }
        query
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                let priority: String = r.try_get(3)?;
                let status: String = r.try_get(4)?;
                Ok::<_, sqlx::Error>(PoolItem {
                    id: r.try_get(0)?,
                    title: r.try_get(1)?,
                    description: r.try_get(2)?,
                    priority: Severity::parse(&priority).unwrap_or(Severity::P3),
                    status: PoolStatus::parse(&status).unwrap_or(PoolStatus::Open),
                    target_release: r.try_get(5)?,
                    source_incident: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(items)
}

/// One incident with owners, plan, pool item, timeline and the actions `actor` may take now.
pub async fn detail(db: &Db, key: &str, actor: &Actor) -> Result<IncidentDetail, AppError> {
    let row = on_db!(db, pool => sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS}, description, reporter_name, reporter_contact, external_ref, fix_round, plan, \
         pool_item_id, resolution, release_version FROM incidents WHERE key = $1"
    ))
    .bind(key)
    .fetch_optional(pool)
    .await?
    .map(|r| {
        let (summary, verdicts) = summary!(r);
        Ok::<_, sqlx::Error>((
            summary,
            verdicts,
            r.try_get::<String, _>(15)?,
            r.try_get::<String, _>(16)?,
            r.try_get::<String, _>(17)?,
            r.try_get::<String, _>(18)?,
            r.try_get::<i64, _>(19)?,
            r.try_get::<Option<String>, _>(20)?,
            r.try_get::<Option<i64>, _>(21)?,
            r.try_get::<Option<String>, _>(22)?,
            r.try_get::<String, _>(23)?,
        ))
    })
    .transpose()?);
    let Some((
        summary,
        verdicts,
        description,
        reporter_name,
        reporter_contact,
        external_ref,
        fix_round,
        plan,
        pool_id,
        resolution,
        release_version,
    )) = row
    else {
        return Err(AppError::NotFound);
    };
    let owners = summary.owners;
    // One round trip for the four names (NULL ids match nothing).
    let names: Vec<Person> = on_db!(db, pool => sqlx::query("SELECT id, display_name FROM users WHERE id IN ($1, $2, $3, $4)")
        .bind(owners.ops)
        .bind(owners.pm)
        .bind(owners.dev)
        .bind(owners.qa)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok::<_, sqlx::Error>(Person { id: r.try_get(0)?, name: r.try_get(1)? }))
        .collect::<Result<Vec<_>, _>>()?);
    let name_of = |id: Option<i64>| id.and_then(|id| names.iter().find(|p| p.id == id).cloned());
    let owner_names = [name_of(owners.ops), name_of(owners.pm), name_of(owners.dev), name_of(owners.qa)];
    let pool_item = match pool_id {
        Some(id) => pool_item(db, id).await?,
        None => None,
    };
    let timeline = on_db!(db, pool => sqlx::query(
        "SELECT t.at, t.actor_id, u.display_name, t.actor_role, t.action, t.from_stage, t.to_stage, t.fields \
         FROM incident_timeline t LEFT JOIN users u ON u.id = t.actor_id WHERE t.incident_id = $1 ORDER BY t.id DESC",
    )
    .bind(summary.id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let at: DateTime<Utc> = r.try_get(0)?;
        let actor_id: Option<i64> = r.try_get(1)?;
        let name: Option<String> = r.try_get(2)?;
        let from: String = r.try_get(5)?;
        let to: String = r.try_get(6)?;
        Ok::<_, sqlx::Error>(TimelineEntry {
            at: at.to_rfc3339(),
            actor: actor_id.zip(name).map(|(id, name)| Person { id, name }),
            role: r.try_get(3)?,
            action: r.try_get(4)?,
            from: Stage::parse(&from).unwrap_or(Stage::Closed),
            to: Stage::parse(&to).unwrap_or(Stage::Closed),
            fields: r.try_get(7)?,
        })
    })
    .collect::<Result<Vec<_>, _>>()?);
    let my_actions = rules::available_actions(&state_of(&summary, verdicts), actor);
    // Everyone on the incident sees the report's copy and status; the SMTP error text is for admins.
    let report = crate::mail::outbox::report_of(db, summary.id).await?.map(|mut email| {
        email.last_error.clear();
        email
    });
    Ok(IncidentDetail {
        summary,
        description,
        reporter_name,
        reporter_contact,
        external_ref,
        owner_names,
        fix_round,
        plan,
        pool_item,
        resolution,
        release_version,
        verdicts,
        my_actions,
        timeline,
        report,
    })
}

/// Active users holding `role`, by display name.
pub async fn people_with_role(db: &Db, role: crate::auth::Role) -> Result<Vec<Person>, AppError> {
    Ok(on_db!(db, pool => sqlx::query(
        "SELECT u.id, u.display_name FROM users u JOIN user_roles r ON r.user_id = u.id \
         WHERE r.role = $1 AND u.active = $2 ORDER BY u.display_name",
    )
    .bind(role.as_str())
    .bind(true)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok::<_, sqlx::Error>(Person { id: r.try_get(0)?, name: r.try_get(1)? }))
    .collect::<Result<Vec<_>, _>>()?))
}
