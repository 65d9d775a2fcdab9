//! The one authorization helper of server functions: who is calling, and may they?

use leptos::prelude::{expect_context, use_context};

use super::{ClientInfo, CurrentUser, Role};
use crate::{error::AppError, state::AppState};

/// The app state of the current request.
pub fn app_state() -> AppState {
    expect_context::<AppState>()
}

/// The signed-in user of the current request, if any.
pub fn current_user() -> Option<CurrentUser> {
    use_context::<http::request::Parts>()?.extensions.get::<CurrentUser>().cloned()
}

/// Where the current request came from.
pub fn client_info() -> ClientInfo {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ClientInfo>().cloned())
        .unwrap_or(ClientInfo { addr: "unknown".into(), user_agent: String::new() })
}

/// The signed-in user, or [`AppError::NotSignedIn`].
pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or(AppError::NotSignedIn)
}

/// The signed-in user holding `role`, or a refusal, which is recorded in the audit log.
pub async fn require_role(role: Role) -> Result<CurrentUser, AppError> {
    let user = require_user()?;
    if user.me.has(role) {
        return Ok(user);
    }
    let path = use_context::<http::request::Parts>().map(|p| p.uri.path().to_owned()).unwrap_or_default();
    record_refusal(&app_state().db, &user, &client_info(), &path, role).await;
    Err(AppError::Forbidden)
}

/// Records in the audit log that `user` was refused `path` for lacking `role` (a server function,
/// or a page the server answers 403). The refusal stands even when it cannot be recorded.
pub async fn record_refusal(db: &crate::db::Db, user: &CurrentUser, client: &ClientInfo, path: &str, role: Role) {
    use crate::audit::{event, store::Origin, store::Record, Outcome};

    tracing::warn!(user = %user.me.username, role = role.as_str(), path, "refused: missing role");
    let recorded = Record::new(&Origin::of(user, client), event::ACCESS_DENIED)
        .target("request", path)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "required_role": role.as_str() }))
        .record(db, chrono::Utc::now())
        .await;
    if let Err(err) = recorded {
        tracing::error!("cannot record a refusal in the audit log: {err}");
    }
}
