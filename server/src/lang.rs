//! The language switch for browsers without WASM: a plain form post that stores the choice in
//! the language cookie and sends the user back where they were.

use app::{
    i18n::{Locale, LANG_COOKIE, LANG_COOKIE_MAX_AGE},
    state::AppState,
};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
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
pub async fn switch_language(State(state): State<AppState>, Form(form): Form<LanguageForm>) -> Response {
    let Some(locale) = Locale::from_tag(&form.lang) else {
        return (StatusCode::BAD_REQUEST, "unknown language").into_response();
    };
    let secure = if state.config.is_https() { "; Secure" } else { "" };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age={LANG_COOKIE_MAX_AGE}; SameSite=Lax{secure}", locale.tag());
    let mut response = Redirect::to(app::shell::local_path(&form.back)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
