//! Probes for load balancers and orchestrators.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use app::state::AppState;

use crate::assets::{SiteBuild, SiteState};
use axum::{extract::State, http::StatusCode, Extension, Json};
use serde_json::{json, Value};

/// Set when shutdown begins: from then on the instance reports itself unready.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Marks the instance as leaving.
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
        metrics::gauge!("baton_draining").set(1.0);
    }

    fn started(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Readiness: 200 when the database answers; 503 while shutting down or when the database does
/// not answer (detail goes to the log only). A built site of another build is reported in the
/// body (`"site": "mismatch"`) but keeps the instance ready: its pages work without the WASM, and
/// a site upgraded before the servers' restarts must not take every instance out of a pool.
pub async fn healthz(
    State(state): State<AppState>,
    Extension(draining): Extension<Draining>,
    Extension(site): Extension<SiteBuild>,
) -> (StatusCode, Json<Value>) {
    if draining.started() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "draining" })));
    }
    let site = match site.refresh() {
        SiteState::Matching => json!("ok"),
        SiteState::Absent => json!("absent"),
        SiteState::Other { found } => json!({ "mismatch": found }),
    };
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "database": state.db.backend().to_string(),
                "build": app::shell::BUILD_ID,
                "site": site,
            })),
        ),
        Err(err) => {
            tracing::error!("health check failed: {err}");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable" })))
        }
    }
}

/// Liveness: the process answers HTTP. Touches nothing else.
pub async fn livez() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use app::{
        config::{Backend, Config},
        state::{AppState, Shared},
        testing::TestDb,
    };
    use leptos::prelude::LeptosOptions;

    use super::*;

    #[tokio::test]
    async fn health_check_reports_unavailable_when_the_database_is_gone() {
        let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
        let config = Config::from_lookup(|_| None).unwrap();
        let state = AppState::new(Shared {
            leptos_options: LeptosOptions::builder().output_name("baton").build(),
            db: test_db.db.clone(),
            config: Arc::new(config),
            hasher: app::auth::password::PasswordHasher::new(1),
            events: Default::default(),
            mail: Default::default(),
            refusals: Arc::new(app::audit::refusals::Refusals::new(std::time::Duration::ZERO)),
            clock: Arc::new(app::clock::SystemClock),
            chat: app::chat::sender::ChatSender::new(
                test_db.db.clone(),
                None,
                Arc::new(app::clock::SystemClock),
                app::chat::sender::ChatSender::default_tuning(),
            )
            .unwrap(),
            blobs: Arc::new(app::collab::storage::InDatabase),
        });
        let draining = Draining::default();
        let no_site = tempfile::tempdir().unwrap();
        let site = SiteBuild::check(no_site.path());
        assert_eq!(
            healthz(State(state.clone()), Extension(draining.clone()), Extension(site.clone())).await.0,
            StatusCode::OK
        );
        draining.start();
        let (status, Json(body)) = healthz(State(state.clone()), Extension(draining), Extension(site.clone())).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("draining")));
        state.db.close().await;
        let (status, Json(body)) = healthz(State(state), Extension(Draining::default()), Extension(site)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unavailable");
        test_db.destroy().await;
    }
}
