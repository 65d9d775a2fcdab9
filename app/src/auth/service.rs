//! Sign-in and password changes as plain functions over the database, called by the server
//! functions and tested directly on both back ends.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{
    password::{check_policy, PasswordHasher},
    sessions::{self, EndReason},
    throttle, ClientInfo, CurrentUser,
};
use crate::{
    audit::{
        event,
        refusals::Refusals,
        store::{Origin, Record},
        Outcome,
    },
    db::Db,
    error::{AppError, FieldProblem},
    users::store::{self, username_key},
};

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who signed in.
    pub user_id: i64,
    /// The token of the new session, for the browser's cookie.
    pub token: sessions::SessionToken,
    /// The user must choose a new password before anything else.
    pub must_change_password: bool,
}

/// Checks a username and password and opens a session record.
///
/// An unknown username, a wrong password and a deactivated account take the same time and give
/// the same answer.
/// Failures count against the account and the client address; past the thresholds the caller is
/// told how long to wait, before any password is checked.
pub async fn sign_in(
    db: &Db,
    hasher: &PasswordHasher,
    refusals: &Refusals,
    username: &str,
    password: SecretString,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<SignedIn, AppError> {
    if username.trim().is_empty() {
        return Err(AppError::invalid("username", FieldProblem::Required));
    }
    if password.expose_secret().is_empty() {
        return Err(AppError::invalid("password", FieldProblem::Required));
    }
    let account_key = throttle::account_key(&username_key(username));
    let address_key = throttle::address_key(&client.addr);
    // Failed and refused attempts are recorded under the username that was tried.
    let tried = Origin::anonymous(username, client);
    let attempt = |outcome, reason: &str| {
        Record::new(&tried, event::LOGIN)
            .target("user", username)
            .outcome(outcome)
            .details(serde_json::json!({ "reason": reason }))
    };
    if let Some(wait) = throttle::blocked_for(db, &[account_key.clone(), address_key.clone()], now).await? {
        tracing::warn!(username, addr = %client.addr, wait, "sign-in throttled");
        metrics::counter!("baton_sign_in_throttled_total").increment(1);
        // A blocked address may keep trying as fast as it likes: its refusals are coalesced.
        attempt(Outcome::Denied, "throttled").record_refusal(db, refusals, "throttled", now).await?;
        return Err(AppError::Throttled(wait));
    }

    let account = store::find_for_login(db, username).await?;
    let verified = hasher.verify(password.clone(), account.as_ref().map(|a| a.password_hash.clone())).await?;
    // A deactivated account answers exactly as a wrong password does (same status, body and
    // work: the same writes in the same transaction), so the answer never tells that the
    // password was right. The audit log, which only admins read, says which it was.
    let account = match account {
        Some(account) if verified.ok && account.active => account,
        other => {
            let reason = if other.is_some() && verified.ok { "deactivated" } else { "invalid_credentials" };
            let mut tx = db.begin_write().await?;
            throttle::record_failure(&mut tx, &account_key, throttle::ACCOUNT_THRESHOLD, now).await?;
            throttle::record_failure(&mut tx, &address_key, throttle::ADDRESS_THRESHOLD, now).await?;
            attempt(Outcome::Failed, reason).append(&mut tx, now).await?;
            tx.commit().await?;
            tracing::info!(username, addr = %client.addr, reason, "sign-in failed");
            metrics::counter!("baton_sign_in_failures_total").increment(1);
            return Err(AppError::InvalidCredentials);
        }
    };
    let roles = store::roles_of(db, account.id).await?;
    // Hash before the transaction: the write lock is not held while argon2 runs.
    let rehash = if verified.needs_rehash { Some(hasher.hash(password).await?) } else { None };

    let mut tx = db.begin_write().await?;
    throttle::clear(&mut tx, &account_key).await?;
    if let Some(hash) = rehash {
        // Keep the must-change flag as it is: only the hash parameters change.
        store::set_password(&mut tx, account.id, &hash, account.must_change_password, now).await?;
    }
    let token = sessions::create(&mut tx, account.id, &client.addr, &client.user_agent, now).await?;
    Record::new(&Origin::user(account.id, &account.username, &roles, client), event::LOGIN)
        .target("user", &account.username)
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    tracing::info!(username, user_id = account.id, addr = %client.addr, "signed in");
    Ok(SignedIn { user_id: account.id, token, must_change_password: account.must_change_password })
}

/// A password change as submitted.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    /// The password in use now.
    pub current: SecretString,
    /// The new password.
    pub new: SecretString,
    /// The new password again.
    pub confirm: SecretString,
}

/// Changes a user's own password after checking the current one; ends their other sessions.
pub async fn change_own_password(
    db: &Db,
    hasher: &PasswordHasher,
    user: &CurrentUser,
    client: &ClientInfo,
    change: PasswordChange,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let PasswordChange { current, new, confirm } = change;
    let (user_id, keep_session) = (user.me.id, user.session_id.as_str());
    if current.expose_secret().is_empty() {
        return Err(AppError::invalid("current", FieldProblem::Required));
    }
    check_policy(new.expose_secret(), &user.me.username).map_err(|p| AppError::invalid("new", p))?;
    if new.expose_secret() != confirm.expose_secret() {
        return Err(AppError::invalid("confirm", FieldProblem::PasswordMismatch));
    }
    // The current password is guessed against the same per-account limit as sign-in: a block
    // from either applies to both, and a session that reaches it is ended.
    let account_key = throttle::account_key(&username_key(&user.me.username));
    let origin = Origin::of(user, client);
    let refused = |reason: &str| {
        Record::new(&origin, event::PASSWORD_CHANGED)
            .target("user", &user.me.username)
            .outcome(Outcome::Failed)
            .details(serde_json::json!({ "reason": reason }))
    };
    if let Some(wait) = throttle::blocked_for(db, std::slice::from_ref(&account_key), now).await? {
        end_guessing_session(db, user, refused("throttled"), now).await?;
        return Err(AppError::Throttled(wait));
    }
    let stored = store::password_hash(db, user_id).await?.ok_or(AppError::NotSignedIn)?;
    let current_text = current.clone();
    if !hasher.verify(current, Some(stored)).await?.ok {
        let mut tx = db.begin_write().await?;
        let blocked = throttle::record_failure(&mut tx, &account_key, throttle::ACCOUNT_THRESHOLD, now).await?;
        refused("wrong_password").append(&mut tx, now).await?;
        tx.commit().await?;
        tracing::warn!(user = %user.me.username, addr = %client.addr, "password change: wrong current password");
        if let Some(wait) = blocked {
            end_guessing_session(db, user, refused("session_ended"), now).await?;
            return Err(AppError::Throttled(wait));
        }
        return Err(AppError::invalid("current", FieldProblem::WrongPassword));
    }
    // The current password was just verified against the stored hash, so an equal new one is
    // the stored password again (the forced first change must not keep a printed password).
    if new.expose_secret() == current_text.expose_secret() {
        return Err(AppError::invalid("new", FieldProblem::PasswordUnchanged));
    }
    let hash = hasher.hash(new).await?;
    let mut tx = db.begin_write().await?;
    store::set_password(&mut tx, user_id, &hash, false, now).await?;
    let ended = sessions::end_all_of(&mut tx, user_id, Some(keep_session), EndReason::PasswordChanged, now).await?;
    Record::new(&Origin::of(user, client), event::PASSWORD_CHANGED)
        .target("user", &user.me.username)
        .details(serde_json::json!({ "other_sessions_ended": ended }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends the session of someone guessing their current password past the limit, with `entry` in
/// the audit log, in one transaction.
async fn end_guessing_session(
    db: &Db,
    user: &CurrentUser,
    entry: Record<'_>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    sessions::end_in(&mut tx, &user.session_id, EndReason::WrongPasswords, now).await?;
    entry.append(&mut tx, now).await?;
    tx.commit().await?;
    tracing::warn!(user = %user.me.username, "session ended: too many wrong current passwords");
    Ok(())
}
