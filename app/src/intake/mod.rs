//! Intake: reports that arrive by email, SMS or a feedback system's webhook become incidents in
//! `reported` without anyone retyping them.
//!
//! Each sender is an intake source managed by admins ([`IntakePage`]): a name, a channel and a
//! bearer token that is shown once and stored only as a SHA-256 hash. The HTTP endpoints that
//! take the deliveries live in the server crate; they authenticate the token ([`store`]), limit
//! each source's rate ([`rate`]), turn the payload into a [`Report`] ([`parse`] for email and
//! SMS) and hand it to [`crate::workflow::engine::create_from_intake`], which is idempotent on
//! (source, external id).

mod api;
mod pages;

#[cfg(feature = "ssr")]
pub mod parse;
#[cfg(feature = "ssr")]
pub mod rate;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod tokens;

pub use api::*;
pub use pages::IntakePage;

use serde::{Deserialize, Serialize};

use crate::workflow::input::Channel;

/// The kind of sender an intake source is; it decides which endpoint the source may use and the
/// channel its incidents carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceChannel {
    /// A mail provider's inbound webhook (raw RFC 5322 messages).
    Email,
    /// An SMS gateway's webhook (sender number and text).
    Sms,
    /// The feedback system's notifications (JSON).
    FeedbackSystem,
    /// Anything else that posts JSON.
    Other,
}

impl SourceChannel {
    /// Every channel, in the order the admin page offers them.
    pub const ALL: [SourceChannel; 4] =
        [SourceChannel::Email, SourceChannel::Sms, SourceChannel::FeedbackSystem, SourceChannel::Other];

    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        self.incident_channel().as_str()
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        SourceChannel::ALL.into_iter().find(|c| c.as_str() == name.trim())
    }

    /// The channel of the incidents this source creates.
    pub fn incident_channel(self) -> Channel {
        match self {
            SourceChannel::Email => Channel::Email,
            SourceChannel::Sms => Channel::Sms,
            SourceChannel::FeedbackSystem => Channel::FeedbackSystem,
            SourceChannel::Other => Channel::Other,
        }
    }
}

/// An intake source as the admin page lists it (never the token, only its first characters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceView {
    /// Row id.
    pub id: i64,
    /// Name, unique; the audit log names the source by it.
    pub name: String,
    /// Channel.
    pub channel: SourceChannel,
    /// The token's prefix and first characters, to tell tokens apart.
    pub token_hint: String,
    /// Accepts deliveries (an admin may pause a source and resume it).
    pub enabled: bool,
    /// Revoked for good: its token is refused from now on.
    pub revoked: bool,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last accepted delivery (RFC 3339), if any.
    pub last_used_at: Option<String>,
}

/// A new source and its token, which is shown this once and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedSource {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The bearer token.
    pub token: String,
}

/// One report as delivered by a source, whatever the channel, before it becomes an incident.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Short summary.
    pub title: String,
    /// What the user wrote.
    pub description: String,
    /// The sender's hint; ops sets the real severity at triage.
    pub severity: Option<crate::workflow::input::Severity>,
    /// Who reported it.
    pub reporter_name: String,
    /// Their email address, if known.
    pub reporter_email: String,
    /// Their phone number, if known.
    pub reporter_phone: String,
    /// The delivery's id in the sending system (Message-ID, SMS id, ticket number); deliveries
    /// with the same id from the same source are one report.
    pub external_id: String,
    /// When the sending system received it, if it says.
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Files that came with it (an email's attachments and inline images), checked and ready to
    /// store with the incident.
    pub attachments: Vec<crate::collab::files::Prepared>,
}

/// Tells the ops users that a report arrived, inside the transaction that created the incident.
///
/// The one call site of the ops notification, run by
/// [`crate::workflow::engine::create_from_intake`] for every new intake incident (never for a
/// repeated delivery), so the emails commit or roll back with the incident.
#[cfg(feature = "ssr")]
pub async fn notify_ops_of_intake(tx: &mut crate::db::WriteTx, incident_id: i64) -> Result<(), crate::error::AppError> {
    crate::mail::compose::notify_ops_of_intake(tx, incident_id).await?;
    crate::chat::notify::on_intake(tx, incident_id, chrono::Utc::now()).await
}
