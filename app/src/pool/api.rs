//! Server functions of the requirement pool.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::PoolItem;
use crate::error::AppError;

/// The requirement pool.
#[server(endpoint = "pool/list")]
pub async fn list_pool() -> Result<Vec<PoolItem>, AppError> {
    crate::workflow::actor()?;
    super::store::items(&crate::auth::guard::app_state().db, None).await
}

/// PM: adds an item to the pool directly; returns its id.
#[server(endpoint = "pool/add")]
pub async fn add_pool_item(pool_title: String, pool_description: String, priority: String) -> Result<i64, AppError> {
    use crate::workflow::input::Severity;
    let actor = crate::workflow::actor()?;
    let priority = crate::workflow::choice("priority", &priority, Severity::parse)?;
    let draft = super::PoolDraft { title: pool_title, description: pool_description, priority };
    let id = super::store::create(&crate::auth::guard::app_state().db, &actor, &draft, chrono::Utc::now()).await?;
    leptos_axum::redirect(&format!("/pool/{id}"));
    Ok(id)
}

/// PM: sets an item's status (`open`, `scheduled`, `done`), target release and (when given)
/// priority.
#[server(endpoint = "pool/update")]
pub async fn update_pool_item(
    id: i64,
    status: String,
    target_release: String,
    priority: Option<String>,
) -> Result<(), AppError> {
    use crate::workflow::input::Severity;
    let actor = crate::workflow::actor()?;
    let status = crate::workflow::choice("status", &status, super::PoolStatus::parse)?;
    let priority = priority.map(|p| crate::workflow::choice("priority", &p, Severity::parse)).transpose()?;
    let db = crate::auth::guard::app_state().db.clone();
    super::store::update(&db, &actor, id, status, &target_release, priority, chrono::Utc::now()).await
}

/// One pool item.
#[server(endpoint = "pool/get")]
pub async fn get_pool_item(id: i64) -> Result<PoolItem, AppError> {
    crate::workflow::actor()?;
    super::store::item(&crate::auth::guard::app_state().db, id).await?.ok_or(AppError::NotFound)
}
