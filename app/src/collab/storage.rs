//! Where attachment contents live: behind [`BlobStore`], so that a store outside the database
//! (an S3-compatible bucket) can be added without touching uploads, intake or downloads.
//!
//! Contents are addressed by their SHA-256: the same bytes are stored once, whoever sends them
//! and however often, and a content never changes under its name. Attachment records name the
//! content by its hash only, with no reference into the store's own table, so a store may keep
//! its bytes anywhere.

use std::{future::Future, pin::Pin};

use chrono::{DateTime, Utc};

use crate::{
    db::{Db, WriteTx},
    error::AppError,
    on_db, on_tx,
};

/// A boxed future, so the trait can be used as `dyn BlobStore` (the application picks the store
/// from its configuration at start-up).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send + 'a>>;

/// A content-addressed store of attachment contents.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `sha256` unless that content is stored already.
    ///
    /// Called inside the transaction that records the attachment. The database store writes in
    /// it, so a file and its record commit or roll back together. A store elsewhere writes before
    /// the commit; what a rolled-back transaction leaves there is named by no record and can be
    /// collected, never served.
    fn put<'a>(
        &'a self,
        tx: &'a mut WriteTx,
        sha256: &'a str,
        bytes: &'a [u8],
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, ()>;

    /// The content stored under `sha256`, if any.
    fn get<'a>(&'a self, db: &'a Db, sha256: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
}

/// The default store: the `blobs` table of the application's own database, so every instance on
/// one PostgreSQL database sees every file, and a backup of the database holds them. On
/// PostgreSQL the content column is stored out of line, uncompressed (`STORAGE EXTERNAL`):
/// screenshots and archives are compressed already.
#[derive(Clone, Copy, Debug, Default)]
pub struct InDatabase;

impl BlobStore for InDatabase {
    fn put<'a>(
        &'a self,
        tx: &'a mut WriteTx,
        sha256: &'a str,
        bytes: &'a [u8],
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            on_tx!(&mut *tx, conn => sqlx::query(
                "INSERT INTO blobs (sha256, size, content, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(sha256)
            .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
            .bind(bytes)
            .bind(now)
            .execute(conn)
            .await
            .map(|_| ()))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, db: &'a Db, sha256: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(on_db!(db, pool => sqlx::query_scalar("SELECT content FROM blobs WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(pool)
                .await?))
        })
    }
}
