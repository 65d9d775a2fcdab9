//! Admin pages of the audit log: the filtered list with export and chain check, and one entry.
// The #[component] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{event, AuditEntry, BreakReason, Outcome, VerifyReport};
use crate::{
    i18n::{fill, use_i18n, Strings},
    workflow::rules::ActionKind,
};

/// Filter names, as query parameters of the page and of the export.
const FILTERS: [&str; 6] = ["actor", "event", "target", "outcome", "from", "to"];

/// The label of an event type (the identifier itself for types this version does not know).
pub fn event_label(event: &str, t: &'static Strings) -> String {
    let label = match event {
        event::LOGIN => t.audit_ev_login,
        event::LOGOUT => t.audit_ev_logout,
        event::SESSION_ENDED => t.audit_ev_session_ended,
        event::PASSWORD_CHANGED => t.audit_ev_password_changed,
        event::USER_CREATED => t.audit_ev_user_created,
        event::USER_UPDATED => t.audit_ev_user_updated,
        event::USER_ROLES_CHANGED => t.audit_ev_user_roles_changed,
        event::USER_ACTIVATION => t.audit_ev_user_activation,
        event::USER_PASSWORD_RESET => t.audit_ev_user_password_reset,
        event::INCIDENT_CREATED => t.audit_ev_incident_created,
        event::INCIDENT_ACTION => t.audit_ev_incident_action,
        event::INCIDENT_CLAIM => t.audit_ev_incident_claim,
        event::INCIDENT_REASSIGN => t.audit_ev_incident_reassign,
        event::POOL_CREATED => t.audit_ev_pool_created,
        event::POOL_UPDATED => t.audit_ev_pool_updated,
        event::ACCESS_DENIED => t.audit_ev_access_denied,
        event::CROSS_SITE => t.audit_ev_cross_site,
        event::RATE_LIMITED => t.audit_ev_rate_limited,
        event::EMAIL_SENT => t.audit_ev_email_sent,
        event::EMAIL_FAILED => t.audit_ev_email_failed,
        event::AUDIT_VIEWED => t.audit_ev_audit_viewed,
        event::AUDIT_EXPORTED => t.audit_ev_audit_exported,
        event::AUDIT_VERIFIED => t.audit_ev_audit_verified,
        event::SETTINGS_CHANGED => t.audit_ev_settings_changed,
        event::INTAKE_RECEIVED => t.audit_ev_intake_received,
        event::INTAKE_REFUSED => t.audit_ev_intake_refused,
        event::INTAKE_SOURCE_CREATED => t.audit_ev_intake_source_created,
        event::INTAKE_SOURCE_UPDATED => t.audit_ev_intake_source_updated,
        event::INTAKE_SOURCE_REVOKED => t.audit_ev_intake_source_revoked,
        event::CLOCK_NOTICE => t.audit_ev_clock_notice,
        event::CLOCK_PAUSED => t.audit_ev_clock_paused,
        event::CLOCK_RESUMED => t.audit_ev_clock_resumed,
        event::CHANNEL_CREATED => t.audit_ev_channel_created,
        event::CHANNEL_UPDATED => t.audit_ev_channel_updated,
        event::CHANNEL_REMOVED => t.audit_ev_channel_removed,
        event::CHAT_SENT => t.audit_ev_chat_sent,
        event::CHAT_FAILED => t.audit_ev_chat_failed,
        event::MEASURE_CLOSED => t.audit_ev_measure_closed,
        event::COMMENT_ADDED => t.audit_ev_comment_added,
        event::COMMENT_EDITED => t.audit_ev_comment_edited,
        event::COMMENT_HIDDEN => t.audit_ev_comment_hidden,
        event::ATTACHMENT_ADDED => t.audit_ev_attachment_added,
        other => return other.to_owned(),
    };
    label.to_owned()
}

fn outcome_label(outcome: &str, t: &'static Strings) -> &'static str {
    match Outcome::parse(outcome) {
        Some(Outcome::Ok) => t.audit_outcome_ok,
        Some(Outcome::Denied) => t.audit_outcome_denied,
        Some(Outcome::Failed) => t.audit_outcome_failed,
        None => t.audit_outcome_failed,
    }
}

/// The outcome as a badge.
#[component]
fn OutcomeBadge(outcome: String) -> impl IntoView {
    let i18n = use_i18n();
    let class =
        format!("badge audit-outcome audit-outcome--{}", Outcome::parse(&outcome).map_or("failed", |o| o.as_str()));
    view! { <span class=class>{move || outcome_label(&outcome, i18n.t())}</span> }
}

/// Where the target of an entry lives in the app, if it has a page.
fn target_href(e: &AuditEntry) -> Option<String> {
    let encoded = encode(&e.target);
    match e.target_kind.as_str() {
        "incident" if e.target.starts_with("INC-") => Some(format!("/incidents/{encoded}")),
        "pool_item" if e.target.parse::<i64>().is_ok() => Some(format!("/pool/{}", e.target)),
        "user" if !e.target.is_empty() => Some(format!("/admin/users?q={encoded}")),
        _ => None,
    }
}

/// Percent-encodes a query or path value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn verify_message(report: &VerifyReport, t: &'static Strings) -> (bool, String) {
    match report {
        VerifyReport::Verified { through, hash } => {
            (true, fill(t.audit_verified, &[("seq", &through.to_string()), ("hash", hash)]))
        }
        VerifyReport::Broken { at, reason } => {
            let why = match reason {
                BreakReason::Altered => t.audit_break_altered,
                BreakReason::Unlinked => t.audit_break_unlinked,
                BreakReason::Missing => t.audit_break_missing,
                BreakReason::Truncated => t.audit_break_truncated,
                BreakReason::HeadMismatch => t.audit_break_head,
            };
            (false, fill(t.audit_broken, &[("seq", &at.to_string()), ("reason", why)]))
        }
    }
}

/// The audit log: filters, newest first, keyset pages, export and chain verification.
#[component]
pub fn AuditPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.trim().is_empty());
    let page = Resource::new(
        move || (FILTERS.map(param), param("before").and_then(|b| b.parse::<i64>().ok())),
        |([actor, event, target, outcome, from, to], before)| {
            super::list_audit(actor, event, target, outcome, from, to, before)
        },
    );
    let verify = Resource::new(
        move || (param("verify").is_some(), param("head")),
        |(wanted, head)| async move {
            if wanted {
                Some(super::verify_audit(head).await)
            } else {
                None
            }
        },
    );
    // The current filters as a query string, for the export links and the next page.
    let filter_query = move || {
        FILTERS
            .iter()
            .filter_map(|f| param(f).map(|v| format!("{f}={}", encode(v.trim()))))
            .collect::<Vec<_>>()
            .join("&")
    };
    let selected = move |name: &'static str, value: &'static str| param(name).as_deref() == Some(value);
    let value = move |name: &'static str| param(name).unwrap_or_default();
    view! {
        <Title text=move || i18n.t().audit_title />
        <div class="page-head">
            <h1>{move || i18n.t().audit_title}</h1>
        </div>
        <form class="filters" method="get" action="/admin/audit" role="search" aria-label=move || i18n.t().audit_filters>
            <div class="field">
                <label for="actor">{move || i18n.t().audit_actor}</label>
                <input id="actor" name="actor" value=move || value("actor") autocomplete="off" />
            </div>
            <div class="field">
                <label for="event">{move || i18n.t().audit_event}</label>
                <select id="event" name="event">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {event::ALL.iter().map(|e| view! {
                        <option value=*e selected=move || selected("event", e)>{move || event_label(e, i18n.t())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="target">{move || i18n.t().audit_target}</label>
                <input id="target" name="target" value=move || value("target") placeholder="INC-2026-0001" autocomplete="off" />
            </div>
            <div class="field">
                <label for="outcome">{move || i18n.t().audit_outcome}</label>
                <select id="outcome" name="outcome">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Outcome::ALL.into_iter().map(|o| view! {
                        <option value=o.as_str() selected=move || selected("outcome", o.as_str())>{move || outcome_label(o.as_str(), i18n.t())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="from">{move || i18n.t().audit_from}</label>
                <input id="from" name="from" type="date" value=move || value("from") />
            </div>
            <div class="field">
                <label for="to">{move || i18n.t().audit_to}</label>
                <input id="to" name="to" type="date" value=move || value("to") />
            </div>
            <button type="submit" class="button button--secondary">{move || i18n.t().incidents_filter}</button>
        </form>
        <div class="audit-tools">
            <p class="audit-export">
                {move || i18n.t().audit_export} " "
                <a class="button button--secondary" href=move || format!("/admin/audit/export.csv?{}", filter_query()) download>"CSV"</a>
                " "
                <a class="button button--secondary" href=move || format!("/admin/audit/export.jsonl?{}", filter_query()) download>"JSON Lines"</a>
            </p>
            <form class="audit-verify" method="get" action="/admin/audit">
                <input type="hidden" name="verify" value="1" />
                <div class="field">
                    <label for="head">{move || i18n.t().audit_head_label}</label>
                    <input id="head" name="head" value=move || value("head") placeholder="N:hash" autocomplete="off" spellcheck="false" />
                </div>
                <button type="submit" class="button">{move || i18n.t().audit_verify}</button>
            </form>
            <Suspense fallback=|| ()>
                {move || verify.get().flatten().map(|result| match result {
                    Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                    Ok(report) => {
                        let (ok, message) = verify_message(&report, i18n.t());
                        let class = if ok { "notice audit-verified" } else { "form-error audit-broken" };
                        view! { <p class=class role="status" data-verify=if ok { "ok" } else { "broken" }>{message}</p> }.into_any()
                    }
                })}
            </Suspense>
        </div>
        <Suspense fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || page.get().map(|result| match result {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(p) if p.items.is_empty() => view! { <p>{move || i18n.t().audit_none}</p> }.into_any(),
                Ok(p) => {
                    let more = p.next_before.map(|before| {
                        let rest = filter_query();
                        let href = if rest.is_empty() {
                            format!("/admin/audit?before={before}")
                        } else {
                            format!("/admin/audit?before={before}&{rest}")
                        };
                        view! { <a class="button button--secondary" href=href>{move || i18n.t().audit_more}</a> }
                    });
                    view! { <AuditTable items=p.items /> {more} }.into_any()
                }
            })}
        </Suspense>
    }
}

/// Entries as a table that becomes cards on a phone.
#[component]
fn AuditTable(items: Vec<AuditEntry>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <table class="table audit">
            <thead>
                <tr>
                    <th scope="col">"#"</th>
                    <th scope="col">{move || i18n.t().audit_time}</th>
                    <th scope="col">{move || i18n.t().audit_actor}</th>
                    <th scope="col">{move || i18n.t().audit_event}</th>
                    <th scope="col">{move || i18n.t().audit_target}</th>
                    <th scope="col">{move || i18n.t().audit_outcome}</th>
                </tr>
            </thead>
            <tbody>
                {items.into_iter().map(|e| {
                    let href = target_href(&e);
                    let target = e.target.clone();
                    let target_view = match href {
                        Some(href) => view! { <a href=href>{target}</a> }.into_any(),
                        None => view! { <span>{target}</span> }.into_any(),
                    };
                    let event = e.event.clone();
                    // A gate action names which one ("Incident action · Approve the release").
                    let details = serde_json::from_str::<serde_json::Value>(&e.details).ok();
                    let action = details
                        .as_ref()
                        .and_then(|d| d.get("action").and_then(|a| a.as_str()).and_then(ActionKind::parse));
                    // Repeats of an anonymous refusal recorded as one entry ("× 31 more").
                    let coalesced = details.as_ref().and_then(|d| d.get("coalesced")).and_then(|n| n.as_u64());
                    let actor = if e.actor_roles.is_empty() {
                        e.actor_name.clone()
                    } else {
                        format!("{} ({})", e.actor_name, e.actor_roles)
                    };
                    view! {
                        <tr>
                            <td data-label="#"><a href=format!("/admin/audit/{}", e.seq)>{e.seq}</a></td>
                            <td data-label=move || i18n.t().audit_time><crate::clock::LocalTime at=e.at.clone() /></td>
                            <td data-label=move || i18n.t().audit_actor>{actor}<span class="hint">" " {e.client_addr.clone()}</span></td>
                            <td data-label=move || i18n.t().audit_event>
                                {move || event_label(&event, i18n.t())}
                                {action.map(|kind| view! { " · " {move || crate::workflow::labels::action(kind, i18n.t())} })}
                                {coalesced.map(|n| view! {
                                    <span class="hint" data-coalesced=n>
                                        " " {move || crate::i18n::fill(i18n.t().audit_coalesced, &[("count", &n.to_string())])}
                                    </span>
                                })}
                            </td>
                            <td data-label=move || i18n.t().audit_target>{target_view}</td>
                            <td data-label=move || i18n.t().audit_outcome><OutcomeBadge outcome=e.outcome.clone() /></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Pretty-printed JSON, or the text as stored when it is not JSON.
fn pretty(value: Option<&serde_json::Value>) -> String {
    value.map(|v| serde_json::to_string_pretty(v).unwrap_or_default()).unwrap_or_default()
}

/// One entry with everything recorded, its before/after side by side and its chain links.
#[component]
pub fn AuditEntryPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let entry = Resource::new(
        move || params.read().get("seq").and_then(|s| s.parse::<i64>().ok()),
        |seq| async move {
            match seq {
                Some(seq) => super::get_audit_entry(seq).await,
                None => Err(crate::error::AppError::NotFound),
            }
        },
    );
    view! {
        <Title text=move || i18n.t().audit_entry_title />
        <p><a href="/admin/audit">{move || i18n.t().audit_back}</a></p>
        <Suspense fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || entry.get().map(|result| match result {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(e) => {
                    let details: Option<serde_json::Value> = serde_json::from_str(&e.details).ok();
                    let before = details.as_ref().and_then(|d| d.get("before")).filter(|v| !v.is_null()).cloned();
                    let after = details.as_ref().and_then(|d| d.get("after")).filter(|v| !v.is_null()).cloned();
                    let change = (before.is_some() || after.is_some()).then(|| view! {
                        <div class="audit-change">
                            <section>
                                <h2>{move || i18n.t().audit_before}</h2>
                                <pre>{pretty(before.as_ref())}</pre>
                            </section>
                            <section>
                                <h2>{move || i18n.t().audit_after}</h2>
                                <pre>{pretty(after.as_ref())}</pre>
                            </section>
                        </div>
                    });
                    let all_details = details.as_ref().map(|d| pretty(Some(d))).unwrap_or_else(|| e.details.clone());
                    let target_view = match target_href(&e) {
                        Some(href) => view! { <a href=href>{e.target.clone()}</a> }.into_any(),
                        None => view! { <span>{e.target.clone()}</span> }.into_any(),
                    };
                    let event = e.event.clone();
                    view! {
                        <article class="card audit-entry">
                            <h1>{move || fill(i18n.t().audit_entry_heading, &[("seq", &e.seq.to_string())])}</h1>
                            <dl class="facts">
                                <dt>{move || i18n.t().audit_time}</dt><dd><crate::clock::LocalTime at=e.at.clone() ago=true /> <span class="hint mono">{e.at.clone()}</span></dd>
                                <dt>{move || i18n.t().audit_event}</dt><dd>{move || event_label(&event, i18n.t())} " " <code>{e.event.clone()}</code></dd>
                                <dt>{move || i18n.t().audit_outcome}</dt><dd><OutcomeBadge outcome=e.outcome.clone() /></dd>
                                <dt>{move || i18n.t().audit_actor}</dt>
                                <dd>{e.actor_name.clone()} " " <span class="hint">{format!("{} {}", e.actor_kind, e.actor_roles)}</span></dd>
                                <dt>{move || i18n.t().audit_client}</dt><dd>{e.client_addr.clone()} " " <span class="hint">{e.user_agent.clone()}</span></dd>
                                <dt>{move || i18n.t().audit_target}</dt><dd>{e.target_kind.clone()} " " {target_view}</dd>
                                <dt>{move || i18n.t().audit_hash}</dt><dd><code class="hash">{e.hash.clone()}</code></dd>
                                <dt>{move || i18n.t().audit_prev_hash}</dt><dd><code class="hash">{e.prev_hash.clone()}</code></dd>
                            </dl>
                            {change}
                            <h2>{move || i18n.t().audit_details}</h2>
                            <pre>{all_details}</pre>
                        </article>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}
