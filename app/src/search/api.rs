//! The search server function.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::SearchResults;
use crate::error::AppError;

/// Searches incidents, comments and pool items (everyone signed in). `from` and `to` are days
/// (`YYYY-MM-DD`, both included) in the reader's zone; `after` is the cursor of the next page.
#[server(endpoint = "search")]
pub async fn search(
    q: String,
    stage: Option<String>,
    severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
) -> Result<SearchResults, AppError> {
    use crate::{
        error::FieldProblem,
        workflow::{input::Severity, rules::Stage},
    };
    let user = crate::auth::guard::require_user()?;
    let state = crate::auth::guard::app_state();
    let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let zone = crate::clock::zone::of_reader(user.me.time_zone.as_deref(), &state.config.time_zone);
    // The start of a day in the reader's zone; `to` counts its whole day.
    let day =
        |field: &str, value: Option<String>, next: bool| -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
            let Some(value) = given(value) else { return Ok(None) };
            let date = chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d")
                .map_err(|_| AppError::invalid(field, FieldProblem::InvalidDate))?;
            let date = if next { date.succ_opt().unwrap_or(date) } else { date };
            crate::clock::zone::parse_local(&format!("{}T00:00", date.format("%Y-%m-%d")), &zone)
                .map(Some)
                .ok_or_else(|| AppError::invalid(field, FieldProblem::InvalidDate))
        };
    // A control character (NUL, say) is never meant, and PostgreSQL refuses NUL in text.
    let text = crate::text::without_controls(&q);
    if text.chars().count() > super::MAX_QUERY {
        return Err(AppError::invalid("q", FieldProblem::TooLong(super::MAX_QUERY)));
    }
    let search = super::query::Search {
        text,
        stage: given(stage).map(|s| crate::workflow::choice("stage", &s, Stage::parse)).transpose()?,
        severity: given(severity).map(|s| crate::workflow::choice("severity", &s, Severity::parse)).transpose()?,
        from: day("from", from, false)?,
        before: day("to", to, true)?,
        after: given(after),
    };
    super::query::run(&state.db, &search).await
}
