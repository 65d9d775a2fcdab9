//! The pool pages: everyone reads them; PMs set status and target release.
// The #[component] macro generates prop structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{AddPoolItem, PoolItem, PoolStatus, UpdatePoolItem};
use crate::{
    auth::{use_me, Role},
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::{fill, use_i18n},
    workflow::{input::Severity, labels, PrioritySelect, SeverityBadge},
};

/// The pool page.
#[component]
pub fn PoolPage() -> impl IntoView {
    let i18n = use_i18n();
    let items = Resource::new(|| (), |_| super::list_pool());
    view! {
        <Title text=move || i18n.t().pool_title />
        <h1>{move || i18n.t().pool_title}</h1>
        <AddItem />
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match items.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p>{move || i18n.t().pool_none}</p> }.into_any(),
                Ok(list) => list.into_iter().map(|item| view! { <PoolCard item /> }).collect_view().into_any(),
            }
        })}
    }
}

/// One pool item, at `/pool/:id`.
#[component]
pub fn PoolItemPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let item = Resource::new(id, super::get_pool_item);
    view! {
        <p><a href="/pool">{move || i18n.t().pool_title}</a></p>
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match item.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(item) => view! { <Title text=item.title.clone() /> <PoolCard item /> }.into_any(),
            }
        })}
    }
}

/// PMs add an item directly (not only through an interim fix): folded until opened.
#[component]
fn AddItem() -> impl IntoView {
    let i18n = use_i18n();
    let is_pm = use_me().is_some_and(|m| m.has(Role::Pm));
    let add = ServerAction::<AddPoolItem>::new();
    let error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    view! {
        {is_pm.then(|| view! {
                <details class="card pool-add">
                    <summary>{move || i18n.t().pool_add}</summary>
                    <Enhance>
                        <ActionForm action=add>
                            <FormError error />
                            <div class="field">
                                <label for="pool-new-title">{move || i18n.t().field_title}</label>
                                <input id="pool-new-title" name="pool_title" required=true aria-describedby="err-pool_title" />
                                <FieldError error field="pool_title" />
                            </div>
                            <div class="field">
                                <label for="pool-new-description">{move || i18n.t().field_pool_description}</label>
                                <textarea id="pool-new-description" name="pool_description" rows="3" required=true aria-describedby="err-pool_description"></textarea>
                                <FieldError error field="pool_description" />
                            </div>
                            <PrioritySelect name="priority" id="pool-new-priority".to_owned() selected=Severity::P2 />
                            <button type="submit" class="button">{move || i18n.t().pool_add}</button>
                        </ActionForm>
                    </Enhance>
                </details>
            })}
    }
}

#[component]
fn PoolCard(item: PoolItem) -> impl IntoView {
    let i18n = use_i18n();
    let is_pm = use_me().is_some_and(|m| m.has(Role::Pm));
    let update = ServerAction::<UpdatePoolItem>::new();
    let error = Signal::derive(move || update.value().get().and_then(|r| r.err()));
    let status = item.status;
    let priority = item.priority;
    let release = item.target_release.clone();
    let waited = item.waited_seconds;
    let id = item.id;
    view! {
        <article class="card pool-item" aria-labelledby=format!("pool-{id}")>
            <h2 id=format!("pool-{id}")><a href=format!("/pool/{id}")>{item.title.clone()}</a></h2>
            <p>
                <SeverityBadge severity=item.priority />
                " " <span class="badge">{move || labels::pool_status(status, i18n.t())}</span>
                {(!release.is_empty()).then(|| view! { " · " {release.clone()} })}
                " · " {move || {
                    let waited = crate::insight::span(waited, i18n.t());
                    let template = if status == PoolStatus::Done { i18n.t().pool_waited_done } else { i18n.t().pool_waiting };
                    fill(template, &[("span", &waited)])
                }}
                {item.source_incident.clone().map(|key| {
                    let href = format!("/incidents/{key}");
                    view! { " · " <a href=href>{move || fill(i18n.t().pool_from, &[("key", &key)])}</a> }
                })}
            </p>
            <p class="prewrap">{item.description.clone()}</p>
            {is_pm.then(|| {
                    let release = item.target_release.clone();
                    view! {
                        <Enhance>
                        <ActionForm action=update>
                            <FormError error />
                            <input type="hidden" name="id" value=id />
                            <div class="field">
                                <label for=format!("status-{id}")>{move || i18n.t().field_status_pool}</label>
                                <select id=format!("status-{id}") name="status">
                                    {[PoolStatus::Open, PoolStatus::Scheduled, PoolStatus::Done].into_iter().map(|s| view! {
                                        <option value=s.as_str() selected=s == status>{move || labels::pool_status(s, i18n.t())}</option>
                                    }).collect_view()}
                                </select>
                            </div>
                            <div class="field">
                                <label for=format!("release-{id}")>{move || i18n.t().field_target_release}</label>
                                <input id=format!("release-{id}") name="target_release" value=release />
                            </div>
                            <PrioritySelect name="priority" id=format!("priority-{id}") selected=priority />
                            <button type="submit" class="button button--secondary">{move || i18n.t().save}</button>
                        </ActionForm>
                        </Enhance>
                    }
                })}
        </article>
    }
}
