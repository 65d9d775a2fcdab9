//! Server functions of the Outbox page. Every one requires the admin role.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::EmailView;
use crate::error::AppError;

/// The newest emails (50 a page), optionally only those with `status`, before row id `before`.
#[server(endpoint = "outbox/list")]
pub async fn list_outbox(
    status: Option<String>,
    transport: Option<String>,
    before: Option<i64>,
) -> Result<Vec<EmailView>, AppError> {
    use crate::{
        auth::{guard, Role},
        error::FieldProblem,
        mail::{outbox, EmailStatus},
    };
    guard::require_role(Role::Admin).await?;
    let status = match status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(EmailStatus::parse(s).ok_or_else(|| AppError::invalid("status", FieldProblem::InvalidChoice))?),
        None => None,
    };
    let transport = match transport.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(t @ ("email" | "chat")) => Some(t),
        Some(_) => return Err(AppError::invalid("transport", FieldProblem::InvalidChoice)),
        None => None,
    };
    outbox::list_filtered(&guard::app_state().db, status, transport, before, 50).await
}

/// Queues a failed or unsent email again, wakes the sender, and returns to the outbox (with the
/// `status` filter the admin was looking at, when it is one) saying so.
#[server(endpoint = "outbox/retry")]
pub async fn retry_email(id: i64, status: Option<String>) -> Result<(), AppError> {
    use crate::{
        auth::{guard, Role},
        mail::{outbox, EmailStatus},
    };
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    if !outbox::retry(&state.db, id, chrono::Utc::now()).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(admin = %admin.me.username, email = id, "email queued again");
    state.mail.wake();
    let filter = status.as_deref().and_then(EmailStatus::parse).map(|s| format!("status={}&", s.as_str()));
    leptos_axum::redirect(&format!("/admin/outbox?{}retried=1", filter.unwrap_or_default()));
    Ok(())
}
