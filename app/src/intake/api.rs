//! Server functions of the intake admin page. Every one requires the admin role.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::{CreatedSource, SourceView};
use crate::error::AppError;

/// The admin acting, as the audit log records them.
#[cfg(feature = "ssr")]
fn origin(admin: &crate::auth::CurrentUser) -> crate::audit::store::Origin {
    crate::audit::store::Origin::of(admin, &crate::auth::guard::client_info())
}

/// Every intake source, newest first.
#[server(endpoint = "intake/sources/list")]
pub async fn list_intake_sources() -> Result<Vec<SourceView>, AppError> {
    use crate::auth::{guard, Role};
    guard::require_role(Role::Admin).await?;
    Ok(super::store::list(&guard::app_state().db).await?)
}

/// Creates a source; the answer carries its token, shown this once.
#[server(endpoint = "intake/sources/create")]
pub async fn create_intake_source(name: String, channel: String) -> Result<CreatedSource, AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let created = super::store::create(
        &guard::app_state().db,
        &origin(&admin),
        Some(admin.me.id),
        &name,
        &channel,
        chrono::Utc::now(),
    )
    .await?;
    tracing::info!(admin = %admin.me.username, source = %created.name, "intake source created");
    Ok(created)
}

/// Pauses or resumes a source.
#[server(endpoint = "intake/sources/set_enabled")]
pub async fn set_intake_source_enabled(id: i64, enabled: bool) -> Result<(), AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    super::store::set_enabled(&guard::app_state().db, &origin(&admin), id, enabled, chrono::Utc::now()).await
}

/// Revokes a source's token for good.
#[server(endpoint = "intake/sources/revoke")]
pub async fn revoke_intake_source(id: i64) -> Result<(), AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    super::store::revoke(&guard::app_state().db, &origin(&admin), id, chrono::Utc::now()).await
}
