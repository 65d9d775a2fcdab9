//! The audit log: who did what, when, from where, with what outcome, hash-chained so that any
//! rewrite, deletion or truncation is detectable.
//!
//! Entries are appended in the same transaction as the action they record ([`store::append`]);
//! refusals, whose own transaction rolls back, are recorded in a transaction of their own. The
//! database refuses UPDATE and DELETE on the table (triggers in the migrations), and
//! [`chain::Verifier`] checks the chain in the database or in an exported JSON Lines file.

mod api;
mod pages;

#[cfg(feature = "ssr")]
pub mod anchor;
#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod refusals;
#[cfg(feature = "ssr")]
pub mod store;

pub use api::*;
pub use pages::{AuditEntryPage, AuditPage};

use serde::{Deserialize, Serialize};

/// Event types, stable identifiers stored in the log (labels come from the locale files).
pub mod event {
    /// A sign-in attempt (ok, failed with the username tried, or denied while throttled).
    pub const LOGIN: &str = "auth.login";
    /// A sign-out.
    pub const LOGOUT: &str = "auth.logout";
    /// A session ended by an admin, a timeout, deactivation or a password change.
    pub const SESSION_ENDED: &str = "auth.session_ended";
    /// A user changed their own password.
    pub const PASSWORD_CHANGED: &str = "auth.password_changed";
    /// An admin created a user.
    pub const USER_CREATED: &str = "user.created";
    /// An admin changed a user's name, email or language.
    pub const USER_UPDATED: &str = "user.updated";
    /// An admin changed a user's roles.
    pub const USER_ROLES_CHANGED: &str = "user.roles_changed";
    /// An admin deactivated or reactivated a user.
    pub const USER_ACTIVATION: &str = "user.activation";
    /// An admin reset a user's password.
    pub const USER_PASSWORD_RESET: &str = "user.password_reset";
    /// An incident was reported.
    pub const INCIDENT_CREATED: &str = "incident.created";
    /// A gate action on an incident.
    pub const INCIDENT_ACTION: &str = "incident.action";
    /// A user claimed an unowned role on an incident.
    pub const INCIDENT_CLAIM: &str = "incident.claim";
    /// A role's owner was changed.
    pub const INCIDENT_REASSIGN: &str = "incident.reassign";
    /// A requirement pool item was added.
    pub const POOL_CREATED: &str = "pool.created";
    /// A requirement pool item's status or target release changed.
    pub const POOL_UPDATED: &str = "pool.updated";
    /// A request refused for lack of a role.
    pub const ACCESS_DENIED: &str = "access.denied";
    /// A state-changing request from another site, refused.
    pub const CROSS_SITE: &str = "request.cross_site";
    /// Requests from one address without a session, past the per-address rate and refused
    /// before reaching the database (recorded coalesced, see [`crate::audit::refusals`]).
    pub const RATE_LIMITED: &str = "request.rate_limited";
    /// An email was handed to the mail server.
    pub const EMAIL_SENT: &str = "email.sent";
    /// An email could not be delivered.
    pub const EMAIL_FAILED: &str = "email.failed";
    /// The audit log was read.
    pub const AUDIT_VIEWED: &str = "audit.viewed";
    /// The audit log was exported.
    pub const AUDIT_EXPORTED: &str = "audit.exported";
    /// The audit chain was verified.
    pub const AUDIT_VERIFIED: &str = "audit.verified";
    /// A setting was changed.
    pub const SETTINGS_CHANGED: &str = "settings.changed";
    /// An intake source delivered a report that became a new incident.
    pub const INTAKE_RECEIVED: &str = "intake.received";
    /// An intake delivery refused: unknown, paused or revoked token.
    pub const INTAKE_REFUSED: &str = "intake.refused";
    /// An admin created an intake source (and its token).
    pub const INTAKE_SOURCE_CREATED: &str = "intake.source_created";
    /// An admin paused or resumed an intake source.
    pub const INTAKE_SOURCE_UPDATED: &str = "intake.source_updated";
    /// An admin revoked an intake source's token.
    pub const INTAKE_SOURCE_REVOKED: &str = "intake.source_revoked";
    /// A stage clock's reminder, breach notice or escalation was queued.
    pub const CLOCK_NOTICE: &str = "incident.clock_notice";
    /// Ops paused an incident's clock while waiting for the user.
    pub const CLOCK_PAUSED: &str = "incident.clock_paused";
    /// Ops resumed a paused clock.
    pub const CLOCK_RESUMED: &str = "incident.clock_resumed";
    /// An admin added a chat channel.
    pub const CHANNEL_CREATED: &str = "chat.channel_created";
    /// An admin changed a chat channel (its URL or secret only as "changed", never the value).
    pub const CHANNEL_UPDATED: &str = "chat.channel_updated";
    /// An admin removed a chat channel.
    pub const CHANNEL_REMOVED: &str = "chat.channel_removed";
    /// A chat message reached its channel.
    pub const CHAT_SENT: &str = "chat.sent";
    /// A chat message was refused or is being retried.
    pub const CHAT_FAILED: &str = "chat.failed";
    /// A prevention measure was closed as done or dropped.
    pub const MEASURE_CLOSED: &str = "measure.closed";
    /// A comment was added to an incident.
    pub const COMMENT_ADDED: &str = "comment.added";
    /// A comment's author edited it (the text before is in the entry).
    pub const COMMENT_EDITED: &str = "comment.edited";
    /// An admin hid a comment (its text and the reason are in the entry).
    pub const COMMENT_HIDDEN: &str = "comment.hidden";
    /// Files were attached to an incident.
    pub const ATTACHMENT_ADDED: &str = "attachment.added";

    /// Every event type, for the filter.
    pub const ALL: &[&str] = &[
        LOGIN,
        LOGOUT,
        SESSION_ENDED,
        PASSWORD_CHANGED,
        USER_CREATED,
        USER_UPDATED,
        USER_ROLES_CHANGED,
        USER_ACTIVATION,
        USER_PASSWORD_RESET,
        INCIDENT_CREATED,
        INCIDENT_ACTION,
        INCIDENT_CLAIM,
        INCIDENT_REASSIGN,
        POOL_CREATED,
        POOL_UPDATED,
        ACCESS_DENIED,
        CROSS_SITE,
        RATE_LIMITED,
        EMAIL_SENT,
        EMAIL_FAILED,
        AUDIT_VIEWED,
        AUDIT_EXPORTED,
        AUDIT_VERIFIED,
        SETTINGS_CHANGED,
        INTAKE_RECEIVED,
        INTAKE_REFUSED,
        INTAKE_SOURCE_CREATED,
        INTAKE_SOURCE_UPDATED,
        INTAKE_SOURCE_REVOKED,
        CLOCK_NOTICE,
        CLOCK_PAUSED,
        CLOCK_RESUMED,
        CHANNEL_CREATED,
        CHANNEL_UPDATED,
        CHANNEL_REMOVED,
        CHAT_SENT,
        CHAT_FAILED,
        MEASURE_CLOSED,
        COMMENT_ADDED,
        COMMENT_EDITED,
        COMMENT_HIDDEN,
        ATTACHMENT_ADDED,
    ];
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused: not allowed, wrong stage, stale, cross-site.
    Denied,
    /// Tried and failed (wrong password, undeliverable email).
    Failed,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Denied, Outcome::Failed];

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == value)
    }
}

/// One entry of the log, exactly as stored (and as exported, one JSON object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When (UTC, RFC 3339 with microseconds).
    pub at: String,
    /// `user`, `anonymous`, `intake` or `system`.
    pub actor_kind: String,
    /// The user's id, for user actors.
    pub actor_id: Option<i64>,
    /// Username (or the username tried, for failed sign-ins), intake source or system part.
    pub actor_name: String,
    /// The actor's roles then, comma-separated.
    pub actor_roles: String,
    /// Client address.
    pub client_addr: String,
    /// Client user agent.
    pub user_agent: String,
    /// Event type (see [`event`]).
    pub event: String,
    /// What kind of thing was acted on: `incident`, `user`, `pool_item`, `email`, `audit`, ...
    pub target_kind: String,
    /// Which one: an incident key, a username, an id.
    pub target: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// Details as JSON text (before and after, for changes), stored verbatim.
    pub details: String,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over this entry's content and `prev_hash`, hex.
    pub hash: String,
}

/// Filters of the audit page and export. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Actor name, exact (usernames are stored as typed).
    pub actor: Option<String>,
    /// Event type, exact.
    pub event: Option<String>,
    /// Target (incident key, username), exact.
    pub target: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// From this time on (inclusive): a date `YYYY-MM-DD` or an RFC 3339 time.
    pub from: Option<String>,
    /// Before this time (exclusive; a date means the end of that day).
    pub to: Option<String>,
}

/// One page of the log, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPageView {
    /// The entries.
    pub items: Vec<AuditEntry>,
    /// `before` for the next (older) page, when there is one.
    pub next_before: Option<i64>,
}

/// The result of checking the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerifyReport {
    /// Every entry from 1 through `through` is intact and linked; `hash` is the head's hash.
    Verified {
        /// Last entry checked (0 for an empty log).
        through: i64,
        /// Hash of that entry (the head to record elsewhere).
        hash: String,
    },
    /// The first problem found.
    Broken {
        /// The entry where the chain breaks.
        at: i64,
        /// What is wrong there.
        reason: BreakReason,
    },
}

/// What is wrong where the chain breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The entry's content does not match its hash (edited).
    Altered,
    /// The entry does not link to the previous entry's hash (reordered or replaced).
    Unlinked,
    /// The entry is missing (deleted), or entries are out of order.
    Missing,
    /// Entries up to the recorded head are missing at the end (truncated).
    Truncated,
    /// The entry at the recorded head's position has another hash than recorded.
    HeadMismatch,
}
