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
pub async fn add_pool_item(title: String, description: String, priority: String) -> Result<i64, AppError> {
    use crate::workflow::input::Severity;
    let actor = crate::workflow::actor()?;
    let priority = crate::workflow::choice("priority", &priority, Severity::parse)?;
    let draft = super::PoolDraft { title, description, priority };
    super::store::create(&crate::auth::guard::app_state().db, &actor, &draft, chrono::Utc::now()).await
}

/// PM: sets an item's status (`open`, `scheduled`, `done`) and target release.
#[server(endpoint = "pool/update")]
pub async fn update_pool_item(id: i64, status: String, target_release: String) -> Result<(), AppError> {
    let actor = crate::workflow::actor()?;
    let status = crate::workflow::choice("status", &status, super::PoolStatus::parse)?;
    let db = crate::auth::guard::app_state().db.clone();
    super::store::update(&db, &actor, id, status, &target_release, chrono::Utc::now()).await
}

/// One pool item.
#[server(endpoint = "pool/get")]
pub async fn get_pool_item(id: i64) -> Result<PoolItem, AppError> {
    crate::workflow::actor()?;
    super::store::item(&crate::auth::guard::app_state().db, id).await?.ok_or(AppError::NotFound)
}
