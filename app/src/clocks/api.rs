//! Server functions of the clocks: the admin settings (read, save) and pausing an incident's
//! clock while ops waits for the user.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]
// A server function's arguments are its form's fields, one each.
#![allow(clippy::too_many_arguments)]

use std::collections::HashMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PolicyForm;
use crate::{auth::Role, error::AppError, workflow::views::Person};

/// What the settings page shows: the policy as a form, and who may be chosen as each role's lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSettingsView {
    /// Current values.
    pub form: PolicyForm,
    /// Per owner role, its active holders.
    pub lead_choices: Vec<(Role, Vec<Person>)>,
    /// Known time zones, for the zone field's suggestions.
    pub zones: Vec<String>,
}

/// The clock settings, for admins.
#[server(endpoint = "clocks/settings")]
pub async fn clock_settings() -> Result<ClockSettingsView, AppError> {
    use crate::auth::guard;
    guard::require_role(Role::Admin).await?;
    let db = &guard::app_state().db;
    let policy = super::policy::load(db).await?;
    // The people the incident page offers as owners, by role: one query for the four roles.
    let staff = crate::workflow::queries::staff(db).await?;
    let lead_choices = super::LEAD_ROLES.iter().map(|role| (*role, staff.with_role(*role))).collect();
    Ok(ClockSettingsView { form: super::policy::form_of(&policy), lead_choices, zones: crate::clock::zone::names() })
}

/// Saves the clock settings (admins): every field checked, the first problem refuses all of it
/// naming its field; the change is audited with the settings before and after. Clocks already
/// running keep the target they started with; the next clock uses the new settings.
#[server(endpoint = "clocks/save")]
pub async fn save_clock_settings(
    #[server(default)] targets: HashMap<String, String>,
    #[server(default)] working: HashMap<String, String>,
    escalate_percent: String,
    #[server(default)] leads: HashMap<String, String>,
    zone: String,
    #[server(default)] week: HashMap<String, String>,
    holidays: String,
    extra_working_days: String,
) -> Result<(), AppError> {
    use crate::{
        audit::{
            event,
            store::{Origin, Record},
        },
        auth::guard,
    };
    let admin = guard::require_role(Role::Admin).await?;
    let form = PolicyForm { targets, working, escalate_percent, leads, zone, week, holidays, extra_working_days };
    crate::text::check("holidays", &form.holidays)?;
    crate::text::check("extra_working_days", &form.extra_working_days)?;
    let policy = form.to_policy()?;
    let state = guard::app_state();
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    super::policy::check_leads(&mut tx, &policy).await?;
    let before = super::policy::store_in(&mut tx, &policy, now).await?;
    if before != policy {
        Record::new(&Origin::of(&admin, &guard::client_info()), event::SETTINGS_CHANGED)
            .target("setting", super::policy::POLICY_SETTING)
            .details(serde_json::json!({ "before": before, "after": policy }))
            .append(&mut tx, now)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(admin = %admin.me.username, "clock settings saved");
    leptos_axum::redirect("/admin/clocks?saved=1");
    Ok(())
}

/// Pauses the incident's clock while ops waits for the user (user follow-up only), with a reason.
#[server(endpoint = "incidents/pause_clock")]
pub async fn pause_clock(incident_id: i64, version: i64, reason: String) -> Result<i64, AppError> {
    use crate::{auth::guard, workflow::engine};
    let actor = crate::workflow::actor()?;
    let state = guard::app_state();
    let moved = engine::pause_clock(&state.db, &actor, incident_id, version, &reason, state.clock.now()).await?;
    state.events.publish(crate::workflow::live::IncidentChanged {
        id: incident_id,
        version: moved.version,
        activity: 0,
    });
    Ok(moved.version)
}

/// Resumes a paused clock: it counts on from where it stopped.
#[server(endpoint = "incidents/resume_clock")]
pub async fn resume_clock(incident_id: i64, version: i64) -> Result<i64, AppError> {
    use crate::{auth::guard, workflow::engine};
    let actor = crate::workflow::actor()?;
    let state = guard::app_state();
    let moved = engine::resume_clock(&state.db, &actor, incident_id, version, state.clock.now()).await?;
    state.events.publish(crate::workflow::live::IncidentChanged {
        id: incident_id,
        version: moved.version,
        activity: 0,
    });
    Ok(moved.version)
}
