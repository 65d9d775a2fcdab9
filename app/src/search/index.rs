//! Writing the search index: one document per incident, comment and pool item, written in the
//! transaction of the record it indexes, and the records that predate the index added later.

use chrono::{DateTime, Utc};

use super::grams;
use crate::{
    db::{Db, WriteTx},
    error::AppError,
    on_db, on_tx,
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

/// Writes (or rewrites) a document and its grams. The title's grams are kept apart from the
/// body's, so search can read the documents whose title holds every term on their own.
pub async fn put(tx: &mut WriteTx, doc: &Doc<'_>) -> Result<(), AppError> {
    let folded_title = grams::fold(doc.title);
    let folded_body = grams::fold(doc.body);
    // One folded text for the substring check, title first; the newline keeps a term from
    // matching across the two.
    let folded = format!("{folded_title}\n{folded_body}");
    let title_grams = grams::document_grams(&folded_title);
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
            sqlx::query("INSERT INTO search_grams (rowid, title, body) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(title_grams.join(" "))
                .bind(grams::document_grams(&folded_body).join(" "))
                .execute(&mut **conn)
                .await?;
        }
        WriteTx::Postgres(conn) => {
            let sql = UPSERT
                .replace("{grams}", ", grams, title_grams")
                .replace("{values}", ", $9, $10")
                .replace("{set}", ", grams = excluded.grams, title_grams = excluded.title_grams");
            upsert!(&sql).bind(grams::document_grams(&folded)).bind(&title_grams).fetch_one(&mut **conn).await?;
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
/// serves (about 150 ms on the reference machine).
const BATCH: i64 = 500;

/// Indexes every incident, pool item and visible comment that has no document yet (records
/// written before the index existed, or restored from an older backup). Returns how many were
/// added. Safe to run on several instances at once: a document is keyed by its record.
///
/// Each kind is walked in id order from where the last batch stopped, so a batch looks only at
/// records it has not seen (checking every record from the start again would make the whole pass
/// quadratic in the number of records). Between batches the pass waits `pause`: on SQLite a loop
/// that takes the write lock again as soon as it commits starves every other writer (a sign-in
/// waited out its busy timeout behind the pass after an upgrade), so a serving app gives way.
pub async fn fill_missing(db: &Db, pause: std::time::Duration) -> Result<u64, AppError> {
    let kinds: [(DocKind, &str); 3] = [
        (DocKind::Incident, INCIDENT_TEXT),
        (
            DocKind::Pool,
            "SELECT id, source_incident_id AS incident_id, title, description AS body, created_at AS at FROM pool_items",
        ),
        (
            DocKind::Comment,
            "SELECT id, incident_id, '' AS title, body, created_at AS at FROM comments WHERE hidden_at IS NULL",
        ),
    ];
    let mut added = 0;
    for (kind, select) in kinds {
        let mut after = 0;
        // The search for the next batch reads outside the transaction: it may scan the whole
        // table (every start, when nothing is missing), and on SQLite a transaction's
        // statements run on the task's own thread (see `db::Db::connect`). The transaction then
        // indexes what is still missing in the range found, which is short.
        while let Some(upto) = next_batch_end(db, kind, select, after).await? {
            let mut tx = db.begin_write().await?;
            let n = put_missing(&mut tx, kind, select, after, upto).await?;
            tx.commit().await?;
            added += n as u64;
            after = upto;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }
    Ok(added)
}

/// The condition of a record of `kind` that `select` reads, with an id past `$1`, that has no
/// document yet.
fn missing_sql(kind: DocKind, select: &str) -> String {
    // Both databases flatten the subquery, so the walk still reads the record's primary key.
    format!(
        "SELECT * FROM ({select}) x WHERE x.id > $1 \
         AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = '{}' AND d.ref_id = x.id)",
        kind.as_str()
    )
}

/// The id of the last of the next [`BATCH`] records of `kind` past `after` without a document;
/// none when there is none.
async fn next_batch_end(db: &Db, kind: DocKind, select: &str, after: i64) -> Result<Option<i64>, AppError> {
    let sql = format!(
        "SELECT max(id) FROM (SELECT x.id FROM ({}) x ORDER BY x.id LIMIT {BATCH}) b",
        missing_sql(kind, select)
    );
    Ok(on_db!(db, pool => sqlx::query_scalar::<_, Option<i64>>(&sql).bind(after).fetch_one(pool).await?))
}

/// Indexes the records of `kind` that `select` reads with an id in `(after, upto]` and no
/// document yet. Returns how many were indexed.
async fn put_missing(tx: &mut WriteTx, kind: DocKind, select: &str, after: i64, upto: i64) -> Result<usize, AppError> {
    #[derive(sqlx::FromRow)]
    struct Missing {
        id: i64,
        incident_id: Option<i64>,
        title: String,
        body: String,
        at: DateTime<Utc>,
    }
    let sql = format!("SELECT * FROM ({}) y WHERE y.id <= $2 ORDER BY y.id", missing_sql(kind, select));
    if kind == DocKind::Incident {
        let rows: Vec<IncidentText> =
            on_tx!(&mut *tx, conn => sqlx::query_as(&sql).bind(after).bind(upto).fetch_all(conn).await?);
        for row in &rows {
            put_incident_row(tx, row).await?;
        }
        return Ok(rows.len());
    }
    let rows: Vec<Missing> =
        on_tx!(&mut *tx, conn => sqlx::query_as(&sql).bind(after).bind(upto).fetch_all(conn).await?);
    for r in &rows {
        let doc = Doc { kind, ref_id: r.id, incident_id: r.incident_id, at: r.at, title: &r.title, body: &r.body };
        put(tx, &doc).await?;
    }
    Ok(rows.len())
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
