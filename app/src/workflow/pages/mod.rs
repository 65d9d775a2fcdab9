//! The incident pages: my queue, the list, reporting, and the incident page with only my actions.
// The #[component] macro generates prop structs whose fields cannot carry docs.
#![allow(missing_docs)]

mod actions;
mod incident;
mod list;
mod timeline;

pub use incident::IncidentPage;
pub use list::{IncidentListPage, MyQueue, NewIncidentPage};

use leptos::prelude::*;

use super::{input::Severity, labels, rules::Stage};
use crate::i18n::use_i18n;

/// A severity badge (`P0` … `P3`), coloured by urgency.
#[component]
pub fn SeverityBadge(severity: Severity) -> impl IntoView {
    view! { <span class=format!("badge badge--{}", severity.as_str())>{severity.as_str().to_uppercase()}</span> }
}

/// A stage badge in the user's language.
#[component]
pub fn StageBadge(stage: Stage) -> impl IntoView {
    let i18n = use_i18n();
    view! { <span class=format!("badge badge--stage badge--{}", stage.as_str())>{move || labels::stage(stage, i18n.t())}</span> }
}

/// A sentence with a time in it ("In this stage since {time}"), the time in the reader's zone
/// with how long ago.
#[component]
pub fn TimeIn(template: &'static str, #[prop(into)] at: String) -> impl IntoView {
    let (before, after) = crate::i18n::around(template, "time");
    view! { {before} <crate::clock::LocalTime at ago=true /> {after} }
}

/// A choice of priority (`P0` … `P3`), for pool items.
#[component]
pub fn PrioritySelect(
    /// The form field's name.
    name: &'static str,
    /// The control's id.
    id: String,
    /// Chosen at first.
    selected: Severity,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="field">
            <label for=id.clone()>{move || i18n.t().field_priority}</label>
            <select id=id name=name>
                {Severity::ALL.into_iter().map(|s| view! {
                    <option value=s.as_str() selected=s == selected>{s.as_str().to_uppercase()}</option>
                }).collect_view()}
            </select>
        </div>
    }
}
