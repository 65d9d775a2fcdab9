//! Storage of users and their roles.

use chrono::{DateTime, Utc};

pub use super::chat_identity::{chat_identity, check_chat_identity, set_chat_identity};
use super::{UserDetail, UserSummary};
use crate::{
    auth::Role,
    db::{parse_stored, Db, DbError, UnknownStoredValue, WriteTx},
    i18n::Locale,
    on_db, on_tx,
};

/// What is needed to create a user.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name as typed (kept for display); uniqueness ignores case.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Email address for notifications.
    pub email: String,
    /// Preferred language.
    pub language: Locale,
    /// Roles held.
    pub roles: Vec<Role>,
    /// argon2 hash of the initial password.
    pub password_hash: String,
    /// The user must choose a new password at first sign-in.
    pub must_change_password: bool,
}

/// Why a user could not be created or renamed.
#[derive(Debug, thiserror::Error)]
pub enum UserWriteError {
    /// The username is in use (whatever its case).
    #[error("username taken")]
    UsernameTaken,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for UserWriteError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => UserWriteError::UsernameTaken,
            _ => UserWriteError::Db(DbError::Query(err)),
        }
    }
}

/// The comparison key of a username: case-insensitive.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Creates a user with its roles; returns its id.
pub async fn create(tx: &mut WriteTx, user: &NewUser, now: DateTime<Utc>) -> Result<i64, UserWriteError> {
    let id: i64 = on_tx!(tx, conn => sqlx::query_scalar(
        "INSERT INTO users (username, username_key, display_name, email, language, active, password_hash, \
         must_change_password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(user.username.trim())
    .bind(username_key(&user.username))
    .bind(&user.display_name)
    .bind(&user.email)
    .bind(user.language.tag())
    .bind(true)
    .bind(&user.password_hash)
    .bind(user.must_change_password)
    .bind(now)
    .bind(now)
    .fetch_one(conn)
    .await?);
    set_roles(tx, id, &user.roles).await?;
    Ok(id)
}

/// Replaces the roles of a user.
pub async fn set_roles(tx: &mut WriteTx, user_id: i64, roles: &[Role]) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user_id).execute(conn).await.map(|_| ()))?;
    for role in roles {
        on_tx!(tx, conn => sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(user_id)
            .bind(role.as_str())
            .execute(conn)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// Roles of a user, in display order.
pub async fn roles_of(db: &Db, user_id: i64) -> Result<Vec<Role>, DbError> {
    let names: Vec<String> = on_db!(db, pool => sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(pool)
        .await?);
    let mut roles = names.iter().map(|name| stored_role(name)).collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    Ok(roles)
}

/// Reads a stored role name; an unknown one is an error, never skipped.
fn stored_role(name: &str) -> Result<Role, UnknownStoredValue> {
    parse_stored("user_roles.role", name, Role::parse)
}

/// Number of users.
pub async fn count(db: &Db) -> Result<i64, DbError> {
    Ok(on_db!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(pool).await?))
}

/// What sign-in needs to know about an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginRow {
    /// User id.
    pub id: i64,
    /// Stored argon2 hash.
    pub password_hash: String,
    /// Deactivated users cannot sign in.
    pub active: bool,
    /// Must choose a new password before anything else.
    pub must_change_password: bool,
    /// Login name as stored.
    pub username: String,
}

/// Finds the account for a sign-in by its case-insensitive username.
pub async fn find_for_login(db: &Db, username: &str) -> Result<Option<LoginRow>, DbError> {
    let key = username_key(username);
    let row = on_db!(db, pool => sqlx::query_as::<_, LoginRow>(
        "SELECT id, password_hash, active, must_change_password, username FROM users WHERE username_key = $1",
    )
    .bind(&key)
    .fetch_optional(pool)
    .await?);
    Ok(row)
}

/// The password hash of a user, for checking the current password.
pub async fn password_hash(db: &Db, user_id: i64) -> Result<Option<String>, DbError> {
    Ok(on_db!(db, pool => sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await?))
}

/// Stores a new password hash.
pub async fn set_password(
    tx: &mut WriteTx,
    user_id: i64,
    hash: &str,
    must_change: bool,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 WHERE id = $4")
        .bind(hash)
        .bind(must_change)
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Changes name, email and language.
pub async fn update_details(
    tx: &mut WriteTx,
    user_id: i64,
    display_name: &str,
    email: &str,
    language: Locale,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET display_name = $1, email = $2, language = $3, updated_at = $4 WHERE id = $5")
        .bind(display_name)
        .bind(email)
        .bind(language.tag())
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Changes only the preferred language.
pub async fn set_language(tx: &mut WriteTx, user_id: i64, language: Locale, now: DateTime<Utc>) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET language = $1, updated_at = $2 WHERE id = $3")
        .bind(language.tag())
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Stores a user's own time zone (`None`: the device's, else the installation's).
pub async fn set_time_zone(
    tx: &mut WriteTx,
    user_id: i64,
    time_zone: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET time_zone = $1, updated_at = $2 WHERE id = $3")
        .bind(time_zone)
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Activates or deactivates a user.
pub async fn set_active(tx: &mut WriteTx, user_id: i64, active: bool, now: DateTime<Utc>) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
        .bind(active)
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// A user as listed, before its roles are read.
#[derive(sqlx::FromRow)]
struct UserSummaryRow {
    id: i64,
    username: String,
    display_name: String,
    email: String,
    active: bool,
}

impl From<UserSummaryRow> for UserSummary {
    fn from(row: UserSummaryRow) -> Self {
        UserSummary {
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            email: row.email,
            active: row.active,
            roles: Vec::new(),
        }
    }
}

/// A user's details, before roles and sessions are counted.
#[derive(sqlx::FromRow)]
struct UserDetailRow {
    #[sqlx(flatten)]
    summary: UserSummaryRow,
    language: String,
    must_change_password: bool,
}

impl TryFrom<UserDetailRow> for UserDetail {
    type Error = UnknownStoredValue;

    fn try_from(row: UserDetailRow) -> Result<Self, Self::Error> {
        Ok(UserDetail {
            summary: row.summary.into(),
            language: parse_stored("users.language", &row.language, Locale::from_tag)?,
            must_change_password: row.must_change_password,
            active_sessions: 0,
        })
    }
}

/// Users whose username, name or email contains `query` (case-insensitive), by username.
pub async fn search(db: &Db, query: &str, limit: i64) -> Result<Vec<UserSummary>, DbError> {
    // LIKE wildcards in the query are matched literally.
    let pattern =
        format!("%{}%", query.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let rows = on_db!(db, pool => sqlx::query_as::<_, UserSummaryRow>(
        "SELECT id, username, display_name, email, active FROM users \
         WHERE username_key LIKE $1 ESCAPE '\\' OR LOWER(display_name) LIKE $1 ESCAPE '\\' OR LOWER(email) LIKE $1 ESCAPE '\\' \
         ORDER BY username_key LIMIT $2",
    )
    .bind(&pattern)
    .bind(limit)
    .fetch_all(pool)
    .await?);
    let mut users: Vec<UserSummary> = rows.into_iter().map(UserSummary::from).collect();
    for user in &mut users {
        user.roles = roles_of(db, user.id).await?;
    }
    Ok(users)
}

/// One user's details.
pub async fn get(db: &Db, user_id: i64) -> Result<Option<UserDetail>, DbError> {
    let row = on_db!(db, pool => sqlx::query_as::<_, UserDetailRow>(
        "SELECT id, username, display_name, email, active, language, must_change_password FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?);
    let Some(mut detail) = row.map(UserDetail::try_from).transpose()? else { return Ok(None) };
    detail.summary.roles = roles_of(db, user_id).await?;
    detail.active_sessions = on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await?);
    Ok(Some(detail))
}

/// The id of a user by username.
pub async fn id_by_username(db: &Db, username: &str) -> Result<Option<i64>, DbError> {
    Ok(on_db!(db, pool => sqlx::query_scalar("SELECT id FROM users WHERE username_key = $1")
        .bind(username_key(username))
        .fetch_optional(pool)
        .await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(language: &str) -> UserDetailRow {
        UserDetailRow {
            summary: UserSummaryRow {
                id: 1,
                username: "li".into(),
                display_name: "Li".into(),
                email: "li@example.com".into(),
                active: true,
            },
            language: language.into(),
            must_change_password: false,
        }
    }

    #[test]
    fn a_stored_language_is_read_and_an_unknown_one_is_an_error() {
        assert_eq!(UserDetail::try_from(stored("zh-CN")).unwrap().language, Locale::ZhCn);
        let err = UserDetail::try_from(stored("fr")).unwrap_err();
        assert_eq!((err.column, err.value.as_str()), ("users.language", "fr"));
    }

    #[test]
    fn an_unknown_stored_role_is_an_error_not_skipped() {
        assert_eq!(stored_role("qa").unwrap(), Role::Qa);
        assert_eq!(stored_role("root").unwrap_err().column, "user_roles.role");
    }
}
