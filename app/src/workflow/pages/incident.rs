//! The incident page, mobile first: header, progress strip, owners, my actions, records, timeline.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    actions::{gate_form, FormCtx},
    short_time, SeverityBadge, StageBadge,
};
use crate::{
    auth::Role,
    enhance::Enhance,
    forms::FormError,
    i18n::{fill, use_i18n},
    workflow::{
        labels,
        rules::{Plan, Stage},
        views::{IncidentDetail, Person},
        ClaimRole,
    },
};

/// The page of one incident, at `/incidents/:key`.
#[component]
pub fn IncidentPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let incident = Resource::new(key, crate::workflow::get_incident);
    view! {
        <Suspense fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                incident.get().map(|result| match result {
                    Err(e) => view! { <p class="form-error" role="alert">{e.message(i18n.t())}</p> }.into_any(),
                    Ok(detail) => view! { <IncidentView detail /> }.into_any(),
                })
            }}
        </Suspense>
    }
}

const ROLE_ORDER: [Role; 4] = [Role::Ops, Role::Pm, Role::Dev, Role::Qa];

#[component]
fn IncidentView(detail: IncidentDetail) -> impl IntoView {
    let i18n = use_i18n();
    let s = detail.summary.clone();
    let ctx = FormCtx { id: s.id, version: s.version };
    let stage = s.stage;
    let current_index = Stage::ALL.iter().position(|x| *x == stage).unwrap_or(0);
    let owners: Vec<Person> = detail.owner_names.iter().flatten().cloned().collect();
    let forms = detail.my_actions.iter().map(|kind| gate_form(*kind, ctx, owners.clone())).collect_view();
    let has_actions = !detail.my_actions.is_empty();
    let claim = ServerAction::<ClaimRole>::new();
    // Who holds the baton now, for users with nothing to do.
    let waiting = stage
        .owner_roles()
        .iter()
        .map(|role| {
            let idx = ROLE_ORDER.iter().position(|r| r == role).unwrap_or(0);
            (*role, detail.owner_names[idx].clone())
        })
        .collect::<Vec<_>>();
    let entered = short_time(&s.stage_entered_at);
    view! {
        <Title text=format!("{} {}", s.key, s.title) />
        // Marks what the page shows, so a live update redraws it once another user moves it on.
        <article class="incident" aria-labelledby="incident-title" data-live-incident=s.id data-live-version=s.version>
            <header class="incident__head">
                <p class="incident-key">{s.key.clone()}</p>
                <h1 id="incident-title">{s.title.clone()}</h1>
                <p class="incident__badges">
                    <SeverityBadge severity=s.severity />
                    " "
                    <StageBadge stage=stage />
                    " "
                    <span class="hint">{move || fill(i18n.t().incident_time_in_stage, &[("time", &entered)])}</span>
                </p>
            </header>

            <nav aria-label=move || i18n.t().incident_progress>
                <ol class="progress">
                    {Stage::ALL.into_iter().enumerate().map(|(i, st)| {
                        let state = if i == current_index { "current" } else if i < current_index { "done" } else { "ahead" };
                        view! {
                            <li class=format!("progress__step progress__step--{state}") aria-current=(i == current_index).then_some("step")>
                                <span>{move || labels::stage(st, i18n.t())}</span>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </nav>

            <section class="incident__actions" aria-labelledby="your-action">
                <h2 id="your-action">{move || i18n.t().incident_your_action}</h2>
                {if has_actions {
                    forms.into_any()
                } else if stage == Stage::Closed {
                    view! { <p class="notice">{move || i18n.t().incident_closed}</p> }.into_any()
                } else {
                    waiting.into_iter().map(|(role, person)| {
                        let name = person.map(|p| p.name);
                        view! {
                            <p class="notice baton-holder">
                                {move || fill(i18n.t().incident_waiting_for, &[
                                    ("role", role.label(i18n.t())),
                                    ("name", name.as_deref().unwrap_or(i18n.t().incident_unowned)),
                                ])}
                            </p>
                        }
                    }).collect_view().into_any()
                }}
            </section>

            <section class="card" aria-labelledby="owners-heading">
                <h2 id="owners-heading">{move || i18n.t().incident_owners}</h2>
                <dl class="owners">
                    {ROLE_ORDER.into_iter().enumerate().map(|(i, role)| {
                        let person = detail.owner_names[i].clone();
                        // The rule book decided on the server (`rules::may_claim`); the page only shows it.
                        let claimable = detail.claimable.contains(&role);
                        view! {
                            <div class="owners__row">
                                <dt>{move || role.label(i18n.t())}</dt>
                                <dd>
                                    {person.map(|p| p.name).unwrap_or_else(|| i18n.t().incident_unowned.to_owned())}
                                    {claimable.then(|| view! {
                                        <Enhance>
                                            <ActionForm action=claim>
                                                <input type="hidden" name="incident_id" value=ctx.id />
                                                <input type="hidden" name="version" value=ctx.version />
                                                <input type="hidden" name="role" value=role.as_str() />
                                                <FormError error=Signal::derive(move || claim.value().get().and_then(|r| r.err())) />
                                                <button type="submit" class="button button--secondary button--small">{move || i18n.t().incident_claim}</button>
                                            </ActionForm>
                                        </Enhance>
                                    })}
                                </dd>
                            </div>
                        }
                    }).collect_view()}
                </dl>
            </section>

            <section class="card" aria-labelledby="record-heading">
                <h2 id="record-heading">{move || i18n.t().field_description}</h2>
                <p class="prewrap">{detail.description.clone()}</p>
                <p class="hint">
                    {move || i18n.t().incident_reporter} ": " {detail.reporter_name.clone()} " " {detail.reporter_contact.clone()}
                    " · " {move || labels::channel(s.channel, i18n.t())}
                </p>
                {(detail.fix_round > 0).then(|| {
                    let n = detail.fix_round.to_string();
                    view! { <p>{move || fill(i18n.t().incident_round, &[("n", &n)])}</p> }
                })}
                {(!detail.facts.root_cause.is_empty()).then(|| {
                    let (cause, solution) = (detail.facts.root_cause.clone(), detail.facts.solution.clone());
                    view! {
                        <p><strong>{move || i18n.t().field_root_cause} ": "</strong><span class="prewrap">{cause}</span></p>
                        <p><strong>{move || i18n.t().field_solution} ": "</strong><span class="prewrap">{solution}</span></p>
                    }
                })}
                {detail.plan.map(|plan| {
                    let pool = detail.pool_item.clone();
                    view! {
                        <p>
                            <strong>{move || i18n.t().incident_plan} ": "</strong>
                            {move || match plan {
                                Plan::Interim => i18n.t().incident_plan_interim,
                                Plan::Optimal => i18n.t().incident_plan_optimal,
                            }}
                            {pool.map(|p| view! { " — " <a href="/pool">{p.title}</a> })}
                        </p>
                    }
                })}
                {(!detail.facts.release_version.is_empty()).then(|| {
                    let v = detail.facts.release_version.clone();
                    let at = detail.facts.deployed_at.as_deref().map(|t| format!(" · {} UTC", short_time(t))).unwrap_or_default();
                    view! { <p><strong>{move || i18n.t().incident_release} ": "</strong> {v} {at}</p> }
                })}
            </section>

            {detail.report.clone().map(|email| view! { <crate::mail::ReportCopy email /> })}

            <section class="card" aria-labelledby="timeline-heading">
                <h2 id="timeline-heading">{move || i18n.t().incident_timeline}</h2>
                <ol class="timeline">
                    {detail.timeline.into_iter().map(|e| {
                        // Intake entries have no user; the source that delivered the report is named instead.
                        let who = e.actor.map(|p| p.name).unwrap_or_else(|| intake_source(&e.fields));
                        let action = e.action;
                        let fields = summarize_fields(&e.fields);
                        view! {
                            <li class="timeline__entry">
                                <p>
                                    <time>{short_time(&e.at)}</time>
                                    " · " <strong>{who}</strong>
                                    " · " {move || labels::timeline_action(action, i18n.t())}
                                    " → " {move || labels::stage(e.to, i18n.t())}
                                </p>
                                {(!fields.is_empty()).then(|| view! { <p class="timeline__fields prewrap">{fields}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </section>
        </article>
    }
}

/// The text fields of a timeline entry, one per line, for reading (never interpreted as HTML).
fn summarize_fields(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    map.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "action" | "severity" | "channel" | "source"))
        .filter_map(|(_, v)| v.as_str().map(str::to_owned))
        .filter(|v| !v.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The intake source named in a timeline entry's fields (empty for other entries).
fn intake_source(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("source").and_then(|s| s.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
