//! The outbox table: emails written with the action that causes them, claimed by senders under a
//! lease, and marked with their outcome.
//!
//! A claim sets `sending`, a lease deadline and counts the attempt. A sender that dies after the
//! mail server accepted the message but before recording it leaves the row `sending`; once the
//! lease runs out another claim sends it again with the same Message-ID (at most one extra
//! delivery per lease, recognisable by that header). The attempt count doubles as the claim's
//! token: an outcome is recorded only by the claim that still holds the row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{EmailKind, EmailStatus, EmailView};
use crate::{
    db::{Db, WriteTx},
    error::AppError,
    on_db, on_tx,
};

/// An email to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEmail {
    /// Notification or report.
    pub kind: EmailKind,
    /// The incident it is about.
    pub incident_id: i64,
    /// That incident's key, for the Message-ID.
    pub incident_key: String,
    /// Set for an email that may exist only once; a second one fails the transaction.
    pub dedupe_key: Option<String>,
    /// Addresses.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub body_text: String,
    /// HTML part.
    pub body_html: String,
    /// Language tag.
    pub language: String,
    /// Domain of the Message-ID (the host of the public base URL).
    pub message_domain: String,
}

/// The Message-ID of outbox row `id`: fixed per row, so a resend is recognisable as the same email.
pub fn message_id(id: i64, incident_key: &str, domain: &str) -> String {
    format!("<outbox-{id}.{incident_key}@{domain}>")
}

/// Writes `email` inside `tx`; returns its row id.
pub async fn enqueue(tx: &mut WriteTx, email: &NewEmail, now: DateTime<Utc>) -> Result<i64, AppError> {
    let recipients = serde_json::to_string(&email.recipients).map_err(AppError::internal)?;
    let id: i64 = on_tx!(&mut *tx, conn => sqlx::query(
        "INSERT INTO outbox (kind, incident_id, dedupe_key, recipients, subject, body_text, body_html, language, \
         status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10) \
         RETURNING id",
    )
    .bind(email.kind.as_str())
    .bind(email.incident_id)
    .bind(email.dedupe_key.as_deref())
    .bind(&recipients)
    .bind(&email.subject)
    .bind(&email.body_text)
    .bind(&email.body_html)
    .bind(&email.language)
    .bind(EmailStatus::Queued.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    let mid = message_id(id, &email.incident_key, &email.message_domain);
    on_tx!(&mut *tx, conn => sqlx::query("UPDATE outbox SET message_id = $1 WHERE id = $2")
        .bind(&mid)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(id)
}

/// An email claimed for one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// Addresses.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub body_text: String,
    /// HTML part.
    pub body_html: String,
    /// Message-ID header.
    pub message_id: String,
    /// This attempt's number (1 for the first); the claim's token.
    pub attempt: i64,
}

/// Claims up to `limit` emails that are due: queued ones whose time has come and `sending` ones
/// whose lease ran out. On PostgreSQL rows another sender holds are skipped (`SKIP LOCKED`), so
/// two instances never claim the same email; SQLite's write lock serialises the claims.
pub async fn claim_due(db: &Db, now: DateTime<Utc>, lease: Duration, limit: i64) -> Result<Vec<Claimed>, AppError> {
    let lease_until = now + chrono::Duration::from_std(lease).map_err(AppError::internal)?;
    const SELECT: &str = "SELECT id FROM outbox WHERE (status = 'queued' AND next_attempt_at <= $2) \
                          OR (status = 'sending' AND lease_until <= $2) ORDER BY id LIMIT $3";
    let lock = match db {
        Db::Sqlite(_) => "",
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $1 \
         WHERE id IN ({SELECT}{lock}) \
         RETURNING id, recipients, subject, body_text, body_html, message_id, attempts"
    );
    let mut tx = db.begin_write().await?;
    let rows: Vec<(i64, String, String, String, String, String, i64)> = on_tx!(&mut tx, conn => sqlx::query(&sql)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok::<_, sqlx::Error>((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get(6)?,
            ))
        })
        .collect::<Result<_, _>>()?);
    tx.commit().await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|(id, recipients, subject, body_text, body_html, message_id, attempt)| Claimed {
            id,
            recipients: serde_json::from_str(&recipients).unwrap_or_default(),
            subject,
            body_text,
            body_html,
            message_id,
            attempt,
        })
        .collect();
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Records the outcome of the claim `(id, attempt)` with `set` (whose placeholders come first, as
/// SQLite numbers them by first use); false when that claim no longer holds the row (its lease ran
/// out and another claim took it).
async fn finish(db: &Db, id: i64, attempt: i64, set: &str, binds: Finish<'_>) -> Result<bool, AppError> {
    let n = match binds {
        Finish::Sent(_) | Finish::Failed(_) => 1,
        Finish::Retry(..) => 2,
    };
    let sql = format!(
        "UPDATE outbox SET {set}, lease_until = NULL WHERE id = ${} AND attempts = ${} AND status = 'sending'",
        n + 1,
        n + 2
    );
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => {
        let q = sqlx::query(&sql);
        let q = match &binds {
            Finish::Sent(at) => q.bind(*at),
            Finish::Retry(at, error) => q.bind(*at).bind(*error),
            Finish::Failed(error) => q.bind(*error),
        };
        q.bind(id).bind(attempt).execute(conn).await?.rows_affected()
    });
    tx.commit().await?;
    Ok(n == 1)
}

enum Finish<'a> {
    Sent(DateTime<Utc>),
    Retry(DateTime<Utc>, &'a str),
    Failed(&'a str),
}

/// The mail server accepted the email.
pub async fn mark_sent(db: &Db, id: i64, attempt: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    finish(db, id, attempt, "status = 'sent', sent_at = $1, last_error = ''", Finish::Sent(now)).await
}

/// A transient failure: try again at `next`.
pub async fn mark_retry(db: &Db, id: i64, attempt: i64, next: DateTime<Utc>, error: &str) -> Result<bool, AppError> {
    finish(db, id, attempt, "status = 'queued', next_attempt_at = $1, last_error = $2", Finish::Retry(next, error))
        .await
}

/// A permanent failure (or out of retries): no more attempts unless an admin asks.
pub async fn mark_failed(db: &Db, id: i64, attempt: i64, error: &str) -> Result<bool, AppError> {
    finish(db, id, attempt, "status = 'failed', last_error = $1", Finish::Failed(error)).await
}

/// Without an SMTP server, moves every queued email to `not_configured`; returns how many.
pub async fn park_unconfigured(db: &Db) -> Result<u64, AppError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query("UPDATE outbox SET status = 'not_configured' WHERE status = 'queued'")
        .execute(conn)
        .await?
        .rows_affected());
    tx.commit().await?;
    Ok(n)
}

/// Queues a failed or unsent email again, due now; false when it is not in a retryable state.
pub async fn retry(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE outbox SET status = 'queued', next_attempt_at = $1 WHERE id = $2 AND status IN ('failed', 'not_configured')",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected());
    tx.commit().await?;
    Ok(n == 1)
}

const VIEW_COLUMNS: &str = "o.id, o.kind, i.key, o.recipients, o.subject, o.body_text, o.body_html, o.language, \
                            o.message_id, o.status, o.attempts, o.next_attempt_at, o.last_error, o.created_at, o.sent_at";

macro_rules! email_view {
    ($r:expr) => {{
        let kind: String = $r.try_get(1)?;
        let recipients: String = $r.try_get(3)?;
        let status: String = $r.try_get(9)?;
        let next: DateTime<Utc> = $r.try_get(11)?;
        let created: DateTime<Utc> = $r.try_get(13)?;
        let sent: Option<DateTime<Utc>> = $r.try_get(14)?;
        EmailView {
            id: $r.try_get(0)?,
            kind: EmailKind::parse(&kind).unwrap_or(EmailKind::Notification),
            incident_key: $r.try_get(2)?,
            recipients: serde_json::from_str(&recipients).unwrap_or_default(),
            subject: $r.try_get(4)?,
            body_text: $r.try_get(5)?,
            body_html: $r.try_get(6)?,
            language: $r.try_get(7)?,
            message_id: $r.try_get(8)?,
            status: EmailStatus::parse(&status).unwrap_or(EmailStatus::Failed),
            attempts: $r.try_get(10)?,
            next_attempt_at: next.to_rfc3339(),
            last_error: $r.try_get(12)?,
            created_at: created.to_rfc3339(),
            sent_at: sent.map(|t| t.to_rfc3339()),
        }
    }};
}

/// The newest emails first, optionally only those with `status`, before row id `before`.
pub async fn list(
    db: &Db,
    status: Option<EmailStatus>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EmailView>, AppError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id \
         WHERE ($1 = '' OR o.status = $1) AND o.id < $2 ORDER BY o.id DESC LIMIT $3"
    );
    let status = status.map(EmailStatus::as_str).unwrap_or_default();
    Ok(on_db!(db, pool => sqlx::query(&sql)
        .bind(status)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 500))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok::<_, sqlx::Error>(email_view!(r)))
        .collect::<Result<Vec<_>, _>>()?))
}

/// The report email of an incident, if it has one.
pub async fn report_of(db: &Db, incident_id: i64) -> Result<Option<EmailView>, AppError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id \
         WHERE o.incident_id = $1 AND o.kind = 'report' ORDER BY o.id LIMIT 1"
    );
    Ok(on_db!(db, pool => sqlx::query(&sql)
        .bind(incident_id)
        .fetch_optional(pool)
        .await?
        .map(|r| Ok::<_, sqlx::Error>(email_view!(r)))
        .transpose()?))
}
