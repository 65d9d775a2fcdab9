//! `GET /mail/{id}/preview`: an email's HTML part as its own document, for the sandboxed frame
//! of the outbox and of the incident page's report copy.
//!
//! The email's HTML styles itself inline (as email clients need), which the app's pages never
//! allow; served on its own, the preview gets a policy that permits exactly its inline styles and
//! nothing else: no script, no request, no form, framed only by the app's own pages.

use app::{
    auth::{CurrentUser, Role},
    mail::EmailKind,
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};

/// The preview's policy: inline styles and data images only, in a sandbox, inside this site.
pub const PREVIEW_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'";

/// Serves the preview to admins (any email) and to users who work on incidents (report emails,
/// whose copy the incident page shows). Anyone else gets 404, as for an unknown email.
pub async fn preview(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    let Some(Extension(user)) = user else { return StatusCode::NOT_FOUND.into_response() };
    let email = match app::mail::outbox::get(&state.db, id).await {
        Ok(Some(email)) => email,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            tracing::error!("cannot read email {id} for its preview: {err:?}");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let works_incidents = user.me.roles.iter().any(|r| *r != Role::Admin);
    let allowed = user.me.has(Role::Admin) || (email.kind == EmailKind::Report && works_incidents);
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = email.body_html.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PREVIEW_CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}
