//! `server backup` and `server restore`, and the scheduled backups (`BATON_BACKUP_EVERY`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use app::{
    audit::{store as audit_store, VerifyReport},
    config::{Backend, Config},
    db::{
        backup::{self, BackupError, InUseLock, Inspected, Written},
        Db,
    },
};

use crate::background::Background;

/// The command that backs up a PostgreSQL database (its own tool makes a consistent copy).
pub const PG_DUMP_HINT: &str = "pg_dump --format=custom --file=baton.dump \"$DATABASE_URL\"";
/// The command that restores it into an empty database.
pub const PG_RESTORE_HINT: &str = "pg_restore --clean --if-exists --no-owner --dbname=\"$DATABASE_URL\" baton.dump";

/// Takes the lock a serving Baton holds on its SQLite database, so a restore never replaces the
/// file under it; `None` on PostgreSQL.
pub fn lock_database(config: &Config) -> anyhow::Result<Option<InUseLock>> {
    // The lock file is beside the database, usually in the data dir: say first if that is unusable.
    config.prepare_data_dir()?;
    match backup::sqlite_file(&config.database_url) {
        None => Ok(None),
        Some(file) => Ok(Some(InUseLock::take(&file).map_err(|e| match e {
            BackupError::InUse(path) => anyhow::anyhow!(
                "another Baton serves {} already (one server per SQLite database; several instances need PostgreSQL)",
                path.display()
            ),
            other => anyhow::anyhow!(other),
        })?)),
    }
}

/// Writes a consistent copy of the configured SQLite database to `to`, while a server may be
/// serving it.
pub async fn backup_to(config: &Config, to: &Path) -> anyhow::Result<Written> {
    let Some(file) = backup::sqlite_file(&config.database_url) else {
        anyhow::bail!("the database is PostgreSQL: back it up with its own tool, for example\n  {PG_DUMP_HINT}");
    };
    // The database as it is: no migration (a newer binary backing up before an upgrade must not
    // upgrade it under the running server), and no empty database made up at a wrong path.
    if !file.is_file() {
        anyhow::bail!("there is no database at {} (DATABASE_URL, BATON_DATA_DIR)", file.display());
    }
    let db = Db::connect(&config.database_url).await?;
    let written = backup::write(&db, to).await;
    db.close().await;
    Ok(written?)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// What the backup held.
    pub inspected: Inspected,
    /// The audit chain of the restored database.
    pub audit: VerifyReport,
}

/// Replaces the configured SQLite database with the backup `from`: checks the file first, refuses
/// while a server holds the database, and refuses to replace one with data unless `force`. Then
/// migrates it to this binary's level and verifies the audit chain.
pub async fn restore_from(config: &Config, from: &Path, force: bool) -> anyhow::Result<Restored> {
    let Some(target) = backup::sqlite_file(&config.database_url) else {
        anyhow::bail!(
            "the database is PostgreSQL: restore a pg_dump file with its own tool, for example\n  {PG_RESTORE_HINT}"
        );
    };
    let inspected = backup::inspect(from).await?;
    let lock = InUseLock::take(&target)?;
    match backup::contents(&target).await {
        Ok((users, incidents)) if (users > 0 || incidents > 0) && !force => {
            return Err(BackupError::NotEmpty { path: target, users, incidents }.into());
        }
        // A damaged database is what a restore is for: --force replaces it unread.
        Err(err) if !force => return Err(anyhow::anyhow!(err).context("pass --force to replace it")),
        _ => {}
    }
    config.prepare_data_dir()?;
    backup::replace(from, &target)?;
    let db = crate::open_database(config).await?;
    let audit = audit_store::verify_against(&db, Vec::new()).await.context("cannot verify the audit chain")?;
    db.close().await;
    drop(lock);
    Ok(Restored { inspected, audit })
}

/// Writes a backup into `<data dir>/backups` every `BATON_BACKUP_EVERY` and keeps the newest
/// `BATON_BACKUP_KEEP`; `None` when not configured, or on PostgreSQL (said in the log).
pub fn start_scheduled(config: &Config, db: &Db) -> Option<Background> {
    let every = config.backup_every?;
    if db.backend() == Backend::Postgres {
        tracing::warn!("BATON_BACKUP_EVERY applies to SQLite only: back PostgreSQL up with pg_dump");
        return None;
    }
    let (db, dir, keep) = (db.clone(), config.data_dir.join("backups"), config.backup_keep);
    tracing::info!(dir = %dir.display(), ?every, keep, "scheduled backups");
    Some(Background::spawn(move |stopping| async move {
        let stopping = stopping.wait();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                () = &mut stopping => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(err) = scheduled_once(&db, &dir, keep, chrono::Utc::now()).await {
                tracing::error!("scheduled backup failed: {err:#}");
                metrics::counter!("baton_backups_total", "outcome" => "failed").increment(1);
            }
        }
    }))
}

/// One scheduled backup, named by its time so names sort oldest first, then the oldest beyond
/// `keep` are deleted.
pub async fn scheduled_once(
    db: &Db,
    dir: &Path,
    keep: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("baton-{}.sqlite3", now.format("%Y%m%dT%H%M%SZ")));
    let written = backup::write(db, &file).await?;
    tracing::info!(file = %file.display(), bytes = written.bytes, took = ?written.took, "backup written");
    metrics::counter!("baton_backups_total", "outcome" => "written").increment(1);
    let mut kept: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("baton-") && n.ends_with(".sqlite3"))
        })
        .collect();
    kept.sort();
    let excess = kept.len().saturating_sub(keep);
    for old in &kept[..excess] {
        if let Err(err) = std::fs::remove_file(old) {
            tracing::warn!(file = %old.display(), "cannot delete an old backup: {err}");
        }
    }
    Ok(file)
}
