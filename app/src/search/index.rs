//! Writing the search index: one document per incident, comment and pool item, written in the
//! transaction of the record it indexes, and the records that predate the index added later.

use chrono::{DateTime, Utc};

use super::grams;
use crate::{
    db::{Db, WriteTx},
    error::AppError,
    on_tx,
};

/// What a search document indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    /// An incident: key, title, description, root cause and solution.
    Incident,
    /// A comment's text.
    Comment,
    /// A requirement-pool item: title and description.
    Pool,
}

impl DocKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Incident => "incident",
            DocKind::Comment => "comment",
            DocKind::Pool => "pool",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [DocKind::Incident, DocKind::Comment, DocKind::Pool].into_iter().find(|k| k.as_str() == s)
    }
}

/// One document to index.
#[derive(Clone, Debug)]
pub struct Doc<'a> {
    /// What it indexes.
    pub kind: DocKind,
    /// The id of the record indexed.
    pub ref_id: i64,
    /// The incident it belongs to (a pool item's source incident, if any).
    pub incident_id: Option<i64>,
    /// When the record was written (the date filter reads it).
    pub at: DateTime<Utc>,
    /// The heading text: ranks above the body when it matches.
    pub title: &'a str,
    /// The rest of the text.
    pub body: &'a str,
}

/// Writes (or rewrites) a document and its grams.
pub async fn put(tx: &mut WriteTx, doc: &Doc<'_>) -> Result<(), AppError> {
    let folded_title = grams::fold(doc.title);
    let folded_body = grams::fold(doc.body);
    // One folded text for the substring check, title first; the newline keeps a term from
    // matching across the two.
    let folded = format!("{folded_title}\n{folded_body}");
    let doc_grams = grams::document_grams(&folded);
    const UPSERT: &str =
        "INSERT INTO search_docs (kind, ref_id, incident_id, at, title, body, folded_title, folded{grams}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8{values}) ON CONFLICT (kind, ref_id) DO UPDATE SET \
         incident_id = excluded.incident_id, at = excluded.at, title = excluded.title, body = excluded.body, \
         folded_title = excluded.folded_title, folded = excluded.folded{set} RETURNING id";
    // The same eight values on both databases; PostgreSQL also keeps the grams in the row.
    macro_rules! upsert {
        ($sql:expr) => {
            sqlx::query_scalar::<_, i64>($sql)
                .bind(doc.kind.as_str())
                .bind(doc.ref_id)
                .bind(doc.incident_id)
                .bind(doc.at)
                .bind(doc.title)
                .bind(doc.body)
                .bind(&folded_title)
                .bind(&folded)
        };
    }
    match tx {
        WriteTx::Sqlite(conn) => {
            let sql = UPSERT.replace("{grams}", "").replace("{values}", "").replace("{set}", "");
            let id = upsert!(&sql).fetch_one(&mut **conn).await?;
            // A contentless FTS5 table: the old row's tokens go by rowid, then the new ones.
            sqlx::query("DELETE FROM search_grams WHERE rowid = $1").bind(id).execute(&mut **conn).await?;
            sqlx::query("INSERT INTO search_grams (rowid, grams) VALUES ($1, $2)")
                .bind(id)
                .bind(doc_grams.join(" "))
                .execute(&mut **conn)
                .await?;
        }
        WriteTx::Postgres(conn) => {
            let sql = UPSERT
                .replace("{grams}", ", grams")
                .replace("{values}", ", $9")
                .replace("{set}", ", grams = excluded.grams");
            upsert!(&sql).bind(&doc_grams).fetch_one(&mut **conn).await?;
        }
    }
    Ok(())
}

/// Removes a record's document (a hidden comment).
pub async fn remove(tx: &mut WriteTx, kind: DocKind, ref_id: i64) -> Result<(), AppError> {
    if let WriteTx::Sqlite(conn) = tx {
        sqlx::query(
            "DELETE FROM search_grams WHERE rowid IN (SELECT id FROM search_docs WHERE kind = $1 AND ref_id = $2)",
        )
        .bind(kind.as_str())
        .bind(ref_id)
        .execute(&mut **conn)
        .await?;
    }
    on_tx!(&mut *tx, conn => sqlx::query("DELETE FROM search_docs WHERE kind = $1 AND ref_id = $2")
        .bind(kind.as_str())
        .bind(ref_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The text an incident is found by besides its title: description, root cause and solution.
fn incident_body(description: &str, root_cause: &str, solution: &str) -> String {
    [description, root_cause, solution]
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(sqlx::FromRow)]
struct IncidentText {
    id: i64,
    key: String,
    title: String,
    description: String,
    root_cause: String,
    solution: String,
    created_at: DateTime<Utc>,
}

const INCIDENT_TEXT: &str = "SELECT id, key, title, description, root_cause, solution, created_at FROM incidents";

async fn put_incident_row(tx: &mut WriteTx, row: &IncidentText) -> Result<(), AppError> {
    let title = format!("{} {}", row.key, row.title);
    let body = incident_body(&row.description, &row.root_cause, &row.solution);
    let doc = Doc {
        kind: DocKind::Incident,
        ref_id: row.id,
        incident_id: Some(row.id),
        at: row.created_at,
        title: &title,
        body: &body,
    };
    put(tx, &doc).await
}

/// (Re)indexes an incident as it is in `tx`: after it is reported, and after a proposal sets its
/// root cause and solution.
pub async fn put_incident(tx: &mut WriteTx, id: i64) -> Result<(), AppError> {
    let sql = format!("{INCIDENT_TEXT} WHERE id = $1");
    let row: Option<IncidentText> = on_tx!(&mut *tx, conn => sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?);
    match row {
        Some(row) => put_incident_row(tx, &row).await,
        None => Ok(()),
    }
}

/// How many records [`fill_missing`] indexes per transaction: short write locks while the app
/// serves.
const BATCH: i64 = 500;

/// Indexes every incident, pool item and visible comment that has no document yet (records
/// written before the index existed, or restored from an older backup). Returns how many were
/// added. Safe to run on several instances at once: a document is keyed by its record.
pub async fn fill_missing(db: &Db) -> Result<u64, AppError> {
    let mut added = 0;
    loop {
        let mut tx = db.begin_write().await?;
        let sql = format!(
            "{INCIDENT_TEXT} i WHERE NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = 'incident' AND d.ref_id = i.id) \
             ORDER BY id LIMIT {BATCH}"
        );
        let rows: Vec<IncidentText> = on_tx!(&mut tx, conn => sqlx::query_as(&sql).fetch_all(conn).await?);
        for row in &rows {
            put_incident_row(&mut tx, row).await?;
        }
        #[derive(sqlx::FromRow)]
        struct Other {
            id: i64,
            incident_id: Option<i64>,
            title: String,
            body: String,
            at: DateTime<Utc>,
        }
        let pool: Vec<Other> = on_tx!(&mut tx, conn => sqlx::query_as(&format!(
            "SELECT p.id, p.source_incident_id AS incident_id, p.title, p.description AS body, p.created_at AS at \
             FROM pool_items p WHERE NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = 'pool' AND d.ref_id = p.id) \
             ORDER BY p.id LIMIT {BATCH}"
        ))
        .fetch_all(conn)
        .await?);
        for p in &pool {
            let doc = Doc {
                kind: DocKind::Pool,
                ref_id: p.id,
                incident_id: p.incident_id,
                at: p.at,
                title: &p.title,
                body: &p.body,
            };
            put(&mut tx, &doc).await?;
        }
        let comments: Vec<Other> = on_tx!(&mut tx, conn => sqlx::query_as(&format!(
            "SELECT c.id, c.incident_id, '' AS title, c.body, c.created_at AS at FROM comments c \
             WHERE c.hidden_at IS NULL AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = 'comment' AND d.ref_id = c.id) \
             ORDER BY c.id LIMIT {BATCH}"
        ))
        .fetch_all(conn)
        .await?);
        for c in &comments {
            let doc = Doc {
                kind: DocKind::Comment,
                ref_id: c.id,
                incident_id: c.incident_id,
                at: c.at,
                title: "",
                body: &c.body,
            };
            put(&mut tx, &doc).await?;
        }
        tx.commit().await?;
        let n = rows.len() + pool.len() + comments.len();
        added += n as u64;
        if n == 0 {
            return Ok(added);
        }
    }
}

/// Indexes a new pool item in its transaction.
pub async fn put_pool_item(
    tx: &mut WriteTx,
    id: i64,
    incident_id: Option<i64>,
    title: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    put(tx, &Doc { kind: DocKind::Pool, ref_id: id, incident_id, at: now, title, body: description }).await
}
