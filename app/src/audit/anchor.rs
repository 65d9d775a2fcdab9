//! Anchors: the chain's head written outside the database on a schedule.
//!
//! The hash chain shows an edited, removed or reordered entry by itself, but someone able to
//! rewrite the whole table can recompute every hash, and someone able to delete the newest rows
//! leaves a shorter chain that still verifies. Both are caught only against a head kept elsewhere.
//! So every few minutes (and at shutdown) the current head, when it moved, is appended to a file
//! outside the data directory (`BATON_AUDIT_ANCHOR_FILE`), one line per anchor:
//!
//! ```text
//! 2026-12-03T15:40:00Z 1234:9f2c…(64 hex digits)
//! ```
//!
//! `server audit verify --anchors FILE` checks the chain against every line. The file is only
//! appended to, each line synced to disk before the next; ship it off the host (log shipping, a
//! write-once bucket) for the strongest guarantee.

use std::{path::Path, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};

use super::{chain::Head, store};
use crate::db::Db;

/// One anchor line (with its newline) for `head` written at `at`.
pub fn line(head: &Head, at: DateTime<Utc>) -> String {
    format!("{} {head}\n", at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The heads of an anchor file, in file order. Blank lines and `#` comments are skipped; a line
/// is a time and a head, or a head alone (as `server audit head` prints it).
pub fn parse(text: &str) -> Result<Vec<Head>, String> {
    let mut heads = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let head = raw.rsplit(char::is_whitespace).next().unwrap_or(raw);
        heads.push(head.parse::<Head>().map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(heads)
}

/// Appends `head` to the anchor file at `path` and syncs it to disk.
pub async fn append(path: &Path, head: &Head, at: DateTime<Utc>) -> std::io::Result<()> {
    let (path, text) = (path.to_owned(), line(head, at));
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Writes the current head to `path` when it differs from `last`; the head written (or `last`).
async fn anchor_once(db: &Db, path: &Path, last: Option<Head>) -> Option<Head> {
    let head = match store::head(db).await {
        Ok(Some(head)) => head,
        Ok(None) => return last,
        Err(err) => {
            tracing::error!("cannot read the audit head for its anchor: {err}");
            return last;
        }
    };
    if last.as_ref() == Some(&head) {
        return last;
    }
    match append(path, &head, Utc::now()).await {
        Ok(()) => {
            tracing::info!(head = %head, file = %path.display(), "audit head anchored");
            Some(head)
        }
        Err(err) => {
            tracing::error!(file = %path.display(), "cannot write the audit anchor: {err}");
            last
        }
    }
}

/// Anchors the head to `path` every `every` while it moves, until `shutdown`, and once more then.
pub async fn run(db: Db, path: std::path::PathBuf, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut last = anchor_once(&db, &path, None).await;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(every) => last = anchor_once(&db, &path, last).await,
        }
    }
    anchor_once(&db, &path, last).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: i64, digit: char) -> Head {
        Head { seq, hash: digit.to_string().repeat(64) }
    }

    #[test]
    fn lines_round_trip_and_bad_lines_are_named() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T15:40:00Z").unwrap().with_timezone(&Utc);
        let text = format!("# anchors\n{}\n{}{}\n", line(&head(3, 'a'), at), line(&head(9, 'b'), at), head(12, 'c'));
        assert!(text.starts_with("# anchors\n2026-12-03T15:40:00Z 3:aaaa"), "{text}");
        assert_eq!(parse(&text), Ok(vec![head(3, 'a'), head(9, 'b'), head(12, 'c')]));
        let error = parse("2026-12-03T15:40:00Z 3:aaaa\n").unwrap_err();
        assert!(error.starts_with("line 1:"), "{error}");
    }

    #[tokio::test]
    async fn appending_keeps_every_earlier_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors.log");
        append(&path, &head(1, 'a'), Utc::now()).await.unwrap();
        append(&path, &head(2, 'b'), Utc::now()).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse(&text), Ok(vec![head(1, 'a'), head(2, 'b')]));
    }
}
