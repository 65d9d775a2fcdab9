use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use futures_channel::oneshot;
use futures_intrusive::sync::{Mutex, MutexGuard};
use tracing::span::Span;

use sqlx_core::describe::Describe;
use sqlx_core::error::Error;
use sqlx_core::transaction::{
    begin_ansi_transaction_sql, commit_ansi_transaction_sql, rollback_ansi_transaction_sql,
};
use sqlx_core::Either;

use crate::connection::describe::describe;
use crate::connection::establish::EstablishParams;
use crate::connection::execute;
use crate::connection::ConnectionState;
use crate::{Sqlite, SqliteArguments, SqliteQueryResult, SqliteRow, SqliteStatement};

use super::serialize::{deserialize, serialize, SchemaName, SqliteOwnedBuf};

// Each SQLite connection has a dedicated thread.

// TODO: Tweak this so that we can use a thread pool per pool of SQLite3 connections to reduce
//       OS resource usage. Low priority because a high concurrent load for SQLite3 is very
//       unlikely.

pub(crate) struct ConnectionWorker {
    command_tx: flume::Sender<(Command, tracing::Span)>,
    /// Mutex for locking access to the database.
    pub(crate) shared: Arc<WorkerSharedState>,
}

pub(crate) struct WorkerSharedState {
    transaction_depth: AtomicUsize,
    cached_statements_size: AtomicUsize,
    /// Commands sent to the worker thread and not finished yet: a statement is run on the
    /// caller's thread only when none is, so that statements run in the order they were issued.
    queued: AtomicUsize,
    /// Set when the worker thread ended a transaction whose caller stopped waiting for the
    /// answer: the `Transaction`, still open in the caller's view, will ask for a rollback when
    /// dropped, which must be ignored. Shared, because that rollback may run on the caller's
    /// thread, and a stale flag would skip a later, real rollback.
    ignore_next_start_rollback: AtomicBool,
    /// Whether transactions run on the caller's thread (`SqliteConnectOptions::transactions_on_caller`).
    on_caller: bool,
    pub(crate) conn: Mutex<ConnectionState>,
}

impl WorkerSharedState {
    pub(crate) fn get_transaction_depth(&self) -> usize {
        self.transaction_depth.load(Ordering::Acquire)
    }

    pub(crate) fn get_cached_statements_size(&self) -> usize {
        self.cached_statements_size.load(Ordering::Acquire)
    }
}

enum Command {
    Prepare {
        query: Box<str>,
        tx: oneshot::Sender<Result<SqliteStatement<'static>, Error>>,
    },
    Describe {
        query: Box<str>,
        tx: oneshot::Sender<Result<Describe<Sqlite>, Error>>,
    },
    Execute {
        query: Box<str>,
        arguments: Option<SqliteArguments<'static>>,
        persistent: bool,
        tx: flume::Sender<Result<Either<SqliteQueryResult, SqliteRow>, Error>>,
        limit: Option<usize>,
    },
    Serialize {
        schema: Option<SchemaName>,
        tx: oneshot::Sender<Result<SqliteOwnedBuf, Error>>,
    },
    Deserialize {
        schema: Option<SchemaName>,
        data: SqliteOwnedBuf,
        read_only: bool,
        tx: oneshot::Sender<Result<(), Error>>,
    },
    Begin {
        tx: rendezvous_oneshot::Sender<Result<(), Error>>,
        statement: Option<Cow<'static, str>>,
    },
    Commit {
        tx: rendezvous_oneshot::Sender<Result<(), Error>>,
    },
    Rollback {
        tx: Option<rendezvous_oneshot::Sender<Result<(), Error>>>,
    },
    ClearCache {
        tx: oneshot::Sender<()>,
    },
    Ping {
        tx: oneshot::Sender<()>,
    },
    Shutdown {
        tx: oneshot::Sender<()>,
    },
}

impl ConnectionWorker {
    pub(crate) async fn establish(params: EstablishParams) -> Result<Self, Error> {
        let (establish_tx, establish_rx) = oneshot::channel();

        thread::Builder::new()
            .name(params.thread_name.clone())
            .spawn(move || {
                let (command_tx, command_rx) = flume::bounded(params.command_channel_size);

                let conn = match params.establish() {
                    Ok(conn) => conn,
                    Err(e) => {
                        establish_tx.send(Err(e)).ok();
                        return;
                    }
                };

                let on_caller = params.transactions_on_caller;
                let shared = Arc::new(WorkerSharedState {
                    transaction_depth: AtomicUsize::new(0),
                    cached_statements_size: AtomicUsize::new(0),
                    queued: AtomicUsize::new(0),
                    ignore_next_start_rollback: AtomicBool::new(false),
                    on_caller,
                    // fair: the worker thread locks it again for each command, and must not
                    // overtake a caller that is already waiting for it.
                    conn: Mutex::new(conn, true),
                });
                if establish_tx
                    .send(Ok(Self {
                        command_tx,
                        shared: Arc::clone(&shared),
                    }))
                    .is_err()
                {
                    return;
                }

                // If COMMIT or ROLLBACK is processed but not acknowledged, there would be another
                // ROLLBACK sent when the `Transaction` drops. We need to ignore it otherwise we
                // would rollback an already completed transaction.

                // The connection is locked per command (not for the thread's whole life), so that
                // the caller may lock it between commands and run statements on its own thread.
                for (cmd, span) in command_rx {
                    let _guard = span.enter();
                    let mut conn = futures_executor::block_on(shared.conn.lock());
                    if on_caller {
                        conn.wait_when_busy(true);
                    }
                    let _done = Finished { shared: &shared };
                    match cmd {
                        Command::Prepare { query, tx } => {
                            tx.send(prepare(&mut conn, &query).map(|prepared| {
                                update_cached_statements_size(
                                    &conn,
                                    &shared.cached_statements_size,
                                );
                                prepared
                            }))
                            .ok();
                        }
                        Command::Describe { query, tx } => {
                            tx.send(describe(&mut conn, &query)).ok();
                        }
                        Command::Execute {
                            query,
                            arguments,
                            persistent,
                            tx,
                            limit
                        } => {
                            let iter = match execute::iter(&mut conn, &query, arguments, persistent)
                            {
                                Ok(iter) => iter,
                                Err(e) => {
                                    tx.send(Err(e)).ok();
                                    continue;
                                }
                            };

                            match limit {
                                None => {
                                    for res in iter {
                                        let has_error = res.is_err();
                                        if tx.send(res).is_err() || has_error {
                                            break;
                                        }
                                    }
                                },
                                Some(limit) => {
                                    let mut iter = iter;
                                    let mut rows_returned = 0;

                                    while let Some(res) = iter.next() {
                                        if let Ok(ok) = &res {
                                            if ok.is_right() {
                                                rows_returned += 1;
                                                if rows_returned >= limit {
                                                    drop(iter);
                                                    let _ = tx.send(res);
                                                    break;
                                                }
                                            }
                                        }
                                        let has_error = res.is_err();
                                        if tx.send(res).is_err() || has_error {
                                            break;
                                        }
                                    }
                                },
                            }

                            update_cached_statements_size(&conn, &shared.cached_statements_size);
                        }
                        Command::Begin { tx, statement } => {
                            let depth = shared.transaction_depth.load(Ordering::Acquire);

                            let statement = match statement {
                                // custom `BEGIN` statements are not allowed if
                                // we're already in a transaction (we need to
                                // issue a `SAVEPOINT` instead)
                                Some(_) if depth > 0 => {
                                    if tx.blocking_send(Err(Error::InvalidSavePointStatement)).is_err() {
                                        break;
                                    }
                                    continue;
                                },
                                Some(statement) => statement,
                                None => begin_ansi_transaction_sql(depth),
                            };
                            let res =
                                conn.handle
                                    .exec(statement)
                                    .map(|_| {
                                        shared.transaction_depth.fetch_add(1, Ordering::Release);
                                    });
                            let res_ok = res.is_ok();

                            if tx.blocking_send(res).is_err() && res_ok {
                                // The BEGIN was processed but not acknowledged. This means no
                                // `Transaction` was created and so there is no way to commit /
                                // rollback this transaction. We need to roll it back
                                // immediately otherwise it would remain started forever.
                                if let Err(error) = conn
                                    .handle
                                    .exec(rollback_ansi_transaction_sql(depth + 1))
                                    .map(|_| {
                                        shared.transaction_depth.fetch_sub(1, Ordering::Release);
                                    })
                                {
                                    // The rollback failed. To prevent leaving the connection
                                    // in an inconsistent state we shutdown this worker which
                                    // causes any subsequent operation on the connection to fail.
                                    tracing::error!(%error, "failed to rollback cancelled transaction");
                                    break;
                                }
                            }
                        }
                        Command::Commit { tx } => {
                            let depth = shared.transaction_depth.load(Ordering::Acquire);

                            let res = if depth > 0 {
                                conn.handle
                                    .exec(commit_ansi_transaction_sql(depth))
                                    .map(|_| {
                                        shared.transaction_depth.fetch_sub(1, Ordering::Release);
                                    })
                            } else {
                                Ok(())
                            };
                            let res_ok = res.is_ok();

                            if tx.blocking_send(res).is_err() && res_ok {
                                // The COMMIT was processed but not acknowledged. This means that
                                // the `Transaction` doesn't know it was committed and will try to
                                // rollback on drop. We need to ignore that rollback.
                                shared.ignore_next_start_rollback.store(true, Ordering::Release);
                            }
                        }
                        Command::Rollback { tx } => {
                            if tx.is_none()
                                && shared
                                    .ignore_next_start_rollback
                                    .swap(false, Ordering::AcqRel)
                            {
                                continue;
                            }

                            let depth = shared.transaction_depth.load(Ordering::Acquire);

                            let res = if depth > 0 {
                                conn.handle
                                    .exec(rollback_ansi_transaction_sql(depth))
                                    .map(|_| {
                                        shared.transaction_depth.fetch_sub(1, Ordering::Release);
                                    })
                            } else {
                                Ok(())
                            };

                            let res_ok = res.is_ok();

                            if let Some(tx) = tx {
                                if tx.blocking_send(res).is_err() && res_ok {
                                    // The ROLLBACK was processed but not acknowledged. This means
                                    // that the `Transaction` doesn't know it was rolled back and
                                    // will try to rollback again on drop. We need to ignore that
                                    // rollback.
                                    shared.ignore_next_start_rollback.store(true, Ordering::Release);
                                }
                            }
                        }
                        Command::Serialize { schema, tx } => {
                            tx.send(serialize(&mut conn, schema)).ok();
                        }
                        Command::Deserialize { schema, data, read_only, tx } => {
                            tx.send(deserialize(&mut conn, schema, data, read_only)).ok();
                        }
                        Command::ClearCache { tx } => {
                            conn.statements.clear();
                            update_cached_statements_size(&conn, &shared.cached_statements_size);
                            tx.send(()).ok();
                        }
                        Command::Ping { tx } => {
                            tx.send(()).ok();
                        }
                        Command::Shutdown { tx } => {
                            // drop the connection references before sending confirmation
                            // and ending the command loop
                            drop(_done);
                            drop(conn);
                            drop(shared);
                            let _ = tx.send(());
                            return;
                        }
                    }
                }
            })?;

        establish_rx.await.map_err(|_| Error::WorkerCrashed)?
    }

    /// The connection, locked for a statement on the caller's thread: `BEGIN` and what follows
    /// it up to `COMMIT` or `ROLLBACK` (`in_transaction`), when the connection was opened with
    /// `SqliteConnectOptions::transactions_on_caller`. `None` otherwise, and while commands sent to
    /// the worker thread are not finished (they run first, in order).
    async fn on_caller(&self, in_transaction: bool) -> Option<MutexGuard<'_, ConnectionState>> {
        if !self.shared.on_caller || (in_transaction && self.shared.get_transaction_depth() == 0) {
            return None;
        }
        let mut conn = self.shared.conn.lock().await;
        if self.shared.queued.load(Ordering::Acquire) > 0 {
            return None;
        }
        conn.wait_when_busy(false);
        Some(conn)
    }

    /// Sends a command to the worker thread, counted in `queued` until the thread finishes it.
    async fn send(&self, command: Command) -> Result<(), Error> {
        // Counted before sending: the thread may finish it before the send returns.
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        let uncount = |_| unsent(&self.shared);
        match self.command_tx.try_send((command, Span::current())) {
            Ok(()) => Ok(()),
            Err(flume::TrySendError::Disconnected(_)) => Err(unsent(&self.shared)),
            // A full channel: if this future is dropped while waiting, flume may still deliver
            // the command, so the count is not taken back then. At worst it stays above the
            // truth, which only sends this connection's later statements to its thread.
            Err(flume::TrySendError::Full(command)) => {
                self.command_tx.send_async(command).await.map_err(uncount)
            }
        }
    }

    pub(crate) async fn prepare(&mut self, query: &str) -> Result<SqliteStatement<'static>, Error> {
        if let Some(mut conn) = self.on_caller(true).await {
            let prepared = prepare(&mut conn, query);
            update_cached_statements_size(&conn, &self.shared.cached_statements_size);
            match prepared {
                Err(err) if is_busy(&err) => {}
                prepared => return prepared,
            }
        }
        self.oneshot_cmd(|tx| Command::Prepare {
            query: query.into(),
            tx,
        })
        .await?
    }

    pub(crate) async fn describe(&mut self, query: &str) -> Result<Describe<Sqlite>, Error> {
        self.oneshot_cmd(|tx| Command::Describe {
            query: query.into(),
            tx,
        })
        .await?
    }

    pub(crate) async fn execute(
        &mut self,
        query: &str,
        args: Option<SqliteArguments<'_>>,
        chan_size: usize,
        persistent: bool,
        limit: Option<usize>,
    ) -> Result<flume::Receiver<Result<Either<SqliteQueryResult, SqliteRow>, Error>>, Error> {
        let mut args = args.map(SqliteArguments::into_static);
        if let Some(mut conn) = self.on_caller(true).await {
            // A statement that finds another connection's lock goes to the worker thread with a
            // copy of its arguments. Only a transaction that does not hold the write lock yet (a
            // deferred one before its first write) can meet one: one that does (`BEGIN
            // IMMEDIATE`) needs no copy, which matters for large values such as files.
            let had_arguments = args.is_some();
            let retry = if conn.handle.holds_write_lock() {
                None
            } else {
                args.clone()
            };
            let (tx, rx) = flume::unbounded();
            match execute_on_caller(&mut conn, query, args, persistent, limit, &tx) {
                Ran::Done => {
                    update_cached_statements_size(&conn, &self.shared.cached_statements_size);
                    return Ok(rx);
                }
                Ran::Busy(err) => {
                    update_cached_statements_size(&conn, &self.shared.cached_statements_size);
                    // Holding the write lock, a statement that still finds one busy (SQLite
                    // does not, in WAL mode) gets the error: its arguments were not kept.
                    if retry.is_none() && had_arguments {
                        tx.send(Err(err)).ok();
                        return Ok(rx);
                    }
                    args = retry;
                }
            }
        }

        let (tx, rx) = flume::bounded(chan_size);

        self.send(Command::Execute {
            query: query.into(),
            arguments: args,
            persistent,
            tx,
            limit,
        })
        .await?;

        Ok(rx)
    }

    /// Begins a transaction; `Ok(true)` when a custom statement was also checked to have opened
    /// one (on the caller's thread, where the connection is at hand), `Ok(false)` when that is
    /// still to check.
    pub(crate) async fn begin(
        &mut self,
        statement: Option<Cow<'static, str>>,
    ) -> Result<bool, Error> {
        if let Some(mut conn) = self.on_caller(false).await {
            let depth = self.shared.transaction_depth.load(Ordering::Acquire);
            let sql = match &statement {
                Some(_) if depth > 0 => return Err(Error::InvalidSavePointStatement),
                Some(statement) => statement.clone(),
                None => begin_ansi_transaction_sql(depth),
            };
            // A new transaction: no rollback from an earlier one is still to be ignored.
            self.shared
                .ignore_next_start_rollback
                .store(false, Ordering::Release);
            match conn.handle.exec(sql) {
                Ok(()) if statement.is_some() && !conn.handle.in_transaction() => {
                    return Err(Error::BeginFailed);
                }
                Ok(()) => {
                    self.shared
                        .transaction_depth
                        .fetch_add(1, Ordering::Release);
                    return Ok(true);
                }
                // Another connection holds the write lock: wait for it on the worker thread.
                Err(err) if is_busy(&err) => {}
                Err(err) => return Err(err),
            }
        }
        self.oneshot_cmd_with_ack(|tx| Command::Begin { tx, statement })
            .await??;
        Ok(false)
    }

    pub(crate) async fn commit(&mut self) -> Result<(), Error> {
        if let Some(mut conn) = self.on_caller(true).await {
            // In WAL mode a commit takes no new lock; in other journal modes it may have to wait
            // for readers, which the worker thread does.
            match end_transaction(&mut conn, &self.shared, commit_ansi_transaction_sql) {
                Err(err) if is_busy(&err) => {}
                done => return done,
            }
        }
        self.oneshot_cmd_with_ack(|tx| Command::Commit { tx })
            .await?
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), Error> {
        if let Some(mut conn) = self.on_caller(true).await {
            return end_transaction(&mut conn, &self.shared, rollback_ansi_transaction_sql);
        }
        self.oneshot_cmd_with_ack(|tx| Command::Rollback { tx: Some(tx) })
            .await?
    }

    pub(crate) fn start_rollback(&mut self) -> Result<(), Error> {
        // Called when a transaction is dropped: roll back here and now when the connection is
        // free and nothing is queued, else after what is queued.
        if self.shared.on_caller && self.shared.queued.load(Ordering::Acquire) == 0 {
            if let Some(mut conn) = self.shared.conn.try_lock() {
                if self.shared.queued.load(Ordering::Acquire) == 0 {
                    if self
                        .shared
                        .ignore_next_start_rollback
                        .swap(false, Ordering::AcqRel)
                    {
                        return Ok(());
                    }
                    conn.wait_when_busy(false);
                    return end_transaction(&mut conn, &self.shared, rollback_ansi_transaction_sql);
                }
            }
        }
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        self.command_tx
            .send((Command::Rollback { tx: None }, Span::current()))
            .map_err(|_| unsent(&self.shared))
    }

    pub(crate) async fn ping(&mut self) -> Result<(), Error> {
        // Nothing queued: everything sent to the worker thread has run, and an open channel
        // means the thread is alive, so the answer is known without the round trip (the pool
        // pings every connection it is given back).
        if self.shared.on_caller && self.shared.queued.load(Ordering::Acquire) == 0 {
            return if self.command_tx.is_disconnected() {
                Err(Error::WorkerCrashed)
            } else {
                Ok(())
            };
        }
        self.oneshot_cmd(|tx| Command::Ping { tx }).await
    }

    pub(crate) async fn deserialize(
        &mut self,
        schema: Option<SchemaName>,
        data: SqliteOwnedBuf,
        read_only: bool,
    ) -> Result<(), Error> {
        self.oneshot_cmd(|tx| Command::Deserialize {
            schema,
            data,
            read_only,
            tx,
        })
        .await?
    }

    pub(crate) async fn serialize(
        &mut self,
        schema: Option<SchemaName>,
    ) -> Result<SqliteOwnedBuf, Error> {
        self.oneshot_cmd(|tx| Command::Serialize { schema, tx })
            .await?
    }

    async fn oneshot_cmd<F, T>(&mut self, command: F) -> Result<T, Error>
    where
        F: FnOnce(oneshot::Sender<T>) -> Command,
    {
        let (tx, rx) = oneshot::channel();

        self.send(command(tx)).await?;

        rx.await.map_err(|_| Error::WorkerCrashed)
    }

    async fn oneshot_cmd_with_ack<F, T>(&mut self, command: F) -> Result<T, Error>
    where
        F: FnOnce(rendezvous_oneshot::Sender<T>) -> Command,
    {
        let (tx, rx) = rendezvous_oneshot::channel();

        self.send(command(tx)).await?;

        rx.recv().await.map_err(|_| Error::WorkerCrashed)
    }

    pub(crate) async fn clear_cache(&mut self) -> Result<(), Error> {
        self.oneshot_cmd(|tx| Command::ClearCache { tx }).await
    }

    pub(crate) async fn unlock_db(&mut self) -> Result<MutexGuard<'_, ConnectionState>, Error> {
        // The worker thread holds the connection only while it runs a command: once a ping has
        // been answered, everything sent before it has run, and the lock is the caller's to take.
        self.ping().await?;
        let mut conn = self.shared.conn.lock().await;
        conn.wait_when_busy(true);
        Ok(conn)
    }

    /// Send a command to the worker to shut down the processing thread.
    ///
    /// A `WorkerCrashed` error may be returned if the thread has already stopped.
    pub(crate) fn shutdown(&mut self) -> impl Future<Output = Result<(), Error>> {
        let (tx, rx) = oneshot::channel();

        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        let send_res = self
            .command_tx
            .send((Command::Shutdown { tx }, Span::current()))
            .map_err(|_| unsent(&self.shared));

        async move {
            send_res?;

            // wait for the response
            rx.await.map_err(|_| Error::WorkerCrashed)
        }
    }
}

fn prepare(conn: &mut ConnectionState, query: &str) -> Result<SqliteStatement<'static>, Error> {
    // prepare statement object (or checkout from cache)
    let statement = conn.statements.get(query, true)?;

    let mut parameters = 0;
    let mut columns = None;
    let mut column_names = None;

    while let Some(statement) = statement.prepare_next(&mut conn.handle)? {
        parameters += statement.handle.bind_parameter_count();

        // the first non-empty statement is chosen as the statement we pull columns from
        if !statement.columns.is_empty() && columns.is_none() {
            columns = Some(Arc::clone(statement.columns));
            column_names = Some(Arc::clone(statement.column_names));
        }
    }

    Ok(SqliteStatement {
        sql: Cow::Owned(query.to_string()),
        columns: columns.unwrap_or_default(),
        column_names: column_names.unwrap_or_default(),
        parameters,
    })
}

/// Marks the command the worker thread is running as finished when dropped, on every way out of
/// the command's arm (`continue`, `break`), before the connection's lock is released.
struct Finished<'a> {
    shared: &'a WorkerSharedState,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes back the count of a command that never reached the worker's channel (the thread is
/// gone), and says so.
fn unsent(shared: &WorkerSharedState) -> Error {
    shared.queued.fetch_sub(1, Ordering::AcqRel);
    Error::WorkerCrashed
}

/// How a statement run on the caller's thread ended.
enum Ran {
    /// Its results, or its error, are in the channel.
    Done,
    /// It found another connection's lock before producing anything (the error; the channel is
    /// empty).
    Busy(Error),
}

/// Runs a statement on the caller's thread, putting every result in `tx` (as the worker thread
/// does, without a bound: the caller reads them after this returns).
fn execute_on_caller(
    conn: &mut ConnectionState,
    query: &str,
    args: Option<SqliteArguments<'static>>,
    persistent: bool,
    limit: Option<usize>,
    tx: &flume::Sender<Result<Either<SqliteQueryResult, SqliteRow>, Error>>,
) -> Ran {
    let iter = match execute::iter(conn, query, args, persistent) {
        Ok(iter) => iter,
        Err(e) if is_busy(&e) => return Ran::Busy(e),
        Err(e) => {
            tx.send(Err(e)).ok();
            return Ran::Done;
        }
    };
    let mut sent = 0usize;
    let mut rows = 0usize;
    for res in iter {
        let res = match res {
            Err(e) if sent == 0 && is_busy(&e) => return Ran::Busy(e),
            res => res,
        };
        let has_error = res.is_err();
        let is_row = matches!(res, Ok(Either::Right(_)));
        tx.send(res).ok();
        sent += 1;
        if has_error {
            break;
        }
        if is_row {
            rows += 1;
            if limit.is_some_and(|limit| rows >= limit) {
                break;
            }
        }
    }
    Ran::Done
}

/// Commits or rolls back (`sql` for the depth) on the caller's thread.
fn end_transaction(
    conn: &mut ConnectionState,
    shared: &WorkerSharedState,
    sql: fn(usize) -> Cow<'static, str>,
) -> Result<(), Error> {
    let depth = shared.transaction_depth.load(Ordering::Acquire);
    if depth == 0 {
        return Ok(());
    }
    conn.handle.exec(sql(depth)).map(|_| {
        shared.transaction_depth.fetch_sub(1, Ordering::Release);
    })
}

/// Whether `err` is `SQLITE_BUSY`: another connection holds a lock this statement needs.
fn is_busy(err: &Error) -> bool {
    match err {
        Error::Database(e) => e
            .try_downcast_ref::<crate::SqliteError>()
            .is_some_and(crate::SqliteError::is_busy),
        _ => false,
    }
}

fn update_cached_statements_size(conn: &ConnectionState, size: &AtomicUsize) {
    size.store(conn.statements.len(), Ordering::Release);
}

// A oneshot channel where send completes only after the receiver receives the value.
mod rendezvous_oneshot {
    use super::oneshot::{self, Canceled};

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let (inner_tx, inner_rx) = oneshot::channel();
        (Sender { inner: inner_tx }, Receiver { inner: inner_rx })
    }

    pub struct Sender<T> {
        inner: oneshot::Sender<(T, oneshot::Sender<()>)>,
    }

    impl<T> Sender<T> {
        pub async fn send(self, value: T) -> Result<(), Canceled> {
            let (ack_tx, ack_rx) = oneshot::channel();
            self.inner.send((value, ack_tx)).map_err(|_| Canceled)?;
            ack_rx.await
        }

        pub fn blocking_send(self, value: T) -> Result<(), Canceled> {
            futures_executor::block_on(self.send(value))
        }
    }

    pub struct Receiver<T> {
        inner: oneshot::Receiver<(T, oneshot::Sender<()>)>,
    }

    impl<T> Receiver<T> {
        pub async fn recv(self) -> Result<T, Canceled> {
            let (value, ack_tx) = self.inner.await?;
            ack_tx.send(()).map_err(|_| Canceled)?;
            Ok(value)
        }
    }
}
