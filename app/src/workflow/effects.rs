//! The one place where an accepted gate action's side effects join its transaction.
//!
//! The timeline entry and the audit entry are written by the engine itself; the queued emails
//! ([`crate::mail::on_transition`]) and chat messages ([`crate::chat::notify::on_transition`]) are
//! written here, with the same `tx` so they commit or roll back with the stage change.

use super::rules::{ActionKind, Owners, Stage};
use crate::{db::WriteTx, error::AppError};

/// What happened, for the effects to act on.
#[derive(Clone, Debug)]
pub struct TransitionEvent {
    /// The incident.
    pub incident_id: i64,
    /// Who acted.
    pub actor_id: i64,
    /// Which action.
    pub kind: ActionKind,
    /// Stage before.
    pub from: Stage,
    /// Stage after.
    pub to: Stage,
    /// Named owners after the action (the next stage's owners are among them).
    pub owners: Owners,
}

/// Whether the emails of this action quote the audit chain's head, so the action's own audit
/// entry must be appended before they are composed (the step-9 report's footer).
pub fn quotes_audit_head(kind: ActionKind) -> bool {
    kind == ActionKind::SendReport
}

/// Runs the side effects of an accepted action inside its transaction.
pub async fn on_transition(tx: &mut WriteTx, event: &TransitionEvent) -> Result<(), AppError> {
    tracing::info!(
        incident = event.incident_id,
        actor = event.actor_id,
        action = event.kind.as_str(),
        from = event.from.as_str(),
        to = event.to.as_str(),
        "gate action accepted"
    );
    let channels_enabled = crate::mail::on_transition(tx, event).await?;
    crate::chat::notify::on_transition(tx, event, channels_enabled, chrono::Utc::now()).await
}
