//! The server's background tasks (the email sender, the refusal housekeeping, the audit anchor):
//! each spawned with a signal that says when to stop, and stopped at shutdown once requests are
//! done, so each can finish its last piece of work.

use std::{future::Future, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

/// Completes when the task is asked to stop.
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    /// Waits for the request to stop.
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// A running background task and the switch that ends it.
pub struct Background {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Background {
    /// Spawns the future `work` makes of the stop signal.
    pub fn spawn<F>(work: impl FnOnce(Stopping) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopping) = watch::channel(false);
        Self { stop, task: tokio::spawn(work(Stopping(stopping))) }
    }

    /// Asks the task to stop and waits for it, for at most `limit` when given; whether it ended
    /// (a task still running then is abandoned).
    pub async fn stop(self, limit: Option<Duration>) -> bool {
        let _ = self.stop.send(true);
        let mut task = self.task;
        match limit {
            None => {
                let _ = (&mut task).await;
                true
            }
            Some(limit) => {
                let ended = tokio::time::timeout(limit, &mut task).await.is_ok();
                if !ended {
                    task.abort();
                }
                ended
            }
        }
    }
}
