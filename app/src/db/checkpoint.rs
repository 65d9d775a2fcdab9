//! Checkpoints of SQLite's write-ahead log, run beside the writers rather than inside them.
//!
//! By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: that
//! commit copies the pages into the database file and waits for its `fsync`s while this process's
//! writer still holds its turn, so every writer queued behind it waits too (about a third of the
//! time under a stream of gate actions, `docs/BENCHMARKS.md`). Baton turns that off on the
//! writer's connection (`wal_autocheckpoint = 0`, see [`super::Writers`]) and checkpoints from one
//! of the readers' connections, on that connection's own thread, while the writer goes on:
//!
//! - a passive checkpoint (which never waits for anyone) once [`COMMITS_PER_CHECKPOINT`] write
//!   transactions have committed since the last one;
//! - one more, holding the writers back, when the log still holds [`RESTART_AFTER_FRAMES`] pages
//!   after it. Under a steady stream of writes a passive checkpoint never quite reaches the end of
//!   the log, and SQLite starts the log over (at the next write) only once one has. This one takes
//!   the writer's connection, in turn with the writers, so that they add nothing while it copies
//!   what is left, and runs on that connection's thread. It is passive too: a long read (a backup, an
//!   export) that still needs older pages of the log is never waited for, so the writers are held
//!   back for the copy only, and the log grows until that read ends, as SQLite's own checkpoints
//!   would let it.

use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc,
};

use sqlx::SqlitePool;

/// Write transactions committed between two passive checkpoints. A gate action writes about
/// 27 pages, so this is close to SQLite's own default of 1,000 pages.
pub const COMMITS_PER_CHECKPOINT: u32 = 40;

/// Pages in the log (4 KiB each: 64 MiB) past which a checkpoint holds the writers back to reach
/// its end, so that the log starts over.
pub const RESTART_AFTER_FRAMES: i64 = 16_384;

/// Marks the checkpointing task as no longer running when dropped.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Counts this process's commits and checkpoints the log when enough have been made.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    /// The readers' pool: a passive checkpoint runs on one of its connections, outside a
    /// transaction, hence on that connection's thread, never on the runtime's.
    readers: SqlitePool,
    /// The writer's pool of one, for a checkpoint that holds the writers back.
    writer: SqlitePool,
    /// Write transactions committed since the last checkpoint began.
    since: AtomicU32,
    /// Whether a checkpointing task is running (at most one is).
    running: AtomicBool,
}

impl Checkpointer {
    pub(crate) fn new(readers: SqlitePool, writer: SqlitePool) -> Arc<Self> {
        Arc::new(Checkpointer { readers, writer, since: AtomicU32::new(0), running: AtomicBool::new(false) })
    }

    /// Called after each committed write transaction: starts a checkpoint in a task of its own
    /// when one is due and none is running. Costs two atomic operations otherwise.
    pub(crate) fn committed(self: &Arc<Self>) {
        if self.since.fetch_add(1, Ordering::AcqRel) + 1 < COMMITS_PER_CHECKPOINT {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            // Whichever way the task ends (even cancelled with its runtime), it is no longer
            // running: otherwise no checkpoint would ever start again.
            let _running = Running(&this.running);
            loop {
                // The commits made while a checkpoint ran start the next one at once if they are
                // enough.
                let due = this.since.load(Ordering::Acquire);
                if due < COMMITS_PER_CHECKPOINT {
                    // A read-modify-write, as the commit's side is: a commit that came before it
                    // saw this task running and left the checkpoint to it, and is seen here.
                    this.running.swap(false, Ordering::AcqRel);
                    if this.since.load(Ordering::Acquire) < COMMITS_PER_CHECKPOINT
                        || this.running.swap(true, Ordering::AcqRel)
                    {
                        // Not dropped: `running` is now either false, as this task left it, or
                        // true for a task a commit has just started. Dropping the guard would
                        // clear that task's mark and let a third one run beside it.
                        std::mem::forget(_running);
                        return;
                    }
                    continue;
                }
                this.since.fetch_sub(due, Ordering::AcqRel);
                match this.checkpoint().await {
                    Ok(()) => {}
                    // The database is being closed; closing checkpoints it.
                    Err(sqlx::Error::PoolClosed) => return,
                    // Tried again after the next commits.
                    Err(e) => tracing::warn!("checkpoint of the SQLite write-ahead log failed: {e}"),
                }
            }
        });
    }

    async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
        // Even when it copied the whole log it saw, the writer has added to it meanwhile, and
        // SQLite starts the log over only after a checkpoint that reached its end: under a steady
        // stream of writes, only the one that holds the writers back does.
        let (_busy, log, _copied): (i64, i64, i64) = sqlx::query_as(PASSIVE).fetch_one(&self.readers).await?;
        if log >= RESTART_AFTER_FRAMES {
            let mut writer = self.writer.acquire().await?;
            let (_busy, log, copied): (i64, i64, i64) = sqlx::query_as(PASSIVE).fetch_one(&mut *writer).await?;
            tracing::debug!(log, copied, "checkpointed the SQLite write-ahead log with the writers held back");
        }
        Ok(())
    }
}
