//! The rule book of the incident process: stages, gate actions, who may take them and where they
//! lead. Pure: no I/O, compiled for the server (which enforces it) and the browser (which only
//! mirrors it to show each user their own actions).
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
//!
//! A gate action is accepted only from the named owner of its role on the incident, or, while that
//! role has no named owner, from any user holding the role, who thereby becomes it ("claim").

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

    /// The roles that act in this stage (two in solution review, none once closed).
    pub fn owner_roles(self) -> &'static [Role] {
        match self {
            Stage::Reported | Stage::UserFollowup => &[Role::Ops],
            Stage::AwaitingPm | Stage::ReleaseReview | Stage::Reporting => &[Role::Pm],
            Stage::Investigating | Stage::Fixing | Stage::Releasing => &[Role::Dev],
            Stage::SolutionReview => &[Role::Pm, Role::Dev],
            Stage::Testing | Stage::Verifying => &[Role::Qa],
            Stage::Closed => &[],
        }
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

    /// The stage in which the action is taken.
    pub fn stage(self) -> Stage {
        match self {
            ActionKind::TriageNonTechnical | ActionKind::TriageTechnical => Stage::Reported,
            ActionKind::Dispatch => Stage::AwaitingPm,
            ActionKind::Propose => Stage::Investigating,
            ActionKind::VerdictPm | ActionKind::VerdictDev | ActionKind::SendBackSolution => Stage::SolutionReview,
            ActionKind::SubmitForTest => Stage::Fixing,
            ActionKind::TestPass | ActionKind::TestFail => Stage::Testing,
            ActionKind::ApproveRelease | ActionKind::SendBackRelease => Stage::ReleaseReview,
            ActionKind::MarkReleased => Stage::Releasing,
            ActionKind::RegressionPass | ActionKind::RegressionFail => Stage::Verifying,
            ActionKind::ConfirmFollowup => Stage::UserFollowup,
            ActionKind::SendReport => Stage::Reporting,
        }
    }

    /// The role that takes the action.
    pub fn role(self) -> Role {
        match self {
            ActionKind::TriageNonTechnical | ActionKind::TriageTechnical | ActionKind::ConfirmFollowup => Role::Ops,
            ActionKind::Dispatch
            | ActionKind::VerdictPm
            | ActionKind::SendBackSolution
            | ActionKind::ApproveRelease
            | ActionKind::SendBackRelease
            | ActionKind::SendReport => Role::Pm,
            ActionKind::Propose | ActionKind::VerdictDev | ActionKind::SubmitForTest | ActionKind::MarkReleased => {
                Role::Dev
            }
            ActionKind::TestPass | ActionKind::TestFail | ActionKind::RegressionPass | ActionKind::RegressionFail => {
                Role::Qa
            }
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

/// How the fix is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// The proposed solution is the optimal one.
    Optimal,
    /// An interim fix now; the optimal solution waits in the requirement pool.
    Interim,
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

/// The effect of an accepted gate action on the incident row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// The stage after the action (may equal the current one: a disagreeing verdict).
    pub to: Option<Stage>,
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
    let mut t = Transition { claim, ..Transition::default() };
    match kind {
        ActionKind::TriageNonTechnical => {
            t.to = Some(Stage::Closed);
            t.resolution = Some(Resolution::NonTechnical);
        }
        ActionKind::TriageTechnical => t.to = Some(Stage::AwaitingPm),
        ActionKind::Dispatch => t.to = Some(Stage::Investigating),
        ActionKind::Propose => {
            t.to = Some(Stage::SolutionReview);
            t.clear_verdicts = true;
        }
        ActionKind::VerdictPm | ActionKind::VerdictDev => {
            let optimal =
                optimal.ok_or_else(|| Refusal::Invalid { field: "optimal".into(), problem: FieldProblem::Required })?;
            let (pm, dev) = if kind == ActionKind::VerdictPm {
                if !optimal && !pm_item_given {
                    return Err(Refusal::Invalid { field: "pool_title".into(), problem: FieldProblem::Required });
                }
                (Some(optimal), state.dev_verdict)
            } else {
                (state.pm_verdict, Some(optimal))
            };
            t.verdict = Some((role, optimal));
            t.creates_pool_item = kind == ActionKind::VerdictPm && !optimal;
            match (pm, dev) {
                (Some(true), Some(true)) => {
                    t.to = Some(Stage::Fixing);
                    t.plan = Some(Plan::Optimal);
                }
                (Some(false), Some(false)) => {
                    t.to = Some(Stage::Fixing);
                    t.plan = Some(Plan::Interim);
                }
                // Waiting for the other verdict, or they disagree: the stage stays.
                _ => t.to = Some(Stage::SolutionReview),
            }
        }
        ActionKind::SendBackSolution => {
            t.to = Some(Stage::Investigating);
            t.clear_verdicts = true;
        }
        ActionKind::SubmitForTest => t.to = Some(Stage::Testing),
        ActionKind::TestPass => t.to = Some(Stage::ReleaseReview),
        ActionKind::TestFail | ActionKind::SendBackRelease | ActionKind::RegressionFail => {
            t.to = Some(Stage::Fixing);
            t.next_round = true;
        }
        ActionKind::ApproveRelease => t.to = Some(Stage::Releasing),
        ActionKind::MarkReleased => t.to = Some(Stage::Verifying),
        ActionKind::RegressionPass => t.to = Some(Stage::UserFollowup),
        ActionKind::ConfirmFollowup => t.to = Some(Stage::Reporting),
        ActionKind::SendReport => {
            t.to = Some(Stage::Closed);
            t.resolution = Some(Resolution::Fixed);
        }
    }
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

    /// Every role × stage × action: exactly the cells of the table are allowed, and each refusal
    /// says why.
    #[test]
    fn only_the_named_owner_of_the_stage_role_may_act_in_each_stage() {
        let people = [(OPS, Role::Ops), (PM, Role::Pm), (DEV, Role::Dev), (QA, Role::Qa), (99, Role::Admin)];
        for stage in Stage::ALL {
            for (id, role) in people {
                for kind in ActionKind::ALL {
                    let result = may_act(&state(stage), &actor(id, role), kind);
                    let expected = if kind.stage() != stage {
                        Err(Refusal::WrongStage)
                    } else if kind.role() != role {
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
        assert_eq!(t.to, Some(Stage::Testing));
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
        assert_eq!((t.to, t.verdict), (Some(Stage::SolutionReview), Some((Role::Pm, true))));
        s.pm_verdict = Some(true);
        let t = transition(&s, &dev, ActionKind::VerdictDev, Some(false), false).unwrap();
        assert_eq!(t.to, Some(Stage::SolutionReview), "disagreement keeps the stage");
        s.dev_verdict = Some(false);
        // Either may change theirs: the PM agrees it is not optimal, with the pool item.
        assert_eq!(
            transition(&s, &pm, ActionKind::VerdictPm, Some(false), false),
            Err(Refusal::Invalid { field: "pool_title".into(), problem: FieldProblem::Required })
        );
        let t = transition(&s, &pm, ActionKind::VerdictPm, Some(false), true).unwrap();
        assert_eq!((t.to, t.plan, t.creates_pool_item), (Some(Stage::Fixing), Some(Plan::Interim), true));
        s.dev_verdict = Some(true);
        let t = transition(&s, &pm, ActionKind::VerdictPm, Some(true), false).unwrap();
        assert_eq!((t.to, t.plan), (Some(Stage::Fixing), Some(Plan::Optimal)));
    }

    #[test]
    fn failures_and_send_backs_return_to_fixing_with_a_new_round() {
        for (stage, kind, who) in [
            (Stage::Testing, ActionKind::TestFail, actor(QA, Role::Qa)),
            (Stage::ReleaseReview, ActionKind::SendBackRelease, actor(PM, Role::Pm)),
            (Stage::Verifying, ActionKind::RegressionFail, actor(QA, Role::Qa)),
        ] {
            let t = transition(&state(stage), &who, kind, None, false).unwrap();
            assert_eq!((t.to, t.next_round), (Some(Stage::Fixing), true), "{kind:?}");
        }
        let t =
            transition(&state(Stage::SolutionReview), &actor(PM, Role::Pm), ActionKind::SendBackSolution, None, false)
                .unwrap();
        assert_eq!((t.to, t.clear_verdicts, t.next_round), (Some(Stage::Investigating), true, false));
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
            s.stage = transition(&s, &who, kind, None, false).unwrap().to.unwrap();
            visited.push(s.stage);
        }
        s.pm_verdict = Some(true);
        s.stage =
            transition(&s, &actor(DEV, Role::Dev), ActionKind::VerdictDev, Some(true), false).unwrap().to.unwrap();
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
            s.stage = transition(&s, &who, kind, None, false).unwrap().to.unwrap();
            visited.push(s.stage);
        }
        assert_eq!(visited, Stage::ALL.to_vec());
    }

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
    }
}
