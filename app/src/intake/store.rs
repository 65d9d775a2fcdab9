//! Intake sources in the database: create (token shown once), list, pause, revoke, and the token
//! check of every delivery.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{tokens, CreatedSource, SourceChannel, SourceView};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    db::{Db, DbError},
    error::{AppError, FieldProblem},
    on_db, on_tx,
};

/// Longest source name, in characters.
pub const MAX_NAME: usize = 100;

/// A source whose token was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Row id.
    pub id: i64,
    /// Name (the actor in the audit log).
    pub name: String,
    /// Channel.
    pub channel: SourceChannel,
}

/// What a presented token turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authenticated {
    /// A live source.
    Valid(Source),
    /// The token of a revoked source (named, for the audit log).
    Revoked(String),
    /// The token of a paused source.
    Disabled(String),
    /// No source has this token.
    Unknown,
}

/// Looks up the source of `token`.
pub async fn authenticate(db: &Db, token: &str) -> Result<Authenticated, DbError> {
    let hash = tokens::hash(token.trim());
    let row = on_db!(db, pool => sqlx::query(
        "SELECT id, name, channel, enabled, revoked_at IS NOT NULL FROM intake_sources WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>((
            r.try_get::<i64, _>(0)?,
            r.try_get::<String, _>(1)?,
            r.try_get::<String, _>(2)?,
            r.try_get::<bool, _>(3)?,
            r.try_get::<bool, _>(4)?,
        ))
    })
    .transpose()?);
    Ok(match row {
        None => Authenticated::Unknown,
        Some((_, name, _, _, true)) => Authenticated::Revoked(name),
        Some((_, name, _, false, false)) => Authenticated::Disabled(name),
        Some((id, name, channel, true, false)) => match SourceChannel::parse(&channel) {
            Some(channel) => Authenticated::Valid(Source { id, name, channel }),
            None => Authenticated::Unknown,
        },
    })
}

/// Every source, newest first.
pub async fn list(db: &Db) -> Result<Vec<SourceView>, DbError> {
    let rows = on_db!(db, pool => sqlx::query(
        "SELECT id, name, channel, token_hint, enabled, revoked_at IS NOT NULL, created_at, last_used_at \
         FROM intake_sources ORDER BY id DESC",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let channel: String = r.try_get(2)?;
        let created_at: DateTime<Utc> = r.try_get(6)?;
        let last_used_at: Option<DateTime<Utc>> = r.try_get(7)?;
        Ok::<_, sqlx::Error>(SourceView {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            channel: SourceChannel::parse(&channel).unwrap_or(SourceChannel::Other),
            token_hint: r.try_get(3)?,
            enabled: r.try_get(4)?,
            revoked: r.try_get(5)?,
            created_at: created_at.to_rfc3339(),
            last_used_at: last_used_at.map(|t| t.to_rfc3339()),
        })
    })
    .collect::<Result<Vec<_>, _>>()?);
    Ok(rows)
}

/// Creates a source and returns its token (this is the only time it exists in clear).
pub async fn create(
    db: &Db,
    admin: &Origin,
    admin_id: Option<i64>,
    name: &str,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<CreatedSource, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", FieldProblem::Required));
    }
    if name.chars().count() > MAX_NAME {
        return Err(AppError::invalid("name", FieldProblem::TooLong(MAX_NAME)));
    }
    let channel =
        SourceChannel::parse(channel).ok_or_else(|| AppError::invalid("channel", FieldProblem::InvalidChoice))?;
    let token = tokens::generate();
    let mut tx = db.begin_write().await?;
    let taken: i64 = on_tx!(&mut tx, conn => sqlx::query("SELECT COUNT(*) FROM intake_sources WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await?
        .try_get(0)?);
    if taken > 0 {
        return Err(AppError::invalid("name", FieldProblem::Taken));
    }
    let id: i64 = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO intake_sources (name, channel, token_hash, token_hint, enabled, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(name)
    .bind(channel.as_str())
    .bind(tokens::hash(&token))
    .bind(tokens::hint(&token))
    .bind(true)
    .bind(admin_id)
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get(0)?);
    Record::new(admin, event::INTAKE_SOURCE_CREATED)
        .target("intake_source", name)
        .details(serde_json::json!({ "after": { "id": id, "channel": channel.as_str(), "token_hint": tokens::hint(&token) } }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(CreatedSource { id, name: name.to_owned(), token })
}

/// Pauses (`enabled = false`) or resumes a source. A revoked source stays revoked.
pub async fn set_enabled(db: &Db, admin: &Origin, id: i64, enabled: bool, now: DateTime<Utc>) -> Result<(), AppError> {
    change(db, admin, id, now, Change::Enabled(enabled)).await
}

/// Revokes a source for good: its token is refused from now on.
pub async fn revoke(db: &Db, admin: &Origin, id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    change(db, admin, id, now, Change::Revoke).await
}

enum Change {
    Enabled(bool),
    Revoke,
}

async fn change(db: &Db, admin: &Origin, id: i64, now: DateTime<Utc>, change: Change) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let before = on_tx!(&mut tx, conn => sqlx::query("SELECT name, enabled, revoked_at IS NOT NULL FROM intake_sources WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get::<String, _>(0)?, r.try_get::<bool, _>(1)?, r.try_get::<bool, _>(2)?)))
        .transpose()?);
    let Some((name, was_enabled, was_revoked)) = before else { return Err(AppError::NotFound) };
    let (event, details) = match change {
        Change::Enabled(enabled) => {
            on_tx!(&mut tx, conn => sqlx::query("UPDATE intake_sources SET enabled = $1 WHERE id = $2")
                .bind(enabled)
                .bind(id)
                .execute(conn)
                .await
                .map(|_| ()))?;
            (
                event::INTAKE_SOURCE_UPDATED,
                serde_json::json!({ "before": { "enabled": was_enabled }, "after": { "enabled": enabled } }),
            )
        }
        Change::Revoke => {
            if was_revoked {
                // Revoking twice changes nothing and records nothing.
                return Ok(());
            }
            on_tx!(&mut tx, conn => sqlx::query("UPDATE intake_sources SET revoked_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(conn)
                .await
                .map(|_| ()))?;
            (
                event::INTAKE_SOURCE_REVOKED,
                serde_json::json!({ "before": { "revoked": false }, "after": { "revoked": true } }),
            )
        }
    };
    Record::new(admin, event).target("intake_source", name).details(details).append(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}
