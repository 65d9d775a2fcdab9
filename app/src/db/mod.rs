//! Storage: one data-access layer over the embedded SQLite default and PostgreSQL.
//!
//! Queries are written once in portable SQL and compiled for both back ends through
//! [`on_db!`](crate::on_db) and [`on_tx!`](crate::on_tx), which expand the same code once per
//! driver. Portable SQL here means: `$1, $2, ...` placeholders (both drivers bind `$N` to the
//! N-th bound value; they are numbered in order of first use so the SQL reads the same way as
//! its binds, see [`placeholders`]), `TEXT`/`BIGINT`/`BOOLEAN` columns,
//! timestamps bound as `chrono::DateTime<Utc>`, `INSERT ... ON CONFLICT ... DO UPDATE` and
//! `RETURNING`. Where the back ends truly differ (schema types, locking), the difference lives in
//! the two migration folders or in a `match` on [`Db`], never in scattered string building.

pub mod backup;
pub mod checkpoint;
pub mod settings;

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    postgres::{PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
    Postgres, Sqlite, Transaction,
};

use crate::config::{Backend, DatabaseUrl};

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows `ANALYZE` reads per index when `PRAGMA optimize` refreshes the planner's statistics
/// (SQLite's advice for applications: a few hundred, so a refresh takes milliseconds).
const SQLITE_ANALYSIS_LIMIT: u32 = 400;
/// How long SQLite's writer connection lives: its page cache is kept that long, and its
/// planner statistics refreshed that often.
const WRITER_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a request waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection pool to the configured database.
#[derive(Clone, Debug)]
pub enum Db {
    /// The embedded default, with this process's queue of writers.
    Sqlite(SqlitePool, Writers),
    /// Multi-instance deployments.
    Postgres(PgPool),
}

/// A write transaction. On SQLite it holds the write lock from its first statement
/// (`BEGIN IMMEDIATE`), so a read-then-write sequence never fails half-way with `SQLITE_BUSY`.
#[derive(Debug)]
pub enum WriteTx {
    /// A SQLite transaction on this process's writer connection (see [`Writers`]).
    Sqlite(SqliteTx),
    /// A PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

/// This process's SQLite writer: one connection, lent to one write transaction at a time, in the
/// order they asked (a pool of one).
///
/// SQLite lets one transaction write at a time, and its statements run on the task's own thread
/// (see [`Db::connect`]). Waiting for the write lock inside SQLite would block that thread, so
/// a writer waits here, asleep, for the previous one to end; `BEGIN IMMEDIATE` then finds the
/// lock free unless another process holds it, and a wait for that runs on the connection's
/// thread instead.
///
/// One connection rather than any of the pool's: each SQLite connection keeps its own page cache
/// and drops all of it when it finds that another connection has written since its last
/// transaction. Writers taking turns on different connections therefore started every
/// transaction from an empty cache; the one writer keeps its cache across transactions.
///
/// Its commits also drive the checkpoints of the write-ahead log ([`checkpoint`]).
#[derive(Clone, Debug)]
pub struct Writers {
    pool: SqlitePool,
    checkpoints: Arc<checkpoint::Checkpointer>,
}

impl Writers {
    /// The writer's pool of one connection (tests lend its connection out).
    #[cfg(any(test, feature = "test-support"))]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A SQLite write transaction, which counts towards the next checkpoint when it commits. It
/// derefs to the connection, as a `Transaction` does, so statements run on `&mut **tx`.
#[derive(Debug)]
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    checkpoints: Arc<checkpoint::Checkpointer>,
}

impl std::ops::Deref for SqliteTx {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// A storage failure. Its text is for logs only: it may hold database detail that users must not
/// see (see [`crate::error::AppError`]).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be opened or reached at start-up.
    #[error("cannot open the database {url} (DATABASE_URL): {source}")]
    Connect {
        /// The URL with its password masked.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value is not one this version of Baton writes.
    #[error(transparent)]
    Stored(#[from] UnknownStoredValue),
}

/// A stored enumerated value (a stage, severity, status...) that does not parse. Reading it is an
/// error, never a silent default: a default would hide corruption and could be written back.
#[derive(Debug, thiserror::Error)]
#[error("the column {column} holds {value:?}, which is not a known value")]
pub struct UnknownStoredValue {
    /// Table and column, `incidents.stage`.
    pub column: &'static str,
    /// What was stored.
    pub value: String,
}

/// `$first, $first+1, ...`, `n` placeholders, for an `IN (...)` list whose values are bound in
/// that order after the `first - 1` values bound before them.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|k| format!("${k}")).collect::<Vec<_>>().join(", ")
}

/// Parses the stored name of an enumerated value with `parse`; an unknown name is an
/// [`UnknownStoredValue`] naming `column`.
pub fn parse_stored<T>(
    column: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, UnknownStoredValue> {
    parse(value).ok_or_else(|| UnknownStoredValue { column, value: value.to_owned() })
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db`, compiling it once per back end.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool, _) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body`, a short read, with `$conn` bound to something to run statements on: on SQLite
/// a read transaction, whose statements run on the task's own thread (two thread wake-ups fewer
/// per statement, see [`Db::connect`]); on PostgreSQL the pool (a transaction there would cost
/// two round trips). Short means indexed, and bounded by what the request goes on to render on
/// that thread anyway. Never for a read whose cost the request does not otherwise pay (a report's
/// figures, an export, a scan): it would hold a runtime thread for its whole length.
#[macro_export]
macro_rules! on_read {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(pool, _) => {
                let mut read = pool.begin().await?;
                let out = {
                    let $conn = &mut *read;
                    $body
                };
                read.commit().await?;
                out
            }
            $crate::db::Db::Postgres($conn) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the concrete connection of the transaction `$tx`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::WriteTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::WriteTx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// A PostgreSQL connection idle for longer than this is pinged before it is handed out: a server
/// restart, a proxy or a firewall may have dropped it meanwhile. A connection in steady use is
/// not, which saves a round trip on every query (sqlx's own `test_before_acquire` pings always).
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(30);

/// Whether a pooled connection may be handed out: one still inside a transaction is retired
/// instead (logged), so that whatever left it there cannot make every later write on it fail
/// ("begin_with at non-zero transaction depth") or run inside someone else's transaction; a
/// network connection idle for long must still answer a ping.
///
/// A transaction dropped without commit queues its rollback and returns the connection at once;
/// the round trip of a ping lets that rollback finish before the connection is judged. The check
/// itself reads a counter, so a clean connection in use costs nothing.
async fn fit_for_use<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
    ping_when_idle_for: Option<Duration>,
) -> Result<bool, sqlx::Error> {
    if conn.is_in_transaction() || ping_when_idle_for.is_some_and(|after| meta.idle_for >= after) {
        conn.ping().await?;
    }
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::error!("a pooled connection was returned inside a transaction; it is closed and replaced");
    }
    Ok(clean)
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Opens a pool for `url`. SQLite files are created when missing, with WAL, foreign keys and a
    /// busy timeout set on every connection.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, DbError> {
        Self::connect_pinging_after(url, PING_WHEN_IDLE_FOR).await
    }

    /// [`Db::connect`], pinging a PostgreSQL connection before use once it has been idle for
    /// `ping_when_idle_for` (tests shorten it).
    pub async fn connect_pinging_after(url: &DatabaseUrl, ping_when_idle_for: Duration) -> Result<Self, DbError> {
        let connect_err = |source| DbError::Connect { url: url.masked(), source };
        match url.backend() {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .map_err(connect_err)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // NORMAL is durable in WAL mode except for the last commits on power loss.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    // The planner's statistics are refreshed when the pool retires a connection
                    // (see `refresh_statistics` for the one at start-up). Not when a connection
                    // opens: that can happen while another connection holds the write lock, and
                    // the analysis, a write, would wait for it.
                    .analysis_limit(SQLITE_ANALYSIS_LIMIT)
                    .optimize_on_close(true, SQLITE_ANALYSIS_LIMIT)
                    // A transaction's statements run on the task's own thread: each would
                    // otherwise be handed to the connection's thread and back, two wake-ups that
                    // cost far more than the statement (docs/ARCHITECTURE.md, "Accounts and
                    // sessions", and vendor/sqlx-sqlite/VENDORED.md).
                    // Statements outside a transaction (reports, exports, lists) stay on the
                    // connection's thread, where a long one blocks nothing else; short reads opt
                    // in with `on_read!`.
                    .transactions_on_caller(true);
                // An embedded database has no connection to lose: no ping before use (each would
                // be a round trip to the connection's thread).
                let pool_of = |size| {
                    SqlitePoolOptions::new()
                        .max_connections(size)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .test_before_acquire(false)
                        .before_acquire(|conn, meta| Box::pin(fit_for_use(conn, meta, None)))
                };
                let pool = pool_of(8).connect_with(options.clone()).await.map_err(connect_err)?;
                // The writer's page cache is worth keeping: the connection is not retired for
                // idleness (see `Writers`), and for age only hourly, when it refreshes the planner's
                // statistics as it closes and the next one reads them. Its queue waits as long as
                // SQLite's busy timeout would.
                //
                // Its commits never checkpoint the log: that runs beside it (`checkpoint`). The
                // readers' connections keep SQLite's automatic checkpoint, which the few writes
                // made outside a write transaction (a session's last activity) may trigger on
                // their connection's thread.
                let writer = pool_of(1)
                    .acquire_timeout(SQLITE_BUSY_TIMEOUT)
                    .idle_timeout(None)
                    .max_lifetime(WRITER_LIFETIME)
                    .connect_lazy_with(options.pragma("wal_autocheckpoint", "0"));
                let checkpoints = checkpoint::Checkpointer::new(pool.clone(), writer.clone());
                Ok(Db::Sqlite(pool, Writers { pool: writer, checkpoints }))
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .test_before_acquire(false)
                    .before_acquire(move |conn, meta| Box::pin(fit_for_use(conn, meta, Some(ping_when_idle_for))))
                    .connect(url.expose())
                    .await
                    .map_err(connect_err)?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// Applies the embedded migrations of this back end that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(pool, _) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Applies the embedded migrations up to and including `version` only: tests of a migration
    /// fill the schema it starts from, then run [`Db::migrate`].
    pub async fn migrate_until(&self, version: i64) -> Result<(), DbError> {
        let until = |all: &sqlx::migrate::Migrator| sqlx::migrate::Migrator {
            migrations: all.migrations.iter().filter(|m| m.version <= version).cloned().collect(),
            ignore_missing: false,
            locking: all.locking,
            no_tx: all.no_tx,
        };
        match self {
            Db::Sqlite(pool, _) => until(&SQLITE_MIGRATIONS).run(pool).await?,
            Db::Postgres(pool) => until(&POSTGRES_MIGRATIONS).run(pool).await?,
        }
        Ok(())
    }

    /// Refreshes the query planner's statistics where they are missing or stale, as SQLite
    /// advises for long-lived applications (`PRAGMA optimize=0x10002`: every table, analysed only
    /// when it grew or was never analysed, bounded by the analysis limit). Run at start-up, after
    /// the migrations. PostgreSQL keeps its own statistics (autovacuum).
    pub async fn refresh_statistics(&self) -> Result<(), DbError> {
        if let Db::Sqlite(pool, _) = self {
            sqlx::query("PRAGMA optimize=0x10002").execute(pool).await?;
        }
        Ok(())
    }

    /// The back end behind this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers a query.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Begins a write transaction (see [`WriteTx`]).
    pub async fn begin_write(&self) -> Result<WriteTx, DbError> {
        Ok(match self {
            Db::Sqlite(_, writers) => WriteTx::Sqlite(SqliteTx {
                tx: writers.pool.begin_with("BEGIN IMMEDIATE").await?,
                checkpoints: Arc::clone(&writers.checkpoints),
            }),
            Db::Postgres(pool) => WriteTx::Postgres(pool.begin().await?),
        })
    }

    /// Pooled connections as (in use, idle), for the metrics endpoint.
    pub fn connections(&self) -> (usize, usize) {
        let (size, idle) = match self {
            Db::Sqlite(pool, writer) => {
                (pool.size() as usize + writer.pool.size() as usize, pool.num_idle() + writer.pool.num_idle())
            }
            Db::Postgres(pool) => (pool.size() as usize, pool.num_idle()),
        };
        (size.saturating_sub(idle), idle)
    }

    /// Closes every pooled connection; waits for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool, writer) => {
                tokio::join!(writer.pool.close(), pool.close());
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl WriteTx {
    /// Makes every change of the transaction durable.
    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            WriteTx::Sqlite(SqliteTx { tx, checkpoints }) => {
                tx.commit().await?;
                checkpoints.committed();
            }
            WriteTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Discards every change of the transaction. Dropping it does the same.
    pub async fn rollback(self) -> Result<(), DbError> {
        match self {
            WriteTx::Sqlite(tx) => tx.tx.rollback().await?,
            WriteTx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}
