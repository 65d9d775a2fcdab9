//! Server functions of the incident process: report, read, claim and reassign, every gate action,
//! and the people to choose owners from. Each one authenticates through `auth::guard`, validates, and calls
//! the engine; the engine enforces the rule book.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]
// A server function's arguments are its form's fields, one each.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use super::views::{IncidentDetail, IncidentPage};
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub(crate) use support::{actor, choice};

#[cfg(feature = "ssr")]
mod support {
    use crate::{
        auth::{guard, Role},
        error::{AppError, FieldProblem},
        workflow::{engine, input::GateInput, rules::Actor},
    };

    /// The signed-in user as a workflow actor.
    pub fn actor() -> Result<Actor, AppError> {
        Ok(Actor::signed_in(&guard::require_user()?, guard::client_info()))
    }

    /// Takes a gate action for the signed-in user; returns the incident's new version.
    pub async fn gate(incident_id: i64, version: i64, input: GateInput) -> Result<i64, AppError> {
        let actor = actor()?;
        let state = guard::app_state();
        let moved = engine::act(&state.db, &actor, incident_id, version, &input, state.clock.now()).await?;
        announce(incident_id, moved.version);
        // The action may have queued email: the sender need not wait for its next poll.
        state.mail.wake();
        Ok(moved.version)
    }

    /// Tells open pages that an incident changed (after its transaction committed).
    pub fn announce(id: i64, version: i64) {
        guard::app_state().events.publish(crate::workflow::live::IncidentChanged { id, version, activity: 0 });
    }

    /// Parses a submitted enum value, refusing unknown ones with the field's name.
    pub fn choice<T>(field: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, AppError> {
        parse(value).ok_or_else(|| AppError::invalid(field, FieldProblem::InvalidChoice))
    }

    /// The zone a time typed into a form is meant in: the one the form sent (the zone its page
    /// showed), else the user's own, else the installation's.
    pub fn typing_zone(sent: Option<String>) -> String {
        if let Some(zone) = sent.filter(|z| crate::clock::zone::is_known(z)) {
            return zone;
        }
        let own = guard::current_user().and_then(|u| u.me.time_zone);
        crate::clock::zone::of_reader(own.as_deref(), &guard::app_state().config.time_zone)
    }

    /// A role that can own incidents.
    pub fn owner_role(value: &str) -> Result<Role, AppError> {
        choice("role", value, Role::parse).and_then(|r| {
            if r == Role::Admin {
                Err(AppError::invalid("role", FieldProblem::InvalidChoice))
            } else {
                Ok(r)
            }
        })
    }
}

/// Reports a new incident (ops); returns its key.
#[server(endpoint = "incidents/report")]
pub async fn report_incident(
    title: String,
    description: String,
    severity: String,
    channel: String,
    reporter_name: String,
    reporter_contact: String,
    external_ref: String,
) -> Result<String, AppError> {
    use crate::workflow::input::{Channel, NewIncident, Severity};
    let actor = support::actor()?;
    let input = NewIncident {
        title,
        description,
        severity: support::choice("severity", &severity, Severity::parse)?,
        channel: support::choice("channel", &channel, Channel::parse)?,
        reporter_name,
        reporter_contact,
        external_ref,
    };
    let state = crate::auth::guard::app_state();
    let created = crate::workflow::engine::create_incident(&state.db, &actor, &input, state.clock.now()).await?;
    support::announce(created.id, 1);
    leptos_axum::redirect(&format!("/incidents/{}", created.key));
    Ok(created.key)
}

/// The incidents where the signed-in user must act now (most urgent first), with counts per stage.
#[server(endpoint = "incidents/queue")]
pub async fn my_queue() -> Result<super::views::MyQueueView, AppError> {
    let actor = support::actor()?;
    let state = crate::auth::guard::app_state();
    crate::workflow::queries::my_queue_at(&state.db, &actor, state.clock.now()).await
}

/// A page of incidents matching the filters, newest first.
#[server(endpoint = "incidents/list")]
pub async fn list_incidents(
    stage: Option<String>,
    severity: Option<String>,
    owner: Option<i64>,
    channel: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    text: Option<String>,
    before: Option<i64>,
) -> Result<IncidentPage, AppError> {
    use crate::workflow::{
        input::{Channel, Severity},
        rules::Stage,
        views::IncidentFilter,
    };
    support::actor()?;
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let filter = IncidentFilter {
        stage: nonempty(stage).map(|s| support::choice("stage", &s, Stage::parse)).transpose()?,
        severity: nonempty(severity).map(|s| support::choice("severity", &s, Severity::parse)).transpose()?,
        owner,
        channel: nonempty(channel).map(|s| support::choice("channel", &s, Channel::parse)).transpose()?,
        created_from: nonempty(created_from),
        created_to: nonempty(created_to),
        text: nonempty(text),
    };
    let state = crate::auth::guard::app_state();
    crate::workflow::queries::list_at(&state.db, &filter, before, 50, state.clock.now()).await
}

/// One incident with the actions the signed-in user may take now.
#[server(endpoint = "incidents/get")]
pub async fn get_incident(key: String) -> Result<IncidentDetail, AppError> {
    let actor = support::actor()?;
    let state = crate::auth::guard::app_state();
    // Boxed: the read's future is several kilobytes, and the page's resource moves the future
    // that holds it a dozen times while it is set up and polled.
    let mut detail = Box::pin(crate::workflow::queries::detail_at(&state.db, &key, &actor, state.clock.now())).await?;
    detail.attachment_max_bytes = i64::try_from(state.config.attachment_max_bytes).unwrap_or(i64::MAX);
    Ok(detail)
}

/// Becomes the named owner of a role nobody owns yet on the incident.
#[server(endpoint = "incidents/claim")]
pub async fn claim_role(incident_id: i64, version: i64, role: String) -> Result<i64, AppError> {
    let actor = support::actor()?;
    let role = support::owner_role(&role)?;
    let state = crate::auth::guard::app_state();
    let moved =
        crate::workflow::engine::claim(&state.db, &actor, incident_id, version, role, state.clock.now()).await?;
    support::announce(incident_id, moved.version);
    Ok(moved.version)
}

/// Names another owner with a reason (the PM owner: ops, dev and QA; an admin: any role).
#[server(endpoint = "incidents/reassign")]
pub async fn reassign_owner(
    incident_id: i64,
    version: i64,
    role: String,
    user_id: i64,
    reason: String,
) -> Result<i64, AppError> {
    let actor = support::actor()?;
    let change = crate::workflow::engine::Reassignment { role: support::owner_role(&role)?, user_id, reason };
    let db = crate::auth::guard::app_state().db.clone();
    let moved =
        crate::workflow::engine::reassign(&db, &actor, incident_id, version, &change, chrono::Utc::now()).await?;
    support::announce(incident_id, moved.version);
    // The old and new owners were emailed in the same transaction.
    crate::auth::guard::app_state().mail.wake();
    Ok(moved.version)
}

/// Ops: not a technical problem; the reply sent to the user closes it.
#[server(endpoint = "incidents/triage_non_technical")]
pub async fn triage_non_technical(incident_id: i64, version: i64, reply: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::TriageNonTechnical { reply }).await
}

/// Ops: a technical problem, handed to the chosen PM.
#[server(endpoint = "incidents/triage_technical")]
pub async fn triage_technical(incident_id: i64, version: i64, pm_id: i64, note: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::TriageTechnical { pm_id, note }).await
}

/// PM: names the dev and QA owners.
#[server(endpoint = "incidents/dispatch")]
pub async fn dispatch(incident_id: i64, version: i64, dev_id: i64, qa_id: i64, note: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::Dispatch { dev_id, qa_id, note }).await
}

/// Dev: root cause and proposed solution.
#[server(endpoint = "incidents/propose")]
pub async fn propose_solution(
    incident_id: i64,
    version: i64,
    root_cause: String,
    solution: String,
) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::Propose { root_cause, solution }).await
}

/// PM: verdict on the solution; "not optimal" carries the pool item for the optimal one.
#[server(endpoint = "incidents/verdict_pm")]
pub async fn pm_verdict(
    incident_id: i64,
    version: i64,
    optimal: bool,
    pool_title: Option<String>,
    pool_description: Option<String>,
    pool_priority: Option<String>,
) -> Result<i64, AppError> {
    use crate::{
        pool::PoolDraft,
        workflow::input::{GateInput, Severity},
    };
    let pool = match pool_title.filter(|t| !t.trim().is_empty()) {
        Some(title) => Some(PoolDraft {
            title,
            description: pool_description.unwrap_or_default(),
            priority: support::choice("pool_priority", pool_priority.as_deref().unwrap_or("p2"), Severity::parse)?,
        }),
        None => None,
    };
    support::gate(incident_id, version, GateInput::VerdictPm { optimal, pool }).await
}

/// Dev: verdict on the solution.
#[server(endpoint = "incidents/verdict_dev")]
pub async fn dev_verdict(incident_id: i64, version: i64, optimal: bool) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::VerdictDev { optimal }).await
}

/// PM: back to investigation.
#[server(endpoint = "incidents/send_back_solution")]
pub async fn send_back_solution(incident_id: i64, version: i64, reason: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::SendBackSolution { reason }).await
}

/// Dev: the fix is ready for testing.
#[server(endpoint = "incidents/submit_for_test")]
pub async fn submit_for_test(
    incident_id: i64,
    version: i64,
    changes: String,
    reference: String,
) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::SubmitForTest { changes, reference }).await
}

/// QA: tests pass.
#[server(endpoint = "incidents/test_pass")]
pub async fn test_pass(incident_id: i64, version: i64, notes: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::TestPass { notes }).await
}

/// QA: a defect was found.
#[server(endpoint = "incidents/test_fail")]
pub async fn test_fail(incident_id: i64, version: i64, defect: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::TestFail { defect }).await
}

/// PM: the release is approved.
#[server(endpoint = "incidents/approve_release")]
pub async fn approve_release(incident_id: i64, version: i64, note: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::ApproveRelease { note }).await
}

/// PM: back to fixing.
#[server(endpoint = "incidents/send_back_release")]
pub async fn send_back_release(incident_id: i64, version: i64, reason: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::SendBackRelease { reason }).await
}

/// Dev: released.
#[server(endpoint = "incidents/mark_released")]
pub async fn mark_released(
    incident_id: i64,
    version: i64,
    release: String,
    deployed_at: String,
    zone: Option<String>,
) -> Result<i64, AppError> {
    // The form's time is local to the zone its page showed; the record keeps UTC. A value that is
    // not a time goes on as typed, for the validation to name.
    let zone = support::typing_zone(zone);
    let deployed_at = crate::clock::zone::parse_local(&deployed_at, &zone)
        .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or(deployed_at);
    support::gate(
        incident_id,
        version,
        crate::workflow::input::GateInput::MarkReleased { version: release, deployed_at },
    )
    .await
}

/// QA: the fix works in production.
#[server(endpoint = "incidents/regression_pass")]
pub async fn regression_pass(incident_id: i64, version: i64, notes: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::RegressionPass { notes }).await
}

/// QA: the fix does not work in production.
#[server(endpoint = "incidents/regression_fail")]
pub async fn regression_fail(incident_id: i64, version: i64, defect: String) -> Result<i64, AppError> {
    support::gate(incident_id, version, crate::workflow::input::GateInput::RegressionFail { defect }).await
}

/// Ops: the user was answered; `confirmation` is `confirmed` or `no_answer`.
#[server(endpoint = "incidents/confirm_followup")]
pub async fn confirm_followup(
    incident_id: i64,
    version: i64,
    reply: String,
    confirmation: String,
) -> Result<i64, AppError> {
    use crate::workflow::input::{GateInput, UserConfirmation};
    let confirmation = support::choice("confirmation", &confirmation, UserConfirmation::parse)?;
    support::gate(incident_id, version, GateInput::ConfirmFollowup { reply, confirmation }).await
}

/// PM: the result report with its prevention measures and extra recipients; closes.
#[server(endpoint = "incidents/send_report")]
pub async fn send_report(
    incident_id: i64,
    version: i64,
    summary: String,
    measures: Option<Vec<crate::workflow::input::MeasureRow>>,
    recipients: Option<String>,
    language: Option<String>,
    zone: Option<String>,
) -> Result<i64, AppError> {
    use crate::workflow::input::{measures_from_rows, recipient_list, GateInput};
    use chrono::Datelike;
    let today = crate::clock::zone::today(chrono::Utc::now(), &support::typing_zone(zone))
        .map(|d| (d.year(), d.month(), d.day()))
        .ok_or_else(|| AppError::internal("no calendar date in the typing zone"))?;
    let measures = measures_from_rows(measures.unwrap_or_default(), today).map_err(AppError::Refused)?;
    let recipients = recipient_list(recipients.as_deref().unwrap_or_default());
    let language = match language.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(tag) => Some(support::choice("language", tag, crate::i18n::Locale::from_tag)?),
    };
    support::gate(incident_id, version, GateInput::SendReport { summary, measures, recipients, language }).await
}
