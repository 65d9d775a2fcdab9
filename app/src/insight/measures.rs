//! Prevention measures in the database: created by the step-9 report (inside the gate action's
//! transaction), closed by their owner or the incident's PM owner, listed for everyone.

use chrono::{DateTime, NaiveDate, Utc};

use super::{MeasureFilter, MeasureStatus, MeasureView, MeasuresList};
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
        input::{Measure, MAX_TEXT},
        rules::Actor,
    },
};

use super::MEASURES_PAGE as PAGE;

/// Writes the measures of a report inside its transaction, in the order the form had them.
/// One statement for all of them: this runs inside the gate action, under the write lock.
pub async fn insert_for_report(
    tx: &mut WriteTx,
    incident_id: i64,
    measures: &[Measure],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if measures.is_empty() {
        return Ok(());
    }
    // $1 incident, $2 now, then (text, owner, due) per measure.
    let rows = (0..measures.len())
        .map(|i| {
            let n = 3 + i * 3;
            format!("($1, $2, $2, 'open', ${n}, ${}, ${})", n + 1, n + 2)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO measures (incident_id, created_at, updated_at, status, text, owner_id, due) VALUES {rows}"
    );
    on_tx!(&mut *tx, conn => {
        let mut query = sqlx::query(&sql).bind(incident_id).bind(now);
        for m in measures {
            query = query.bind(m.text.trim()).bind(m.owner_id).bind(m.due.trim());
        }
        query.execute(conn).await.map(|_| ())
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MeasureRow {
    id: i64,
    incident_key: String,
    incident_title: String,
    text: String,
    owner_id: i64,
    owner_name: String,
    due: String,
    status: String,
    outcome: String,
    closed_by: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    pm_owner: Option<i64>,
}

const COLUMNS: &str = "m.id, i.key AS incident_key, i.title AS incident_title, m.text, m.owner_id, \
     o.display_name AS owner_name, m.due, m.status, m.outcome, c.display_name AS closed_by, m.closed_at, i.pm_owner \
     FROM measures m JOIN incidents i ON i.id = m.incident_id JOIN users o ON o.id = m.owner_id \
     LEFT JOIN users c ON c.id = m.closed_by";

impl MeasureRow {
    fn view(self, viewer: i64, today: NaiveDate) -> Result<MeasureView, UnknownStoredValue> {
        let status = parse_stored("measures.status", &self.status, MeasureStatus::parse)?;
        let open = status == MeasureStatus::Open;
        Ok(MeasureView {
            overdue: open && is_past(&self.due, today),
            may_close: open && (viewer == self.owner_id || Some(viewer) == self.pm_owner),
            id: self.id,
            incident_key: self.incident_key,
            incident_title: self.incident_title,
            text: self.text,
            owner_id: self.owner_id,
            owner_name: self.owner_name,
            due: self.due,
            status,
            outcome: self.outcome,
            closed_by: self.closed_by,
            closed_at: self.closed_at.map(|t| t.to_rfc3339()),
        })
    }
}

/// A due date (`YYYY-MM-DD`) before `today`: the measure is overdue from the day after its date.
pub fn is_past(due: &str, today: NaiveDate) -> bool {
    NaiveDate::parse_from_str(due, "%Y-%m-%d").is_ok_and(|d| d < today)
}

/// The measures `filter` selects, as `viewer` sees them (which they may close), with overdue
/// judged against `today`.
pub async fn list(db: &Db, viewer: i64, filter: &MeasureFilter, today: NaiveDate) -> Result<MeasuresList, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} WHERE ($1 IS NULL OR m.status = $1) AND ($2 IS NULL OR m.owner_id = $2) \
         AND ($3 = FALSE OR (m.status = 'open' AND m.due < $4)) AND ($5 IS NULL OR i.key = $5) \
         ORDER BY CASE m.status WHEN 'open' THEN 0 ELSE 1 END, CASE WHEN m.status = 'open' THEN m.due END, \
         m.closed_at DESC, m.id LIMIT $6"
    );
    let status = filter.status.map(MeasureStatus::as_str);
    let incident = filter.incident.as_deref().map(str::trim).filter(|k| !k.is_empty());
    let today_text = today.format("%Y-%m-%d").to_string();
    let limit = i64::try_from(PAGE + 1).unwrap_or(i64::MAX);
    let rows: Vec<MeasureRow> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(status)
        .bind(filter.owner_id)
        .bind(filter.overdue)
        .bind(&today_text)
        .bind(incident)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    let truncated = rows.len() > PAGE;
    let items = rows.into_iter().take(PAGE).map(|r| r.view(viewer, today)).collect::<Result<Vec<_>, _>>()?;
    let owners: Vec<(i64, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT u.id, u.display_name FROM users u WHERE u.id IN (SELECT DISTINCT owner_id FROM measures) \
         ORDER BY u.display_name, u.id",
    )
    .fetch_all(pool)
    .await?);
    Ok(MeasuresList { items, truncated, owners })
}

/// The measures of one incident, in the report's order.
pub async fn of_incident(
    db: &Db,
    viewer: i64,
    incident_id: i64,
    today: NaiveDate,
) -> Result<Vec<MeasureView>, AppError> {
    let sql = format!("SELECT {COLUMNS} WHERE m.incident_id = $1 ORDER BY m.id");
    let rows: Vec<MeasureRow> = on_db!(db, pool => sqlx::query_as(&sql).bind(incident_id).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|r| r.view(viewer, today)).collect::<Result<_, _>>()?)
}

/// The open measures `viewer` owns, earliest due first: "my measures" in the queue.
pub async fn mine(db: &Db, viewer: i64, today: NaiveDate) -> Result<Vec<MeasureView>, AppError> {
    let sql = format!("SELECT {COLUMNS} WHERE m.owner_id = $1 AND m.status = 'open' ORDER BY m.due, m.id LIMIT {PAGE}");
    let rows: Vec<MeasureRow> = on_db!(db, pool => sqlx::query_as(&sql).bind(viewer).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|r| r.view(viewer, today)).collect::<Result<_, _>>()?)
}

/// Closes an open measure as done (with a note of what was done) or dropped (with the reason):
/// only its owner or the incident's PM owner may, once. Audited.
pub async fn close(
    db: &Db,
    actor: &Actor,
    id: i64,
    status: MeasureStatus,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let details = serde_json::json!({ "measure": id, "status": status.as_str() });
    let attempt = Attempt { event: event::MEASURE_CLOSED, incident: None, details };
    audited(db, actor, attempt, now, async {
        if status == MeasureStatus::Open {
            return Err(AppError::invalid("status", FieldProblem::InvalidChoice));
        }
        let note = note.trim();
        if note.is_empty() {
            return Err(AppError::invalid("note", FieldProblem::Required));
        }
        if note.chars().count() > MAX_TEXT {
            return Err(AppError::invalid("note", FieldProblem::TooLong(MAX_TEXT)));
        }
        crate::text::check("note", note)?;
        #[derive(sqlx::FromRow)]
        struct Current {
            status: String,
            owner_id: i64,
            pm_owner: Option<i64>,
            key: String,
            text: String,
        }
        // SQLite's write transaction already holds the only write lock; PostgreSQL locks the row.
        const SELECT: &str = "SELECT m.status, m.owner_id, i.pm_owner, i.key, m.text FROM measures m \
                              JOIN incidents i ON i.id = m.incident_id WHERE m.id = $1";
        let mut tx = db.begin_write().await?;
        let sql = match tx {
            WriteTx::Sqlite(_) => SELECT.to_owned(),
            WriteTx::Postgres(_) => format!("{SELECT} FOR UPDATE OF m"),
        };
        let current: Option<Current> =
            on_tx!(&mut tx, conn => sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?);
        let current = current.ok_or(AppError::NotFound)?;
        if actor.id != current.owner_id && Some(actor.id) != current.pm_owner {
            return Err(refused(Refusal::NotNamedOwner));
        }
        if current.status != MeasureStatus::Open.as_str() {
            return Err(refused(Refusal::Stale));
        }
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE measures SET status = $1, outcome = $2, closed_by = $3, closed_at = $4, updated_at = $4 \
             WHERE id = $5 AND status = 'open'",
        )
        .bind(status.as_str())
        .bind(note)
        .bind(actor.id)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
        Record::new(&Origin::actor(actor), event::MEASURE_CLOSED)
            .target("incident", &current.key)
            .details(serde_json::json!({
                "measure": id,
                "text": current.text,
                "owner": current.owner_id,
                "before": { "status": "open" },
                "after": { "status": status.as_str(), "note": note },
            }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measure_is_overdue_from_the_day_after_its_date() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert!(is_past("2026-12-05", today));
        assert!(!is_past("2026-12-06", today));
        assert!(!is_past("2026-12-07", today));
        assert!(!is_past("not a date", today));
    }
}
