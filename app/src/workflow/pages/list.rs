//! My queue, the incident list and the report form.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{SeverityBadge, StageBadge, TimeIn};
use crate::{
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::use_i18n,
    workflow::{
        input::{Channel, Severity},
        labels,
        rules::{ActionKind, Stage},
        views::IncidentSummary,
        ReportIncident,
    },
};

/// Incidents as a table that becomes cards on a phone. With `owed`, the last column is the action
/// the user owes on each (the queue); without, the channel (the list).
#[component]
fn IncidentTable(items: Vec<IncidentSummary>, #[prop(optional)] owed: Option<Vec<Vec<ActionKind>>>) -> impl IntoView {
    let i18n = use_i18n();
    let queue = owed.is_some();
    let mut owed = owed.unwrap_or_default().into_iter();
    let last_label = move || if queue { i18n.t().incident_your_action } else { i18n.t().field_channel };
    view! {
        <table class="table incidents">
            <thead>
                <tr>
                    <th scope="col">{move || i18n.t().field_title}</th>
                    <th scope="col">{move || i18n.t().field_severity}</th>
                    <th scope="col">{move || i18n.t().incident_progress}</th>
                    <th scope="col">{last_label}</th>
                </tr>
            </thead>
            <tbody>
                {items
                    .into_iter()
                    .map(|i| {
                        let entered = i.stage_entered_at.clone();
                        let actions = owed.next().unwrap_or_default();
                        let channel = i.channel;
                        let last = move || {
                            if queue {
                                actions.iter().map(|k| labels::action(*k, i18n.t())).collect::<Vec<_>>().join(" / ")
                            } else {
                                labels::channel(channel, i18n.t()).to_owned()
                            }
                        };
                        view! {
                            <tr>
                                <td data-label=move || i18n.t().field_title>
                                    <a href=format!("/incidents/{}", i.key)>
                                        <span class="incident-key">{i.key.clone()}</span>
                                        " "
                                        {i.title.clone()}
                                    </a>
                                </td>
                                <td data-label=move || i18n.t().field_severity><SeverityBadge severity=i.severity /></td>
                                <td data-label=move || i18n.t().incident_progress>
                                    <StageBadge stage=i.stage />
                                    <span class="hint">" " <TimeIn template=i18n.t().incident_time_in_stage at=entered /></span>
                                    " "
                                    <crate::clocks::ClockBadge clock=i.clock.clone() quiet=true />
                                    {i.holders.iter().cloned().map(|(role, name)| view! {
                                        <span class="holder" data-holder=role.as_str()>
                                            {move || crate::i18n::fill(i18n.t().incident_waiting_for, &[
                                                ("role", role.label(i18n.t())),
                                                ("name", name.as_deref().unwrap_or(i18n.t().incident_unowned)),
                                            ])}
                                        </span>
                                    }).collect_view()}
                                </td>
                                <td data-label=last_label>{last}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// The incidents waiting for the signed-in user, most urgent first.
#[component]
pub fn MyQueue() -> impl IntoView {
    let i18n = use_i18n();
    let queue = Resource::new(|| (), |_| super::super::my_queue());
    // Any committed change may add or remove an incident here: a live update redraws it on each.
    view! {
        <Title text=move || i18n.t().queue_title />
        <section aria-labelledby="queue-heading" data-live-any="">
            <div class="page-head">
                <h1 id="queue-heading">{move || i18n.t().queue_title}</h1>
                <a class="button" href="/incidents/new">{move || i18n.t().incidents_new}</a>
            </div>
            // Awaited, not read under a <Suspense>, which would build the list once per pass.
            {Suspend::new(async move {
                match queue.await {
                    Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                    Ok(queue) => {
                        // Only the stages that hold something: a row of zeros says nothing.
                        let counts: Vec<_> = queue.counts.into_iter().filter(|(_, n)| *n > 0).collect();
                        let any = !counts.is_empty();
                        let counts = counts.into_iter().map(|(stage, n)| view! {
                            <li><StageBadge stage /> " " <strong>{n}</strong></li>
                        }).collect_view();
                        let body = if queue.items.is_empty() {
                            view! { <p class="notice">{move || i18n.t().queue_empty}</p> }.into_any()
                        } else {
                            let (items, owed): (Vec<_>, Vec<_>) = queue.items.into_iter().map(|q| (q.summary, q.actions)).unzip();
                            view! { <IncidentTable items owed /> }.into_any()
                        };
                        view! {
                            {body}
                            <crate::insight::MyMeasures />
                            {any.then(|| view! {
                                <section aria-labelledby="counts-heading">
                                    <h2 id="counts-heading">{move || i18n.t().queue_counts}</h2>
                                    <ul class="stage-counts">{counts}</ul>
                                </section>
                            })}
                        }
                        .into_any()
                    }
                }
            })}
        </section>
    }
}

/// The list of all incidents with filters and paging.
#[component]
pub fn IncidentListPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let page = Resource::new(
        move || (param("stage"), param("severity"), param("channel"), param("text"), param("before")),
        |(stage, severity, channel, text, before)| {
            super::super::list_incidents(
                stage,
                severity,
                None,
                channel,
                None,
                None,
                text,
                before.and_then(|b| b.parse().ok()),
            )
        },
    );
    let selected = move |name: &'static str, value: &'static str| param(name).as_deref() == Some(value);
    view! {
        <Title text=move || i18n.t().incidents_title />
        <div class="page-head">
            <h1>{move || i18n.t().incidents_title}</h1>
            <a class="button" href="/incidents/new">{move || i18n.t().incidents_new}</a>
        </div>
        <form class="filters" method="get" action="/incidents" role="search">
            <div class="field">
                <label for="text">{move || i18n.t().incidents_search}</label>
                <input id="text" name="text" type="search" value=move || param("text").unwrap_or_default() />
            </div>
            <div class="field">
                <label for="stage">{move || i18n.t().incident_progress}</label>
                <select id="stage" name="stage">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Stage::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || selected("stage", s.as_str())>{move || labels::stage(s, i18n.t())}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="severity">{move || i18n.t().field_severity}</label>
                <select id="severity" name="severity">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Severity::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || selected("severity", s.as_str())>{s.as_str().to_uppercase()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="channel">{move || i18n.t().field_channel}</label>
                <select id="channel" name="channel">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Channel::ALL.into_iter().map(|c| view! {
                        <option value=c.as_str() selected=move || selected("channel", c.as_str())>{move || labels::channel(c, i18n.t())}</option>
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="button button--secondary">{move || i18n.t().incidents_filter}</button>
        </form>
        // Awaited, not read under a <Suspense>, which would build the table once per pass.
        {Suspend::new(async move {
            match page.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(p) if p.items.is_empty() => view! { <p>{move || i18n.t().incidents_none}</p> }.into_any(),
                Ok(p) => {
                    let more = p.next_before.map(|before| {
                        let mut href = format!("/incidents?before={before}");
                        for name in ["stage", "severity", "channel", "text"] {
                            if let Some(v) = query.read_untracked().get(name).filter(|v| !v.is_empty()) {
                                href.push_str(&format!("&{name}={}", v.replace('&', "%26").replace(' ', "%20")));
                            }
                        }
                        view! { <a class="button button--secondary" href=href>{move || i18n.t().incidents_more}</a> }
                    });
                    view! { <IncidentTable items=p.items /> {more} }.into_any()
                }
            }
        })}
    }
}

/// The form where ops reports a new incident.
#[component]
pub fn NewIncidentPage() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<ReportIncident>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    view! {
        <Title text=move || i18n.t().incidents_new />
        <section class="card narrow" aria-labelledby="new-incident-heading">
            <h1 id="new-incident-heading">{move || i18n.t().incidents_new}</h1>
            <Enhance>
            <ActionForm action>
                <FormError error />
                <div class="field">
                    <label for="title">{move || i18n.t().field_title}</label>
                    <input id="title" name="title" required maxlength="200" />
                    <FieldError error field="title" />
                </div>
                <div class="field">
                    <label for="description">{move || i18n.t().field_description}</label>
                    <textarea id="description" name="description" required rows="5"></textarea>
                    <FieldError error field="description" />
                </div>
                <div class="field">
                    <label for="severity">{move || i18n.t().field_severity}</label>
                    <select id="severity" name="severity">
                        {Severity::ALL.into_iter().map(|s| view! {
                            <option value=s.as_str() selected=s == Severity::P2>{s.as_str().to_uppercase()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="channel">{move || i18n.t().field_channel}</label>
                    <select id="channel" name="channel">
                        {Channel::ALL.into_iter().map(|c| view! {
                            <option value=c.as_str()>{move || labels::channel(c, i18n.t())}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="reporter_name">{move || i18n.t().field_reporter_name}</label>
                    <input id="reporter_name" name="reporter_name" maxlength="200" />
                </div>
                <div class="field">
                    <label for="reporter_contact">{move || i18n.t().field_reporter_contact}</label>
                    <input id="reporter_contact" name="reporter_contact" maxlength="200" />
                </div>
                <div class="field">
                    <label for="external_ref">{move || i18n.t().field_external_ref}</label>
                    <input id="external_ref" name="external_ref" maxlength="200" />
                </div>
                <button type="submit" class="button">{move || i18n.t().incident_report_submit}</button>
            </ActionForm>
            </Enhance>
        </section>
    }
}
