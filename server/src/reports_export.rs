//! `GET /reports/export.csv`: one table of the reports page as CSV, for the same range and
//! filters, headed in the reader's language.
//!
//! An axum route rather than a server function: a download needs its own content type and file
//! name. PMs and admins only, like the page; a refusal is recorded.

use std::collections::HashMap;

use app::{
    auth::{ClientInfo, CurrentUser, Role},
    error::{AppError, FieldProblem},
    i18n::{Locale, PreferredLocale},
    insight::{server, ReportTable},
    state::AppState,
};
use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};

/// `GET /reports/export.csv?table=stages&from=2026-09-01&to=2026-11-30&severity=p1&channel=sms`.
pub async fn csv(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    user: Option<Extension<CurrentUser>>,
    client: Option<Extension<ClientInfo>>,
    preferred: Option<Extension<PreferredLocale>>,
) -> Response {
    // The page gate sends anonymous visitors to sign in before they get here.
    let Some(Extension(user)) = user else { return StatusCode::UNAUTHORIZED.into_response() };
    if !server::may_read(&user) {
        let client = client.map(|c| c.0).unwrap_or_default();
        app::auth::guard::record_refusal(&state.db, &user, &client, "/reports/export.csv", Role::Pm).await;
        return crate::api_status::json_error(StatusCode::FORBIDDEN, &AppError::Forbidden);
    }
    let text = |name: &str| params.get(name).cloned();
    let Some(table) = text("table").as_deref().and_then(ReportTable::parse) else {
        return crate::api_status::json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AppError::invalid("table", FieldProblem::InvalidChoice),
        );
    };
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let locale = Locale::for_request(
        header_text(header::COOKIE),
        preferred.map(|p| p.0 .0),
        header_text(header::ACCEPT_LANGUAGE),
    );
    let query = server::ReportQuery {
        from: text("from"),
        to: text("to"),
        severity: text("severity"),
        channel: text("channel"),
    };
    let view = match server::report_for(&state, &user, &query, locale).await {
        Ok(view) => view,
        Err(err @ AppError::Invalid { .. }) => {
            return crate::api_status::json_error(StatusCode::UNPROCESSABLE_ENTITY, &err)
        }
        Err(err) => return crate::api_status::json_error(StatusCode::INTERNAL_SERVER_ERROR, &err),
    };
    let body = server::csv_table(&view, table, locale.strings());
    let name = server::csv_name(&view, table);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
