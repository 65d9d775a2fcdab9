//! Shared server state, handed to every route, render and server function.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{auth::password::PasswordHasher, config::Config, db::Db};

/// Everything a request handler may need, in one shared allocation: axum and Leptos clone the
/// state several times per request (each middleware's extractor, the render's context), and a
/// clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`], reached through it (`state.db`).
pub struct Shared {
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
    /// Open windows of coalesced anonymous refusals (see [`crate::audit::refusals`]).
    pub refusals: Arc<crate::audit::refusals::Refusals>,
    /// Where the time comes from (the system clock, or a test's).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The chat sender (its one HTTP client), for an admin's test message sent at once; the same
    /// sender delivers the outbox's chat messages in the background.
    pub chat: crate::chat::sender::ChatSender,
    /// Where attachment contents are kept (the database, unless configured otherwise).
    pub blobs: Arc<dyn crate::collab::storage::BlobStore>,
}

impl AppState {
    /// The state made of `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
