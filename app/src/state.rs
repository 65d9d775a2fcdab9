//! Shared server state, handed to every route, render and server function.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{auth::password::PasswordHasher, config::Config, db::Db};

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Leptos' own settings (site root, output name).
    pub leptos_options: LeptosOptions,
    /// The database pool.
    pub db: Db,
    /// The effective configuration.
    pub config: Arc<Config>,
    /// Password hashing with bounded concurrency.
    pub hasher: PasswordHasher,
    /// Committed incident changes, for live updates.
    pub events: crate::workflow::live::Events,
    /// Wakes the email sender after a commit that queued mail.
    pub mail: crate::mail::Wakeup,
}
