//! The page for an address that leads nowhere; answers with HTTP status 404.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::i18n::use_i18n;

/// Shown for any address no route matches.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let i18n = use_i18n();
    view! {
        <Title text=move || i18n.t().not_found_title />
        <section class="not-found" aria-labelledby="not-found-heading">
            <p class="not-found__code" aria-hidden="true">"404"</p>
            <h1 id="not-found-heading">{move || i18n.t().not_found_title}</h1>
            <p>{move || i18n.t().not_found_body}</p>
            <a class="button" href="/">{move || i18n.t().not_found_home_link}</a>
        </section>
    }
}

/// What a page shows when its data could not be loaded: the not-found page (404) when what the
/// address names does not exist, the error's message otherwise.
#[component]
pub fn LoadError(error: crate::error::AppError) -> impl IntoView {
    let i18n = use_i18n();
    match error {
        crate::error::AppError::NotFound => view! { <NotFound /> }.into_any(),
        error => view! { <p class="form-error" role="alert">{move || error.message(i18n.t())}</p> }.into_any(),
    }
}

/// The admin pages' guard: their content for admins; for anyone else only a 403 page (not the
/// page's filters and tools beside a refusal). The server functions behind the pages check the
/// role again on every call.
#[component]
pub fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    RoleOnly(RoleOnlyProps { roles: &[crate::auth::Role::Admin], children })
}

/// A page for some roles only (any one of `roles`): its content for them; for anyone else only a
/// 403 page. The server functions behind the page check the roles again on every call.
#[component]
pub fn RoleOnly(roles: &'static [crate::auth::Role], children: ChildrenFn) -> impl IntoView {
    // The server answers such a page 403 and records the refusal (`server::auth::gate`); the
    // page itself shows only the refusal, none of its tools.
    let allowed = crate::auth::use_me().is_some_and(|m| roles.iter().any(|r| m.has(*r)));
    if allowed {
        children().into_any()
    } else {
        view! { <Forbidden /> }.into_any()
    }
}

/// Shown to a signed-in user who opens a page their roles do not reach; answers with 403.
#[component]
fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    let i18n = use_i18n();
    view! {
        <Title text=move || i18n.t().forbidden_title />
        <section class="not-found" aria-labelledby="forbidden-heading">
            <p class="not-found__code" aria-hidden="true">"403"</p>
            <h1 id="forbidden-heading">{move || i18n.t().forbidden_title}</h1>
            <p>{move || i18n.t().error_forbidden}</p>
            <a class="button" href="/">{move || i18n.t().not_found_home_link}</a>
        </section>
    }
}
