//! What the clocks look like: the badge beside an incident (lists, queue, incident page), the
//! time taken in each stage, and the admin settings page.
//!
//! A badge is rendered complete on the server (state and time left as of the request) and carries
//! the instants at which it turns amber and red; the page's loader counts on from them in the
//! browser every second, so an open page changes colour and counts without asking the server.
// The #[component] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{format_span, Basis, ClockSettingsView, ClockState, ClockView, SaveClockSettings, StayView, LEAD_ROLES};
use crate::{
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::{fill, use_i18n, Strings},
    workflow::{input::Severity, labels, rules::Stage},
};

/// The words of a clock in a state, with `span` filled in.
fn clock_text(state: ClockState, span: &str, t: &'static Strings) -> String {
    match state {
        ClockState::Ok => fill(t.clock_left, &[("span", span)]),
        ClockState::AtRisk => fill(t.clock_at_risk, &[("span", span)]),
        ClockState::Breached => fill(t.clock_over, &[("span", span)]),
        ClockState::Paused => fill(t.clock_paused, &[("span", span)]),
        ClockState::NoTarget => t.clock_no_target.to_owned(),
    }
}

/// The current stage's clock: time left (or over), coloured ok / at risk / breached, counting on
/// in the browser. Nothing for an incident without a clock, or (with `quiet`) without a target.
#[component]
pub fn ClockBadge(clock: Option<ClockView>, #[prop(optional)] quiet: bool) -> impl IntoView {
    let i18n = use_i18n();
    let clock = clock.filter(|c| !(quiet && c.state == ClockState::NoTarget))?;
    let t = i18n.t();
    let text = match (clock.state, clock.left_seconds) {
        (ClockState::Paused, Some(left)) if left < 0 => fill(t.clock_paused_over, &[("span", &format_span(left))]),
        (_, None) => clock_text(ClockState::NoTarget, "", t),
        (state, Some(left)) => clock_text(state, &format_span(left), t),
    };
    // Only a running clock counts on in the browser.
    let running = !clock.paused && clock.breach_at.is_some();
    let basis = match clock.basis {
        Basis::Wall => t.clock_basis_wall,
        Basis::Working => t.clock_basis_working,
    };
    let title =
        clock.target_seconds.map(|target| fill(t.clock_target, &[("target", &format_span(target)), ("basis", basis)]));
    Some(view! {
        <span
            class=clock.state.class()
            title=title
            data-clock=running.then_some("")
            data-risk-at=running.then(|| clock.risk_at.clone()).flatten()
            data-breach-at=running.then(|| clock.breach_at.clone()).flatten()
            data-now=running.then(|| clock.read_at.clone())
            data-t-ok=running.then_some(t.clock_left)
            data-t-risk=running.then_some(t.clock_at_risk)
            data-t-over=running.then_some(t.clock_over)
        >
            {text}
        </span>
    })
}

/// One stage's stays added up.
struct StageRow {
    stage: Stage,
    spent: i64,
    visits: i64,
    target: Option<i64>,
    basis: Basis,
    breached: bool,
    current: bool,
}

/// How long the incident spent in each stage against its target, in order of first entry: one row
/// per stage, its stays added up (a fix sent back twice is one "Fixing" row with three visits).
#[component]
pub fn StageTimes(stays: Vec<StayView>) -> impl IntoView {
    let i18n = use_i18n();
    (!stays.is_empty()).then(|| {
        let t = i18n.t();
        let mut per_stage: Vec<StageRow> = Vec::new();
        for stay in stays {
            let current = stay.stopped_at.is_none();
            match per_stage.iter_mut().find(|row| row.stage == stay.stage) {
                Some(row) => {
                    row.spent += stay.spent_seconds;
                    row.visits += 1;
                    row.breached |= stay.breached;
                    row.current |= current;
                }
                None => per_stage.push(StageRow {
                    stage: stay.stage,
                    spent: stay.spent_seconds,
                    visits: 1,
                    target: stay.target_seconds,
                    basis: stay.basis,
                    breached: stay.breached,
                    current,
                }),
            }
        }
        let rows = per_stage
            .into_iter()
            .map(|StageRow { stage, spent, visits, target, basis, breached, current }| {
                let mut took = match basis {
                    Basis::Wall => format_span(spent),
                    Basis::Working => super::format_hours_span(spent),
                };
                if visits > 1 {
                    took = format!("{took} ({})", fill(t.stays_visits, &[("n", &visits.to_string())]));
                }
                if current {
                    took = format!("{took} ({})", t.stays_current);
                }
                let basis = match basis {
                    Basis::Wall => t.clock_basis_wall,
                    Basis::Working => t.clock_basis_working,
                };
                let target = target
                    .map(|s| format!("{} ({basis})", super::format_minutes(u32::try_from(s / 60).unwrap_or(u32::MAX))))
                    .unwrap_or_else(|| t.clock_no_target.to_owned());
                let class = if breached { "stay stay--breached" } else { "stay" };
                view! {
                    <tr class=class>
                        <td data-label=t.stays_col_stage>{labels::stage(stage, t)}</td>
                        <td data-label=t.stays_col_took>
                            {took}
                            {breached.then(|| view! { " " <span class="badge badge--breached">{t.stays_breached}</span> })}
                        </td>
                        <td data-label=t.stays_col_target>{target}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section class="card stage-times" aria-labelledby="stays-heading">
                <h2 id="stays-heading">{t.stays_heading}</h2>
                <table class="table">
                    <thead>
                        <tr>
                            <th scope="col">{t.stays_col_stage}</th>
                            <th scope="col">{t.stays_col_took}</th>
                            <th scope="col">{t.stays_col_target}</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </section>
        }
    })
}

/// `/admin/clocks`: targets per stage and severity, escalation, working hours.
#[component]
pub fn ClockSettingsPage() -> impl IntoView {
    let i18n = use_i18n();
    let settings = Resource::new(|| (), |_| super::clock_settings());
    let query = use_query_map();
    let saved = move || query.read().get("saved").is_some();
    view! {
        <Title text=move || i18n.t().clocks_title />
        <div class="page-head">
            <h1>{move || i18n.t().clocks_title}</h1>
        </div>
        <p class="hint">{move || i18n.t().clocks_intro}</p>
        {move || saved().then(|| view! { <p class="notice" role="status">{move || i18n.t().clocks_saved}</p> })}
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match settings.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(view) => view! { <SettingsForm view /> }.into_any(),
            }
        })}
    }
}

#[component]
fn SettingsForm(view: ClockSettingsView) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let save = ServerAction::<SaveClockSettings>::new();
    let error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    let form = view.form;
    let severities = Severity::ALL;
    // Outside the table: on a phone the table's header row is not shown.
    let basis = severities
        .into_iter()
        .map(|s| {
            let name = format!("working[{}]", s.as_str());
            let id = format!("working-{}", s.as_str());
            let label_for = id.clone();
            let checked = form.working.contains_key(s.as_str());
            view! {
                <label class="check" for=label_for>
                    <input type="checkbox" id=id name=name checked=checked />
                    {s.as_str().to_uppercase()}
                </label>
            }
        })
        .collect_view();
    let head =
        severities.into_iter().map(|s| view! { <th scope="col">{s.as_str().to_uppercase()}</th> }).collect_view();
    let rows = super::clocked_stages()
        .map(|stage: Stage| {
            let cells = severities
                .into_iter()
                .map(|severity| {
                    let key = format!("{}_{}", stage.as_str(), severity.as_str());
                    let name = format!("targets[{key}]");
                    let id = format!("target-{key}");
                    let value = form.targets.get(&key).cloned().unwrap_or_default();
                    let label = format!("{} · {}", labels::stage(stage, t), severity.as_str().to_uppercase());
                    let err_id = format!("err-target-{key}");
                    view! {
                        <td data-label=severity.as_str().to_uppercase()>
                            <input
                                type="text"
                                class="duration"
                                id=id
                                name=name.clone()
                                value=value
                                inputmode="text"
                                maxlength="12"
                                aria-label=label
                                aria-describedby=err_id.clone()
                                autocomplete="off"
                            />
                            <FieldError error field=name id=err_id />
                        </td>
                    }
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row">{labels::stage(stage, t)}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    let leads = LEAD_ROLES
        .into_iter()
        .map(|role| {
            let name = format!("leads[{}]", role.as_str());
            let id = format!("lead-{}", role.as_str());
            let current = form.leads.get(role.as_str()).cloned().unwrap_or_default();
            let people = view.lead_choices.iter().find(|(r, _)| *r == role).map(|(_, p)| p.clone()).unwrap_or_default();
            let options = people
                .into_iter()
                .map(|p| {
                    let value = p.id.to_string();
                    let selected = value == current;
                    view! { <option value=value selected=selected>{p.name}</option> }
                })
                .collect_view();
            view! {
                <div class="field">
                    <label for=id.clone()>{role.label(t)}</label>
                    <select id=id name=name.clone()>
                        <option value="" selected=current.is_empty()>{t.clocks_lead_none}</option>
                        {options}
                    </select>
                    <FieldError error field=name />
                </div>
            }
        })
        .collect_view();
    let weekdays = [
        t.clocks_day_mon,
        t.clocks_day_tue,
        t.clocks_day_wed,
        t.clocks_day_thu,
        t.clocks_day_fri,
        t.clocks_day_sat,
        t.clocks_day_sun,
    ];
    let week = super::WEEKDAYS
        .iter()
        .zip(weekdays)
        .map(|(day, label)| {
            let name = format!("week[{day}]");
            let id = format!("week-{day}");
            let value = form.week.get(*day).cloned().unwrap_or_default();
            view! {
                <div class="field field--inline">
                    <label for=id.clone()>{label}</label>
                    <input type="text" id=id name=name.clone() value=value maxlength="100" autocomplete="off" />
                    <FieldError error field=name />
                </div>
            }
        })
        .collect_view();
    let zones = view.zones.into_iter().map(|z| view! { <option value=z></option> }).collect_view();
    view! {
        <Enhance>
        <ActionForm action=save attr:class="clock-settings">
            <FormError error />
            <section class="card" aria-labelledby="targets-heading">
                <h2 id="targets-heading">{t.clocks_targets_heading}</h2>
                <p class="hint">{t.clocks_targets_hint}</p>
                <fieldset class="basis">
                    <legend>{t.clocks_working_legend}</legend>
                    {basis}
                </fieldset>
                <div class="table-scroll">
                    <table class="table table--targets">
                        <thead>
                            <tr>
                                <th scope="col">{t.clocks_col_stage}</th>
                                {head}
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </section>
            <section class="card" aria-labelledby="escalation-heading">
                <h2 id="escalation-heading">{t.clocks_leads_heading}</h2>
                <p class="hint">{t.clocks_leads_hint}</p>
                {leads}
                <div class="field">
                    <label for="escalate_percent">{t.clocks_escalate_label}</label>
                    <input type="number" id="escalate_percent" name="escalate_percent" min="101" max="1000" value=form.escalate_percent.clone() />
                    <FieldError error field="escalate_percent" />
                </div>
            </section>
            <section class="card" aria-labelledby="calendar-heading">
                <h2 id="calendar-heading">{t.clocks_calendar_heading}</h2>
                <div class="field">
                    <label for="zone">{t.clocks_zone_label}</label>
                    <input type="text" id="zone" name="zone" list="zones" value=form.zone.clone() autocomplete="off" />
                    <datalist id="zones">{zones}</datalist>
                    <FieldError error field="zone" />
                </div>
                <p class="hint">{t.clocks_hours_hint}</p>
                {week}
                <div class="field">
                    <label for="holidays">{t.clocks_holidays_label}</label>
                    <textarea id="holidays" name="holidays" rows="6">{form.holidays.clone()}</textarea>
                    <FieldError error field="holidays" />
                </div>
                <div class="field">
                    <label for="extra_working_days">{t.clocks_extra_days_label}</label>
                    <textarea id="extra_working_days" name="extra_working_days" rows="3">{form.extra_working_days.clone()}</textarea>
                    <FieldError error field="extra_working_days" />
                </div>
                <p class="hint">{t.clocks_days_hint}</p>
            </section>
            <button type="submit" class="button">{t.save}</button>
        </ActionForm>
        </Enhance>
    }
}
