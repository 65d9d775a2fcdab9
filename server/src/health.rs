//! Probes for load balancers and orchestrators.

use app::state::AppState;
use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

/// Readiness: 200 when the database answers, 503 otherwise (detail goes to the log only).
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok", "database": state.db.backend().to_string() }))),
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
        assert_eq!(healthz(State(state.clone())).await.0, StatusCode::OK);
        state.db.close().await;
        let (status, Json(body)) = healthz(State(state)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unavailable");
        test_db.destroy().await;
    }
}
