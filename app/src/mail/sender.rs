//! The background sender: claims due emails, sends them over the one SMTP transport, records the
//! outcome, and sleeps until woken by a commit that queued mail or until the next poll.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use tokio::sync::Notify;

use super::{
    outbox::{self, Claimed},
    smtp::{SendError, Smtp},
};
use crate::{config::SmtpConfig, db::Db, error::AppError};

/// Wakes the outbox's senders (email and chat) right after a commit that may have queued
/// messages. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Wakeup {
    email: Arc<Notify>,
    chat: Arc<Notify>,
}

impl Wakeup {
    /// Tells the senders to look now (a wake-up while one is busy is kept for its next wait).
    pub fn wake(&self) {
        self.email.notify_one();
        self.chat.notify_one();
    }

    async fn wait(&self) {
        self.email.notified().await;
    }

    /// Waits for a wake-up meant for the chat sender.
    pub async fn wait_chat(&self) {
        self.chat.notified().await;
    }
}

/// Timing of the sender.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// How long a claim holds an email; a sender that died is replaced after this.
    pub lease: Duration,
    /// How often to look for due emails without a wake-up (retries come due this way).
    pub poll: Duration,
    /// The first retry's delay; each later one doubles it, up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest delay between retries.
    pub backoff_max: Duration,
    /// After this many attempts a transient failure counts as permanent.
    pub max_attempts: i64,
    /// Emails claimed at once.
    pub batch: i64,
}

impl Tuning {
    /// Production timing for an SMTP command timeout of `timeout`: the lease outlasts a whole
    /// SMTP conversation, retries spread over about a day.
    pub fn for_timeout(timeout: Duration) -> Self {
        Self {
            lease: (timeout * 10).max(Duration::from_secs(120)),
            poll: Duration::from_secs(15),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            max_attempts: 30,
            batch: 20,
        }
    }

    /// The delay before retry number `attempt` (1-based): exponential, capped, with jitter
    /// (between half and all of it) so that many failed emails do not retry in lock-step.
    pub fn backoff(&self, attempt: i64) -> Duration {
        let exp = u32::try_from(attempt.clamp(1, 30) - 1).unwrap_or(0);
        let full = self.backoff_base.saturating_mul(2u32.saturating_pow(exp)).min(self.backoff_max);
        let random = (uuid::Uuid::new_v4().as_u128() % 1_000) as u32;
        full / 2 + (full / 2) * random / 1_000
    }
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The mail server accepted the email.
    Sent,
    /// A transient failure; another attempt is scheduled.
    Retrying {
        /// The error.
        error: String,
    },
    /// A permanent failure, or the last attempt failed; no more attempts unless an admin asks.
    Failed {
        /// The error.
        error: String,
    },
}

/// Called once per attempt whose outcome is recorded, after the outbox row says so: logs it and
/// records it in the audit log (in a transaction of its own: the outcome is known only after the
/// SMTP conversation, outside any gate action). A failure to record is logged; the delivery
/// itself stands.
pub async fn on_delivery_outcome(db: &Db, email_id: i64, attempt: i64, outcome: &DeliveryOutcome) {
    use crate::audit::{
        event,
        store::{Origin, Record},
        Outcome,
    };
    let (event, result, error, will_retry) = match outcome {
        DeliveryOutcome::Sent => {
            tracing::info!(email = email_id, attempt, "email sent");
            (event::EMAIL_SENT, Outcome::Ok, None, false)
        }
        DeliveryOutcome::Retrying { error } => {
            tracing::warn!(email = email_id, attempt, %error, "email delayed");
            (event::EMAIL_FAILED, Outcome::Failed, Some(error.as_str()), true)
        }
        DeliveryOutcome::Failed { error } => {
            tracing::warn!(email = email_id, attempt, %error, "email failed");
            (event::EMAIL_FAILED, Outcome::Failed, Some(error.as_str()), false)
        }
    };
    let recorded = async {
        let row = crate::on_db!(db, pool => sqlx::query_as::<_, DeliveredRow>(
            "SELECT o.kind AS kind, o.recipients AS recipients, o.subject AS subject, o.message_id AS message_id, \
             i.key AS incident_key FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id WHERE o.id = $1",
        )
        .bind(email_id)
        .fetch_optional(pool)
        .await?);
        let mut details = match row {
            Some(row) => row.details()?,
            None => serde_json::json!({}),
        };
        details["attempt"] = attempt.into();
        if let Some(error) = error {
            details["error"] = error.into();
            details["will_retry"] = will_retry.into();
        }
        Record::new(&Origin::system("mailer"), event)
            .target("email", email_id.to_string())
            .outcome(result)
            .details(details)
            .record(db, Utc::now())
            .await
    }
    .await;
    if let Err(err) = recorded {
        tracing::error!(email = email_id, "cannot record a delivery in the audit log: {err}");
    }
}

/// What the audit log records about a delivered (or failed) email.
#[derive(sqlx::FromRow)]
struct DeliveredRow {
    kind: String,
    recipients: String,
    subject: String,
    message_id: String,
    incident_key: Option<String>,
}

impl DeliveredRow {
    /// The entry's details.
    fn details(self) -> Result<serde_json::Value, crate::db::UnknownStoredValue> {
        Ok(serde_json::json!({
            "kind": crate::db::parse_stored("outbox.kind", &self.kind, super::EmailKind::parse)?.as_str(),
            "recipients": outbox::stored_recipients(&self.recipients)?,
            "subject": self.subject,
            "message_id": self.message_id,
            "incident": self.incident_key,
        }))
    }
}

/// Delivers the outbox.
pub struct Sender {
    db: Db,
    smtp: Option<Smtp>,
    tuning: Tuning,
}

impl Sender {
    /// A sender over `db`; without `smtp` it only marks queued emails as not configured.
    pub fn new(db: Db, smtp: Option<&SmtpConfig>, tuning: Tuning) -> Result<Self, String> {
        let smtp = smtp.map(Smtp::new).transpose()?;
        Ok(Self { db, smtp, tuning })
    }

    /// One pass: claims the due emails and delivers them; returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let Some(smtp) = &self.smtp else {
            let parked = outbox::park_unconfigured(&self.db).await?;
            if parked > 0 {
                tracing::info!(emails = parked, "kept in the outbox: no SMTP server is configured (BATON_SMTP_HOST)");
            }
            return Ok(0);
        };
        let claimed = outbox::claim_due(&self.db, Utc::now(), self.tuning.lease, self.tuning.batch).await?;
        for email in &claimed {
            self.deliver(smtp, email).await?;
        }
        Ok(claimed.len())
    }

    /// Sends `email` to each recipient that does not have it yet, in a transaction of its own:
    /// a refused address (550) refuses only itself, a transient failure (451, a dropped
    /// connection) is retried for the recipients still waiting, and each acceptance is recorded
    /// before the next recipient, so a crash repeats the email to one recipient at most.
    async fn deliver(&self, smtp: &Smtp, email: &Claimed) -> Result<(), AppError> {
        let mut claim = email.clone();
        let mut transient = Vec::new();
        let mut permanent = Vec::new();
        match smtp.prepare(email) {
            Err(err) => permanent.push(err.message().to_owned()),
            Ok(prepared) => {
                let pending = claim.pending();
                for (i, recipient) in pending.iter().enumerate() {
                    match smtp.send_to(&prepared, recipient).await {
                        Ok(()) => {
                            claim.delivered.push(recipient.clone());
                            // The last acceptance is stored with the outcome below.
                            let more = i + 1 < pending.len();
                            if more && !outbox::mark_delivered(&self.db, &claim).await? {
                                tracing::warn!(email = email.id, attempt = email.attempt, "lease lost mid-delivery");
                                return Ok(());
                            }
                        }
                        Err(SendError::Transient(error)) => transient.push(format!("{recipient}: {error}")),
                        Err(SendError::Permanent(error)) => permanent.push(format!("{recipient}: {error}")),
                    }
                }
            }
        }
        let errors = || permanent.iter().chain(&transient).cloned().collect::<Vec<_>>().join("; ");
        let (recorded, outcome) = if transient.is_empty() && permanent.is_empty() {
            (outbox::mark_sent(&self.db, &claim, Utc::now()).await?, DeliveryOutcome::Sent)
        } else if !transient.is_empty() && email.attempt < self.tuning.max_attempts {
            let error = errors();
            let delay = chrono::Duration::from_std(self.tuning.backoff(email.attempt)).map_err(AppError::internal)?;
            (
                outbox::mark_retry(&self.db, &claim, Utc::now() + delay, &error).await?,
                DeliveryOutcome::Retrying { error },
            )
        } else {
            let error = errors();
            (outbox::mark_failed(&self.db, &claim, &error).await?, DeliveryOutcome::Failed { error })
        };
        let label = match outcome {
            DeliveryOutcome::Sent => "sent",
            DeliveryOutcome::Retrying { .. } => "retrying",
            DeliveryOutcome::Failed { .. } => "failed",
        };
        metrics::counter!("baton_outbox_deliveries_total", "transport" => "email", "outcome" => label).increment(1);
        if recorded {
            on_delivery_outcome(&self.db, email.id, email.attempt, &outcome).await;
        } else {
            // The lease ran out during the attempt and another claim owns the email now.
            tracing::warn!(email = email.id, attempt = email.attempt, "delivery outcome not recorded: lease lost");
        }
        Ok(())
    }

    /// Runs until `shutdown` completes: a pass whenever woken or every poll interval. An email
    /// being sent when shutdown comes is finished first.
    pub async fn run(self, wakeup: Wakeup, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            // Keep going while passes are full: a burst is sent without waiting for the poll.
            match self.run_once().await {
                Ok(n) if n as i64 >= self.tuning.batch => continue,
                Ok(_) => {}
                Err(err) => tracing::error!("email sender pass failed: {err}"),
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = wakeup.wait() => {}
                () = tokio::time::sleep(self.tuning.poll) => {}
            }
        }
        tracing::info!("email sender stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let t = Tuning {
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(100),
            max_attempts: 5,
            batch: 1,
        };
        for _ in 0..50 {
            let first = t.backoff(1);
            assert!(first >= Duration::from_secs(5) && first <= Duration::from_secs(10), "{first:?}");
            let third = t.backoff(3);
            assert!(third >= Duration::from_secs(20) && third <= Duration::from_secs(40), "{third:?}");
            let late = t.backoff(20);
            assert!(late >= Duration::from_secs(50) && late <= Duration::from_secs(100), "{late:?}");
        }
    }
}
