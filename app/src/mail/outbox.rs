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

use super::{EmailKind, EmailStatus, EmailView};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
        Outcome,
    },
    db::{parse_stored, Db, UnknownStoredValue, WriteTx},
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

/// A fresh Message-ID for an email about `incident_key`: unique (a random UUID), stored with the
/// row, so a resend is recognisable as the same email. Not derived from the row id, which would
/// take a second statement inside the gate transaction to write.
fn new_message_id(incident_key: &str, domain: &str) -> String {
    format!("<outbox-{}.{incident_key}@{domain}>", uuid::Uuid::new_v4().simple())
}

/// Writes `email` inside `tx`; returns its row id.
pub async fn enqueue(tx: &mut WriteTx, email: &NewEmail, now: DateTime<Utc>) -> Result<i64, AppError> {
    let recipients = serde_json::to_string(&email.recipients).map_err(AppError::internal)?;
    let mid = new_message_id(&email.incident_key, &email.message_domain);
    let id: i64 = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "INSERT INTO outbox (kind, incident_id, dedupe_key, recipients, subject, body_text, body_html, language, \
         status, attempts, next_attempt_at, created_at, message_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10, $11) RETURNING id",
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
    .bind(&mid)
    .fetch_one(conn)
    .await?);
    Ok(id)
}

/// An email claimed for one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// Addresses.
    pub recipients: Vec<String>,
    /// The recipients an earlier attempt already delivered to (not sent to again).
    pub delivered: Vec<String>,
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

impl Claimed {
    /// The recipients still waiting for this email, in the order given.
    pub fn pending(&self) -> Vec<String> {
        self.recipients.iter().filter(|r| !self.delivered.contains(r)).cloned().collect()
    }
}

/// An email as claimed.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    recipients: String,
    delivered_to: String,
    subject: String,
    body_text: String,
    body_html: String,
    message_id: String,
    attempts: i64,
}

impl TryFrom<ClaimedRow> for Claimed {
    type Error = UnknownStoredValue;

    fn try_from(row: ClaimedRow) -> Result<Self, Self::Error> {
        Ok(Claimed {
            id: row.id,
            recipients: stored_recipients(&row.recipients)?,
            delivered: parse_stored("outbox.delivered_to", &row.delivered_to, |json| serde_json::from_str(json).ok())?,
            subject: row.subject,
            body_text: row.body_text,
            body_html: row.body_html,
            message_id: row.message_id,
            attempt: row.attempts,
        })
    }
}

/// Reads the stored JSON list of addresses.
pub(super) fn stored_recipients(json: &str) -> Result<Vec<String>, UnknownStoredValue> {
    parse_stored("outbox.recipients", json, |json| serde_json::from_str(json).ok())
}

/// Claims up to `limit` emails that are due: queued ones whose time has come and `sending` ones
/// whose lease ran out. On PostgreSQL rows another sender holds are skipped (`SKIP LOCKED`), so
/// two instances never claim the same email; SQLite's write lock serialises the claims. An email
/// whose stored row cannot be read is failed for good instead (see [`fail_unreadable`]).
pub async fn claim_due(db: &Db, now: DateTime<Utc>, lease: Duration, limit: i64) -> Result<Vec<Claimed>, AppError> {
    let lease_until = now + chrono::Duration::from_std(lease).map_err(AppError::internal)?;
    const SELECT: &str =
        "SELECT id FROM outbox WHERE transport = 'email' AND ((status = 'queued' AND next_attempt_at <= $2) \
                          OR (status = 'sending' AND lease_until <= $2)) ORDER BY id LIMIT $3";
    let lock = match db {
        Db::Sqlite(..) => "",
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $1 \
         WHERE id IN ({SELECT}{lock}) \
         RETURNING id, recipients, delivered_to, subject, body_text, body_html, message_id, attempts"
    );
    let mut tx = db.begin_write().await?;
    let rows = on_tx!(&mut tx, conn => sqlx::query_as::<_, ClaimedRow>(&sql)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?);
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, attempt) = (row.id, row.attempts);
        match Claimed::try_from(row) {
            Ok(email) => claimed.push(email),
            Err(unreadable) => fail_unreadable(&mut tx, id, attempt, &unreadable, now).await?,
        }
    }
    tx.commit().await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Fails the claimed email `id` for good, inside the claim's transaction, because its stored row
/// cannot be read: it is never sent with what could be made of it, and it does not hold up the
/// rest of the outbox. Recorded like any failed delivery.
async fn fail_unreadable(
    tx: &mut WriteTx,
    id: i64,
    attempt: i64,
    unreadable: &UnknownStoredValue,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    tracing::error!(email = id, attempt, column = unreadable.column, "email not sent: its stored row cannot be read");
    let error = unreadable.to_string();
    on_tx!(&mut *tx, conn => sqlx::query(
        "UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = $1 WHERE id = $2",
    )
    .bind(&error)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Record::new(&Origin::system("mailer"), event::EMAIL_FAILED)
        .target("email", id.to_string())
        .outcome(Outcome::Failed)
        .details(serde_json::json!({ "attempt": attempt, "error": error, "will_retry": false }))
        .append(tx, now)
        .await?;
    Ok(())
}

/// Records the outcome of the claim `(id, attempt)` with `set` (whose placeholders come first, in
/// order of first use like all our SQL); false when that claim no longer holds the row (its lease ran
/// out and another claim took it).
async fn finish(db: &Db, claim: &Claimed, set: &str, binds: Finish<'_>) -> Result<bool, AppError> {
    let n = match binds {
        Finish::Sent(_) | Finish::Failed(_) => 1,
        Finish::Retry(..) => 2,
    };
    let sql = format!(
        "UPDATE outbox SET {set}, delivered_to = ${}, lease_until = NULL \
         WHERE id = ${} AND attempts = ${} AND status = 'sending'",
        n + 1,
        n + 2,
        n + 3
    );
    let delivered = serde_json::to_string(&claim.delivered).map_err(AppError::internal)?;
    let (id, attempt) = (claim.id, claim.attempt);
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => {
        let q = sqlx::query(&sql);
        let q = match &binds {
            Finish::Sent(at) => q.bind(*at),
            Finish::Retry(at, error) => q.bind(*at).bind(*error),
            Finish::Failed(error) => q.bind(*error),
        };
        q.bind(&delivered).bind(id).bind(attempt).execute(conn).await?.rows_affected()
    });
    tx.commit().await?;
    Ok(n == 1)
}

enum Finish<'a> {
    Sent(DateTime<Utc>),
    Retry(DateTime<Utc>, &'a str),
    Failed(&'a str),
}

// Each outcome also stores the claim's `delivered` list: who has the email already.

/// The mail server accepted the email for every recipient.
pub async fn mark_sent(db: &Db, claim: &Claimed, now: DateTime<Utc>) -> Result<bool, AppError> {
    finish(db, claim, "status = 'sent', sent_at = $1, last_error = ''", Finish::Sent(now)).await
}

/// A transient failure: try again at `next` (for the recipients not yet delivered to).
pub async fn mark_retry(db: &Db, claim: &Claimed, next: DateTime<Utc>, error: &str) -> Result<bool, AppError> {
    finish(db, claim, "status = 'queued', next_attempt_at = $1, last_error = $2", Finish::Retry(next, error)).await
}

/// A permanent failure (or out of retries): no more attempts unless an admin asks.
pub async fn mark_failed(db: &Db, claim: &Claimed, error: &str) -> Result<bool, AppError> {
    finish(db, claim, "status = 'failed', last_error = $1", Finish::Failed(error)).await
}

/// Records, while the claim holds, that the claim's `delivered` recipients have the email: a
/// sender that dies before the outcome does not send it to them again.
pub async fn mark_delivered(db: &Db, claim: &Claimed) -> Result<bool, AppError> {
    let delivered = serde_json::to_string(&claim.delivered).map_err(AppError::internal)?;
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE outbox SET delivered_to = $1 WHERE id = $2 AND attempts = $3 AND status = 'sending'",
    )
    .bind(&delivered)
    .bind(claim.id)
    .bind(claim.attempt)
    .execute(conn)
    .await?
    .rows_affected());
    tx.commit().await?;
    Ok(n == 1)
}

/// Without an SMTP server, moves every queued email to `not_configured`; returns how many.
pub async fn park_unconfigured(db: &Db) -> Result<u64, AppError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query("UPDATE outbox SET status = 'not_configured' WHERE status = 'queued' AND transport = 'email'")
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

const VIEW_COLUMNS: &str = "o.id AS id, o.kind AS kind, i.key AS incident_key, o.recipients AS recipients, \
                            o.subject AS subject, o.body_text AS body_text, o.body_html AS body_html, \
                            o.language AS language, o.message_id AS message_id, o.status AS status, \
                            o.attempts AS attempts, o.next_attempt_at AS next_attempt_at, \
                            o.last_error AS last_error, o.created_at AS created_at, o.sent_at AS sent_at, \
                            o.transport AS transport, c.name AS channel, o.digest_of AS digest_of";

/// The tables [`VIEW_COLUMNS`] reads.
const VIEW_FROM: &str =
    "outbox o LEFT JOIN incidents i ON i.id = o.incident_id LEFT JOIN chat_channels c ON c.id = o.channel_id";

/// An email as stored, with the key of its incident.
#[derive(sqlx::FromRow)]
struct EmailRow {
    id: i64,
    kind: String,
    incident_key: Option<String>,
    recipients: String,
    subject: String,
    body_text: String,
    body_html: String,
    language: String,
    message_id: String,
    status: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    last_error: String,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    transport: String,
    channel: Option<String>,
    digest_of: Option<i64>,
}

impl TryFrom<EmailRow> for EmailView {
    type Error = UnknownStoredValue;

    fn try_from(row: EmailRow) -> Result<Self, Self::Error> {
        Ok(EmailView {
            id: row.id,
            kind: parse_stored("outbox.kind", &row.kind, EmailKind::parse)?,
            incident_key: row.incident_key,
            recipients: stored_recipients(&row.recipients)?,
            subject: row.subject,
            body_text: row.body_text,
            body_html: row.body_html,
            language: row.language,
            message_id: row.message_id,
            status: parse_stored("outbox.status", &row.status, EmailStatus::parse)?,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.to_rfc3339(),
            last_error: row.last_error,
            created_at: row.created_at.to_rfc3339(),
            sent_at: row.sent_at.map(|t| t.to_rfc3339()),
            transport: row.transport,
            channel: row.channel,
            digest_of: row.digest_of,
        })
    }
}

/// The newest emails first, optionally only those with `status`, before row id `before`.
pub async fn list(
    db: &Db,
    status: Option<EmailStatus>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EmailView>, AppError> {
    list_filtered(db, status, None, before, limit).await
}

/// Like [`list`], optionally only one transport (`email` or `chat`).
pub async fn list_filtered(
    db: &Db,
    status: Option<EmailStatus>,
    transport: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EmailView>, AppError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} \
         WHERE ($1 = '' OR o.status = $1) AND ($4 = '' OR o.transport = $4) AND o.id < $2 ORDER BY o.id DESC LIMIT $3"
    );
    let status = status.map(EmailStatus::as_str).unwrap_or_default();
    let rows = on_db!(db, pool => sqlx::query_as::<_, EmailRow>(&sql)
        .bind(status)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 500))
        .bind(transport.unwrap_or_default())
        .fetch_all(pool)
        .await?);
    Ok(rows.into_iter().map(EmailView::try_from).collect::<Result<Vec<_>, _>>()?)
}

/// The report email of an incident, if it has one.
pub async fn report_of(db: &Db, incident_id: i64) -> Result<Option<EmailView>, AppError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} \
         WHERE o.incident_id = $1 AND o.kind = 'report' AND o.transport = 'email' ORDER BY o.id LIMIT 1"
    );
    let row = on_db!(db, pool => sqlx::query_as::<_, EmailRow>(&sql)
        .bind(incident_id)
        .fetch_optional(pool)
        .await?);
    Ok(row.map(EmailView::try_from).transpose()?)
}

/// One email, for its preview.
pub async fn get(db: &Db, id: i64) -> Result<Option<EmailView>, AppError> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} WHERE o.id = $1");
    let row = on_db!(db, pool => sqlx::query_as::<_, EmailRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?);
    Ok(row.map(EmailView::try_from).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: &str) -> EmailRow {
        let at = DateTime::parse_from_rfc3339("2025-03-01T08:00:00Z").unwrap().with_timezone(&Utc);
        EmailRow {
            id: 7,
            kind: "notification".into(),
            incident_key: Some("INC-7".into()),
            recipients: r#"["pm@example.com"]"#.into(),
            subject: "subject".into(),
            body_text: "text".into(),
            body_html: "<p>html</p>".into(),
            language: "en".into(),
            message_id: "<outbox-7.INC-7@example.com>".into(),
            status: status.into(),
            attempts: 1,
            next_attempt_at: at,
            last_error: String::new(),
            created_at: at,
            sent_at: None,
            transport: "email".into(),
            channel: None,
            digest_of: None,
        }
    }

    #[test]
    fn a_known_stored_status_is_read() {
        let view = EmailView::try_from(stored("sent")).unwrap();
        assert_eq!((view.status, view.kind), (EmailStatus::Sent, EmailKind::Notification));
        assert_eq!(view.recipients, ["pm@example.com"]);
    }

    #[test]
    fn an_unknown_stored_status_is_an_error_not_a_default() {
        let err = EmailView::try_from(stored("bounced")).unwrap_err();
        assert_eq!((err.column, err.value.as_str()), ("outbox.status", "bounced"));
    }

    #[test]
    fn an_unknown_stored_kind_or_an_unreadable_recipient_list_is_an_error() {
        let err = EmailView::try_from(EmailRow { kind: "digest".into(), ..stored("queued") }).unwrap_err();
        assert_eq!(err.column, "outbox.kind");
        let err =
            EmailView::try_from(EmailRow { recipients: "pm@example.com".into(), ..stored("queued") }).unwrap_err();
        assert_eq!(err.column, "outbox.recipients");
    }

    #[cfg(feature = "test-support")]
    crate::db_test!(async fn an_email_whose_recipients_cannot_be_read_is_failed_and_the_others_are_claimed(ctx) {
        let db = &ctx.db;
        let now = Utc::now();
        let mut ids = Vec::new();
        for recipients in ["pm@example.com", r#"["pm@example.com"]"#] {
            let id: i64 = on_db!(db, pool => sqlx::query_scalar(
                "INSERT INTO outbox (kind, recipients, subject, body_text, body_html, language, status, attempts, \
                 next_attempt_at, created_at) VALUES ('notification', $1, 's', 't', 'h', 'en', 'queued', 0, $2, $2) \
                 RETURNING id",
            )
            .bind(recipients)
            .bind(now)
            .fetch_one(pool)
            .await)
            .unwrap();
            ids.push(id);
        }

        let claimed = claim_due(db, now, Duration::from_secs(60), 10).await.unwrap();

        assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[1]]);
        let (status, error): (String, String) = on_db!(db, pool => sqlx::query_as(
            "SELECT status, last_error FROM outbox WHERE id = $1",
        )
        .bind(ids[0])
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(status, "failed");
        assert!(error.contains("outbox.recipients"), "{error}");
        let recorded = crate::audit::store::get(db, 1).await.unwrap().expect("the failure is recorded");
        assert_eq!((recorded.event.as_str(), recorded.outcome.as_str()), (event::EMAIL_FAILED, "failed"));
        assert_eq!(recorded.target, ids[0].to_string());
    });
}
