//! The measures page, "my measures" in the queue, an incident's measures, and the reports page.
// The #[component] macro generates prop structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{span_or_dash, CloseMeasure, Figure, HolderFigure, MeasureStatus, MeasureView, ReportTable, ReportView};
use crate::{
    clock::LocalTime,
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::{fill, use_i18n},
    workflow::{
        input::{Channel, Severity},
        labels,
    },
};

/// One measure: what, who, by when, where it stands; a close form for whoever may close it.
#[component]
fn MeasureCard(measure: MeasureView, #[prop(optional)] show_incident: bool) -> impl IntoView {
    let i18n = use_i18n();
    let m = measure;
    let id = m.id;
    let status = m.status;
    let incident = show_incident.then(|| {
        let href = format!("/incidents/{}#measures", m.incident_key);
        let label = format!("{} {}", m.incident_key, m.incident_title);
        view! { <p class="measure__incident"><a href=href>{label}</a></p> }
    });
    let due = m.due.clone();
    let closed = (status != MeasureStatus::Open).then(|| {
        let by = m.closed_by.clone().unwrap_or_default();
        let at = m.closed_at.clone().map(|at| view! { " · " <LocalTime at /> });
        let outcome = m.outcome.clone();
        view! {
            <p class="measure__outcome">
                <strong>{move || status.label(i18n.t())} {move || i18n.t().colon}</strong>
                <span class="prewrap">{outcome}</span>
            </p>
            <p class="hint">{move || fill(i18n.t().measure_closed_by, &[("name", &by)])} {at}</p>
        }
    });
    let close = m.may_close.then(|| view! { <CloseForm id /> });
    view! {
        <article class=if m.overdue { "card measure measure--overdue" } else { "card measure" } data-measure=id>
            {incident}
            <p class="measure__text prewrap">{m.text.clone()}</p>
            <p class="measure__meta">
                <span class=format!("badge measure-status measure-status--{}", status.as_str())>
                    {move || status.label(i18n.t())}
                </span>
                " " {move || fill(i18n.t().measure_owner_due, &[("name", &m.owner_name), ("due", &due)])}
                {m.overdue.then(|| view! { " " <span class="badge badge--warn">{move || i18n.t().measure_overdue}</span> })}
            </p>
            {closed}
            {close}
        </article>
    }
}

/// Done (with a note) or dropped (with the reason), folded until opened.
#[component]
fn CloseForm(id: i64) -> impl IntoView {
    let i18n = use_i18n();
    let close = ServerAction::<CloseMeasure>::new();
    let error = Signal::derive(move || close.value().get().and_then(|r| r.err()));
    let note_id = format!("measure-note-{id}");
    let err_id = format!("err-measure-note-{id}");
    view! {
        <details class="measure__close">
            <summary>{move || i18n.t().measure_close}</summary>
            <Enhance>
                <ActionForm action=close>
                    <FormError error />
                    <input type="hidden" name="id" value=id />
                    <fieldset class="field">
                        <legend>{move || i18n.t().measure_outcome}</legend>
                        <label class="choice">
                            <input type="radio" name="status" value="done" checked=true />
                            " " {move || i18n.t().measure_mark_done}
                        </label>
                        <label class="choice">
                            <input type="radio" name="status" value="dropped" />
                            " " {move || i18n.t().measure_mark_dropped}
                        </label>
                    </fieldset>
                    <div class="field">
                        <label for=note_id.clone()>{move || i18n.t().measure_note}</label>
                        <textarea id=note_id name="note" rows="2" required=true aria-describedby=err_id.clone()></textarea>
                        <FieldError error field="note" id=err_id />
                    </div>
                    <button type="submit" class="button">{move || i18n.t().measure_close_submit}</button>
                </ActionForm>
            </Enhance>
        </details>
    }
}

/// The measures page: every measure, filterable by status, owner, overdue and incident.
#[component]
pub fn MeasuresPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let list = Resource::new(
        move || (param("status"), param("owner"), param("overdue"), param("incident")),
        |(status, owner, overdue, incident)| super::list_measures(status, owner, overdue, incident),
    );
    let status = param("status").unwrap_or_default();
    let owner = param("owner").unwrap_or_default();
    let overdue = param("overdue").is_some();
    let incident = param("incident").unwrap_or_default();
    view! {
        <Title text=move || i18n.t().measures_title />
        <h1>{move || i18n.t().measures_title}</h1>
        <p class="hint">{move || i18n.t().measures_lead}</p>
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match list.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(list) => {
                    let owners = list.owners.clone();
                    let owner_sel = owner.clone();
                    let filters = view! {
                        <form class="filters card" method="get" action="/measures">
                            <div class="field">
                                <label for="measures-status">{move || i18n.t().measures_filter_status}</label>
                                <select id="measures-status" name="status">
                                    <option value="">{move || i18n.t().incidents_any}</option>
                                    {MeasureStatus::ALL.into_iter().map(|s| view! {
                                        <option value=s.as_str() selected=status == s.as_str()>{move || s.label(i18n.t())}</option>
                                    }).collect_view()}
                                </select>
                            </div>
                            <div class="field">
                                <label for="measures-owner">{move || i18n.t().measures_filter_owner}</label>
                                <select id="measures-owner" name="owner">
                                    <option value="">{move || i18n.t().incidents_any}</option>
                                    {owners.into_iter().map(|(id, name)| {
                                        let value = id.to_string();
                                        let selected = owner_sel == value;
                                        view! { <option value=value selected=selected>{name}</option> }
                                    }).collect_view()}
                                </select>
                            </div>
                            <div class="field">
                                <label for="measures-incident">{move || i18n.t().measures_filter_incident}</label>
                                <input id="measures-incident" name="incident" value=incident.clone() placeholder="INC-2026-0001" />
                            </div>
                            <label class="choice">
                                <input type="checkbox" name="overdue" value="1" checked=overdue />
                                " " {move || i18n.t().measures_filter_overdue}
                            </label>
                            <button type="submit" class="button button--secondary">{move || i18n.t().incidents_filter}</button>
                        </form>
                    };
                    let body = if list.items.is_empty() {
                        view! { <p class="notice">{move || i18n.t().measures_none}</p> }.into_any()
                    } else {
                        let truncated = list.truncated.then(|| view! {
                            <p class="hint">{move || fill(i18n.t().measures_truncated, &[("n", &super::MEASURES_PAGE.to_string())])}</p>
                        });
                        view! {
                            <div class="measure-list">
                                {list.items.into_iter().map(|measure| view! { <MeasureCard measure show_incident=true /> }).collect_view()}
                            </div>
                            {truncated}
                        }.into_any()
                    };
                    view! { {filters} {body} }.into_any()
                }
            }
        })}
    }
}

/// "My measures" in the queue: the open measures the signed-in user owns, overdue first.
#[component]
pub fn MyMeasures() -> impl IntoView {
    let i18n = use_i18n();
    let mine = Resource::new(|| (), |_| super::my_measures());
    view! {
        {Suspend::new(async move {
            match mine.await {
                Ok(list) if !list.is_empty() => {
                    let n = list.len().to_string();
                    view! {
                        <section class="my-measures" aria-labelledby="my-measures-heading">
                            <h2 id="my-measures-heading">{move || fill(i18n.t().measures_mine, &[("n", &n)])}</h2>
                            <div class="measure-list">
                                {list.into_iter().map(|measure| view! { <MeasureCard measure show_incident=true /> }).collect_view()}
                            </div>
                        </section>
                    }.into_any()
                }
                // Nothing to do shows nothing: the queue above already says whether work waits.
                Ok(_) => ().into_any(),
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
            }
        })}
    }
}

/// An incident's prevention measures, with their live status.
#[component]
pub fn IncidentMeasures(incident_id: i64) -> impl IntoView {
    let i18n = use_i18n();
    let list = Resource::new(move || incident_id, super::incident_measures);
    view! {
        {Suspend::new(async move {
            match list.await {
                Ok(list) if !list.is_empty() => view! {
                    <section id="measures" class="incident-measures" aria-labelledby="measures-heading">
                        <h2 id="measures-heading">{move || i18n.t().measures_of_incident}</h2>
                        <div class="measure-list">
                            {list.into_iter().map(|measure| view! { <MeasureCard measure /> }).collect_view()}
                        </div>
                    </section>
                }.into_any(),
                Ok(_) => ().into_any(),
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
            }
        })}
    }
}

/// The reports page, for PMs and admins (the route wraps it in `shell::RoleOnly`).
#[component]
pub fn ReportsPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let report = Resource::new(
        move || (param("from"), param("to"), param("severity"), param("channel")),
        |(from, to, severity, channel)| super::report(from, to, severity, channel),
    );
    view! {
        <Title text=move || i18n.t().reports_title />
        <h1>{move || i18n.t().reports_title}</h1>
        {Suspend::new(async move {
            match report.await {
                Err(error) => view! { <ReportFilters view=None /> <crate::shell::LoadError error /> }.into_any(),
                Ok(view) => view! { <ReportFilters view=Some(view.clone()) /> <ReportBody view /> }.into_any(),
            }
        })}
    }
}

/// The range and filters (a plain GET form: the page works without WASM).
#[component]
fn ReportFilters(view: Option<ReportView>) -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let get = move |name: &str| query.read_untracked().get(name).unwrap_or_default();
    let from = view.as_ref().map(|v| v.from.clone()).unwrap_or_else(|| get("from"));
    let to = view.as_ref().map(|v| v.to.clone()).unwrap_or_else(|| get("to"));
    let severity = view.as_ref().and_then(|v| v.severity.clone()).unwrap_or_default();
    let channel = view.as_ref().and_then(|v| v.channel.clone()).unwrap_or_default();
    let zone = view.as_ref().map(|v| v.zone.clone()).unwrap_or_default();
    view! {
        <form class="filters card report-filters" method="get" action="/reports">
            <div class="field">
                <label for="report-from">{move || i18n.t().report_from}</label>
                <input id="report-from" type="date" name="from" value=from />
            </div>
            <div class="field">
                <label for="report-to">{move || i18n.t().report_to}</label>
                <input id="report-to" type="date" name="to" value=to />
            </div>
            <div class="field">
                <label for="report-severity">{move || i18n.t().field_severity}</label>
                <select id="report-severity" name="severity">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Severity::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=severity == s.as_str()>{s.as_str().to_uppercase()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="report-channel">{move || i18n.t().field_channel}</label>
                <select id="report-channel" name="channel">
                    <option value="">{move || i18n.t().incidents_any}</option>
                    {Channel::ALL.into_iter().map(|c| view! {
                        <option value=c.as_str() selected=channel == c.as_str()>{move || labels::channel(c, i18n.t())}</option>
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="button button--secondary">{move || i18n.t().incidents_filter}</button>
            {(!zone.is_empty()).then(|| view! { <p class="hint">{move || fill(i18n.t().report_zone, &[("zone", &zone)])}</p> })}
        </form>
    }
}

/// The download link of one table, with the page's range and filters.
fn csv_href(view: &ReportView, table: ReportTable) -> String {
    let mut href = format!("/reports/export.csv?table={}&from={}&to={}", table.as_str(), view.from, view.to);
    if let Some(s) = &view.severity {
        href.push_str(&format!("&severity={s}"));
    }
    if let Some(c) = &view.channel {
        href.push_str(&format!("&channel={c}"));
    }
    href
}

#[component]
fn CsvLink(href: String) -> impl IntoView {
    let i18n = use_i18n();
    view! { <a class="csv-link" href=href download="">{move || i18n.t().report_csv}</a> }
}

/// Median, p90, mean and count cells of a figure.
fn figure_cells(f: Figure, t: &'static crate::i18n::Strings) -> impl IntoView {
    view! {
        <td class="num">{span_or_dash(f.median, t)}</td>
        <td class="num">{span_or_dash(f.p90, t)}</td>
        <td class="num">{span_or_dash(f.mean, t)}</td>
        <td class="num">{f.n}</td>
    }
}

#[component]
fn ReportBody(view: ReportView) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let c = view.figures.counts;
    let anything = c.reported > 0 || view.figures.weeks.iter().any(|w| w.closed > 0);
    if !anything {
        return view! {
            <p class="notice report-empty">{fill(t.report_empty, &[("from", &view.from), ("to", &view.to)])}</p>
        }
        .into_any();
    }
    let stat = |label: &'static str, n: i64| view! { <div class="stat"><dt>{label}</dt><dd>{n}</dd></div> };
    let m = view.figures.measures;
    let summary_href = csv_href(&view, ReportTable::Summary);
    let stages_href = csv_href(&view, ReportTable::Stages);
    let people_href = csv_href(&view, ReportTable::People);
    let weeks_href = csv_href(&view, ReportTable::Weeks);
    let figure_head = move || {
        view! {
            <th scope="col" class="num">{t.report_median}</th>
            <th scope="col" class="num">{t.report_p90}</th>
            <th scope="col" class="num">{t.report_mean}</th>
            <th scope="col" class="num">{t.report_col_count}</th>
        }
    };
    // One table per person (with their role) or per role: the same columns otherwise.
    let holder_table = move |caption: &'static str, rows: Vec<HolderFigure>, per_role: bool| {
        let first = if per_role { t.report_col_role } else { t.report_col_person };
        let rows = rows
            .into_iter()
            .map(|p| {
                let name = if per_role { p.role.label(t).to_owned() } else { p.name.clone() };
                view! {
                    <tr>
                        <th scope="row">{name}</th>
                        {(!per_role).then(|| view! { <td>{p.role.label(t)}</td> })}
                        <td class="num">{p.handled}</td>
                        {figure_cells(p.holding, t)}
                        <td class="num">{p.breaches}</td>
                        <td class="num">{p.open_now}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-wrap">
                <table class="report-table">
                    <caption>{caption}</caption>
                    <thead><tr>
                        <th scope="col">{first}</th>
                        {(!per_role).then(|| view! { <th scope="col">{t.report_col_role}</th> })}
                        <th scope="col" class="num">{t.report_col_handled}</th>
                        {figure_head()}
                        <th scope="col" class="num">{t.report_col_breaches}</th>
                        <th scope="col" class="num">{t.report_col_open_now}</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    };
    view! {
        <section class="card" aria-labelledby="report-counts">
            <div class="section-head">
                <h2 id="report-counts">{t.report_counts}</h2>
                <CsvLink href=summary_href />
            </div>
            <p class="hint">{fill(t.report_range, &[("from", &view.from), ("to", &view.to)])}</p>
            <dl class="stats">
                {stat(t.report_reported, c.reported)}
                {stat(t.report_technical, c.technical)}
                {stat(t.report_non_technical, c.non_technical)}
                {(c.untriaged > 0).then(|| stat(t.report_untriaged, c.untriaged))}
                {stat(t.report_closed, c.closed)}
                {stat(t.report_open, c.open)}
                {stat(t.report_fix_rounds, c.fix_rounds)}
                {stat(t.report_optimal, c.optimal)}
                {stat(t.report_interim, c.interim)}
            </dl>
            <div class="table-wrap">
                <table class="report-table">
                    <caption>{t.report_response}</caption>
                    <thead><tr><th scope="col"></th>{figure_head()}</tr></thead>
                    <tbody>
                        <tr><th scope="row"><abbr title=t.report_mtta_long>{t.report_mtta}</abbr></th>{figure_cells(view.figures.mtta, t)}</tr>
                        <tr><th scope="row"><abbr title=t.report_mttr_long>{t.report_mttr}</abbr></th>{figure_cells(view.figures.mttr, t)}</tr>
                    </tbody>
                </table>
            </div>
            <p class="hint">{t.report_percentiles}</p>
        </section>

        <section class="card" aria-labelledby="report-stages">
            <div class="section-head">
                <h2 id="report-stages">{t.report_chart_stages}</h2>
                <CsvLink href=stages_href />
            </div>
            {if view.charts.stages.is_empty() {
                view! { <p class="notice">{t.report_no_stage_data}</p> }.into_any()
            } else {
                view! {
                    <figure class="chart-figure" inner_html=view.charts.stages.clone()></figure>
                    <div class="table-wrap">
                        <table class="report-table">
                            <thead><tr><th scope="col">{t.report_col_stage}</th>{figure_head()}<th scope="col" class="num">{t.report_col_breaches}</th></tr></thead>
                            <tbody>
                                {view.figures.stages.iter().map(|s| view! {
                                    <tr>
                                        <th scope="row">{labels::stage(s.stage, t)}</th>
                                        {figure_cells(s.time, t)}
                                        <td class="num">{s.breaches}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>

        <section class="card" aria-labelledby="report-weeks">
            <div class="section-head">
                <h2 id="report-weeks">{t.report_chart_weeks}</h2>
                <CsvLink href=weeks_href />
            </div>
            {(!view.charts.weeks.is_empty()).then(|| view! { <figure class="chart-figure" inner_html=view.charts.weeks.clone()></figure> })}
            {(!view.charts.mttr.is_empty()).then(|| view! {
                <h3>{t.report_chart_mttr}</h3>
                <figure class="chart-figure" inner_html=view.charts.mttr.clone()></figure>
            })}
            <div class="table-wrap">
                <table class="report-table">
                    <thead><tr>
                        <th scope="col">{t.report_col_week}</th>
                        <th scope="col" class="num">{t.report_incoming}</th>
                        <th scope="col" class="num">{t.report_closed}</th>
                        <th scope="col" class="num">{t.report_mttr} " " {t.report_median}</th>
                        <th scope="col" class="num">{t.report_mttr} " " {t.report_p90}</th>
                    </tr></thead>
                    <tbody>
                        {view.figures.weeks.iter().map(|w| view! {
                            <tr>
                                <th scope="row">{w.start.clone()}</th>
                                <td class="num">{w.incoming}</td>
                                <td class="num">{w.closed}</td>
                                <td class="num">{span_or_dash(w.mttr.median, t)}</td>
                                <td class="num">{span_or_dash(w.mttr.p90, t)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>

        <section class="card" aria-labelledby="report-people">
            <div class="section-head">
                <h2 id="report-people">{t.report_people}</h2>
                <CsvLink href=people_href />
            </div>
            <p class="hint">{t.report_holding_hint}</p>
            {holder_table(t.report_by_person, view.figures.people.clone(), false)}
            {holder_table(t.report_by_role, view.figures.roles.clone(), true)}
        </section>

        <section class="card" aria-labelledby="report-measures">
            <h2 id="report-measures">{t.report_measures}</h2>
            <dl class="stats">
                {stat(t.report_measures_open, m.open)}
                {stat(t.report_measures_overdue, m.overdue)}
                {stat(t.report_measures_done, m.done)}
                {stat(t.report_measures_dropped, m.dropped)}
            </dl>
            <p><a href="/measures?overdue=1">{t.report_measures_link}</a></p>
        </section>
    }
    .into_any()
}
