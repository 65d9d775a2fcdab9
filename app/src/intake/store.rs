//! Intake sources in the database: create (token shown once), list, pause, revoke, and the token
//! check of every delivery.

use chrono::{DateTime, Utc};

use super::{tokens, CreatedSource, SourceChannel, SourceView};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    db::{parse_stored, Db, DbError, UnknownStoredValue},
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
    let row = on_db!(db, pool => sqlx::query_as::<_, TokenOwnerRow>(
        "SELECT id, name, channel, enabled, revoked_at IS NOT NULL AS revoked FROM intake_sources WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?);
    match row {
        None => Ok(Authenticated::Unknown),
        Some(row) => Ok(row.into_authenticated()?),
    }
}

/// The source a token belongs to, as stored.
#[derive(sqlx::FromRow)]
struct TokenOwnerRow {
    id: i64,
    name: String,
    channel: String,
    enabled: bool,
    revoked: bool,
}

impl TokenOwnerRow {
    /// What the token is worth now. The channel is read only for a live source.
    fn into_authenticated(self) -> Result<Authenticated, UnknownStoredValue> {
        Ok(match self {
            TokenOwnerRow { name, revoked: true, .. } => Authenticated::Revoked(name),
            TokenOwnerRow { name, enabled: false, .. } => Authenticated::Disabled(name),
            TokenOwnerRow { id, name, channel, .. } => Authenticated::Valid(Source {
                id,
                name,
                channel: parse_stored("intake_sources.channel", &channel, SourceChannel::parse)?,
            }),
        })
    }
}

/// A source as listed.
#[derive(sqlx::FromRow)]
struct SourceRow {
    id: i64,
    name: String,
    channel: String,
    token_hint: String,
    enabled: bool,
    revoked: bool,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<SourceRow> for SourceView {
    type Error = UnknownStoredValue;

    fn try_from(row: SourceRow) -> Result<Self, Self::Error> {
        Ok(SourceView {
            id: row.id,
            name: row.name,
            channel: parse_stored("intake_sources.channel", &row.channel, SourceChannel::parse)?,
            token_hint: row.token_hint,
            enabled: row.enabled,
            revoked: row.revoked,
            created_at: row.created_at.to_rfc3339(),
            last_used_at: row.last_used_at.map(|t| t.to_rfc3339()),
        })
    }
}

/// Every source, newest first.
pub async fn list(db: &Db) -> Result<Vec<SourceView>, DbError> {
    let rows = on_db!(db, pool => sqlx::query_as::<_, SourceRow>(
        "SELECT id, name, channel, token_hint, enabled, revoked_at IS NOT NULL AS revoked, created_at, last_used_at \
         FROM intake_sources ORDER BY id DESC",
    )
    .fetch_all(pool)
    .await?);
    Ok(rows.into_iter().map(SourceView::try_from).collect::<Result<Vec<_>, _>>()?)
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
    crate::text::check("name", name)?;
    let channel =
        SourceChannel::parse(channel).ok_or_else(|| AppError::invalid("channel", FieldProblem::InvalidChoice))?;
    let token = tokens::generate();
    let mut tx = db.begin_write().await?;
    let taken: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar("SELECT COUNT(*) FROM intake_sources WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await?);
    if taken > 0 {
        return Err(AppError::invalid("name", FieldProblem::Taken));
    }
    let id: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
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
    .await?);
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

/// A source's name and state before a change.
#[derive(sqlx::FromRow)]
struct SourceStateRow {
    name: String,
    enabled: bool,
    revoked: bool,
}

enum Change {
    Enabled(bool),
    Revoke,
}

async fn change(db: &Db, admin: &Origin, id: i64, now: DateTime<Utc>, change: Change) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let before = on_tx!(&mut tx, conn => sqlx::query_as::<_, SourceStateRow>(
        "SELECT name, enabled, revoked_at IS NOT NULL AS revoked FROM intake_sources WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?);
    let Some(SourceStateRow { name, enabled: was_enabled, revoked: was_revoked }) = before else {
        return Err(AppError::NotFound);
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(channel: &str, enabled: bool, revoked: bool) -> TokenOwnerRow {
        TokenOwnerRow { id: 3, name: "helpdesk".into(), channel: channel.into(), enabled, revoked }
    }

    #[test]
    fn a_token_is_worth_what_its_source_state_says() {
        let valid = Source { id: 3, name: "helpdesk".into(), channel: SourceChannel::Email };
        assert_eq!(owner("email", true, false).into_authenticated().unwrap(), Authenticated::Valid(valid));
        assert_eq!(
            owner("email", false, false).into_authenticated().unwrap(),
            Authenticated::Disabled("helpdesk".into())
        );
        assert_eq!(owner("email", true, true).into_authenticated().unwrap(), Authenticated::Revoked("helpdesk".into()));
    }

    #[test]
    fn a_live_source_with_an_unknown_stored_channel_is_an_error_not_an_unknown_token() {
        let err = owner("fax", true, false).into_authenticated().unwrap_err();
        assert_eq!((err.column, err.value.as_str()), ("intake_sources.channel", "fax"));
    }
}
