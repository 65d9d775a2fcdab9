//! Backups of the embedded SQLite database, checks of a backup file, and the lock that tells a
//! restore the database is in use.
//!
//! A backup is SQLite's `VACUUM INTO`: it reads the database inside one read transaction, so the
//! copy is consistent (every transaction committed before it started, none after) while the app
//! goes on writing in WAL mode. It is written under a temporary name and renamed when complete,
//! so a file with the final name is always a whole backup.

use std::{
    fs::File,
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteConnection},
    ConnectOptions, Connection,
};

use super::{Db, DbError, SQLITE_MIGRATIONS};
use crate::config::DatabaseUrl;

/// Why a backup, a check or a restore step failed; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL: its own tools make consistent copies.
    #[error("the database is PostgreSQL: back it up with pg_dump (see README, \"Backup and restore\")")]
    NotSqlite,
    /// The target file exists already.
    #[error("{0} exists already: choose a new file name")]
    TargetExists(PathBuf),
    /// The file is not a SQLite database, or fails its integrity check.
    #[error("{path} is not a sound Baton database: {reason}")]
    Unsound {
        /// The file checked.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },
    /// The file was written by a newer Baton.
    #[error("{path} has schema level {found}, newer than this Baton's {known}: restore it with the newer version")]
    Newer {
        /// The file checked.
        path: PathBuf,
        /// Its migration level.
        found: i64,
        /// This binary's.
        known: i64,
    },
    /// A server holds the database.
    #[error("the database {0} is in use by a running Baton: stop it first")]
    InUse(PathBuf),
    /// The target database holds data and `--force` was not given.
    #[error("the database {path} is not empty ({users} users, {incidents} incidents): pass --force to replace it")]
    NotEmpty {
        /// The database that would be replaced.
        path: PathBuf,
        /// Its users.
        users: i64,
        /// Its incidents.
        incidents: i64,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A database operation failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A query on the file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: sqlx::Error,
    },
}

/// The highest migration this binary knows for SQLite.
pub fn known_level() -> i64 {
    SQLITE_MIGRATIONS.migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The file a SQLite URL opens; `None` for PostgreSQL or an in-memory database.
pub fn sqlite_file(url: &DatabaseUrl) -> Option<PathBuf> {
    if !url.expose().starts_with("sqlite:") || url.expose().contains(":memory:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url.expose()).ok()?;
    Some(options.get_filename().to_owned())
}

/// A finished backup.
#[derive(Debug)]
pub struct Written {
    /// Its size in bytes.
    pub bytes: u64,
    /// How long it took.
    pub took: Duration,
}

/// Writes a consistent copy of the SQLite database `db` to `to` (which must not exist).
pub async fn write(db: &Db, to: &Path) -> Result<Written, BackupError> {
    let Db::Sqlite(pool, _) = db else { return Err(BackupError::NotSqlite) };
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_owned()));
    }
    let started = Instant::now();
    let partial = partial_name(to);
    // A partial file left by a crash is ours to replace.
    let _ = std::fs::remove_file(&partial);
    let target = partial.to_str().ok_or_else(|| BackupError::Io {
        what: "the backup file name is not UTF-8:",
        path: to.to_owned(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    sqlx::query("VACUUM INTO $1").bind(target).execute(pool).await.map_err(DbError::Query)?;
    // `VACUUM INTO` does not sync what it wrote: the file reaches the disk before it gets its
    // final name, so a file with that name survives a power cut whole.
    File::open(&partial).and_then(|f| f.sync_all()).map_err(|source| BackupError::Io {
        what: "cannot flush",
        path: partial.clone(),
        source,
    })?;
    // A hard link never replaces an existing file (unlike a rename): a file someone created at
    // that name meanwhile is kept, and this backup is refused.
    std::fs::hard_link(&partial, to).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::TargetExists(to.to_owned()),
        _ => BackupError::Io { what: "cannot give the finished backup its name", path: to.to_owned(), source },
    })?;
    let _ = std::fs::remove_file(&partial);
    sync_dir(to);
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Written { bytes, took: started.elapsed() })
}

/// Makes a new name in `file`'s directory durable (best effort: not every file system allows it).
fn sync_dir(file: &Path) {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
}

fn partial_name(to: &Path) -> PathBuf {
    let mut name = to.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    to.with_file_name(name)
}

/// What a check of a database file found.
#[derive(Debug)]
pub struct Inspected {
    /// Its migration level (0: no Baton schema).
    pub level: i64,
    /// Users in it.
    pub users: i64,
    /// Incidents in it.
    pub incidents: i64,
}

/// Opens `path` read-only and checks it: a SQLite file, `PRAGMA integrity_check` clean, a Baton
/// schema no newer than this binary's.
pub async fn inspect(path: &Path) -> Result<Inspected, BackupError> {
    let unsound = |reason: String| BackupError::Unsound { path: path.to_owned(), reason };
    if !path.is_file() {
        return Err(unsound("no such file".into()));
    }
    let mut conn = open_read_only(path).await.map_err(|e| unsound(e.to_string()))?;
    let checks: Vec<String> =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut conn).await.map_err(|e| unsound(e.to_string()))?;
    if checks != ["ok"] {
        return Err(unsound(format!("integrity check: {}", checks.join("; "))));
    }
    let level = level_of(&mut conn).await.map_err(|e| unsound(e.to_string()))?;
    if level == 0 {
        return Err(unsound("it holds no Baton schema".into()));
    }
    if level > known_level() {
        return Err(BackupError::Newer { path: path.to_owned(), found: level, known: known_level() });
    }
    let (users, incidents) =
        counts(&mut conn).await.map_err(|source| BackupError::Read { path: path.to_owned(), source })?;
    conn.close().await.ok();
    Ok(Inspected { level, users, incidents })
}

/// Users and incidents in the database at `path`; zeros when the file is missing or empty, or
/// holds no Baton schema. A file that cannot be read as a database is an error.
pub async fn contents(path: &Path) -> Result<(i64, i64), BackupError> {
    if !path.exists() || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok((0, 0));
    }
    let read_err = |source| BackupError::Read { path: path.to_owned(), source };
    let mut conn = open_read_only(path).await.map_err(read_err)?;
    if level_of(&mut conn).await.map_err(read_err)? == 0 {
        return Ok((0, 0));
    }
    let counted = counts(&mut conn).await.map_err(read_err);
    conn.close().await.ok();
    counted
}

async fn open_read_only(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnectOptions::new().filename(path).read_only(true).connect().await
}

async fn level_of(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    let has_table: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut *conn)
            .await?;
    if has_table.is_none() {
        return Ok(0);
    }
    let level: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&mut *conn).await?;
    Ok(level.unwrap_or(0))
}

async fn counts(conn: &mut SqliteConnection) -> Result<(i64, i64), sqlx::Error> {
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *conn).await?;
    let incidents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents").fetch_one(&mut *conn).await?;
    Ok((users, incidents))
}

/// Puts the checked backup `from` in place of the database file `target`, with its write-ahead
/// log, shared-memory and rollback journal files removed first: they belong to the replaced
/// database and would be applied to the restored one. The caller holds the [`InUseLock`]. A crash
/// between removing them and the rename leaves the replaced database without its last commits,
/// which the restore was about to discard anyway.
pub fn replace(from: &Path, target: &Path) -> Result<(), BackupError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { what, path, source }
    };
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    let incoming = partial_name(target);
    std::fs::copy(from, &incoming).map_err(io("cannot copy the backup to", &incoming))?;
    File::open(&incoming).and_then(|f| f.sync_all()).map_err(io("cannot flush", &incoming))?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot remove", Path::new(&side))(e)),
        }
    }
    std::fs::rename(&incoming, target).map_err(io("cannot move the restored database to", target))?;
    sync_dir(target);
    Ok(())
}

/// An exclusive lock on `<database file>.lock`, held by a serving Baton for its whole life: a
/// restore that cannot take it knows the database is in use. Released when dropped, and by the
/// kernel when the process dies.
#[derive(Debug)]
pub struct InUseLock {
    _file: File,
}

impl InUseLock {
    /// Takes the lock of the database file `db_file`, or says that another process holds it.
    pub fn take(db_file: &Path) -> Result<Self, BackupError> {
        let mut name = db_file.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
                what: "cannot create",
                path: dir.to_owned(),
                source,
            })?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| BackupError::Io { what: "cannot open", path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::InUse(db_file.to_owned())),
            Err(std::fs::TryLockError::Error(source)) => Err(BackupError::Io { what: "cannot lock", path, source }),
        }
    }
}
