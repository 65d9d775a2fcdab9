//! The background task that sends clock notices when they come due.
//!
//! It sleeps until the earliest `next_due_at` (never polling every second), and wakes early when
//! an incident changes (a move starts a clock whose reminder may be due sooner; on PostgreSQL the
//! changes of other instances arrive through the live-update relay). It still looks at least once
//! a minute, for clocks another instance started while no change reached this one. On start it
//! gives open incidents without a clock one ([`store::adopt`]), then sends whatever came due
//! while no process ran, once.

use std::{future::Future, sync::Arc, time::Duration};

use super::{notices, store};
use crate::{clock::Clock, db::Db, mail::Wakeup, workflow::live::Events};

/// Clocks handled per transaction.
const BATCH: i64 = 100;

/// The longest sleep without a look.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Sends the notices of due stage clocks.
pub struct Scheduler {
    db: Db,
    clock: Arc<dyn Clock>,
    mail: Wakeup,
    events: Events,
}

impl Scheduler {
    /// A scheduler over `db`, telling time by `clock`, waking the email sender after queuing.
    pub fn new(db: Db, clock: Arc<dyn Clock>, mail: Wakeup, events: Events) -> Self {
        Self { db, clock, mail, events }
    }

    /// One pass: every notice due now; returns how many were queued.
    pub async fn run_once(&self) -> Result<usize, crate::error::AppError> {
        let mut sent = 0;
        loop {
            let pass = notices::run_due(&self.db, self.clock.now(), BATCH).await?;
            sent += pass.sent.len();
            if !pass.sent.is_empty() {
                self.mail.wake();
            }
            if (pass.claimed as i64) < BATCH {
                return Ok(sent);
            }
        }
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        match store::adopt(&self.db, self.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(incidents = n, "started the stage clocks of incidents opened before clocks"),
            Err(err) => tracing::error!("cannot start the clocks of open incidents: {err}"),
        }
        let (mut changes, _closing) = self.events.subscribe();
        loop {
            if let Err(err) = self.run_once().await {
                tracing::error!("stage clock pass failed: {err}");
            }
            let sleep = match notices::next_due(&self.db).await {
                Ok(Some(due)) => (due - self.clock.now()).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
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
