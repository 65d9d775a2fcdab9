//! The search page and the search box in the header.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{HitKind, Piece, SearchHit};
use crate::{
    clock::LocalTime,
    i18n::use_i18n,
    workflow::{input::Severity, labels, rules::Stage, SeverityBadge, StageBadge},
};

/// Text with its matched pieces marked (the renderer escapes every piece).
fn marked(pieces: Vec<Piece>) -> impl IntoView {
    pieces
        .into_iter()
        .map(|(text, hit)| if hit { view! { <mark>{text}</mark> }.into_any() } else { text.into_any() })
        .collect_view()
}

/// The search box of the header (signed-in users): a plain GET form.
#[component]
pub fn HeaderSearch() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <form class="header-search" role="search" method="get" action="/search">
            <label class="visually-hidden" for="header-q">{move || i18n.t().search_label}</label>
            <input id="header-q" type="search" name="q" required minlength="2" maxlength=super::MAX_QUERY
                placeholder=move || i18n.t().search_placeholder />
            <button type="submit" class="nav-button">{move || i18n.t().search_submit}</button>
        </form>
    }
}

fn kind_label(kind: HitKind, t: &'static crate::i18n::Strings) -> &'static str {
    match kind {
        HitKind::Incident => t.search_kind_incident,
        HitKind::Comment => t.search_kind_comment,
        HitKind::Pool => t.search_kind_pool,
    }
}

#[component]
fn Hit(hit: SearchHit) -> impl IntoView {
    let i18n = use_i18n();
    let kind = hit.kind;
    view! {
        <li class="search-hit card" data-kind=format!("{kind:?}").to_lowercase()>
            <p class="search-hit__meta">
                <span class="badge">{move || kind_label(kind, i18n.t())}</span>
                {hit.severity.map(|severity| view! { " " <SeverityBadge severity /> })}
                {hit.stage.map(|stage| view! { " " <StageBadge stage /> })}
                " " <span class="hint"><LocalTime at=hit.at.clone() /></span>
            </p>
            <h2 class="search-hit__title"><a href=hit.href.clone()>{marked(hit.title)}</a></h2>
            <p class="search-hit__fragment">{marked(hit.fragment)}</p>
        </li>
    }
}

/// `/search`: the query and its filters, and one page of results with a link to the next.
#[component]
pub fn SearchPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let results = Resource::new(
        move || (param("q"), param("stage"), param("severity"), param("from"), param("to"), param("after")),
        |(q, stage, severity, from, to, after)| async move {
            match q {
                None => Ok(None),
                Some(q) => super::search(q, stage, severity, from, to, after).await.map(Some),
            }
        },
    );
    let get = move |name: &str| query.read_untracked().get(name).unwrap_or_default();
    let (q, stage, severity, from, to) = (get("q"), get("stage"), get("severity"), get("from"), get("to"));
    // The next page keeps the query and filters.
    let next_href = {
        let params = [
            ("q", q.clone()),
            ("stage", stage.clone()),
            ("severity", severity.clone()),
            ("from", from.clone()),
            ("to", to.clone()),
        ];
        move |cursor: String| {
            let mut url = form_urlencoded_pairs(&params);
            url.push_str("&after=");
            url.push_str(&cursor);
            format!("/search?{url}")
        }
    };
    view! {
        <Title text=move || i18n.t().search_title />
        <h1>{move || i18n.t().search_title}</h1>
        <form class="filters card search-form" role="search" method="get" action="/search">
            <div class="field search-form__q">
                <label for="search-q">{move || i18n.t().search_label}</label>
                <input id="search-q" type="search" name="q" value=q.clone() required maxlength=super::MAX_QUERY
                    placeholder=move || i18n.t().search_placeholder aria-describedby="search-hint" />
                <p class="hint" id="search-hint">{move || i18n.t().search_hint}</p>
            </div>
            <div class="field">
                <label for="search-stage">{move || i18n.t().search_stage}</label>
                <select id="search-stage" name="stage">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Stage::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=stage == s.as_str()>{move || labels::stage(s, i18n.t())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="search-severity">{move || i18n.t().field_severity}</label>
                <select id="search-severity" name="severity">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Severity::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=severity == s.as_str()>{s.as_str().to_uppercase()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="search-from">{move || i18n.t().report_from}</label>
                <input id="search-from" type="date" name="from" value=from.clone() />
            </div>
            <div class="field">
                <label for="search-to">{move || i18n.t().report_to}</label>
                <input id="search-to" type="date" name="to" value=to.clone() />
            </div>
            <button type="submit" class="button">{move || i18n.t().search_submit}</button>
        </form>
        {Suspend::new(async move {
            match results.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(None) => ().into_any(),
                Ok(Some(found)) if found.hits.is_empty() => {
                    view! { <p class="notice" data-search-empty="">{move || i18n.t().search_none}</p> }.into_any()
                }
                Ok(Some(found)) => {
                    let next = found.next.map(|cursor| {
                        let href = next_href(cursor);
                        view! { <p><a class="button button--secondary" rel="next" href=href>{move || i18n.t().search_next}</a></p> }
                    });
                    view! {
                        <ol class="search-results" aria-label=move || i18n.t().search_results>
                            {found.hits.into_iter().map(|hit| view! { <Hit hit /> }).collect_view()}
                        </ol>
                        {next}
                    }
                    .into_any()
                }
            }
        })}
    }
}

/// `k=v&k=v`, percent-encoded, skipping empty values.
fn form_urlencoded_pairs(params: &[(&str, String)]) -> String {
    params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", crate::collab::percent_path(v)))
        .collect::<Vec<_>>()
        .join("&")
}
