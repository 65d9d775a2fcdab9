//! Instance-wide settings stored as key/value pairs.

use chrono::{DateTime, Utc};

use super::{Db, DbError, WriteTx};
use crate::{on_db, on_tx};

/// Reads one setting, `None` when it was never set.
pub async fn get(db: &Db, key: &str) -> Result<Option<String>, DbError> {
    let value = on_db!(db, pool => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await?);
    Ok(value)
}

/// Creates or replaces one setting inside `tx`.
pub async fn put(tx: &mut WriteTx, key: &str, value: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Reads one setting inside a write transaction, so a read-modify-write is atomic.
pub async fn get_for_update(tx: &mut WriteTx, key: &str) -> Result<Option<String>, DbError> {
    // SQLite's IMMEDIATE transaction already holds the write lock; PostgreSQL needs a row lock.
    let value = match tx {
        WriteTx::Sqlite(tx) => {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&mut **tx).await?
        }
        WriteTx::Postgres(tx) => {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1 FOR UPDATE")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?
        }
    };
    Ok(value)
}
