//! Attachments: files on an incident (or one of its comments), kept in the database so that
//! every instance on one PostgreSQL sees them, each content stored once by its SHA-256.
//!
//! What a file is comes from its bytes (`infer`), never from the name or the browser's word, so a
//! page of HTML named `.png` is stored as text and always downloaded, never shown. Images that
//! decode get a thumbnail, made off the async threads with limits on size and memory, so a
//! decompression bomb (a few kilobytes that claim a gigapixel) is refused before it is unpacked.

use chrono::{DateTime, Utc};
use serde::Deserialize as _;

use super::{storage::BlobStore, AttachmentView};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    config::Backend,
    db::{Db, WriteTx},
    error::{AppError, FieldProblem},
    on_db, on_tx,
    workflow::{
        engine::{audited, Attempt},
        rules::Actor,
        views::Person,
    },
};

/// The most files one upload (or one intake report) may carry.
pub const MAX_FILES: usize = 10;

/// Images larger than this (width or height, in pixels) are refused: nobody photographs a bug
/// at this size, and a decoder asked for more is being attacked.
const MAX_PIXELS_SIDE: u32 = 12_000;
/// The most memory the decoder may take for one image.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// The longest side of a thumbnail.
const THUMB_SIDE: u32 = 480;

/// A file as it arrived: its name and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The file name the sender gave.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// A file ready to store: named safely, typed by its bytes, hashed, with its thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    name: String,
    content_type: String,
    bytes: Vec<u8>,
    sha256: String,
    thumb: Option<(Vec<u8>, String)>,
}

/// The stored name of a file: the last path segment, control characters and quotes dropped,
/// at most 200 characters; "file" when nothing is left.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String =
        last.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>')).take(200).collect::<String>();
    let kept = kept.trim().trim_start_matches('.').to_owned();
    if kept.is_empty() {
        "file".to_owned()
    } else {
        kept
    }
}

/// The media type of `bytes`, from their content: a known binary format by its signature, UTF-8
/// text as plain text (HTML and SVG included: they are served as text or downloads, never
/// rendered), anything else as opaque bytes.
pub fn detect(bytes: &[u8]) -> String {
    if let Some(kind) = infer::get(bytes) {
        let mime = kind.mime_type();
        // A format that can carry script is never given its own type.
        if !matches!(mime, "text/html" | "image/svg+xml" | "application/xhtml+xml" | "text/xml" | "application/xml") {
            return mime.to_owned();
        }
    }
    if std::str::from_utf8(bytes).is_ok() {
        "text/plain; charset=utf-8".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// Whether a stored type is an image a browser may show inline (raster formats only).
pub fn shows_inline(content_type: &str) -> bool {
    matches!(content_type, "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

/// A JPEG thumbnail of an image, made with the decoder's limits. `Ok(None)`: not an image this
/// build decodes (it is stored and downloaded like any file). `Err`: an image too large to open.
fn thumbnail(bytes: &[u8]) -> Result<Option<Vec<u8>>, AppError> {
    use image::{ImageError, ImageReader, Limits};
    let mut reader = match ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format() {
        Ok(reader) => reader,
        Err(_) => return Ok(None),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PIXELS_SIDE);
    limits.max_image_height = Some(MAX_PIXELS_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = match reader.decode() {
        Ok(image) => image,
        Err(ImageError::Limits(_)) => return Err(AppError::invalid("file", FieldProblem::ImageTooLarge)),
        Err(_) => return Ok(None),
    };
    let small = image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .map_err(|e| AppError::internal(format!("cannot encode a thumbnail: {e}")))?;
    Ok(Some(out))
}

/// Checks and prepares a file for storage: not empty, at most `max_bytes`, typed by its bytes,
/// and for images a thumbnail (made on a blocking thread).
pub async fn prepare(upload: Upload, max_bytes: usize) -> Result<Prepared, AppError> {
    if upload.bytes.is_empty() {
        return Err(AppError::invalid("file", FieldProblem::Required));
    }
    if upload.bytes.len() > max_bytes {
        return Err(AppError::invalid("file", FieldProblem::FileTooLarge(max_bytes)));
    }
    let name = clean_name(&upload.name);
    tokio::task::spawn_blocking(move || {
        let content_type = detect(&upload.bytes);
        let sha256 = crate::digest::sha256_hex(&upload.bytes);
        let thumb = if content_type.starts_with("image/") { thumbnail(&upload.bytes)? } else { None };
        let thumb = thumb.map(|t| {
            let sha = crate::digest::sha256_hex(&t);
            (t, sha)
        });
        Ok(Prepared { name, content_type, bytes: upload.bytes, sha256, thumb })
    })
    .await
    .map_err(|e| AppError::internal(format!("the file check stopped: {e}")))?
}

/// Prepares the files that came with an intake report, at most [`MAX_FILES`]: a file that cannot
/// be kept (too large, an image too large to open) is left out and logged, never the report.
pub async fn prepare_delivered(uploads: Vec<Upload>, max_bytes: usize) -> Vec<Prepared> {
    let mut kept = Vec::new();
    let total = uploads.len();
    for upload in uploads.into_iter().take(MAX_FILES) {
        let name = upload.name.clone();
        match prepare(upload, max_bytes).await {
            Ok(p) => kept.push(p),
            Err(err) => tracing::warn!(file = %name, "an attachment of an intake report was not kept: {err}"),
        }
    }
    if total > MAX_FILES {
        tracing::warn!(files = total, kept = MAX_FILES, "an intake report carried more attachments than are kept");
    }
    kept
}

impl Prepared {
    /// The stored file name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What the audit record says of each stored file: its name, type, size and content hash.
pub fn described(files: &[Prepared]) -> Vec<serde_json::Value> {
    files
        .iter()
        .map(|f| serde_json::json!({ "name": f.name, "type": f.content_type, "size": f.bytes.len(), "sha256": f.sha256 }))
        .collect()
}

/// Where a file comes from: a user, or an intake report.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// The incident.
    pub incident_id: i64,
    /// The comment it belongs to, if any.
    pub comment_id: Option<i64>,
    /// Who uploaded it (none for intake).
    pub by: Option<i64>,
}

/// Writes prepared files inside `tx` (their contents through `blobs`); returns their ids.
pub async fn insert(
    tx: &mut WriteTx,
    blobs: &dyn BlobStore,
    source: Source,
    files: &[Prepared],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, AppError> {
    let mut ids = Vec::with_capacity(files.len());
    for f in files {
        blobs.put(tx, &f.sha256, &f.bytes, now).await?;
        if let Some((thumb, sha)) = &f.thumb {
            blobs.put(tx, sha, thumb, now).await?;
        }
        let id: i64 = on_tx!(&mut *tx, conn => sqlx::query_scalar(
            "INSERT INTO attachments (incident_id, comment_id, name, content_type, size, sha256, thumb_sha256, \
             uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(source.incident_id)
        .bind(source.comment_id)
        .bind(&f.name)
        .bind(&f.content_type)
        .bind(i64::try_from(f.bytes.len()).unwrap_or(i64::MAX))
        .bind(&f.sha256)
        .bind(f.thumb.as_ref().map(|(_, sha)| sha.as_str()))
        .bind(source.by)
        .bind(now)
        .fetch_one(conn)
        .await?);
        ids.push(id);
    }
    Ok(ids)
}

/// The incident an upload changed, for the live update and the redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The incident.
    pub incident_id: i64,
    /// Its key.
    pub key: String,
    /// Its version (unchanged).
    pub version: i64,
    /// Its activity counter after the upload.
    pub activity: i64,
    /// The new attachments.
    pub ids: Vec<i64>,
}

/// A user attaches files to an incident (anyone signed in, as for comments). Audited.
pub async fn attach(
    db: &Db,
    blobs: &dyn BlobStore,
    actor: &Actor,
    key: &str,
    files: Vec<Prepared>,
    now: DateTime<Utc>,
) -> Result<Attached, AppError> {
    let details = serde_json::json!({ "files": files.iter().map(|f| &f.name).collect::<Vec<_>>() });
    let attempt = Attempt { event: event::ATTACHMENT_ADDED, incident: None, details };
    audited(db, actor, attempt, now, async {
        if files.is_empty() {
            return Err(AppError::invalid("file", FieldProblem::Required));
        }
        if files.len() > MAX_FILES {
            return Err(AppError::invalid("file", FieldProblem::TooMany(MAX_FILES)));
        }
        let mut tx = db.begin_write().await?;
        let row: Option<(i64, i64, i64)> = on_tx!(&mut tx, conn => sqlx::query_as(
            "UPDATE incidents SET activity = activity + 1 WHERE key = $1 RETURNING id, version, activity",
        )
        .bind(key)
        .fetch_optional(conn)
        .await?);
        let (incident_id, version, activity) = row.ok_or(AppError::NotFound)?;
        let ids =
            insert(&mut tx, blobs, Source { incident_id, comment_id: None, by: Some(actor.id) }, &files, now).await?;
        Record::new(&Origin::actor(actor), event::ATTACHMENT_ADDED)
            .target("incident", key)
            .details(serde_json::json!({ "attachments": ids, "files": described(&files) }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(Attached { incident_id, key: key.to_owned(), version, activity, ids })
    })
    .await
}

/// A stored file to send.
#[derive(Clone, Debug)]
pub struct Download {
    /// The file name.
    pub name: String,
    /// The type detected when it was stored (JPEG for thumbnails).
    pub content_type: String,
    /// The content's SHA-256 (an entity tag that never changes).
    pub sha256: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// The condition on an attachment `a` that it is shown and served: not posted with a comment an
/// admin has since hidden (hiding a comment hides what came with it).
macro_rules! visible {
    () => {
        "NOT EXISTS (SELECT 1 FROM comments hc WHERE hc.id = a.comment_id AND hc.hidden_at IS NOT NULL)"
    };
}

/// An attachment's content, or its thumbnail, read from `blobs`. Everyone signed in may read
/// every incident, so the caller only checks that there is a signed-in reader. Files of a hidden
/// comment are not served (`visible!`).
pub async fn download(db: &Db, blobs: &dyn BlobStore, id: i64, thumb: bool) -> Result<Option<Download>, AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        name: String,
        content_type: String,
        sha256: Option<String>,
    }
    let columns =
        if thumb { "'image/jpeg' AS content_type, a.thumb_sha256 AS sha256" } else { "a.content_type, a.sha256" };
    let sql = format!(concat!("SELECT a.name, {} FROM attachments a WHERE a.id = $1 AND ", visible!()), columns);
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    let Some(Row { name, content_type, sha256: Some(sha256) }) = row else { return Ok(None) };
    let Some(bytes) = blobs.get(db, &sha256).await? else {
        // Recorded but not in the store: worth a look, not a page of its own for the reader.
        tracing::error!(attachment = id, sha256 = %sha256, "an attachment's content is missing from the store");
        return Ok(None);
    };
    Ok(Some(Download { name, content_type, sha256, bytes }))
}

/// The SQL of an incident's attachments as one JSON array (oldest first), a subquery of the
/// incident page's one statement (`i` is the incident). Files of a hidden comment are left out, as
/// they are from downloads (`visible!`).
pub fn attachments_json_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            concat!(
                "SELECT json_group_array(json_object('id', a.id, 'name', a.name, 'content_type', a.content_type, \
                 'size', a.size, 'thumb', a.thumb_sha256 IS NOT NULL, 'by_id', a.uploaded_by, 'by_name', u.display_name, \
                 'comment_id', a.comment_id, 'at', a.created_at) ORDER BY a.id) \
                 FROM attachments a LEFT JOIN users u ON u.id = a.uploaded_by WHERE a.incident_id = i.id AND ",
                visible!()
            )
        }
        Backend::Postgres => {
            concat!(
                "SELECT COALESCE(json_agg(json_build_object('id', a.id, 'name', a.name, 'content_type', a.content_type, \
                 'size', a.size, 'thumb', a.thumb_sha256 IS NOT NULL, 'by_id', a.uploaded_by, 'by_name', u.display_name, \
                 'comment_id', a.comment_id, 'at', a.created_at) ORDER BY a.id), '[]'::json)::text \
                 FROM attachments a LEFT JOIN users u ON u.id = a.uploaded_by WHERE a.incident_id = i.id AND ",
                visible!()
            )
        }
    }
}

#[derive(serde::Deserialize)]
struct AttachmentRow {
    id: i64,
    name: String,
    content_type: String,
    size: i64,
    // SQLite's JSON has no booleans: 0 or 1.
    #[serde(deserialize_with = "flag")]
    thumb: bool,
    by_id: Option<i64>,
    by_name: Option<String>,
    comment_id: Option<i64>,
    #[serde(deserialize_with = "crate::workflow::queries::stored_time")]
    at: DateTime<Utc>,
}

fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) => Ok(n.as_i64() == Some(1)),
        other => Err(serde::de::Error::custom(format!("not a flag: {other}"))),
    }
}

/// The attachments of the page's JSON, oldest first.
pub fn views_from(json: &str) -> Result<Vec<AttachmentView>, AppError> {
    let rows: Vec<AttachmentRow> = serde_json::from_str(json)
        .map_err(|err| AppError::internal(format!("cannot read the attachments of an incident: {err}")))?;
    Ok(rows
        .into_iter()
        .map(|r| AttachmentView {
            image: r.thumb && shows_inline(&r.content_type),
            id: r.id,
            name: r.name,
            content_type: r.content_type,
            size: r.size,
            by: r.by_id.zip(r.by_name).map(|(id, name)| Person { id, name }),
            comment_id: r.comment_id,
            at: r.at.to_rfc3339(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_bytes_and_markup_is_never_its_own_type() {
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(detect(b"<!DOCTYPE html><html><script>alert(1)</script></html>"), "text/plain; charset=utf-8");
        assert_eq!(
            detect(b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(detect("日志 2026-12-07 ERROR".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(detect(&[0xff, 0xfe, 0x00, 0x01, 0x80]), "application/octet-stream");
        assert_eq!(detect(b"%PDF-1.7\n"), "application/pdf");
        assert!(
            shows_inline("image/png") && !shows_inline("image/svg+xml") && !shows_inline("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn names_lose_their_path_and_what_could_break_a_header() {
        assert_eq!(clean_name("C:\\Users\\li\\截图 1.png"), "截图 1.png");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\"b<c>\u{0}d.txt"), "abcd.txt");
        assert_eq!(clean_name(".htaccess"), "htaccess");
        assert_eq!(clean_name("///"), "file");
    }
}
