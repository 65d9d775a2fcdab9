//! The language switch for browsers without WASM: a plain form post that stores the choice in
//! the language cookie and sends the user back where they were.

use app::{
    auth::{ClientInfo, CurrentUser},
    i18n::{Locale, LANG_COOKIE, LANG_COOKIE_MAX_AGE},
    state::AppState,
};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::Deserialize;

/// The switch form's fields.
#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// `POST /lang`: sets the language cookie and redirects (303) to `back` when it is a local path.
/// For a signed-in user the choice also becomes their preferred language (emails, reports).
pub async fn switch_language(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    client: Option<Extension<ClientInfo>>,
    Form(form): Form<LanguageForm>,
) -> Response {
    let Some(locale) = Locale::from_tag(&form.lang) else {
        return (StatusCode::BAD_REQUEST, "unknown language").into_response();
    };
    if let Some(Extension(user)) = user {
        let client = client.map(|Extension(c)| c).unwrap_or_default();
        let stored =
            app::users::preferences::set_own_language(&state.db, &user, &client, locale, chrono::Utc::now()).await;
        // The page still switches; the preference is retried with the next switch.
        if let Err(err) = stored {
            tracing::error!(user = %user.me.username, "cannot store the preferred language: {err:?}");
        }
    }
    let secure = if state.config.is_https() { "; Secure" } else { "" };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age={LANG_COOKIE_MAX_AGE}; SameSite=Lax{secure}", locale.tag());
    let mut response = Redirect::to(app::shell::local_path(&form.back)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
