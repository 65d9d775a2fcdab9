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
        auth::{guard, ClientInfo, CurrentUser, Role},
        db::Db,
        error::AppError,
        state::AppState,
    };

    /// An admin reading the log, with what recording the read needs, taken from the request's
    /// context before anything is awaited: a page's loader may be polled on after its render
    /// owner is gone, when a context lookup would fail.
    pub struct Reader {
        admin: CurrentUser,
        state: AppState,
        client: ClientInfo,
    }

    /// The admin calling, or a recorded refusal.
    pub async fn admin() -> Result<Reader, AppError> {
        let (state, client) = (guard::app_state(), guard::client_info());
        let admin = guard::require_role(Role::Admin).await?;
        Ok(Reader { admin, state, client })
    }

    impl Reader {
        /// The database.
        pub fn db(&self) -> &Db {
            &self.state.db
        }

        /// Records a read of the log.
        pub async fn record(&self, event: &'static str, details: serde_json::Value) -> Result<(), AppError> {
            let origin = Origin::of(&self.admin, &self.client);
            Record::new(&origin, event)
                .target("audit", "")
                .details(details)
                .record(self.db(), chrono::Utc::now())
                .await?;
            Ok(())
        }
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
    let reader = support::admin().await?;
    let outcome = match outcome.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => Some(Outcome::parse(v).ok_or_else(|| AppError::invalid("outcome", FieldProblem::InvalidChoice))?),
    };
    let filter = AuditFilter { actor, event, target, outcome, from, to };
    let query = Query::new(&filter)?;
    let mut items = store::page(reader.db(), &query, Cursor::Before(before), PAGE_SIZE + 1).await?;
    let next_before = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|e| e.seq)
    } else {
        None
    };
    reader.record(events::AUDIT_VIEWED, serde_json::json!({ "filter": filter, "before": before })).await?;
    Ok(AuditPageView { items, next_before })
}

/// One entry.
#[server(endpoint = "audit/get")]
pub async fn get_audit_entry(seq: i64) -> Result<AuditEntry, AppError> {
    use crate::audit::{event, store};
    let reader = support::admin().await?;
    let entry = store::get(reader.db(), seq).await?.ok_or(AppError::NotFound)?;
    reader.record(event::AUDIT_VIEWED, serde_json::json!({ "entry": seq })).await?;
    Ok(entry)
}

/// Checks the whole chain, and against `head` (`N:HASH`, recorded earlier) when given.
#[server(endpoint = "audit/verify")]
pub async fn verify_audit(head: Option<String>) -> Result<VerifyReport, AppError> {
    use crate::{
        audit::{chain::Head, event, store},
        error::FieldProblem,
    };
    let reader = support::admin().await?;
    let head = match head.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => Some(v.parse::<Head>().map_err(|_| AppError::invalid("head", FieldProblem::NotAuditHead))?),
    };
    let report = store::verify(reader.db(), head.clone()).await?;
    let recorded = head.map(|h| h.to_string());
    reader.record(event::AUDIT_VERIFIED, serde_json::json!({ "head": recorded, "result": report })).await?;
    Ok(report)
}
