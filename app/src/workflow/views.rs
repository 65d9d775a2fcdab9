//! What the browser receives about incidents and pool items.

use serde::{Deserialize, Serialize};

use super::{
    input::{Channel, Severity},
    rules::{ActionKind, Owners, Stage},
};

/// An incident in a list or queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    /// Row id.
    pub id: i64,
    /// `INC-2026-0042`.
    pub key: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Channel.
    pub channel: Channel,
    /// Current stage.
    pub stage: Stage,
    /// Named owners.
    pub owners: Owners,
    /// Version, to send with the next action.
    pub version: i64,
    /// When it entered its current stage (RFC 3339).
    pub stage_entered_at: String,
    /// When it was reported (RFC 3339).
    pub created_at: String,
}

/// An incident waiting for the user, with the actions they owe on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// The incident.
    pub summary: IncidentSummary,
    /// What the user may do on it now.
    pub actions: Vec<ActionKind>,
}

/// The user's queue and the open incidents per stage of their roles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MyQueueView {
    /// Incidents waiting for the user, most urgent first.
    pub items: Vec<QueueItem>,
    /// Open incidents per stage owned by one of the user's roles, in process order.
    pub counts: Vec<(Stage, i64)>,
}

/// A named person on an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
}

/// One accepted action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: Option<Person>,
    /// As which role.
    pub role: String,
    /// Which action (`create`, `claim`, `reassign` or an [`ActionKind`] name).
    pub action: String,
    /// Stage before.
    pub from: Stage,
    /// Stage after.
    pub to: Stage,
    /// The fields given, as JSON.
    pub fields: String,
}

/// Everything the incident page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    /// The listed fields.
    pub summary: IncidentSummary,
    /// Full description.
    pub description: String,
    /// Reporter's name.
    pub reporter_name: String,
    /// Reporter's contact.
    pub reporter_contact: String,
    /// Reference in the source system.
    pub external_ref: String,
    /// Owners with names: ops, pm, dev, qa.
    pub owner_names: [Option<Person>; 4],
    /// Fix rounds so far.
    pub fix_round: i64,
    /// `optimal` / `interim`, once decided.
    pub plan: Option<String>,
    /// The pool item of an interim plan.
    pub pool_item: Option<PoolItem>,
    /// `fixed` / `non_technical` once closed.
    pub resolution: Option<String>,
    /// Released version.
    pub release_version: String,
    /// The PM's and dev's verdicts in solution review.
    pub verdicts: (Option<bool>, Option<bool>),
    /// The gate actions the current user may take now.
    pub my_actions: Vec<ActionKind>,
    /// Newest first.
    pub timeline: Vec<TimelineEntry>,
    /// The report email, once the PM sent it: the rendered copy with its delivery status.
    pub report: Option<crate::mail::EmailView>,
}

/// Status of a requirement-pool item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolStatus {
    /// Waiting to be scheduled.
    Open,
    /// In a release plan.
    Scheduled,
    /// Delivered.
    Done,
}

impl PoolStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolStatus::Open => "open",
            PoolStatus::Scheduled => "scheduled",
            PoolStatus::Done => "done",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        [PoolStatus::Open, PoolStatus::Scheduled, PoolStatus::Done].into_iter().find(|s| s.as_str() == name.trim())
    }
}

/// A requirement-pool item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolItem {
    /// Row id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// The optimal solution.
    pub description: String,
    /// Priority.
    pub priority: Severity,
    /// Status.
    pub status: PoolStatus,
    /// Target release.
    pub target_release: String,
    /// Key of the incident it came from.
    pub source_incident: Option<String>,
}

/// Filters of the incident list; empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only incidents where this user is a named owner.
    pub owner: Option<i64>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Reported at or after (RFC 3339).
    pub created_from: Option<String>,
    /// Reported before (RFC 3339).
    pub created_to: Option<String>,
    /// Text in key, title or description (case-insensitive).
    pub text: Option<String>,
}

/// One page of the incident list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentPage {
    /// Newest first.
    pub items: Vec<IncidentSummary>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_before: Option<i64>,
}
