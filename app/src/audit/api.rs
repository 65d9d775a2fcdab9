//! Server functions of the audit log. Every one requires the admin role; refusals are audited
//! by the role check, and every read of the log is itself recorded.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::{AuditEntry, AuditPageView, VerifyReport};
use crate::error::AppError;

/// Entries shown per page.
pub const PAGE_SIZE: i64 = 50;

#[cfg(feature = "ssr")]
mod support {
    use crate::{
        audit::store::{Origin, Record},
        auth::{guard, CurrentUser, Role},
        error::AppError,
    };

    /// The admin calling, or a recorded refusal.
    pub async fn admin() -> Result<CurrentUser, AppError> {
        guard::require_role(Role::Admin).await
    }

    /// Records a read of the log by `admin`.
    pub async fn record(admin: &CurrentUser, event: &'static str, details: serde_json::Value) -> Result<(), AppError> {
        let origin = Origin::of(admin, &guard::client_info());
        Record::new(&origin, event)
            .target("audit", "")
            .details(details)
            .record(&guard::app_state().db, chrono::Utc::now())
            .await?;
        Ok(())
    }
}

/// A page of the log, newest first, matching the filters.
#[server(endpoint = "audit/list")]
#[allow(clippy::too_many_arguments)]
pub async fn list_audit(
    actor: Option<String>,
    event: Option<String>,
    target: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
) -> Result<AuditPageView, AppError> {
    use crate::{
        audit::{
            event as events,
            store::{self, Cursor, Query},
            AuditFilter, Outcome,
        },
        error::FieldProblem,
    };
    let admin = support::admin().await?;
    let outcome = match outcome.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => Some(Outcome::parse(v).ok_or_else(|| AppError::invalid("outcome", FieldProblem::InvalidChoice))?),
    };
    let filter = AuditFilter { actor, event, target, outcome, from, to };
    let query = Query::new(&filter)?;
    let db = crate::auth::guard::app_state().db.clone();
    let mut items = store::page(&db, &query, Cursor::Before(before), PAGE_SIZE + 1).await?;
    let next_before = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|e| e.seq)
    } else {
        None
    };
    support::record(&admin, events::AUDIT_VIEWED, serde_json::json!({ "filter": filter, "before": before })).await?;
    Ok(AuditPageView { items, next_before })
}

/// One entry.
#[server(endpoint = "audit/get")]
pub async fn get_audit_entry(seq: i64) -> Result<AuditEntry, AppError> {
    use crate::audit::{event, store};
    let admin = support::admin().await?;
    let entry = store::get(&crate::auth::guard::app_state().db, seq).await?.ok_or(AppError::NotFound)?;
    support::record(&admin, event::AUDIT_VIEWED, serde_json::json!({ "entry": seq })).await?;
    Ok(entry)
}

/// Checks the whole chain, and against `head` (`N:HASH`, recorded earlier) when given.
#[server(endpoint = "audit/verify")]
pub async fn verify_audit(head: Option<String>) -> Result<VerifyReport, AppError> {
    use crate::{
        audit::{chain::Head, event, store},
        error::FieldProblem,
    };
    let admin = support::admin().await?;
    let head = match head.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => Some(v.parse::<Head>().map_err(|_| AppError::invalid("head", FieldProblem::NotAuditHead))?),
    };
    let report = store::verify(&crate::auth::guard::app_state().db, head.clone()).await?;
    let recorded = head.map(|h| h.to_string());
    support::record(&admin, event::AUDIT_VERIFIED, serde_json::json!({ "head": recorded, "result": report })).await?;
    Ok(report)
}
