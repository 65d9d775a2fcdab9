//! Email: hand-off notifications and the step-9 report, through a transactional outbox.
//!
//! A gate action writes its emails into the `outbox` table inside its own transaction
//! ([`on_transition`], called from `workflow::effects`), so an email exists exactly when the
//! action committed. A background [`sender`] delivers them over SMTP with leases, retries and a
//! fixed Message-ID per email; without SMTP settings the emails stay in the outbox as
//! "not configured" and admins read them on the Outbox page.
//!
//! | part        | does                                                              |
//! |-------------|-------------------------------------------------------------------|
//! | [`outbox`]  | the table: enqueue, claim with a lease, record outcomes, list      |
//! | [`compose`] | which stage entry notifies whom, and the notification text        |
//! | [`report`]  | the report email, rendered from the incident's record              |
//! | [`smtp`]    | the one pooled SMTP transport and the failure classification       |
//! | [`sender`]  | the background loop                                               |

mod api;
mod pages;

#[cfg(feature = "ssr")]
pub mod compose;
#[cfg(feature = "ssr")]
pub mod html;
#[cfg(feature = "ssr")]
pub mod outbox;
#[cfg(feature = "ssr")]
pub mod report;
#[cfg(feature = "ssr")]
pub mod sender;
#[cfg(feature = "ssr")]
pub mod smtp;
#[cfg(feature = "test-support")]
pub mod test_sink;

pub use api::*;
pub use pages::{OutboxPage, ReportCopy};

#[cfg(feature = "ssr")]
pub use compose::on_transition;
#[cfg(feature = "ssr")]
pub use sender::{on_delivery_outcome, DeliveryOutcome, Wakeup};

use serde::{Deserialize, Serialize};

/// Where an email is on its way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    /// Waiting for the sender (first try or a retry after a transient failure).
    Queued,
    /// Claimed by a sender under a lease; retried when the lease runs out.
    Sending,
    /// Accepted by the mail server.
    Sent,
    /// Refused for good (5xx) or out of retries; an admin may retry it.
    Failed,
    /// No SMTP server is configured; kept, readable, and retried on an admin's request.
    NotConfigured,
}

impl EmailStatus {
    /// Every status.
    pub const ALL: [EmailStatus; 5] =
        [EmailStatus::Queued, EmailStatus::Sending, EmailStatus::Sent, EmailStatus::Failed, EmailStatus::NotConfigured];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Queued => "queued",
            EmailStatus::Sending => "sending",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
            EmailStatus::NotConfigured => "not_configured",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        EmailStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether an admin may send it again.
    pub fn retryable(self) -> bool {
        matches!(self, EmailStatus::Failed | EmailStatus::NotConfigured)
    }

    /// The label in the language of `t`.
    pub fn label(self, t: &crate::i18n::Strings) -> &'static str {
        match self {
            EmailStatus::Queued => t.mail_status_queued,
            EmailStatus::Sending => t.mail_status_sending,
            EmailStatus::Sent => t.mail_status_sent,
            EmailStatus::Failed => t.mail_status_failed,
            EmailStatus::NotConfigured => t.mail_status_not_configured,
        }
    }
}

/// What kind of email.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// A stage hand-off to the next owner.
    Notification,
    /// The step-9 result report.
    Report,
}

impl EmailKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Notification => "notification",
            EmailKind::Report => "report",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [EmailKind::Notification, EmailKind::Report].into_iter().find(|k| k.as_str() == name)
    }
}

/// One email as admins (and, for the report, the incident page) see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailView {
    /// Outbox row id.
    pub id: i64,
    /// Notification or report.
    pub kind: EmailKind,
    /// Key of the incident it is about.
    pub incident_key: Option<String>,
    /// Addresses.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// The plain-text part.
    pub body_text: String,
    /// The HTML part (every user text in it is escaped).
    pub body_html: String,
    /// Language tag the email is written in.
    pub language: String,
    /// The Message-ID header.
    pub message_id: String,
    /// Delivery status.
    pub status: EmailStatus,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (RFC 3339), for queued emails.
    pub next_attempt_at: String,
    /// The last delivery error (empty when none).
    pub last_error: String,
    /// When it was queued (RFC 3339).
    pub created_at: String,
    /// When the mail server accepted it (RFC 3339).
    pub sent_at: Option<String>,
    /// `email`, or `chat` for a chat channel's message (whose subject and text are its headline).
    pub transport: String,
    /// The chat channel's name, for a chat message.
    pub channel: Option<String>,
    /// For a chat message sent inside a digest: the message that carried it.
    pub digest_of: Option<i64>,
}
