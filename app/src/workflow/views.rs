//! What the browser receives about incidents and pool items.

use serde::{Deserialize, Serialize};

use super::{
    input::{Channel, Severity, UserConfirmation},
    rules::{ActionKind, Owners, Plan, Resolution, Stage, TimelineAction},
};
use crate::{auth::Role, pool::PoolItem};

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
    /// Who holds the baton now: each role acting in the current stage with its named owner's
    /// name, or `None` while nobody of that role has it (filled by lists and the queue).
    #[serde(default)]
    pub holders: Vec<(Role, Option<String>)>,
    /// The current stage's clock (filled by lists, the queue and the incident page).
    #[serde(default)]
    pub clock: Option<crate::clocks::ClockView>,
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
    /// Which action.
    pub action: TimelineAction,
    /// Stage before.
    pub from: Stage,
    /// Stage after.
    pub to: Stage,
    /// The values given, labelled and typed, in reading order.
    pub details: Vec<super::timeline::Detail>,
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
    /// The fix plan, once decided.
    pub plan: Option<Plan>,
    /// The pool item of an interim plan.
    pub pool_item: Option<PoolItem>,
    /// How it ended, once closed.
    pub resolution: Option<Resolution>,
    /// What the steps so far established.
    pub facts: IncidentFacts,
    /// The PM's and dev's verdicts in solution review.
    pub verdicts: (Option<bool>, Option<bool>),
    /// The gate actions the current user may take now.
    pub my_actions: Vec<ActionKind>,
    /// The roles the current user may claim now (held by them, owned by nobody).
    pub claimable: Vec<Role>,
    /// The roles whose owner the current user may replace now.
    pub reassignable: Vec<Role>,
    /// Newest first.
    pub timeline: Vec<TimelineEntry>,
    /// The users the timeline's values name (a dispatched dev, a replaced owner), with names.
    pub people: Vec<Person>,
    /// The report email, once the PM sent it: the rendered copy with its delivery status.
    pub report: Option<crate::mail::EmailView>,
    /// The people the user's forms offer to choose from (owners to name, measure owners); empty
    /// when no form of theirs names anyone.
    pub staff: Staff,
    /// Every stay in a stage so far, oldest first, with its time against its target.
    pub stays: Vec<crate::clocks::StayView>,
    /// The comments, newest first, each placed among the timeline's entries.
    pub comments: Vec<crate::collab::CommentView>,
    /// The incident's activity counter (comments, attachments), for live updates.
    pub activity: i64,
    /// The files attached, oldest first.
    pub attachments: Vec<crate::collab::AttachmentView>,
    /// The largest file the server accepts, for the upload form's hint.
    pub attachment_max_bytes: i64,
}

/// Active users who work on incidents, each with the owner roles they hold: the choices of every
/// form on the incident page that names a person, loaded with the page in one query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Staff(pub Vec<StaffMember>);

/// One active user of [`Staff`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    /// Who.
    pub person: Person,
    /// The roles they hold, other than admin.
    pub roles: Vec<Role>,
}

impl Staff {
    /// The people holding `role`, in the order loaded (by name).
    pub fn with_role(&self, role: Role) -> Vec<Person> {
        self.0.iter().filter(|m| m.roles.contains(&role)).map(|m| m.person.clone()).collect()
    }

    /// Everyone, in the order loaded (by name).
    pub fn everyone(&self) -> Vec<Person> {
        self.0.iter().map(|m| m.person.clone()).collect()
    }
}

/// The facts the gate actions established, each written by the action that owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// Root cause of the latest proposal (empty before one).
    pub root_cause: String,
    /// Solution of the latest proposal.
    pub solution: String,
    /// Released version (empty before release).
    pub release_version: String,
    /// When the release was deployed (RFC 3339, UTC).
    pub deployed_at: Option<String>,
    /// Notes of the passing regression test, once it passed.
    pub regression_notes: Option<String>,
    /// The reply sent to the user (at triage or follow-up).
    pub user_reply: String,
    /// The user's answer at follow-up.
    pub user_confirmation: Option<UserConfirmation>,
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
