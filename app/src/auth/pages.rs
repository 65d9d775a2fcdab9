//! Sign-in, change-password and the signed-in part of the header.
// The #[server] and #[component] macros generate argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{ChangePassword, Login, Logout, Me, Role, SetTimeZone};
use crate::{
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::use_i18n,
};

/// The sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<Login>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <Title text=move || i18n.t().login_title />
        <section class="card narrow" aria-labelledby="login-heading">
            <h1 id="login-heading">{move || i18n.t().login_title}</h1>
            <Enhance>
            <ActionForm action>
                <input type="hidden" name="next" value=next />
                <FormError error />
                <div class="field">
                    <label for="username">{move || i18n.t().field_username}</label>
                    <input id="username" name="username" autocomplete="username" autocapitalize="none" required />
                    <FieldError error field="username" />
                </div>
                <div class="field">
                    <label for="password">{move || i18n.t().field_password}</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required />
                    <FieldError error field="password" />
                </div>
                <button type="submit" class="button" disabled=move || action.pending().get()>
                    {move || i18n.t().login_submit}
                </button>
            </ActionForm>
            </Enhance>
        </section>
    }
}

/// The signed-in user's own page, at `/account`: who they are, their preferred language (the one
/// their emails and reports come in), their time zone, the chat identities chat channels
/// @-mention them by, and the way to change their password.
#[component]
pub fn AccountPage() -> impl IntoView {
    let i18n = use_i18n();
    let me = use_me();
    view! {
        <Title text=move || i18n.t().nav_account />
        <section class="card narrow" aria-labelledby="account-heading">
            <h1 id="account-heading">{move || i18n.t().nav_account}</h1>
            {me.map(|me| {
                    let t = i18n.t();
                    let roles = me.roles.iter().map(|r| r.label(t)).collect::<Vec<_>>().join(", ");
                    let chat = Resource::new(|| (), |_| crate::chat::my_chat_identity());
                    view! {
                        <dl class="handover">
                            <dt>{t.field_username}</dt>
                            <dd>{me.username.clone()}</dd>
                            <dt>{t.field_display_name}</dt>
                            <dd>{me.display_name.clone()}</dd>
                            <dt>{t.field_roles}</dt>
                            <dd>{roles}</dd>
                        </dl>
                        // The same form as the header's switch: it also stores the preference.
                        <form method="post" action="/lang">
                            <input type="hidden" name="back" value="/account" />
                            <div class="field">
                                <label for="account-language">{t.field_language}</label>
                                <select id="account-language" name="lang">
                                    {crate::i18n::Locale::ALL.into_iter().map(|locale| view! {
                                        <option value=locale.tag() selected=locale == me.language>
                                            {locale.strings().language_name}
                                        </option>
                                    }).collect_view()}
                                </select>
                            </div>
                            <button type="submit" class="button">{t.save}</button>
                        </form>
                        <ZoneForm chosen=me.time_zone.clone() />
                        // Awaited, not read under a <Suspense>, which builds its children once per pass.
                        {Suspend::new(async move {
                            match chat.await {
                                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                                Ok(identity) => view! { <crate::chat::ChatIdentityFields identity /> }.into_any(),
                            }
                        })}
                        <p><a href="/account/password">{t.password_title}</a></p>
                    }
                })}
        </section>
    }
}

/// The choice of the user's own time zone: automatic (the device's) or any IANA zone.
#[component]
fn ZoneForm(chosen: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<SetTimeZone>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    // The page is rendered on the server, where the zone database is.
    #[cfg(feature = "ssr")]
    let names = crate::clock::zone::names();
    #[cfg(not(feature = "ssr"))]
    let names: Vec<String> = Vec::new();
    let saved = use_query_map().read_untracked().get("saved").as_deref() == Some("zone");
    let automatic = chosen.is_none();
    view! {
        <Enhance>
            <ActionForm action>
                <FormError error />
                {saved.then(|| view! { <p class="notice" role="status">{move || i18n.t().zone_saved}</p> })}
                <div class="field">
                    <label for="account-zone">{move || i18n.t().field_time_zone}</label>
                    <select id="account-zone" name="time_zone">
                        <option value="" selected=automatic>{move || i18n.t().zone_automatic}</option>
                        {names.into_iter().map(|name| {
                            let selected = chosen.as_deref() == Some(name.as_str());
                            view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                        }).collect_view()}
                    </select>
                    <FieldError error field="time_zone" />
                </div>
                <button type="submit" class="button">{move || i18n.t().save}</button>
            </ActionForm>
        </Enhance>
    }
}

/// The page where a user changes their own password (also the forced first-login change).
#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<ChangePassword>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    let must_change = use_me().is_some_and(|m| m.must_change_password);
    view! {
        <Title text=move || i18n.t().password_title />
        <section class="card narrow" aria-labelledby="password-heading">
            <h1 id="password-heading">{move || i18n.t().password_title}</h1>
            {must_change.then(|| view! { <p class="notice">{move || i18n.t().password_must_change}</p> })}
            <Enhance>
            <ActionForm action>
                <FormError error />
                <div class="field">
                    <label for="current">{move || i18n.t().field_current_password}</label>
                    <input id="current" name="current" type="password" autocomplete="current-password" required />
                    <FieldError error field="current" />
                </div>
                <div class="field">
                    <label for="new">{move || i18n.t().field_new_password}</label>
                    <input id="new" name="new" type="password" autocomplete="new-password" required />
                    <p class="hint">{move || i18n.t().password_policy_hint}</p>
                    <FieldError error field="new" />
                </div>
                <div class="field">
                    <label for="confirm">{move || i18n.t().field_confirm_password}</label>
                    <input id="confirm" name="confirm" type="password" autocomplete="new-password" required />
                    <FieldError error field="confirm" />
                </div>
                <button type="submit" class="button" disabled=move || action.pending().get()>
                    {move || i18n.t().password_submit}
                </button>
            </ActionForm>
            </Enhance>
        </section>
    }
}

/// The signed-in user of this render, `None` when signed out.
#[derive(Clone, Debug)]
pub struct SignedIn(pub Option<Me>);

/// Reads the signed-in user of this request and shares it through context. Pages render only on
/// the server (the browser hydrates islands alone), and the request already carries the user
/// (`server::auth::resolve_user`): a plain value, not a resource to await, so nothing that depends
/// on it waits or is built again under a `<Suspense>`.
pub fn provide_me() -> Option<Me> {
    #[cfg(feature = "ssr")]
    let me = super::guard::current_user().map(|user| user.me);
    #[cfg(not(feature = "ssr"))]
    let me = None;
    provide_context(SignedIn(me.clone()));
    me
}

/// The signed-in user provided by [`provide_me`].
pub fn use_me() -> Option<Me> {
    use_context::<SignedIn>().and_then(|signed_in| signed_in.0)
}

/// The header's account area and role-dependent navigation.
#[component]
pub fn SignedInNav() -> impl IntoView {
    let i18n = use_i18n();
    let me = use_me();
    let logout = ServerAction::<Logout>::new();
    view! {
        {match me {
                Some(me) => {
                    let is_admin = me.has(Role::Admin);
                    // Admin alone gives no power over incidents; every other role works on them.
                    let works_incidents = me.roles.iter().any(|r| *r != Role::Admin);
                    let reads_reports = crate::insight::READERS.iter().any(|r| me.has(*r));
                    view! {
                        {works_incidents.then(|| view! {
                            <a class="nav-link" href="/incidents">{move || i18n.t().nav_incidents}</a>
                            <a class="nav-link" href="/pool">{move || i18n.t().nav_pool}</a>
                            <a class="nav-link" href="/measures">{move || i18n.t().nav_measures}</a>
                        })}
                        {reads_reports.then(|| view! {
                            <a class="nav-link" href="/reports">{move || i18n.t().nav_reports}</a>
                        })}
                        {is_admin.then(|| view! {
                            <a class="nav-link" href="/admin/users">{move || i18n.t().nav_users}</a>
                            <a class="nav-link" href="/admin/intake">{move || i18n.t().nav_intake}</a>
                            <a class="nav-link" href="/admin/clocks">{move || i18n.t().nav_clocks}</a>
                            <a class="nav-link" href="/admin/channels">{move || i18n.t().channels_nav}</a>
                            <a class="nav-link" href="/admin/audit">{move || i18n.t().nav_audit}</a>
                            <a class="nav-link" href="/admin/outbox">{move || i18n.t().nav_outbox}</a>
                        })}
                        <crate::search::HeaderSearch />
                        <span class="app-header__spacer"></span>
                        <a class="nav-link app-header__user" href="/account" title=move || i18n.t().nav_account>
                            {me.display_name.clone()}
                        </a>
                        <Enhance>
                            <ActionForm action=logout>
                                <button type="submit" class="nav-button">{move || i18n.t().nav_sign_out}</button>
                            </ActionForm>
                        </Enhance>
                    }
                        .into_any()
                }
                None => {
                    view! {
                        <span class="app-header__spacer"></span>
                        <a class="nav-link" href="/login">{move || i18n.t().nav_sign_in}</a>
                    }
                        .into_any()
                }
            }}
    }
}
