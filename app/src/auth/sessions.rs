//! App-owned session records: the authority on whether a signed-in session is still valid.
//!
//! The session cookie carries a random token; the record's id is the token's SHA-256, so the
//! database never holds a usable credential. Every request loads the record together with its
//! user in one query, so logout, deactivation, a password reset or a role change takes effect on
//! the user's very next request. A revoked record stays revoked: nothing a slow request writes
//! can revive it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{CurrentUser, Me, Role};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    db::{parse_stored, Db, DbError, WriteTx},
    i18n::Locale,
    on_db, on_read, on_tx,
};

/// `last_seen_at` is written at most this often per session, not on every request.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// Why a session was ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The user signed out.
    Logout,
    /// No request for longer than the idle timeout.
    Idle,
    /// Older than the absolute timeout.
    Absolute,
    /// An admin ended the user's sessions.
    Admin,
    /// The user was deactivated.
    Deactivated,
    /// The password was changed or reset.
    PasswordChanged,
    /// Too many wrong current passwords were tried in it (a password change).
    WrongPasswords,
}

impl EndReason {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Idle => "idle_timeout",
            EndReason::Absolute => "absolute_timeout",
            EndReason::Admin => "ended_by_admin",
            EndReason::Deactivated => "deactivated",
            EndReason::PasswordChanged => "password_changed",
            EndReason::WrongPasswords => "wrong_passwords",
        }
    }
}

/// Session lifetime limits.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Longest gap between requests.
    pub idle: Duration,
    /// Longest life since sign-in.
    pub absolute: Duration,
}

/// The secret a signed-in browser holds in its session cookie: 256 random bits as hex. Only its
/// SHA-256 is stored (as the session record's id).
#[derive(Clone)]
pub struct SessionToken(SecretString);

impl SessionToken {
    const BYTES: usize = 32;

    /// A new random token.
    pub fn generate() -> Self {
        Self(crate::digest::random_hex(Self::BYTES).into())
    }

    /// A token as a cookie carried it; anything not shaped like one of ours is no token.
    pub fn parse(value: &str) -> Option<Self> {
        let well_formed =
            value.len() == Self::BYTES * 2 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| Self(value.to_owned().into()))
    }

    /// The id of the session record this token opens.
    pub fn record_id(&self) -> String {
        crate::digest::sha256_hex(self.0.expose_secret().as_bytes())
    }

    /// The token itself, for the cookie.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// Creates a session record for a fresh sign-in; returns the token that opens it (the record's
/// id is [`SessionToken::record_id`]).
pub async fn create(
    tx: &mut WriteTx,
    user_id: i64,
    client_addr: &str,
    user_agent: &str,
    now: DateTime<Utc>,
) -> Result<SessionToken, DbError> {
    let token = SessionToken::generate();
    let id = token.record_id();
    // User agents can be long; the record needs only enough to recognise a device.
    let user_agent: String = user_agent.chars().take(300).collect();
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO auth_sessions (id, user_id, created_at, last_seen_at, client_addr, user_agent) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(now)
    .bind(now)
    .bind(client_addr)
    .bind(&user_agent)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(token)
}

/// Ends one session (idempotent); returns whether it was live until now.
pub async fn end(db: &Db, session_id: &str, reason: EndReason, now: DateTime<Utc>) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let ended = end_in(&mut tx, session_id, reason, now).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Ends the session `session_id` inside `tx`; `false` when it had already ended.
pub async fn end_in(
    tx: &mut WriteTx,
    session_id: &str,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let ended = on_tx!(tx, conn => sqlx::query("UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(reason.as_str())
        .bind(session_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(ended > 0)
}

/// Signs a user out: ends their session and records it in the audit log, together.
pub async fn end_signed_out(db: &Db, session_id: &str, origin: &Origin, now: DateTime<Utc>) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    if end_in(&mut tx, session_id, EndReason::Logout, now).await? {
        Record::new(origin, event::LOGOUT).append(&mut tx, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends a session that timed out or whose user was deactivated, recorded as done by the system.
async fn end_expired(
    db: &Db,
    session_id: &str,
    username: &str,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    // Two requests may race to end the same session: only the one that ends it records it.
    if end_in(&mut tx, session_id, reason, now).await? {
        Record::new(&Origin::system("sessions"), event::SESSION_ENDED)
            .target("user", username)
            .details(serde_json::json!({ "reason": reason.as_str() }))
            .append(&mut tx, now)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends every live session of a user except `keep`, inside `tx`; returns how many were ended.
pub async fn end_all_of(
    tx: &mut WriteTx,
    user_id: i64,
    keep: Option<&str>,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    let ended = on_tx!(tx, conn => sqlx::query(
        "UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4",
    )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(ended)
}

/// The state of a session record at a request.
#[derive(Debug)]
pub enum Resolved {
    /// Valid: the request acts as this user.
    Valid(CurrentUser),
    /// Ended now or before; the cookie session should be cleared.
    Ended,
}

/// Checks the session record a token opens and loads its user with current roles. Expired
/// sessions are ended here, with the reason recorded.
pub async fn resolve(
    db: &Db,
    token: &SessionToken,
    timeouts: Timeouts,
    now: DateTime<Utc>,
) -> Result<Resolved, DbError> {
    let session_id = token.record_id();
    let session_id = session_id.as_str();
    // One query for the session, its user and their roles (one row per role): this runs on every
    // signed-in request, hence a short read on the task's own thread.
    let rows = on_read!(db, conn => sqlx::query_as::<_, SessionUserRow>(
        "SELECT s.user_id AS user_id, s.created_at AS created_at, s.last_seen_at AS last_seen_at, \
         s.revoked_at IS NOT NULL AS revoked, u.active AS active, u.username AS username, \
         u.display_name AS display_name, u.language AS language, u.time_zone AS time_zone, u.must_change_password AS must_change_password, \
         r.role AS role \
         FROM auth_sessions s JOIN users u ON u.id = s.user_id LEFT JOIN user_roles r ON r.user_id = u.id WHERE s.id = $1",
    )
    .bind(session_id)
    .fetch_all(conn)
    .await?);
    let mut roles = rows
        .iter()
        .filter_map(|row| row.role.as_deref())
        .map(|name| parse_stored("user_roles.role", name, Role::parse))
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    let Some(row) = rows.into_iter().next() else { return Ok(Resolved::Ended) };
    if row.revoked {
        return Ok(Resolved::Ended);
    }
    let since = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
    let expired = if !row.active {
        Some(EndReason::Deactivated)
    } else if since(row.created_at) >= timeouts.absolute {
        Some(EndReason::Absolute)
    } else if since(row.last_seen_at) >= timeouts.idle {
        Some(EndReason::Idle)
    } else {
        None
    };
    if let Some(reason) = expired {
        end_expired(db, session_id, &row.username, reason, now).await?;
        return Ok(Resolved::Ended);
    }
    // Touch often enough that an active user never reaches the idle timeout.
    if since(row.last_seen_at) >= TOUCH_EVERY.min(timeouts.idle / 4) {
        on_db!(db, pool => sqlx::query("UPDATE auth_sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(session_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    Ok(Resolved::Valid(CurrentUser {
        me: Me {
            id: row.user_id,
            username: row.username,
            display_name: row.display_name,
            roles,
            language: parse_stored("users.language", &row.language, Locale::from_tag)?,
            time_zone: row.time_zone,
            must_change_password: row.must_change_password,
        },
        session_id: session_id.to_owned(),
    }))
}

/// A session record with its user, once per role the user holds (`role` is `None` without roles).
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    user_id: i64,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    revoked: bool,
    active: bool,
    username: String,
    display_name: String,
    language: String,
    time_zone: Option<String>,
    must_change_password: bool,
    role: Option<String>,
}
