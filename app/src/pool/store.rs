//! Pool items in the database: written by the PM's not-optimal verdict (inside the gate action's
//! transaction) or by a PM directly, changed by PMs, read by everyone.

use chrono::{DateTime, Utc};

use super::{PoolDraft, PoolItem, PoolStatus};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    db::{parse_stored, Db, UnknownStoredValue, WriteTx},
    error::{AppError, FieldProblem, Refusal},
    on_db, on_tx,
    workflow::{
        engine::{audited, refused, Attempt},
        input::{Severity, MAX_SHORT},
        rules::{self, Actor},
    },
};

/// Where a new item comes from.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// The incident whose interim fix parked it, if any.
    pub incident_id: Option<i64>,
    /// The PM who wrote it.
    pub created_by: i64,
}

/// Inserts an open item inside `tx`; returns its id. The one insert of pool items.
pub async fn insert(tx: &mut WriteTx, draft: &PoolDraft, source: Source, now: DateTime<Utc>) -> Result<i64, AppError> {
    let id: i64 = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "INSERT INTO pool_items (title, description, priority, status, source_incident_id, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(draft.title.trim())
    .bind(&draft.description)
    .bind(draft.priority.as_str())
    .bind(PoolStatus::Open.as_str())
    .bind(source.incident_id)
    .bind(source.created_by)
    .bind(now)
    .fetch_one(conn)
    .await?);
    crate::search::index::put_pool_item(tx, id, source.incident_id, draft.title.trim(), &draft.description, now)
        .await?;
    crate::chat::notify::on_pool_item(tx, id, draft.title.trim(), draft.priority.as_str(), source.incident_id, now)
        .await?;
    Ok(id)
}

/// A PM adds an item to the requirement pool directly.
pub async fn create(db: &Db, actor: &Actor, draft: &PoolDraft, now: DateTime<Utc>) -> Result<i64, AppError> {
    let attempt = Attempt { event: event::POOL_CREATED, incident: None, details: serde_json::json!({}) };
    audited(db, actor, attempt, now, async {
        rules::may_manage_pool(actor).map_err(refused)?;
        draft.validate().map_err(refused)?;
        let mut tx = db.begin_write().await?;
        let id = insert(&mut tx, draft, Source { incident_id: None, created_by: actor.id }, now).await?;
        Record::new(&Origin::actor(actor), event::POOL_CREATED)
            .target("pool_item", id.to_string())
            .details(serde_json::json!({ "after": draft }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(id)
    })
    .await
}

/// A PM changes an item's status and target release.
pub async fn update(
    db: &Db,
    actor: &Actor,
    id: i64,
    status: PoolStatus,
    target_release: &str,
    priority: Option<Severity>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let attempt =
        Attempt { event: event::POOL_UPDATED, incident: None, details: serde_json::json!({ "pool_item": id }) };
    audited(db, actor, attempt, now, async {
        rules::may_manage_pool(actor).map_err(refused)?;
        if target_release.chars().count() > MAX_SHORT {
            return Err(refused(Refusal::Invalid {
                field: "target_release".into(),
                problem: FieldProblem::TooLong(MAX_SHORT),
            }));
        }
        crate::text::check("target_release", target_release)?;
        // Done means delivered: the release that delivered the optimal solution is recorded.
        if status == PoolStatus::Done && target_release.trim().is_empty() {
            return Err(refused(Refusal::Invalid { field: "target_release".into(), problem: FieldProblem::Required }));
        }
        #[derive(sqlx::FromRow)]
        struct BeforeRow {
            status: String,
            target_release: String,
            priority: String,
        }
        let mut tx = db.begin_write().await?;
        let before: Option<BeforeRow> = on_tx!(&mut tx, conn => sqlx::query_as(
            "SELECT status, target_release, priority FROM pool_items WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(conn)
        .await?);
        let before = before.ok_or(AppError::NotFound)?;
        // Without a priority given, the item keeps its own.
        let priority = priority.map(Severity::as_str).unwrap_or(before.priority.as_str()).to_owned();
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE pool_items SET status = $1, target_release = $2, priority = $3, updated_at = $4, \
             done_at = CASE WHEN $1 = 'done' THEN COALESCE(done_at, $4) END WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(target_release.trim())
        .bind(&priority)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
        Record::new(&Origin::actor(actor), event::POOL_UPDATED)
            .target("pool_item", id.to_string())
            .details(serde_json::json!({
                "before": { "status": before.status, "target_release": before.target_release, "priority": before.priority },
                "after": { "status": status.as_str(), "target_release": target_release.trim(), "priority": priority },
            }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}

#[derive(sqlx::FromRow)]
struct PoolItemRow {
    id: i64,
    title: String,
    description: String,
    priority: String,
    status: String,
    target_release: String,
    source_incident: Option<String>,
    created_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
}

impl TryFrom<PoolItemRow> for PoolItem {
    type Error = UnknownStoredValue;

    fn try_from(r: PoolItemRow) -> Result<Self, Self::Error> {
        Ok(PoolItem {
            id: r.id,
            title: r.title,
            description: r.description,
            priority: parse_stored("pool_items.priority", &r.priority, Severity::parse)?,
            status: parse_stored("pool_items.status", &r.status, PoolStatus::parse)?,
            target_release: r.target_release,
            source_incident: r.source_incident,
            created_at: r.created_at.to_rfc3339(),
            // How long it waited: until done, or until now while it waits.
            waited_seconds: (r.done_at.unwrap_or_else(Utc::now) - r.created_at).num_seconds().max(0),
            done_at: r.done_at.map(|t| t.to_rfc3339()),
        })
    }
}

/// One pool item.
pub async fn item(db: &Db, id: i64) -> Result<Option<PoolItem>, AppError> {
    Ok(items(db, Some(id)).await?.into_iter().next())
}

/// The requirement pool, open items first, then by priority; or one item.
pub async fn items(db: &Db, only: Option<i64>) -> Result<Vec<PoolItem>, AppError> {
    let filter = if only.is_some() { "WHERE p.id = $1" } else { "" };
    let sql = format!(
        "SELECT p.id, p.title, p.description, p.priority, p.status, p.target_release, i.key AS source_incident, \
         p.created_at, p.done_at \
         FROM pool_items p LEFT JOIN incidents i ON i.id = p.source_incident_id {filter} \
         ORDER BY CASE p.status WHEN 'open' THEN 0 WHEN 'scheduled' THEN 1 ELSE 2 END, p.priority, p.id"
    );
    let rows: Vec<PoolItemRow> = on_db!(db, pool => {
        let mut query = sqlx::query_as(&sql);
        if let Some(id) = only {
            query = query.bind(id);
        }
        query.fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(PoolItem::try_from).collect::<Result<_, _>>()?)
}
