//! Server functions of user management. Every one requires the admin role.
// The #[server] and #[component] macros generate argument structs whose fields cannot carry docs.
#![allow(missing_docs)]
// A server function's arguments are its form's fields, one each; the user forms have many.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use super::{UserDetail, UserSummary};
use crate::error::AppError;

/// The admin acting, as the audit log records them.
#[cfg(feature = "ssr")]
fn origin(admin: &crate::auth::CurrentUser) -> crate::audit::store::Origin {
    crate::audit::store::Origin::of(admin, &crate::auth::guard::client_info())
}

/// Users matching `query` (username, name or email), at most 200.
#[server(endpoint = "users/list")]
pub async fn list_users(query: String) -> Result<Vec<UserSummary>, AppError> {
    use crate::auth::{guard, Role};
    guard::require_role(Role::Admin).await?;
    Ok(crate::users::store::search(&guard::app_state().db, &query, 200).await?)
}

/// One user.
#[server(endpoint = "users/get")]
pub async fn get_user(id: i64) -> Result<UserDetail, AppError> {
    use crate::auth::{guard, Role};
    guard::require_role(Role::Admin).await?;
    crate::users::store::get(&guard::app_state().db, id).await?.ok_or(AppError::NotFound)
}

/// Creates a user with an initial password they must change at first sign-in.
#[server(endpoint = "users/create")]
pub async fn create_user(
    username: String,
    display_name: String,
    email: String,
    language: String,
    password: String,
    role_ops: Option<String>,
    role_pm: Option<String>,
    role_dev: Option<String>,
    role_qa: Option<String>,
    role_admin: Option<String>,
) -> Result<(), AppError> {
    use crate::{
        audit::{event, store::Record},
        auth::{guard, password::check_policy, Role},
        error::FieldProblem,
        users::{store, validate},
    };
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let new_user = store::NewUser {
        username: validate::username(&username)?,
        display_name: validate::display_name(&display_name)?,
        email: validate::email(&email)?,
        language: validate::language(&language)?,
        roles: validate::roles([&role_ops, &role_pm, &role_dev, &role_qa, &role_admin]),
        password_hash: {
            check_policy(&password, &username).map_err(|p| AppError::invalid("password", p))?;
            state.hasher.hash(password.into()).await?
        },
        must_change_password: true,
    };
    let mut tx = state.db.begin_write().await?;
    let id = match store::create(&mut tx, &new_user, chrono::Utc::now()).await {
        Ok(id) => id,
        Err(store::UserWriteError::UsernameTaken) => {
            return Err(AppError::invalid("username", FieldProblem::UsernameTaken))
        }
        Err(store::UserWriteError::Db(err)) => return Err(err.into()),
    };
    let roles: Vec<_> = new_user.roles.iter().map(|r| r.as_str()).collect();
    Record::new(&origin(&admin), event::USER_CREATED)
        .target("user", &new_user.username)
        .details(serde_json::json!({ "after": {
            "id": id,
            "display_name": new_user.display_name,
            "email": new_user.email,
            "language": new_user.language.tag(),
            "roles": roles,
        }}))
        .append(&mut tx, chrono::Utc::now())
        .await?;
    tx.commit().await?;
    tracing::info!(admin = %admin.me.username, user = %new_user.username, id, "user created");
    leptos_axum::redirect(&format!("/admin/users/{id}?saved=created"));
    Ok(())
}

/// Changes a user's name, email, language and roles. Role changes apply to their next request.
#[server(endpoint = "users/update")]
pub async fn update_user(
    id: i64,
    display_name: String,
    email: String,
    language: String,
    role_ops: Option<String>,
    role_pm: Option<String>,
    role_dev: Option<String>,
    role_qa: Option<String>,
    role_admin: Option<String>,
) -> Result<(), AppError> {
    use crate::{
        audit::{event, store::Record},
        auth::{guard, Role},
        users::{store, validate},
    };
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let display_name = validate::display_name(&display_name)?;
    let email = validate::email(&email)?;
    let language = validate::language(&language)?;
    let roles = validate::roles([&role_ops, &role_pm, &role_dev, &role_qa, &role_admin]);
    if id == admin.me.id && !roles.contains(&Role::Admin) {
        return Err(AppError::SelfLockout);
    }
    let before = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let now = chrono::Utc::now();
    let mut tx = state.db.begin_write().await?;
    store::update_details(&mut tx, id, &display_name, &email, language, now).await?;
    store::set_roles(&mut tx, id, &roles).await?;
    let who = origin(&admin);
    let target = before.summary.username.clone();
    let details_before = (&before.summary.display_name, &before.summary.email, before.language);
    if details_before != (&display_name, &email, language) {
        Record::new(&who, event::USER_UPDATED)
            .target("user", &target)
            .details(serde_json::json!({
                "before": { "display_name": before.summary.display_name, "email": before.summary.email, "language": before.language.tag() },
                "after": { "display_name": display_name, "email": email, "language": language.tag() },
            }))
            .append(&mut tx, now)
            .await?;
    }
    let mut sorted = roles.clone();
    sorted.sort();
    let mut held = before.summary.roles.clone();
    held.sort();
    if sorted != held {
        let names = |rs: &[Role]| rs.iter().map(|r| r.as_str()).collect::<Vec<_>>();
        Record::new(&who, event::USER_ROLES_CHANGED)
            .target("user", &target)
            .details(serde_json::json!({ "before": names(&held), "after": names(&sorted) }))
            .append(&mut tx, now)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(admin = %admin.me.username, id, ?roles, "user updated");
    leptos_axum::redirect(&format!("/admin/users/{id}?saved=details"));
    Ok(())
}

/// Deactivates (ending every session) or reactivates a user.
#[server(endpoint = "users/set_active")]
pub async fn set_user_active(id: i64, active: bool) -> Result<(), AppError> {
    use crate::audit::{event, store::Record};
    use crate::auth::{guard, sessions, Role};
    use crate::users::store;
    let admin = guard::require_role(Role::Admin).await?;
    if id == admin.me.id && !active {
        return Err(AppError::SelfLockout);
    }
    let state = guard::app_state();
    let before = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let now = chrono::Utc::now();
    let mut tx = state.db.begin_write().await?;
    store::set_active(&mut tx, id, active, now).await?;
    let ended =
        if active { 0 } else { sessions::end_all_of(&mut tx, id, None, sessions::EndReason::Deactivated, now).await? };
    Record::new(&origin(&admin), event::USER_ACTIVATION)
        .target("user", &before.summary.username)
        .details(serde_json::json!({
            "before": { "active": before.summary.active },
            "after": { "active": active },
            "sessions_ended": ended,
        }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    tracing::info!(admin = %admin.me.username, id, active, "user activation changed");
    leptos_axum::redirect(&format!("/admin/users/{id}?saved=active"));
    Ok(())
}

/// Sets a new temporary password (to be changed at next sign-in) and ends every session.
#[server(endpoint = "users/reset_password")]
pub async fn reset_password(id: i64, password: String) -> Result<(), AppError> {
    use crate::audit::{event, store::Record};
    use crate::auth::{guard, password::check_policy, sessions, Role};
    use crate::users::store;
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let user = store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    check_policy(&password, &user.summary.username).map_err(|p| AppError::invalid("password", p))?;
    let hash = state.hasher.hash(password.into()).await?;
    let now = chrono::Utc::now();
    let mut tx = state.db.begin_write().await?;
    store::set_password(&mut tx, id, &hash, true, now).await?;
    let ended = sessions::end_all_of(&mut tx, id, None, sessions::EndReason::PasswordChanged, now).await?;
    // Never the password itself, not even hashed.
    Record::new(&origin(&admin), event::USER_PASSWORD_RESET)
        .target("user", &user.summary.username)
        .details(serde_json::json!({ "must_change_password": true, "sessions_ended": ended }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    tracing::info!(admin = %admin.me.username, id, "password reset");
    leptos_axum::redirect(&format!("/admin/users/{id}?saved=password"));
    Ok(())
}

/// Ends every session of a user; they must sign in again.
#[server(endpoint = "users/end_sessions")]
pub async fn end_user_sessions(id: i64) -> Result<(), AppError> {
    use crate::audit::{event, store::Record};
    use crate::auth::{guard, sessions, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let user = crate::users::store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let now = chrono::Utc::now();
    let mut tx = state.db.begin_write().await?;
    let ended = sessions::end_all_of(&mut tx, id, None, sessions::EndReason::Admin, now).await?;
    Record::new(&origin(&admin), event::SESSION_ENDED)
        .target("user", &user.summary.username)
        .details(serde_json::json!({ "reason": sessions::EndReason::Admin.as_str(), "sessions_ended": ended }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    tracing::info!(admin = %admin.me.username, id, ended, "sessions ended by admin");
    leptos_axum::redirect(&format!("/admin/users/{id}?saved=sessions"));
    Ok(())
}
