//! Server functions of sign-in, sign-out and the user's own account.
// The #[server] and #[component] macros generate argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::Me;
use crate::error::AppError;

/// Signs in with username and password, then goes to `next` (a local path) or home.
#[server(endpoint = "auth/login")]
pub async fn login(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::auth::{cookie, guard, safe_next, service};

    let state = guard::app_state();
    let client = guard::client_info();
    let signed_in = service::sign_in(
        &state.db,
        &state.hasher,
        &state.refusals,
        &username,
        password.into(),
        &client,
        chrono::Utc::now(),
    )
    .await?;
    // A fresh token at every sign-in: a cookie planted before sign-in is worthless after it.
    let set_cookie = cookie::set(&signed_in.token, state.config.is_https(), state.config.session_absolute);
    expect_context::<leptos_axum::ResponseOptions>().append_header(http::header::SET_COOKIE, set_cookie);
    // The browser follows this redirect inside the app, past the page gate, so the forced
    // password change is decided here too.
    if signed_in.must_change_password {
        leptos_axum::redirect("/account/password");
    } else {
        leptos_axum::redirect(&safe_next(next.as_deref()));
    }
    Ok(())
}

/// Signs out: ends the session record (the authority) and clears the cookie session.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::auth::{cookie, guard, sessions};

    if let Some(user) = guard::current_user() {
        let state = guard::app_state();
        let origin = crate::audit::store::Origin::of(&user, &guard::client_info());
        sessions::end_signed_out(&state.db, &user.session_id, &origin, chrono::Utc::now()).await?;
        tracing::info!(user = %user.me.username, "signed out");
    }
    let clear = cookie::clear(guard::app_state().config.is_https());
    expect_context::<leptos_axum::ResponseOptions>().append_header(http::header::SET_COOKIE, clear);
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user, or `None`.
#[server(endpoint = "auth/me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    Ok(crate::auth::guard::current_user().map(|user| user.me))
}

/// Changes the signed-in user's password; their other sessions end.
#[server(endpoint = "auth/change_password")]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), AppError> {
    use crate::auth::{guard, service};

    let user = guard::require_user()?;
    let state = guard::app_state();
    let change = service::PasswordChange { current: current.into(), new: new.into(), confirm: confirm.into() };
    service::change_own_password(&state.db, &state.hasher, &user, &guard::client_info(), change, chrono::Utc::now())
        .await?;
    tracing::info!(user = %user.me.username, "changed own password");
    leptos_axum::redirect("/?password_changed=1");
    Ok(())
}

/// Sets the signed-in user's own time zone (an IANA name; empty: automatic), then shows the
/// account page again.
#[server(endpoint = "account/time_zone")]
pub async fn set_time_zone(time_zone: String) -> Result<(), AppError> {
    use crate::auth::guard;

    let user = guard::require_user()?;
    let state = guard::app_state();
    crate::users::preferences::set_own_time_zone(
        &state.db,
        &user,
        &guard::client_info(),
        &time_zone,
        chrono::Utc::now(),
    )
    .await?;
    leptos_axum::redirect("/account?saved=zone");
    Ok(())
}
