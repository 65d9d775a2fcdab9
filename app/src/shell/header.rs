//! The header on every page: product name, navigation and the language switch.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::{
    auth::SignedInNav,
    i18n::{use_i18n, Locale},
};

/// The top bar. Later features add their links to the `nav` area.
#[component]
pub fn AppHeader() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        // On a phone the navigation folds behind "Menu" (a checkbox and its label: no script
        // needed), so a page's own content starts within the first screen.
        <header class="app-header">
            <a class="app-header__brand" href="/">
                <span class="app-header__logo" aria-hidden="true">"◆"</span>
                <span>{move || i18n.t().product_name}</span>
            </a>
            <LanguageSwitch />
            <input type="checkbox" id="menu-toggle" class="app-header__toggle" aria-controls="main-menu" />
            <label for="menu-toggle" class="app-header__menu-button">
                <span aria-hidden="true">"☰ "</span>
                {move || i18n.t().nav_menu}
            </label>
            <nav id="main-menu" class="app-header__nav" aria-label=move || i18n.t().nav_label>
                <a class="nav-link" href="/">{move || i18n.t().nav_home}</a>
                <SignedInNav />
            </nav>
        </header>
    }
}

/// Switches the UI language: a plain form, the server sets the language cookie and redirects back
/// to the same page, now rendered in the chosen language.
#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let location = use_location();
    let search = location.search.get_untracked();
    let back = if search.is_empty() {
        location.pathname.get_untracked()
    } else {
        format!("{}?{search}", location.pathname.get_untracked())
    };
    view! {
        <form class="lang-switch" method="post" action="/lang" aria-label=move || i18n.t().language_switch_label>
            <input type="hidden" name="back" value=back />
            {Locale::ALL
                .into_iter()
                .map(|locale| {
                    view! {
                        <button
                            type="submit"
                            name="lang"
                            value=locale.tag()
                            lang=locale.tag()
                            class="lang-switch__option"
                            aria-pressed=move || (i18n.locale() == locale).to_string()
                        >
                            {locale.native_name()}
                        </button>
                    }
                })
                .collect_view()}
        </form>
    }
}
