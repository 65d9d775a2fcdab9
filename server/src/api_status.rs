//! HTTP statuses for expected server-function refusals.
//!
//! Leptos answers every server-function error with 500. Expected outcomes (a wrong password, a
//! missing role, an invalid field) are not server failures: this layer reads the typed error in
//! the body and gives it its proper status, so logs, proxies and API clients can tell a refusal
//! from a fault. Redirects of plain form posts (no JavaScript) are left alone.

use app::error::AppError;
use axum::{
    body::{to_bytes, Body},
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
};

/// A refusal or failure answered by a plain axum route, in the server functions' error encoding,
/// so the browser and API clients read it the same way.
pub fn json_error(status: StatusCode, error: &AppError) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::to_string(error).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Error bodies are small; anything bigger is not one of ours and passes unchanged.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The status an expected error deserves; `None` keeps 500.
pub fn status_for(error: &AppError) -> Option<StatusCode> {
    Some(match error {
        AppError::NotSignedIn | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        AppError::Forbidden | AppError::SelfLockout => StatusCode::FORBIDDEN,
        AppError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::NotFound => StatusCode::NOT_FOUND,
        AppError::Refused(app::workflow::rules::Refusal::Stale) => StatusCode::CONFLICT,
        AppError::Refused(app::workflow::rules::Refusal::Invalid { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Refused(_) => StatusCode::FORBIDDEN,
        AppError::Request(_) => StatusCode::BAD_REQUEST,
        AppError::Internal(_) => return None,
    })
}

/// Rewrites the 500 of a server function that returned an expected [`AppError`].
pub async fn refine(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !is_api || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        // Could not buffer: the body is gone, so answer a plain 500.
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        if let Some(status) = status_for(&error) {
            parts.status = status;
        }
        if let AppError::Throttled(secs) = error {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                parts.headers.insert(header::RETRY_AFTER, value);
            }
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
