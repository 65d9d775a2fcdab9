//! Admin pages: the user list with search, a new-user form and one user's page.
// The #[server] and #[component] macros generate argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{CreateUser, EndUserSessions, ResetPassword, SetUserActive, UpdateUser, UserDetail};
use crate::{
    auth::Role,
    chat::{ChatIdentity, ChatIdentityFields},
    enhance::Enhance,
    error::AppError,
    forms::{FieldError, FormError},
    i18n::{use_i18n, Locale},
};

/// The list of users with a search box.
#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let users = Resource::new(q, super::list_users);
    view! {
        <Title text=move || i18n.t().users_title />
        <div class="page-head">
            <h1>{move || i18n.t().users_title}</h1>
            <a class="button" href="/admin/users/new">{move || i18n.t().users_new}</a>
        </div>
        <form class="search" method="get" action="/admin/users" role="search">
            <label for="q" class="visually-hidden">{move || i18n.t().users_search_label}</label>
            <input id="q" name="q" type="search" value=q placeholder=move || i18n.t().users_search_label />
            <button type="submit" class="button button--secondary">{move || i18n.t().users_search_submit}</button>
        </form>
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match users.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p>{move || i18n.t().users_none}</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table">
                        <thead>
                            <tr>
                                <th scope="col">{move || i18n.t().field_username}</th>
                                <th scope="col">{move || i18n.t().field_display_name}</th>
                                <th scope="col">{move || i18n.t().field_roles}</th>
                                <th scope="col">{move || i18n.t().field_status}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let roles = move || u.roles.iter().map(|r| r.label(i18n.t())).collect::<Vec<_>>().join(", ");
                                view! {
                                    <tr>
                                        <td data-label=move || i18n.t().field_username>
                                            <a href=format!("/admin/users/{}", u.id)>{u.username.clone()}</a>
                                        </td>
                                        <td data-label=move || i18n.t().field_display_name>{u.display_name.clone()}</td>
                                        <td data-label=move || i18n.t().field_roles>{roles}</td>
                                        <td data-label=move || i18n.t().field_status>
                                            {move || if u.active { i18n.t().user_active } else { i18n.t().user_inactive }}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }
        })}
    }
}

/// Checkboxes for the five roles, checked as in `current`.
#[component]
fn RoleChecks(current: Vec<Role>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <fieldset class="field checks">
            <legend>{move || i18n.t().field_roles}</legend>
            {Role::ALL.into_iter().map(|role| {
                let name = format!("role_{}", role.as_str());
                view! {
                    <label class="check">
                        <input type="checkbox" name=name value="on" checked=current.contains(&role) />
                        <span>{move || role.label(i18n.t())}</span>
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// A language picker.
#[component]
fn LanguageSelect(current: Locale) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="field">
            <label for="language">{move || i18n.t().field_language}</label>
            <select id="language" name="language">
                {Locale::ALL.into_iter().map(|l| view! {
                    <option value=l.tag() selected=l == current>{l.native_name()}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

/// A labelled text input with its error.
#[component]
fn TextField(
    name: &'static str,
    label: fn(&'static crate::i18n::Strings) -> &'static str,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional, into)] value: String,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="field">
            <label for=name>{move || label(i18n.t())}</label>
            <input id=name name=name type=kind value=value autocomplete=autocomplete required />
            <FieldError error field=name />
        </div>
    }
}

/// The form creating a user.
#[component]
pub fn NewUserPage() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<CreateUser>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    view! {
        <Title text=move || i18n.t().users_new />
        <section class="card narrow" aria-labelledby="new-user-heading">
            <h1 id="new-user-heading">{move || i18n.t().users_new}</h1>
            <Enhance>
            <ActionForm action>
                <FormError error />
                <TextField name="username" label=|t| t.field_username error autocomplete="off" />
                <TextField name="display_name" label=|t| t.field_display_name error />
                <TextField name="email" label=|t| t.field_email error kind="email" />
                <LanguageSelect current=i18n.locale() />
                <RoleChecks current=vec![] />
                <TextField name="password" label=|t| t.field_initial_password error kind="password" autocomplete="new-password" />
                <p class="hint">{move || i18n.t().users_initial_password_hint}</p>
                <button type="submit" class="button" disabled=move || action.pending().get()>{move || i18n.t().users_create_submit}</button>
            </ActionForm>
            </Enhance>
        </section>
    }
}

/// One user: details and roles, chat identities, activation, password reset and sessions.
#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let user = Resource::new(id, super::get_user);
    let identity = Resource::new(id, crate::chat::get_user_chat_identity);
    let query = use_query_map();
    let saved = move || query.read().get("saved").is_some();
    view! {
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match (user.await, identity.await) {
                (Err(error), _) | (_, Err(error)) => view! { <crate::shell::LoadError error /> }.into_any(),
                (Ok(detail), Ok(identity)) => view! { <UserForms detail identity saved=saved() /> }.into_any(),
            }
        })}
    }
}

#[component]
fn UserForms(detail: UserDetail, identity: ChatIdentity, saved: bool) -> impl IntoView {
    let i18n = use_i18n();
    let update = ServerAction::<UpdateUser>::new();
    let update_error = Signal::derive(move || update.value().get().and_then(|r| r.err()));
    let set_active = ServerAction::<SetUserActive>::new();
    let active_error = Signal::derive(move || set_active.value().get().and_then(|r| r.err()));
    let reset = ServerAction::<ResetPassword>::new();
    let reset_error = Signal::derive(move || reset.value().get().and_then(|r| r.err()));
    let end_sessions = ServerAction::<EndUserSessions>::new();
    let u = detail.summary.clone();
    let id = u.id;
    let sessions = detail.active_sessions.to_string();
    view! {
        <Title text=u.username.clone() />
        <div class="page-head">
            <h1>{u.display_name.clone()} " (" {u.username.clone()} ")"</h1>
            <a href="/admin/users">{move || i18n.t().users_back}</a>
        </div>
        {saved.then(|| view! { <p class="notice" role="status">{move || i18n.t().users_saved}</p> })}
        {(!u.active).then(|| view! { <p class="notice notice--warn">{move || i18n.t().user_inactive}</p> })}
        <section class="card" aria-labelledby="details-heading">
            <h2 id="details-heading">{move || i18n.t().users_details}</h2>
            <Enhance>
            <ActionForm action=update>
                <input type="hidden" name="id" value=id />
                <FormError error=update_error />
                <TextField name="display_name" label=|t| t.field_display_name error=update_error value=u.display_name.clone() />
                <TextField name="email" label=|t| t.field_email error=update_error value=u.email.clone() kind="email" />
                <LanguageSelect current=detail.language />
                <RoleChecks current=u.roles.clone() />
                <button type="submit" class="button">{move || i18n.t().save}</button>
            </ActionForm>
            </Enhance>
        </section>
        <div class="card">
            <ChatIdentityFields identity user_id=id />
        </div>
        <section class="card" aria-labelledby="password-reset-heading">
            <h2 id="password-reset-heading">{move || i18n.t().users_reset_password}</h2>
            <Enhance>
            <ActionForm action=reset>
                <input type="hidden" name="id" value=id />
                <FormError error=reset_error />
                <TextField name="password" label=|t| t.field_initial_password error=reset_error kind="password" autocomplete="new-password" />
                <p class="hint">{move || i18n.t().users_initial_password_hint}</p>
                <button type="submit" class="button button--secondary">{move || i18n.t().users_reset_password}</button>
            </ActionForm>
            </Enhance>
        </section>
        <section class="card" aria-labelledby="access-heading">
            <h2 id="access-heading">{move || i18n.t().users_access}</h2>
            <p>{move || crate::i18n::fill(i18n.t().users_active_sessions, &[("count", &sessions)])}</p>
            <div class="button-row">
                <Enhance>
                <ActionForm action=end_sessions>
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="button button--secondary">{move || i18n.t().users_end_sessions}</button>
                </ActionForm>
                </Enhance>
                <Enhance>
                <ActionForm action=set_active>
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="active" value=(!u.active).to_string() />
                    <FormError error=active_error />
                    <button type="submit" class=if u.active { "button button--danger" } else { "button" }>
                        {move || if u.active { i18n.t().users_deactivate } else { i18n.t().users_reactivate }}
                    </button>
                </ActionForm>
                </Enhance>
            </div>
        </section>
    }
}
