//! Control characters never reach a server function or a page loader.
//!
//! The domain validators refuse control characters in what they store (`app::text`); this layer
//! makes the same rule hold for every field of every server function, including the ones that
//! only look something up or filter (an incident key, a search), and for every page's query
//! string, so that no value with a NUL in it reaches PostgreSQL (which would fail the statement)
//! and both databases answer alike. A refused field gets the same typed error a server function
//! would give, naming the field: JSON with 422 for scripts and enhanced forms, and for a plain form
//! post the redirect back with the error in the address that Leptos' forms read.

use app::{
    error::{AppError, FieldProblem},
    text,
};
use axum::{
    body::{to_bytes, Body},
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::server_fn::error::ServerFnUrlError;

/// The first field of `encoded` (a query string or form body) whose name or value holds a
/// control character.
fn offending_field(encoded: &[u8]) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(name, value)| text::forbidden_char(name).is_some() || text::forbidden_char(value).is_some())
        .map(|(name, _)| text::without_controls(&name))
}

/// Refuses requests carrying control characters in a query string, or in the form body of a
/// server-function call.
pub async fn refuse_control_characters(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // The versioned intake API reads JSON and mail itself and names its own fields.
    if path.starts_with(crate::intake::PREFIX) {
        return next.run(request).await;
    }
    let is_server_fn = path.starts_with("/api/");
    if let Some(field) = request.uri().query().and_then(|q| offending_field(q.as_bytes())) {
        return if is_server_fn { refusal(&request, &path, field) } else { bad_address() };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_server_fn || request.method() != Method::POST || !is_form {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The body limit layer outside bounds what is buffered here.
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let request = Request::from_parts(parts, Body::from(bytes.clone()));
    match offending_field(&bytes) {
        Some(field) => refusal(&request, &path, field),
        None => next.run(request).await,
    }
}

/// The field error for `field`, encoded as the server function's own errors are.
fn refusal(request: &Request, path: &str, field: String) -> Response {
    let error = AppError::invalid(&field, FieldProblem::ControlCharacter);
    let accepts_html =
        request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let referer = request.headers().get(header::REFERER).and_then(|v| v.to_str().ok());
    if let (true, Some(referer)) = (accepts_html, referer) {
        let mut base = referer.to_owned();
        ServerFnUrlError::<AppError>::strip_error_info(&mut base);
        if let Ok(url) = ServerFnUrlError::new(path, error.clone()).to_url(&base) {
            if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
            }
        }
    }
    let body = serde_json::to_string(&error).unwrap_or_default();
    (StatusCode::UNPROCESSABLE_ENTITY, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A page address with a control character in it: nobody typed it.
fn bad_address() -> Response {
    (StatusCode::BAD_REQUEST, "The address holds control characters.").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_offending_field_is_named() {
        assert_eq!(offending_field(b"title=ok&description=a%00b&note=%1B"), Some("description".into()));
        assert_eq!(offending_field(b"title=tab%09and%0D%0Alines&x=%E4%B8%AD"), None);
        assert_eq!(offending_field(b"a%00=1"), Some("a".into()));
        assert_eq!(offending_field(b"measures%5B0%5D%5Btext%5D=%07"), Some("measures[0][text]".into()));
    }
}
