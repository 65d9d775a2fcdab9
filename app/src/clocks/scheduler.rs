//! The background task that sends clock notices when they come due.
//!
//! It sleeps until the earliest `next_due_at` (never polling every second), and wakes early when
//! an incident changes (a move starts a clock whose reminder may be due sooner; on PostgreSQL the
//! changes of other instances arrive through the live-update relay). It still looks at least once
//! a minute, for clocks another instance started while no change reached this one. After a pass
//! that failed, or left clocks due that others held, it waits 1 s, doubling up to a minute,
//! instead of spinning. On start it gives open incidents without a clock one ([`store::adopt`]),
//! then sends whatever came due while no process ran, once.

use std::{future::Future, sync::Arc, time::Duration};

use super::{notices, store};
use crate::{clock::Clock, db::Db, mail::Wakeup, workflow::live::Events};

/// Clocks handled per transaction.
const BATCH: i64 = 100;

/// The longest sleep without a look.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The shortest wait after a pass that failed or could not take the due clocks (another instance
/// or a gate action held them); it doubles up to [`MAX_SLEEP`].
const RETRY: Duration = Duration::from_secs(1);

/// Sends the notices of due stage clocks.
pub struct Scheduler {
    db: Db,
    clock: Arc<dyn Clock>,
    mail: Wakeup,
    events: Events,
    passes: tokio::sync::watch::Sender<u64>,
}

impl Scheduler {
    /// A scheduler over `db`, telling time by `clock`, waking the email sender after queuing.
    pub fn new(db: Db, clock: Arc<dyn Clock>, mail: Wakeup, events: Events) -> Self {
        Self { db, clock, mail, events, passes: tokio::sync::watch::channel(0).0 }
    }

    /// Counts the passes done (for tests and support: "has it looked yet?").
    pub fn passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.passes.subscribe()
    }

    /// One pass: every notice due now, and the reminders of overdue prevention measures; returns
    /// how many were queued.
    pub async fn run_once(&self) -> Result<usize, crate::error::AppError> {
        let mut sent = 0;
        loop {
            let pass = notices::run_due(&self.db, self.clock.now(), BATCH).await?;
            sent += pass.sent.len();
            if !pass.sent.is_empty() {
                self.mail.wake();
            }
            if (pass.claimed as i64) < BATCH {
                break;
            }
        }
        // After the clocks: a failure here does not hold back their notices.
        let reminded = crate::insight::remind::run_due(&self.db, self.clock.now()).await?;
        if reminded > 0 {
            self.mail.wake();
        }
        Ok(sent + reminded)
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let (mut changes, _closing) = self.events.subscribe();
        let mut adopted = false;
        let mut retry = RETRY;
        loop {
            // Until it succeeds once (a failure is retried at the next look).
            if !adopted {
                match store::adopt(&self.db, self.clock.now()).await {
                    Ok(n) => {
                        adopted = true;
                        if n > 0 {
                            tracing::info!(incidents = n, "started the stage clocks of open incidents without one");
                        }
                    }
                    Err(err) => tracing::error!("cannot start the clocks of open incidents: {err}"),
                }
            }
            let ok = match self.run_once().await {
                Ok(_) => true,
                Err(err) => {
                    tracing::error!("stage clock pass failed: {err}");
                    false
                }
            };
            self.passes.send_modify(|n| *n += 1);
            let now = self.clock.now();
            let sleep = match notices::next_due(&self.db).await {
                // Still due after a pass: failed, or held by someone else. Wait, longer each time,
                // rather than spin.
                Ok(Some(due)) if !ok || due <= now => {
                    let wait = retry;
                    retry = (retry * 2).min(MAX_SLEEP);
                    wait
                }
                Ok(Some(due)) => {
                    retry = RETRY;
                    (due - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP)
                }
                Ok(None) => {
                    retry = RETRY;
                    MAX_SLEEP
                }
                Err(err) => {
                    tracing::error!("cannot read the next due stage clock: {err}");
                    MAX_SLEEP
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                // Any change (or a lagged receiver) is a reason to look again; a burst of
                // changes is one look.
                _ = changes.recv() => while changes.try_recv().is_ok() {},
                () = tokio::time::sleep(sleep) => {}
            }
        }
        tracing::info!("stage clock scheduler stopped");
    }
}
