//! The rule book of the incident process: every "who may do what, when". Pure: no I/O, compiled
//! for the server (which enforces it) and the browser (which only mirrors it to show each user
//! their own actions). Pages, the engine and the mail composer ask this module; none decides on
//! its own.
//!
//! - [`ACTIONS`]: each gate action, the stage it is taken in, the role that takes it and where it
//!   leads. [`Stage::owner_roles`], [`ActionKind::stage`] and [`ActionKind::role`] are read from it.
//! - [`may_act`] / [`transition`]: a gate action by the named owner of its role (or, while the
//!   role has none, by anyone holding it, who claims it).
//! - [`may_claim`]: becoming the named owner of an unowned role that acts at the current stage.
//! - [`may_reassign`]: the PM owner reassigns the dev, QA and ops owners; an admin any owner.
//! - [`may_create_incident`], [`may_manage_pool`]: ops report incidents; PMs manage the pool.
//! - [`notified_roles`], [`INTAKE_NOTIFIES`]: who is emailed when an incident enters a stage or
//!   arrives through intake.
//!
//! | stage            | owner   | actions → next stage                                                  |
//! |------------------|---------|-----------------------------------------------------------------------|
//! | reported         | ops     | triage non-technical → closed; triage technical (+PM) → awaiting_pm   |
//! | awaiting_pm      | pm      | dispatch (+dev, +QA) → investigating                                  |
//! | investigating    | dev     | propose → solution_review                                             |
//! | solution_review  | pm, dev | verdicts: both optimal → fixing; both not (PM adds pool item) → fixing (interim); PM send back → investigating |
//! | fixing           | dev     | submit for test → testing                                             |
//! | testing          | qa      | pass → release_review; fail → fixing (round + 1)                      |
//! | release_review   | pm      | approve → releasing; send back → fixing (round + 1)                   |
//! | releasing        | dev     | mark released → verifying                                             |
//! | verifying        | qa      | regression pass → user_followup; fail → fixing (round + 1)            |
//! | user_followup    | ops     | confirm with user → reporting                                         |
//! | reporting        | pm      | send report → closed                                                  |

use serde::{Deserialize, Serialize};

pub use crate::error::Refusal;
use crate::{auth::Role, error::FieldProblem};

/// Where an incident is in the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 已接收: feedback received, ops triages.
    Reported,
    /// 待产品对接: a PM must dispatch dev and QA.
    AwaitingPm,
    /// 定位中: dev locates the problem.
    Investigating,
    /// 方案确认: PM and dev judge the proposed solution.
    SolutionReview,
    /// 修复中: dev implements the fix.
    Fixing,
    /// 测试中: QA tests the fix.
    Testing,
    /// 产品复查: the PM reviews before release.
    ReleaseReview,
    /// 上线中: dev releases.
    Releasing,
    /// 上线回测: QA re-tests in production.
    Verifying,
    /// 反馈用户: ops confirms with the user.
    UserFollowup,
    /// 结果通报: the PM sends the report.
    Reporting,
    /// 已关闭: read-only.
    Closed,
}

impl Stage {
    /// Every stage in process order.
    pub const ALL: [Stage; 12] = [
        Stage::Reported,
        Stage::AwaitingPm,
        Stage::Investigating,
        Stage::SolutionReview,
        Stage::Fixing,
        Stage::Testing,
        Stage::ReleaseReview,
        Stage::Releasing,
        Stage::Verifying,
        Stage::UserFollowup,
        Stage::Reporting,
        Stage::Closed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reported => "reported",
            Stage::AwaitingPm => "awaiting_pm",
            Stage::Investigating => "investigating",
            Stage::SolutionReview => "solution_review",
            Stage::Fixing => "fixing",
            Stage::Testing => "testing",
            Stage::ReleaseReview => "release_review",
            Stage::Releasing => "releasing",
            Stage::Verifying => "verifying",
            Stage::UserFollowup => "user_followup",
            Stage::Reporting => "reporting",
            Stage::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The roles that act in this stage (two in solution review, none once closed), read from
    /// [`ACTIONS`] in table order.
    pub fn owner_roles(self) -> Vec<Role> {
        let mut roles = Vec::with_capacity(2);
        for rule in ACTIONS.iter().filter(|r| r.stage == self) {
            if !roles.contains(&rule.role) {
                roles.push(rule.role);
            }
        }
        roles
    }
}

/// A gate action. Each belongs to exactly one stage and one role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Not a technical problem: the reply sent to the user is recorded; closes.
    TriageNonTechnical,
    /// A technical problem: hand it to the chosen PM.
    TriageTechnical,
    /// Name the dev and QA owners.
    Dispatch,
    /// Root cause and proposed solution.
    Propose,
    /// The PM's verdict on the proposed solution.
    VerdictPm,
    /// Dev's verdict on the proposed solution.
    VerdictDev,
    /// The PM sends the proposal back to investigation.
    SendBackSolution,
    /// The fix is done: what changed and where.
    SubmitForTest,
    /// QA: tests pass.
    TestPass,
    /// QA: a defect was found.
    TestFail,
    /// The PM approves the release.
    ApproveRelease,
    /// The PM sends the fix back.
    SendBackRelease,
    /// Dev: released, with version and time.
    MarkReleased,
    /// QA: the fix works in production.
    RegressionPass,
    /// QA: the fix does not work in production.
    RegressionFail,
    /// Ops: the user was answered and confirmed (or did not answer).
    ConfirmFollowup,
    /// The PM's result report; closes.
    SendReport,
}

impl ActionKind {
    /// Every action.
    pub const ALL: [ActionKind; 17] = [
        ActionKind::TriageNonTechnical,
        ActionKind::TriageTechnical,
        ActionKind::Dispatch,
        ActionKind::Propose,
        ActionKind::VerdictPm,
        ActionKind::VerdictDev,
        ActionKind::SendBackSolution,
        ActionKind::SubmitForTest,
        ActionKind::TestPass,
        ActionKind::TestFail,
        ActionKind::ApproveRelease,
        ActionKind::SendBackRelease,
        ActionKind::MarkReleased,
        ActionKind::RegressionPass,
        ActionKind::RegressionFail,
        ActionKind::ConfirmFollowup,
        ActionKind::SendReport,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::TriageNonTechnical => "triage_non_technical",
            ActionKind::TriageTechnical => "triage_technical",
            ActionKind::Dispatch => "dispatch",
            ActionKind::Propose => "propose",
            ActionKind::VerdictPm => "verdict_pm",
            ActionKind::VerdictDev => "verdict_dev",
            ActionKind::SendBackSolution => "send_back_solution",
            ActionKind::SubmitForTest => "submit_for_test",
            ActionKind::TestPass => "test_pass",
            ActionKind::TestFail => "test_fail",
            ActionKind::ApproveRelease => "approve_release",
            ActionKind::SendBackRelease => "send_back_release",
            ActionKind::MarkReleased => "mark_released",
            ActionKind::RegressionPass => "regression_pass",
            ActionKind::RegressionFail => "regression_fail",
            ActionKind::ConfirmFollowup => "confirm_followup",
            ActionKind::SendReport => "send_report",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The action's row of [`ACTIONS`].
    pub fn rule(self) -> &'static ActionRule {
        // The table lists the actions in declaration order (`the_action_table_is_in_declaration_order`).
        &ACTIONS[self as usize]
    }

    /// The stage in which the action is taken.
    pub fn stage(self) -> Stage {
        self.rule().stage
    }

    /// The role that takes the action.
    pub fn role(self) -> Role {
        self.rule().role
    }
}

/// Where a gate action leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Always to this stage.
    To(Stage),
    /// Decided by the two verdicts of solution review (see [`transition`]).
    ByVerdicts,
}

/// What a gate action does besides moving the stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing more.
    None,
    /// A new proposal or a send-back starts a fresh review: both verdicts are cleared.
    ClearVerdicts,
    /// Back to fixing: the fix round count grows.
    NextRound,
    /// The incident closes with this resolution.
    Close(Resolution),
}

/// One row of the action table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionRule {
    /// The action.
    pub kind: ActionKind,
    /// The stage it is taken in.
    pub stage: Stage,
    /// The role that takes it.
    pub role: Role,
    /// Where it leads.
    pub next: Next,
    /// What else it does.
    pub effect: Effect,
}

const fn rule(kind: ActionKind, stage: Stage, role: Role, next: Next, effect: Effect) -> ActionRule {
    ActionRule { kind, stage, role, next, effect }
}

/// The action table of the process (the domain specification's "Stages, owners and gates").
pub const ACTIONS: [ActionRule; 17] = {
    use ActionKind as A;
    use Effect as E;
    use Next::{ByVerdicts, To};
    use Role::{Dev, Ops, Pm, Qa};
    use Stage as S;
    [
        rule(A::TriageNonTechnical, S::Reported, Ops, To(S::Closed), E::Close(Resolution::NonTechnical)),
        rule(A::TriageTechnical, S::Reported, Ops, To(S::AwaitingPm), E::None),
        rule(A::Dispatch, S::AwaitingPm, Pm, To(S::Investigating), E::None),
        rule(A::Propose, S::Investigating, Dev, To(S::SolutionReview), E::ClearVerdicts),
        rule(A::VerdictPm, S::SolutionReview, Pm, ByVerdicts, E::None),
        rule(A::VerdictDev, S::SolutionReview, Dev, ByVerdicts, E::None),
        rule(A::SendBackSolution, S::SolutionReview, Pm, To(S::Investigating), E::ClearVerdicts),
        rule(A::SubmitForTest, S::Fixing, Dev, To(S::Testing), E::None),
        rule(A::TestPass, S::Testing, Qa, To(S::ReleaseReview), E::None),
        rule(A::TestFail, S::Testing, Qa, To(S::Fixing), E::NextRound),
        rule(A::ApproveRelease, S::ReleaseReview, Pm, To(S::Releasing), E::None),
        rule(A::SendBackRelease, S::ReleaseReview, Pm, To(S::Fixing), E::NextRound),
        rule(A::MarkReleased, S::Releasing, Dev, To(S::Verifying), E::None),
        rule(A::RegressionPass, S::Verifying, Qa, To(S::UserFollowup), E::None),
        rule(A::RegressionFail, S::Verifying, Qa, To(S::Fixing), E::NextRound),
        rule(A::ConfirmFollowup, S::UserFollowup, Ops, To(S::Reporting), E::None),
        rule(A::SendReport, S::Reporting, Pm, To(S::Closed), E::Close(Resolution::Fixed)),
    ]
};

/// The fix round an incident is in, or ended in: 1 for the first fix, plus one each time a failed
/// test, a send-back from release review or a failed regression returned it to fixing
/// (`returns` is the stored `fix_round`, the number of such returns). The incident page and the
/// report count with this, so round 2 is also the second stay in fixing.
pub fn fix_round(returns: i64) -> i64 {
    returns + 1
}

/// What a timeline entry records: a gate action, or one of the other changes to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineAction {
    /// Reported by an ops user.
    Create,
    /// Delivered by an intake source.
    Intake,
    /// A user became the named owner of an unowned role.
    Claim,
    /// A named owner was replaced.
    Reassign,
    /// Ops paused the stage clock (waiting for the user).
    Pause,
    /// Ops resumed the stage clock.
    Resume,
    /// The clock reached 75 % of its target; the owners were reminded.
    ClockReminder,
    /// The clock passed its target; owners and escalation contact were told.
    ClockBreach,
    /// The clock passed the escalation threshold; the next contact was told.
    ClockEscalation,
    /// A gate action.
    Gate(ActionKind),
}

impl TimelineAction {
    /// The stored name (a gate action's own name for gate actions).
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineAction::Create => "create",
            TimelineAction::Intake => "intake",
            TimelineAction::Claim => "claim",
            TimelineAction::Reassign => "reassign",
            TimelineAction::Pause => "pause",
            TimelineAction::Resume => "resume",
            TimelineAction::ClockReminder => "clock_reminder",
            TimelineAction::ClockBreach => "clock_breach",
            TimelineAction::ClockEscalation => "clock_escalation",
            TimelineAction::Gate(kind) => kind.as_str(),
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "create" => Some(TimelineAction::Create),
            "intake" => Some(TimelineAction::Intake),
            "claim" => Some(TimelineAction::Claim),
            "reassign" => Some(TimelineAction::Reassign),
            "pause" => Some(TimelineAction::Pause),
            "resume" => Some(TimelineAction::Resume),
            "clock_reminder" => Some(TimelineAction::ClockReminder),
            "clock_breach" => Some(TimelineAction::ClockBreach),
            "clock_escalation" => Some(TimelineAction::ClockEscalation),
            other => ActionKind::parse(other).map(TimelineAction::Gate),
        }
    }
}

/// The named owner per role of one incident (user ids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owners {
    /// Ops owner.
    pub ops: Option<i64>,
    /// PM owner.
    pub pm: Option<i64>,
    /// Dev owner.
    pub dev: Option<i64>,
    /// QA owner.
    pub qa: Option<i64>,
}

impl Owners {
    /// The named owner of `role` (admin owns nothing).
    pub fn get(&self, role: Role) -> Option<i64> {
        match role {
            Role::Ops => self.ops,
            Role::Pm => self.pm,
            Role::Dev => self.dev,
            Role::Qa => self.qa,
            Role::Admin => None,
        }
    }

    /// Names `user` the owner of `role`.
    pub fn set(&mut self, role: Role, user: i64) {
        match role {
            Role::Ops => self.ops = Some(user),
            Role::Pm => self.pm = Some(user),
            Role::Dev => self.dev = Some(user),
            Role::Qa => self.qa = Some(user),
            Role::Admin => {}
        }
    }
}

/// What the rules need to know about an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentState {
    /// Current stage.
    pub stage: Stage,
    /// Named owners.
    pub owners: Owners,
    /// In solution review: the PM's verdict so far (`Some(true)` = optimal).
    pub pm_verdict: Option<bool>,
    /// In solution review: dev's verdict so far.
    pub dev_verdict: Option<bool>,
}

/// Who is acting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// User id.
    pub id: i64,
    /// Roles held now.
    pub roles: Vec<Role>,
    /// Username, for the audit log.
    pub name: String,
    /// Where the request came from, for the audit log.
    pub client: crate::auth::ClientInfo,
}

impl Actor {
    /// The signed-in user of a request, acting from `client`.
    pub fn signed_in(user: &crate::auth::CurrentUser, client: crate::auth::ClientInfo) -> Self {
        Actor { id: user.me.id, roles: user.me.roles.clone(), name: user.me.username.clone(), client }
    }
}

/// Checks that `actor` may take `kind` on an incident in `state`: right stage, right role, and
/// the named owner of that role (or, while there is none, anyone holding it).
pub fn may_act(state: &IncidentState, actor: &Actor, kind: ActionKind) -> Result<(), Refusal> {
    if state.stage != kind.stage() {
        return Err(Refusal::WrongStage);
    }
    let role = kind.role();
    if !actor.roles.contains(&role) {
        return Err(Refusal::NotYourRole);
    }
    match state.owners.get(role) {
        Some(owner) if owner != actor.id => Err(Refusal::NotNamedOwner),
        _ => Ok(()),
    }
}

/// The actions `actor` may take now, for showing them their own forms.
pub fn available_actions(state: &IncidentState, actor: &Actor) -> Vec<ActionKind> {
    ActionKind::ALL.into_iter().filter(|kind| may_act(state, actor, *kind).is_ok()).collect()
}

/// Checks that `actor` may become the named owner of `role` now: the role is one of the process
/// (not admin), the actor holds it, nobody owns it yet, and the incident is open.
pub fn may_claim(state: &IncidentState, actor: &Actor, role: Role) -> Result<(), Refusal> {
    if role == Role::Admin {
        return Err(Refusal::Invalid { field: "role".into(), problem: FieldProblem::InvalidChoice });
    }
    // Only the role that acts at this stage: claiming ahead of one's turn would only be undone
    // by the dispatch or triage that names the owner.
    if state.stage == Stage::Closed || !state.stage.owner_roles().contains(&role) {
        return Err(Refusal::WrongStage);
    }
    if !actor.roles.contains(&role) {
        return Err(Refusal::NotYourRole);
    }
    if state.owners.get(role).is_some() {
        return Err(Refusal::NotNamedOwner);
    }
    Ok(())
}

/// The roles `actor` may claim on an incident in `state`, for showing the claim buttons.
pub fn claimable_roles(state: &IncidentState, actor: &Actor) -> Vec<Role> {
    OWNER_ROLES.into_iter().filter(|r| may_claim(state, actor, *r).is_ok()).collect()
}

/// The roles an incident has a named owner for.
pub const OWNER_ROLES: [Role; 4] = [Role::Ops, Role::Pm, Role::Dev, Role::Qa];

/// The roles whose owner the incident's PM owner may replace.
pub const PM_REASSIGNS: [Role; 3] = [Role::Ops, Role::Dev, Role::Qa];

/// Checks that `actor` may name another owner for `role` now, and says in which capacity: an
/// admin may replace any owner (people leave or are away); the incident's named PM owner may
/// replace its ops, dev and QA owners. The incident must be open. Acting as PM wins when the actor
/// may do both, so the timeline names the PM role.
pub fn may_reassign(state: &IncidentState, actor: &Actor, role: Role) -> Result<Role, Refusal> {
    if role == Role::Admin {
        return Err(Refusal::Invalid { field: "role".into(), problem: FieldProblem::InvalidChoice });
    }
    if state.stage == Stage::Closed {
        return Err(Refusal::WrongStage);
    }
    let is_pm_owner = actor.roles.contains(&Role::Pm) && state.owners.pm == Some(actor.id);
    if is_pm_owner && PM_REASSIGNS.contains(&role) {
        return Ok(Role::Pm);
    }
    if actor.roles.contains(&Role::Admin) {
        return Ok(Role::Admin);
    }
    Err(if actor.roles.contains(&Role::Pm) { Refusal::NotNamedOwner } else { Refusal::NotYourRole })
}

/// The roles `actor` may reassign on an incident in `state`, for showing the reassign form.
pub fn reassignable_roles(state: &IncidentState, actor: &Actor) -> Vec<Role> {
    OWNER_ROLES.into_iter().filter(|r| may_reassign(state, actor, *r).is_ok()).collect()
}

/// Checks that `actor` may report a new incident: ops receive feedback (step 1).
pub fn may_create_incident(actor: &Actor) -> Result<(), Refusal> {
    if actor.roles.contains(&Role::Ops) {
        Ok(())
    } else {
        Err(Refusal::NotYourRole)
    }
}

/// Checks that `actor` may add to or change the requirement pool: the PM manages it; everyone
/// signed in may read it.
pub fn may_manage_pool(actor: &Actor) -> Result<(), Refusal> {
    if actor.roles.contains(&Role::Pm) {
        Ok(())
    } else {
        Err(Refusal::NotYourRole)
    }
}

/// The role whose active users are all emailed when an intake source delivers a report: the
/// incident has no named owner yet, and the first ops user to act claims it (step 1).
pub const INTAKE_NOTIFIES: Role = Role::Ops;

/// The roles whose named owners are emailed when an incident enters `stage`: the stage's owners,
/// except that step 3 ("the PM notifies QA and dev to locate the problem") adds QA to
/// investigating, and nobody is told of reported (intake tells ops itself) or closed incidents
/// (the report tells everyone).
pub fn notified_roles(stage: Stage) -> Vec<Role> {
    match stage {
        Stage::Investigating => vec![Role::Dev, Role::Qa],
        Stage::Closed | Stage::Reported => Vec::new(),
        other => other.owner_roles(),
    }
}

/// How the fix is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// The proposed solution is the optimal one.
    Optimal,
    /// An interim fix now; the optimal solution waits in the requirement pool.
    Interim,
}

impl Plan {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Optimal => "optimal",
            Plan::Interim => "interim",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Plan::Optimal, Plan::Interim].into_iter().find(|p| p.as_str() == name)
    }
}

/// How an incident ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Not a technical problem; ops replied.
    NonTechnical,
    /// Fixed and reported.
    Fixed,
}

impl Resolution {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::NonTechnical => "non_technical",
            Resolution::Fixed => "fixed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Resolution::NonTechnical, Resolution::Fixed].into_iter().find(|r| r.as_str() == name)
    }
}

/// The effect of an accepted gate action on the incident row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The stage after the action (may equal the current one: a disagreeing verdict).
    pub to: Stage,
    /// The actor becomes the named owner of this role (claim).
    pub claim: Option<Role>,
    /// Clear both verdicts (a new proposal starts a fresh review).
    pub clear_verdicts: bool,
    /// Record this verdict.
    pub verdict: Option<(Role, bool)>,
    /// The fix round count grows.
    pub next_round: bool,
    /// The fix plan decided.
    pub plan: Option<Plan>,
    /// The incident closes with this resolution.
    pub resolution: Option<Resolution>,
    /// A requirement-pool item is created from the PM's verdict.
    pub creates_pool_item: bool,
}

/// Decides what an accepted action does. `pm_item_given` tells whether a not-optimal PM verdict
/// carries the requirement-pool item (the item's own fields are validated with the input).
pub fn transition(
    state: &IncidentState,
    actor: &Actor,
    kind: ActionKind,
    optimal: Option<bool>,
    pm_item_given: bool,
) -> Result<Transition, Refusal> {
    may_act(state, actor, kind)?;
    let role = kind.role();
    let claim = state.owners.get(role).is_none().then_some(role);
    let rule = kind.rule();
    let mut t = Transition {
        to: state.stage,
        claim,
        clear_verdicts: false,
        verdict: None,
        next_round: false,
        plan: None,
        resolution: None,
        creates_pool_item: false,
    };
    match rule.effect {
        Effect::None => {}
        Effect::ClearVerdicts => t.clear_verdicts = true,
        Effect::NextRound => t.next_round = true,
        Effect::Close(resolution) => t.resolution = Some(resolution),
    }
    t.to = match rule.next {
        Next::To(stage) => stage,
        Next::ByVerdicts => {
            let optimal =
                optimal.ok_or_else(|| Refusal::Invalid { field: "optimal".into(), problem: FieldProblem::Required })?;
            let (pm, dev) = if role == Role::Pm {
                if !optimal && !pm_item_given {
                    return Err(Refusal::Invalid { field: "pool_title".into(), problem: FieldProblem::Required });
                }
                (Some(optimal), state.dev_verdict)
            } else {
                (state.pm_verdict, Some(optimal))
            };
            t.verdict = Some((role, optimal));
            t.creates_pool_item = role == Role::Pm && !optimal;
            match (pm, dev) {
                (Some(true), Some(true)) => {
                    t.plan = Some(Plan::Optimal);
                    Stage::Fixing
                }
                (Some(false), Some(false)) => {
                    t.plan = Some(Plan::Interim);
                    Stage::Fixing
                }
                // Waiting for the other verdict, or they disagree: the stage stays.
                _ => Stage::SolutionReview,
            }
        }
    };
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: i64 = 1;
    const PM: i64 = 2;
    const DEV: i64 = 3;
    const QA: i64 = 4;
    const OTHER_DEV: i64 = 5;

    fn state(stage: Stage) -> IncidentState {
        IncidentState {
            stage,
            owners: Owners { ops: Some(OPS), pm: Some(PM), dev: Some(DEV), qa: Some(QA) },
            pm_verdict: None,
            dev_verdict: None,
        }
    }

    fn actor(id: i64, role: Role) -> Actor {
        Actor { id, roles: vec![role], ..Default::default() }
    }

    /// The table of the domain specification written out by hand: (stage, action, role, next
    /// stage). It is deliberately not computed from the code under test, so changing any cell of
    /// the rule book fails the tests below.
    const SPEC: [(&str, &str, &str, &str); 17] = [
        ("reported", "triage_non_technical", "ops", "closed"),
        ("reported", "triage_technical", "ops", "awaiting_pm"),
        ("awaiting_pm", "dispatch", "pm", "investigating"),
        ("investigating", "propose", "dev", "solution_review"),
        ("solution_review", "verdict_pm", "pm", "(verdicts)"),
        ("solution_review", "verdict_dev", "dev", "(verdicts)"),
        ("solution_review", "send_back_solution", "pm", "investigating"),
        ("fixing", "submit_for_test", "dev", "testing"),
        ("testing", "test_pass", "qa", "release_review"),
        ("testing", "test_fail", "qa", "fixing"),
        ("release_review", "approve_release", "pm", "releasing"),
        ("release_review", "send_back_release", "pm", "fixing"),
        ("releasing", "mark_released", "dev", "verifying"),
        ("verifying", "regression_pass", "qa", "user_followup"),
        ("verifying", "regression_fail", "qa", "fixing"),
        ("user_followup", "confirm_followup", "ops", "reporting"),
        ("reporting", "send_report", "pm", "closed"),
    ];

    fn person_for(role: &str) -> Actor {
        let id = match role {
            "ops" => OPS,
            "pm" => PM,
            "dev" => DEV,
            _ => QA,
        };
        actor(id, Role::parse(role).expect("a role of the spec"))
    }

    /// Every role × stage × action against the literal table: exactly its cells are allowed, and
    /// each refusal says why.
    #[test]
    fn only_the_named_owner_of_the_stage_role_may_act_in_each_stage() {
        let people = [(OPS, Role::Ops), (PM, Role::Pm), (DEV, Role::Dev), (QA, Role::Qa), (99, Role::Admin)];
        for stage in Stage::ALL {
            for (id, role) in people {
                for kind in ActionKind::ALL {
                    let result = may_act(&state(stage), &actor(id, role), kind);
                    let (spec_stage, _, spec_role, _) =
                        SPEC.iter().find(|row| row.1 == kind.as_str()).expect("every action is in the spec");
                    let expected = if *spec_stage != stage.as_str() {
                        Err(Refusal::WrongStage)
                    } else if *spec_role != role.as_str() {
                        Err(Refusal::NotYourRole)
                    } else {
                        Ok(())
                    };
                    assert_eq!(result, expected, "{stage:?} {role:?} {kind:?}");
                }
            }
        }
    }

    #[test]
    fn each_action_leads_where_the_spec_says() {
        for (stage, action, role, next) in SPEC {
            let kind = ActionKind::parse(action).expect("an action of the spec");
            let s = state(Stage::parse(stage).expect("a stage of the spec"));
            if next == "(verdicts)" {
                assert_eq!(kind.rule().next, Next::ByVerdicts, "{action}");
                continue;
            }
            let t = transition(&s, &person_for(role), kind, None, false).expect("the spec's owner may act");
            assert_eq!(t.to.as_str(), next, "{action}");
        }
    }

    #[test]
    fn the_owners_of_each_stage_are_those_of_the_spec() {
        let spec: [(&str, &[&str]); 12] = [
            ("reported", &["ops"]),
            ("awaiting_pm", &["pm"]),
            ("investigating", &["dev"]),
            ("solution_review", &["pm", "dev"]),
            ("fixing", &["dev"]),
            ("testing", &["qa"]),
            ("release_review", &["pm"]),
            ("releasing", &["dev"]),
            ("verifying", &["qa"]),
            ("user_followup", &["ops"]),
            ("reporting", &["pm"]),
            ("closed", &[]),
        ];
        for (stage, roles) in spec {
            let owners: Vec<&str> = Stage::parse(stage).unwrap().owner_roles().iter().map(|r| r.as_str()).collect();
            assert_eq!(owners, roles, "{stage}");
        }
    }

    #[test]
    fn entering_a_stage_notifies_the_roles_of_the_spec() {
        let spec: [(&str, &[&str]); 12] = [
            ("reported", &[]),
            ("awaiting_pm", &["pm"]),
            ("investigating", &["dev", "qa"]),
            ("solution_review", &["pm", "dev"]),
            ("fixing", &["dev"]),
            ("testing", &["qa"]),
            ("release_review", &["pm"]),
            ("releasing", &["dev"]),
            ("verifying", &["qa"]),
            ("user_followup", &["ops"]),
            ("reporting", &["pm"]),
            ("closed", &[]),
        ];
        for (stage, roles) in spec {
            let told: Vec<&str> = notified_roles(Stage::parse(stage).unwrap()).iter().map(|r| r.as_str()).collect();
            assert_eq!(told, roles, "{stage}");
        }
        assert_eq!(INTAKE_NOTIFIES.as_str(), "ops");
    }

    #[test]
    fn the_action_table_is_in_declaration_order() {
        for (i, kind) in ActionKind::ALL.into_iter().enumerate() {
            assert_eq!(ACTIONS[i].kind, kind);
        }
    }

    #[test]
    fn failures_and_send_backs_count_a_round_and_closing_actions_resolve() {
        let spec = [
            ("test_fail", "round"),
            ("send_back_release", "round"),
            ("regression_fail", "round"),
            ("propose", "clear"),
            ("send_back_solution", "clear"),
            ("triage_non_technical", "non_technical"),
            ("send_report", "fixed"),
        ];
        for kind in ActionKind::ALL {
            let expected = spec.iter().find(|(a, _)| *a == kind.as_str()).map(|(_, e)| *e).unwrap_or("none");
            let actual = match kind.rule().effect {
                Effect::None => "none",
                Effect::NextRound => "round",
                Effect::ClearVerdicts => "clear",
                Effect::Close(r) => r.as_str(),
            };
            assert_eq!(actual, expected, "{kind:?}");
        }
    }

    /// Who may reassign which owner, written out case by case.
    #[test]
    fn the_pm_owner_reassigns_ops_dev_and_qa_and_an_admin_any_owner() {
        let open = state(Stage::Testing);
        let pm_owner = actor(PM, Role::Pm);
        let other_pm = actor(77, Role::Pm);
        let admin = actor(99, Role::Admin);
        let dev = actor(DEV, Role::Dev);
        let not_a_choice = || Err(Refusal::Invalid { field: "role".into(), problem: FieldProblem::InvalidChoice });
        let cases: [(&Actor, Role, Result<Role, Refusal>); 14] = [
            (&pm_owner, Role::Ops, Ok(Role::Pm)),
            (&pm_owner, Role::Dev, Ok(Role::Pm)),
            (&pm_owner, Role::Qa, Ok(Role::Pm)),
            (&pm_owner, Role::Pm, Err(Refusal::NotNamedOwner)),
            (&other_pm, Role::Dev, Err(Refusal::NotNamedOwner)),
            (&other_pm, Role::Qa, Err(Refusal::NotNamedOwner)),
            (&admin, Role::Ops, Ok(Role::Admin)),
            (&admin, Role::Pm, Ok(Role::Admin)),
            (&admin, Role::Dev, Ok(Role::Admin)),
            (&admin, Role::Qa, Ok(Role::Admin)),
            (&dev, Role::Qa, Err(Refusal::NotYourRole)),
            (&dev, Role::Dev, Err(Refusal::NotYourRole)),
            (&admin, Role::Admin, not_a_choice()),
            (&pm_owner, Role::Admin, not_a_choice()),
        ];
        for (who, role, expected) in cases {
            assert_eq!(may_reassign(&open, who, role), expected, "{:?} reassigns {role:?}", who.roles);
        }
        assert_eq!(may_reassign(&state(Stage::Closed), &admin, Role::Dev), Err(Refusal::WrongStage));
        let mut no_pm = state(Stage::AwaitingPm);
        no_pm.owners.pm = None;
        assert_eq!(may_reassign(&no_pm, &pm_owner, Role::Dev), Err(Refusal::NotNamedOwner), "only a named PM owner");
    }

    #[test]
    fn only_an_unowned_role_of_ones_own_can_be_claimed_on_an_open_incident() {
        let mut s = state(Stage::Testing);
        s.owners.qa = None;
        s.owners.ops = None;
        assert_eq!(
            may_claim(&s, &actor(5, Role::Ops), Role::Ops),
            Err(Refusal::WrongStage),
            "ops do not act in testing"
        );
        assert!(claimable_roles(&s, &actor(5, Role::Ops)).is_empty());
        let mut investigating = s.clone();
        investigating.stage = Stage::Investigating;
        assert_eq!(
            may_claim(&investigating, &actor(5, Role::Qa), Role::Qa),
            Err(Refusal::WrongStage),
            "QA acts from testing"
        );
        assert_eq!(may_claim(&s, &actor(5, Role::Qa), Role::Qa), Ok(()));
        assert_eq!(may_claim(&s, &actor(5, Role::Dev), Role::Qa), Err(Refusal::NotYourRole));
        assert_eq!(
            may_claim(&s, &actor(5, Role::Dev), Role::Dev),
            Err(Refusal::WrongStage),
            "dev does not act in testing"
        );
        let mut fixing = s.clone();
        fixing.stage = Stage::Fixing;
        assert_eq!(may_claim(&fixing, &actor(5, Role::Dev), Role::Dev), Err(Refusal::NotNamedOwner), "dev is owned");
        assert_eq!(
            may_claim(&s, &actor(5, Role::Admin), Role::Admin),
            Err(Refusal::Invalid { field: "role".into(), problem: FieldProblem::InvalidChoice })
        );
        assert_eq!(claimable_roles(&s, &actor(5, Role::Qa)), vec![Role::Qa]);
        assert!(claimable_roles(&s, &actor(5, Role::Dev)).is_empty(), "dev is owned");
        s.stage = Stage::Closed;
        assert_eq!(may_claim(&s, &actor(5, Role::Qa), Role::Qa), Err(Refusal::WrongStage));
        assert!(claimable_roles(&s, &actor(5, Role::Qa)).is_empty());
    }

    #[test]
    fn ops_report_incidents_and_pms_manage_the_pool() {
        for role in Role::ALL {
            assert_eq!(may_create_incident(&actor(1, role)).is_ok(), role == Role::Ops, "{role:?}");
            assert_eq!(may_manage_pool(&actor(1, role)).is_ok(), role == Role::Pm, "{role:?}");
        }
    }

    #[test]
    fn a_user_holding_the_role_who_is_not_the_named_owner_is_refused() {
        let s = state(Stage::Fixing);
        assert_eq!(may_act(&s, &actor(OTHER_DEV, Role::Dev), ActionKind::SubmitForTest), Err(Refusal::NotNamedOwner));
        assert_eq!(may_act(&s, &actor(DEV, Role::Dev), ActionKind::SubmitForTest), Ok(()));
    }

    #[test]
    fn while_a_role_has_no_owner_anyone_holding_it_claims_it() {
        let mut s = state(Stage::Fixing);
        s.owners.dev = None;
        let t = transition(&s, &actor(OTHER_DEV, Role::Dev), ActionKind::SubmitForTest, None, false).unwrap();
        assert_eq!(t.claim, Some(Role::Dev));
        assert_eq!(t.to, Stage::Testing);
        let t =
            transition(&state(Stage::Fixing), &actor(DEV, Role::Dev), ActionKind::SubmitForTest, None, false).unwrap();
        assert_eq!(t.claim, None);
    }

    #[test]
    fn admin_alone_gives_no_power_over_incidents() {
        let admin = Actor { id: 99, roles: vec![Role::Admin], ..Default::default() };
        for stage in Stage::ALL {
            assert!(available_actions(&state(stage), &admin).is_empty(), "{stage:?}");
        }
    }

    #[test]
    fn each_stage_offers_its_owner_exactly_its_actions() {
        let pm = actor(PM, Role::Pm);
        assert_eq!(
            available_actions(&state(Stage::ReleaseReview), &pm),
            vec![ActionKind::ApproveRelease, ActionKind::SendBackRelease]
        );
        assert_eq!(
            available_actions(&state(Stage::SolutionReview), &pm),
            vec![ActionKind::VerdictPm, ActionKind::SendBackSolution]
        );
        assert_eq!(
            available_actions(&state(Stage::SolutionReview), &actor(DEV, Role::Dev)),
            vec![ActionKind::VerdictDev]
        );
        assert!(available_actions(&state(Stage::Closed), &pm).is_empty());
    }

    #[test]
    fn verdicts_agreeing_move_on_and_disagreeing_stay() {
        let pm = actor(PM, Role::Pm);
        let dev = actor(DEV, Role::Dev);
        let mut s = state(Stage::SolutionReview);
        let t = transition(&s, &pm, ActionKind::VerdictPm, Some(true), false).unwrap();
        assert_eq!((t.to, t.verdict), (Stage::SolutionReview, Some((Role::Pm, true))));
        s.pm_verdict = Some(true);
        let t = transition(&s, &dev, ActionKind::VerdictDev, Some(false), false).unwrap();
        assert_eq!(t.to, Stage::SolutionReview, "disagreement keeps the stage");
        s.dev_verdict = Some(false);
        // Either may change theirs: the PM agrees it is not optimal, with the pool item.
        assert_eq!(
            transition(&s, &pm, ActionKind::VerdictPm, Some(false), false),
            Err(Refusal::Invalid { field: "pool_title".into(), problem: FieldProblem::Required })
        );
        let t = transition(&s, &pm, ActionKind::VerdictPm, Some(false), true).unwrap();
        assert_eq!((t.to, t.plan, t.creates_pool_item), (Stage::Fixing, Some(Plan::Interim), true));
        s.dev_verdict = Some(true);
        let t = transition(&s, &pm, ActionKind::VerdictPm, Some(true), false).unwrap();
        assert_eq!((t.to, t.plan), (Stage::Fixing, Some(Plan::Optimal)));
    }

    #[test]
    fn failures_and_send_backs_return_to_fixing_with_a_new_round() {
        for (stage, kind, who) in [
            (Stage::Testing, ActionKind::TestFail, actor(QA, Role::Qa)),
            (Stage::ReleaseReview, ActionKind::SendBackRelease, actor(PM, Role::Pm)),
            (Stage::Verifying, ActionKind::RegressionFail, actor(QA, Role::Qa)),
        ] {
            let t = transition(&state(stage), &who, kind, None, false).unwrap();
            assert_eq!((t.to, t.next_round), (Stage::Fixing, true), "{kind:?}");
        }
        let t =
            transition(&state(Stage::SolutionReview), &actor(PM, Role::Pm), ActionKind::SendBackSolution, None, false)
                .unwrap();
        assert_eq!((t.to, t.clear_verdicts, t.next_round), (Stage::Investigating, true, false));
    }

    #[test]
    fn the_happy_path_visits_every_stage_in_order() {
        let steps = [
            (ActionKind::TriageTechnical, actor(OPS, Role::Ops)),
            (ActionKind::Dispatch, actor(PM, Role::Pm)),
            (ActionKind::Propose, actor(DEV, Role::Dev)),
        ];
        let mut s = state(Stage::Reported);
        let mut visited = vec![s.stage];
        for (kind, who) in steps {
            s.stage = transition(&s, &who, kind, None, false).unwrap().to;
            visited.push(s.stage);
        }
        s.pm_verdict = Some(true);
        s.stage = transition(&s, &actor(DEV, Role::Dev), ActionKind::VerdictDev, Some(true), false).unwrap().to;
        visited.push(s.stage);
        for (kind, who) in [
            (ActionKind::SubmitForTest, actor(DEV, Role::Dev)),
            (ActionKind::TestPass, actor(QA, Role::Qa)),
            (ActionKind::ApproveRelease, actor(PM, Role::Pm)),
            (ActionKind::MarkReleased, actor(DEV, Role::Dev)),
            (ActionKind::RegressionPass, actor(QA, Role::Qa)),
            (ActionKind::ConfirmFollowup, actor(OPS, Role::Ops)),
            (ActionKind::SendReport, actor(PM, Role::Pm)),
        ] {
            s.stage = transition(&s, &who, kind, None, false).unwrap().to;
            visited.push(s.stage);
        }
        assert_eq!(visited, Stage::ALL.to_vec());
    }

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        for k in ActionKind::ALL {
            assert_eq!(TimelineAction::parse(k.as_str()), Some(TimelineAction::Gate(k)));
        }
        for a in [TimelineAction::Create, TimelineAction::Intake, TimelineAction::Claim, TimelineAction::Reassign] {
            assert_eq!(TimelineAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(Stage::parse("archived"), None);
    }
}
