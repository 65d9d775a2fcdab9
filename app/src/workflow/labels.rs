//! The words for stages, actions and channels in the user's language.

use super::{
    input::Channel,
    rules::{ActionKind, Stage, TimelineAction},
};
use crate::{i18n::Strings, pool::PoolStatus};

/// A stage's name.
pub fn stage(stage: Stage, t: &'static Strings) -> &'static str {
    match stage {
        Stage::Reported => t.stage_reported,
        Stage::AwaitingPm => t.stage_awaiting_pm,
        Stage::Investigating => t.stage_investigating,
        Stage::SolutionReview => t.stage_solution_review,
        Stage::Fixing => t.stage_fixing,
        Stage::Testing => t.stage_testing,
        Stage::ReleaseReview => t.stage_release_review,
        Stage::Releasing => t.stage_releasing,
        Stage::Verifying => t.stage_verifying,
        Stage::UserFollowup => t.stage_user_followup,
        Stage::Reporting => t.stage_reporting,
        Stage::Closed => t.stage_closed,
    }
}

/// A gate action's name.
pub fn action(kind: ActionKind, t: &'static Strings) -> &'static str {
    match kind {
        ActionKind::TriageNonTechnical => t.action_triage_non_technical,
        ActionKind::TriageTechnical => t.action_triage_technical,
        ActionKind::Dispatch => t.action_dispatch,
        ActionKind::Propose => t.action_propose,
        ActionKind::VerdictPm => t.action_verdict_pm,
        ActionKind::VerdictDev => t.action_verdict_dev,
        ActionKind::SendBackSolution => t.action_send_back_solution,
        ActionKind::SubmitForTest => t.action_submit_for_test,
        ActionKind::TestPass => t.action_test_pass,
        ActionKind::TestFail => t.action_test_fail,
        ActionKind::ApproveRelease => t.action_approve_release,
        ActionKind::SendBackRelease => t.action_send_back_release,
        ActionKind::MarkReleased => t.action_mark_released,
        ActionKind::RegressionPass => t.action_regression_pass,
        ActionKind::RegressionFail => t.action_regression_fail,
        ActionKind::ConfirmFollowup => t.action_confirm_followup,
        ActionKind::SendReport => t.action_send_report,
    }
}

/// The words on a gate action's button: a verb for what pressing it does.
pub fn button(kind: ActionKind, t: &'static Strings) -> &'static str {
    match kind {
        ActionKind::TriageNonTechnical => t.button_triage_non_technical,
        ActionKind::TriageTechnical => t.button_triage_technical,
        ActionKind::Dispatch => t.button_dispatch,
        ActionKind::Propose => t.button_propose,
        ActionKind::VerdictPm | ActionKind::VerdictDev => t.button_verdict,
        ActionKind::SendBackSolution => t.button_send_back_solution,
        ActionKind::SubmitForTest => t.button_submit_for_test,
        ActionKind::TestPass => t.button_test_pass,
        ActionKind::TestFail => t.button_test_fail,
        ActionKind::ApproveRelease => t.button_approve_release,
        ActionKind::SendBackRelease => t.button_send_back_release,
        ActionKind::MarkReleased => t.button_mark_released,
        ActionKind::RegressionPass => t.button_regression_pass,
        ActionKind::RegressionFail => t.button_regression_fail,
        ActionKind::ConfirmFollowup => t.button_confirm_followup,
        ActionKind::SendReport => t.button_send_report,
    }
}

/// A timeline entry's action name (gate actions plus create, claim and reassign).
pub fn timeline_action(entry: TimelineAction, t: &'static Strings) -> &'static str {
    match entry {
        TimelineAction::Create => t.action_create,
        TimelineAction::Claim => t.action_claim,
        TimelineAction::Reassign => t.action_reassign,
        TimelineAction::Intake => t.action_intake,
        TimelineAction::Pause => t.action_pause,
        TimelineAction::Resume => t.action_resume,
        TimelineAction::ClockReminder => t.action_clock_reminder,
        TimelineAction::ClockBreach => t.action_clock_breach,
        TimelineAction::ClockEscalation => t.action_clock_escalation,
        TimelineAction::Gate(kind) => action(kind, t),
    }
}

/// A channel's name.
pub fn channel(channel: Channel, t: &'static Strings) -> &'static str {
    match channel {
        Channel::Email => t.channel_email,
        Channel::Sms => t.channel_sms,
        Channel::FeedbackSystem => t.channel_feedback_system,
        Channel::Phone => t.channel_phone,
        Channel::Other => t.channel_other,
    }
}

/// A pool status's name.
pub fn pool_status(status: PoolStatus, t: &'static Strings) -> &'static str {
    match status {
        PoolStatus::Open => t.pool_status_open,
        PoolStatus::Scheduled => t.pool_status_scheduled,
        PoolStatus::Done => t.pool_status_done,
    }
}
