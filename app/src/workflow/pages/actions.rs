//! The "Your action" forms: one per gate action, each with its own fields.

use leptos::prelude::*;

use crate::{
    auth::Role,
    enhance::Enhance,
    error::AppError,
    forms::{FieldError, FormError},
    i18n::{use_i18n, Strings},
    workflow::{
        input::Severity,
        labels,
        rules::ActionKind,
        views::{Person, Staff},
        ApproveRelease, ConfirmFollowup, DevVerdict, Dispatch, MarkReleased, PmVerdict, ProposeSolution,
        RegressionFail, RegressionPass, SendBackRelease, SendBackSolution, SendReport, SubmitForTest, TestFail,
        TestPass, TriageNonTechnical, TriageTechnical,
    },
};

/// What every gate form needs from the page.
#[derive(Clone, Copy)]
pub struct FormCtx {
    /// Incident id.
    pub id: i64,
    /// The version the page shows.
    pub version: i64,
}

/// A labelled multi-line text field.
#[component]
fn TextArea(
    name: &'static str,
    label: fn(&'static Strings) -> &'static str,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional)] required: bool,
    /// What the field starts with.
    #[prop(optional, into)]
    value: String,
    /// A line of help under the label.
    #[prop(optional)]
    hint: Option<fn(&'static Strings) -> &'static str>,
    /// The control's id when the page has another field of this name; default `f-{name}`.
    #[prop(optional, into)]
    id: Option<String>,
) -> impl IntoView {
    let i18n = use_i18n();
    let (id, error_id) = ids(name, id);
    view! {
        <div class="field">
            <label for=id.clone()>{move || label(i18n.t())}</label>
            {hint.map(|hint| view! { <p class="hint">{hint(i18n.t())}</p> })}
            <textarea id=id name=name rows="3" required=required aria-describedby=error_id.clone() aria-invalid=invalid(error, name)>{value}</textarea>
            <FieldError error field=name id=error_id />
        </div>
    }
}

/// `aria-invalid` for the field `name` when the page shows a refusal of it (a plain submission's,
/// rendered by the server; in-place submissions mark the field in the browser).
fn invalid(error: Signal<Option<AppError>>, name: &str) -> Option<&'static str> {
    error.get_untracked().is_some_and(|e| e.field() == Some(name)).then_some("true")
}

/// A control's id and its error slot's id: `f-{name}` and `err-{name}` unless the control's id is
/// given (a second form with a field of the same name).
fn ids(name: &str, id: Option<String>) -> (String, String) {
    match id {
        Some(id) => (id.clone(), format!("{id}-error")),
        None => (format!("f-{name}"), format!("err-{name}")),
    }
}

/// A labelled one-line field.
#[component]
fn Input(
    name: &'static str,
    label: fn(&'static Strings) -> &'static str,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] required: bool,
    /// What the field starts with.
    #[prop(optional, into)]
    value: String,
    /// The earliest value (dates and times).
    #[prop(optional, into)]
    min: Option<String>,
    /// A time field that starts at "now": the loader moves it to the device's zone with the
    /// form's [`crate::clock::ZoneField`].
    #[prop(optional)]
    now: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = format!("f-{name}");
    let zoned = kind == "datetime-local";
    view! {
        <div class="field">
            <label for=id.clone()>{move || label(i18n.t())}</label>
            <input id=id name=name type=kind required=required value=value min=min data-now=now.then_some("") aria-describedby=format!("err-{name}") aria-invalid=invalid(error, name) />
            {zoned.then(|| {
                let (before, after) = crate::i18n::around(i18n.t().field_zone_hint, "zone");
                view! { <p class="hint">{before} <crate::clock::ZoneName /> {after}</p> <crate::clock::ZoneField /> }
            })}
            <FieldError error field=name />
        </div>
    }
}

/// A choice of the active users holding `role`, from the [`Staff`] the incident page loaded.
#[component]
fn PersonSelect(
    name: &'static str,
    label: fn(&'static Strings) -> &'static str,
    role: Role,
    #[prop(into)] error: Signal<Option<AppError>>,
    /// The control's id when the page has another field of this name.
    #[prop(optional, into)]
    id: Option<String>,
) -> impl IntoView {
    let i18n = use_i18n();
    let people = use_context::<Staff>().unwrap_or_default().with_role(role);
    let (id, error_id) = ids(name, id);
    view! {
        <div class="field">
            <label for=id.clone()>{move || label(i18n.t())}</label>
            <select id=id name=name required=true aria-describedby=error_id.clone() aria-invalid=invalid(error, name)>
                {people.into_iter().map(|p| view! { <option value=p.id>{p.name}</option> }).collect_view()}
            </select>
            <FieldError error field=name id=error_id />
        </div>
    }
}

/// Two radio buttons for a yes/no field.
#[component]
fn YesNo(
    name: &'static str,
    legend: fn(&'static Strings) -> &'static str,
    yes: fn(&'static Strings) -> &'static str,
    no: fn(&'static Strings) -> &'static str,
    yes_value: &'static str,
    no_value: &'static str,
    /// The answer already given (`Some(true)`: yes), so a reload shows it.
    #[prop(optional_no_strip)]
    checked: Option<bool>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <fieldset class="field checks">
            <legend>{move || legend(i18n.t())}</legend>
            <label class="check"><input type="radio" name=name value=yes_value required=true checked=checked == Some(true) /><span>{move || yes(i18n.t())}</span></label>
            <label class="check"><input type="radio" name=name value=no_value checked=checked == Some(false) /><span>{move || no(i18n.t())}</span></label>
        </fieldset>
    }
}

macro_rules! gate_form {
    ($action:ty, $kind:expr, $ctx:expr, $error:ident => { $($fields:tt)* }) => {{
        let ctx: FormCtx = $ctx;
        let kind: ActionKind = $kind;
        let i18n = use_i18n();
        let action = ServerAction::<$action>::new();
        // A refusal of a plain (no-WASM) submission comes back in the page's URL; an in-place
        // submission's is shown by `Enhance`, which also redraws the page after a success.
        let $error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
        let heading_id = format!("gate-{}", kind.as_str());
        let labelled_by = heading_id.clone();
        view! {
            <section class="card gate" aria-labelledby=labelled_by data-action=kind.as_str()>
                <h3 id=heading_id>{move || labels::action(kind, i18n.t())}</h3>
                <Enhance>
                    <ActionForm action>
                        <input type="hidden" name="incident_id" value=ctx.id />
                        <input type="hidden" name="version" value=ctx.version />
                        <FormError error=$error />
                        $($fields)*
                        <button type="submit" class="button">
                            {move || labels::button(kind, i18n.t())}
                        </button>
                    </ActionForm>
                </Enhance>
            </section>
        }
        .into_any()
    }};
}

/// Rows shown open on the report form; more wait under "More measures", all without JavaScript.
const MEASURE_ROWS_OPEN: usize = 2;
/// Rows in all on the report form.
const MEASURE_ROWS: usize = 8;

/// The report form's prevention measures: rows of what, owner (chosen explicitly among the people
/// who work on incidents) and due date (today or later). Empty rows are dropped by the server.
#[component]
fn MeasureRows(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    let people = use_context::<Staff>().unwrap_or_default().everyone();
    let today = today_in_zone();
    let row = move |i: usize, people: Vec<Person>| {
        let t = i18n.t();
        let legend = crate::i18n::fill(t.measure_n, &[("n", &(i + 1).to_string())]);
        let (text, owner, due) = (
            crate::workflow::input::measure_field(i, "text"),
            crate::workflow::input::measure_field(i, "owner_id"),
            crate::workflow::input::measure_field(i, "due"),
        );
        let field = |name: &str, label: &'static str, control: AnyView| {
            view! {
                <div class="field">
                    <label for=format!("f-{name}")>{label}</label>
                    {control}
                    <FieldError error field=name.to_owned() />
                </div>
            }
        };
        view! {
            <fieldset class="measure" data-measure=i>
                <legend>{legend}</legend>
                {field(&text, t.field_measure, view! {
                    <input id=format!("f-{text}") name=text.clone() type="text" required=i == 0 aria-describedby=format!("err-{text}") />
                }.into_any())}
                <div class="measure__when">
                    {field(&owner, t.field_measure_owner, view! {
                        <select id=format!("f-{owner}") name=owner.clone() required=i == 0 aria-describedby=format!("err-{owner}")>
                            <option value="">{t.field_choose_person}</option>
                            {people.into_iter().map(|p| view! { <option value=p.id>{p.name}</option> }).collect_view()}
                        </select>
                    }.into_any())}
                    {field(&due, t.field_measure_due, view! {
                        <input id=format!("f-{due}") name=due.clone() type="date" min=today.clone() required=i == 0 aria-describedby=format!("err-{due}") />
                    }.into_any())}
                </div>
            </fieldset>
        }
    };
    view! {
        <div class="measures" role="group" aria-labelledby="measures-heading">
            <h4 id="measures-heading">{move || i18n.t().field_measures}</h4>
            <p class="hint">{move || i18n.t().measures_hint}</p>
            {(0..MEASURE_ROWS_OPEN).map(|i| row(i, people.clone())).collect_view()}
            <details class="measures__more">
                <summary>{move || i18n.t().measures_more}</summary>
                {(MEASURE_ROWS_OPEN..MEASURE_ROWS).map(|i| row(i, people.clone())).collect_view()}
            </details>
            <FieldError error field="measures" />
        </div>
    }
    .into_any()
}

/// The report's language: the one the PM works in unless they choose the other.
#[component]
fn ReportLanguage() -> impl IntoView {
    let i18n = use_i18n();
    let current = i18n.locale();
    view! {
        <div class="field">
            <label for="f-language">{move || i18n.t().field_report_language}</label>
            <select id="f-language" name="language">
                {crate::i18n::Locale::ALL.into_iter().map(|locale| view! {
                    <option value=locale.tag() selected=locale == current>{locale.native_name()}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

/// Today in the page's zone, `YYYY-MM-DD`: the earliest due date.
fn today_in_zone() -> Option<String> {
    #[cfg(feature = "ssr")]
    return crate::clock::zone::today(chrono::Utc::now(), &crate::clock::use_zone().name).map(|d| d.to_string());
    #[cfg(not(feature = "ssr"))]
    None
}

/// What a form starts with: the user's own answer so far, so that a reload (or a live redraw)
/// shows the verdict they gave instead of a blank form.
#[derive(Clone, Debug, Default)]
pub struct Prefill {
    /// The PM's verdict so far.
    pub pm_verdict: Option<bool>,
    /// The pool item the PM proposed with it (title, the optimal solution).
    pub pm_pool: Option<(String, String)>,
    /// The dev's verdict so far.
    pub dev_verdict: Option<bool>,
}

/// Now, as a `datetime-local` value in the page's zone.
fn now_in_zone() -> String {
    #[cfg(feature = "ssr")]
    return crate::clock::zone::local_input_value(chrono::Utc::now(), &crate::clock::use_zone().name)
        .unwrap_or_default();
    #[cfg(not(feature = "ssr"))]
    String::new()
}

/// The form of one gate action.
pub fn gate_form(kind: ActionKind, ctx: FormCtx, prefill: &Prefill) -> AnyView {
    match kind {
        ActionKind::TriageNonTechnical => gate_form!(TriageNonTechnical, kind, ctx, error => {
            <TextArea name="reply" label=|t| t.field_reply error required=true />
        }),
        ActionKind::TriageTechnical => gate_form!(TriageTechnical, kind, ctx, error => {
            <PersonSelect name="pm_id" label=|t| t.field_pm role=Role::Pm error />
            <TextArea name="note" label=|t| t.field_note error />
        }),
        ActionKind::Dispatch => gate_form!(Dispatch, kind, ctx, error => {
            <PersonSelect name="dev_id" label=|t| t.field_dev role=Role::Dev error />
            <PersonSelect name="qa_id" label=|t| t.field_qa role=Role::Qa error />
            <TextArea name="note" label=|t| t.field_note error />
        }),
        ActionKind::Propose => gate_form!(ProposeSolution, kind, ctx, error => {
            <TextArea name="root_cause" label=|t| t.field_root_cause error required=true />
            <TextArea name="solution" label=|t| t.field_solution error required=true />
        }),
        ActionKind::VerdictPm => {
            let (pool_title, pool_description) = prefill.pm_pool.clone().unwrap_or_default();
            let checked = prefill.pm_verdict;
            let i18n = use_i18n();
            gate_form!(PmVerdict, kind, ctx, error => {
            <YesNo name="optimal" legend=|t| t.field_optimal yes=|t| t.field_optimal_yes no=|t| t.field_optimal_no yes_value="true" no_value="false" checked />
            // Only "not optimal" needs a pool item: the fields show when it is chosen (CSS
            // `:has()`, so without JavaScript too); the server requires them only then.
            <div class="when-not-optimal" data-when-not-optimal="">
                <p class="hint">{move || i18n.t().pool_fields_hint}</p>
                <Input name="pool_title" label=|t| t.field_pool_title error value=pool_title />
                <TextArea name="pool_description" label=|t| t.field_pool_description error value=pool_description />
                <super::PrioritySelect name="pool_priority" id="f-pool_priority".to_owned() selected=Severity::P2 />
            </div>
            })
        }
        ActionKind::VerdictDev => {
            let checked = prefill.dev_verdict;
            gate_form!(DevVerdict, kind, ctx, error => {
                <YesNo name="optimal" legend=|t| t.field_optimal yes=|t| t.field_optimal_yes no=|t| t.field_optimal_no yes_value="true" no_value="false" checked />
            })
        }
        ActionKind::SendBackSolution => gate_form!(SendBackSolution, kind, ctx, error => {
            <TextArea name="reason" label=|t| t.field_reason error required=true />
        }),
        ActionKind::SubmitForTest => gate_form!(SubmitForTest, kind, ctx, error => {
            <TextArea name="changes" label=|t| t.field_changes error required=true />
            <Input name="reference" label=|t| t.field_reference error required=true />
        }),
        ActionKind::TestPass => gate_form!(TestPass, kind, ctx, error => {
            <TextArea name="notes" label=|t| t.field_notes error />
        }),
        ActionKind::TestFail => gate_form!(TestFail, kind, ctx, error => {
            <TextArea name="defect" label=|t| t.field_defect error required=true />
        }),
        ActionKind::ApproveRelease => gate_form!(ApproveRelease, kind, ctx, error => {
            <TextArea name="note" label=|t| t.field_note error />
        }),
        ActionKind::SendBackRelease => gate_form!(SendBackRelease, kind, ctx, error => {
            <TextArea name="reason" label=|t| t.field_reason error required=true />
        }),
        ActionKind::MarkReleased => gate_form!(MarkReleased, kind, ctx, error => {
            <Input name="release" label=|t| t.field_release error required=true />
            <Input name="deployed_at" label=|t| t.field_deployed_at error kind="datetime-local" required=true value=now_in_zone() now=true />
        }),
        ActionKind::RegressionPass => gate_form!(RegressionPass, kind, ctx, error => {
            <TextArea name="notes" label=|t| t.field_notes error />
        }),
        ActionKind::RegressionFail => gate_form!(RegressionFail, kind, ctx, error => {
            <TextArea name="defect" label=|t| t.field_defect error required=true />
        }),
        ActionKind::ConfirmFollowup => gate_form!(ConfirmFollowup, kind, ctx, error => {
            <TextArea name="reply" label=|t| t.field_reply error required=true />
            <YesNo name="confirmation" legend=|t| t.field_confirmation yes=|t| t.field_confirmed no=|t| t.field_no_answer yes_value="confirmed" no_value="no_answer" />
        }),
        ActionKind::SendReport => gate_form!(SendReport, kind, ctx, error => {
            <TextArea name="summary" label=|t| t.field_summary error required=true />
            <MeasureRows error />
            <TextArea name="recipients" label=|t| t.field_recipients error hint=|t| t.recipients_hint />
            <ReportLanguage />
            <crate::clock::ZoneField />
        }),
    }
}

/// The form that names another owner for `role`, with the reason it is required to give: folded
/// under the owner's name until opened.
pub fn reassign_form(role: Role, ctx: FormCtx) -> AnyView {
    let i18n = use_i18n();
    let action = ServerAction::<crate::workflow::ReassignOwner>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    let prefix = format!("reassign-{}", role.as_str());
    view! {
        <details class="reassign" data-reassign=role.as_str()>
            <summary>{move || i18n.t().reassign_open}</summary>
            <Enhance>
                <ActionForm action>
                    <input type="hidden" name="incident_id" value=ctx.id />
                    <input type="hidden" name="version" value=ctx.version />
                    <input type="hidden" name="role" value=role.as_str() />
                    <FormError error />
                    <PersonSelect name="user_id" label=|t| t.reassign_to role error id=format!("{prefix}-user") />
                    <TextArea name="reason" label=|t| t.field_reason error required=true id=format!("{prefix}-reason") />
                    <button type="submit" class="button button--secondary">{move || i18n.t().reassign_submit}</button>
                </ActionForm>
            </Enhance>
        </details>
    }
    .into_any()
}
