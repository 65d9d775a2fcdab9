//! Working together on an incident: comments with @-mentions, beside the gate actions.
//!
//! Anyone signed in may comment on any incident; only the named owner moves its stage. A comment
//! is plain text with a small, safe subset of Markdown, rendered and sanitised on the server when
//! it is written ([`markdown`]). Mentioned users are told through the outbox in the comment's own
//! transaction. The author may edit for [`EDIT_MINUTES`] minutes (each earlier text is kept and
//! the edit audited) and never delete; an admin may hide a comment, with a reason, and the text
//! stays in the audit record. Comments appear in the incident's timeline, and every change bumps
//! the incident's `activity`, so open pages redraw without making gate forms stale.

use serde::{Deserialize, Serialize};

use crate::workflow::views::Person;

pub mod api;
#[cfg(feature = "ssr")]
pub mod files;
#[cfg(feature = "ssr")]
pub mod markdown;
mod pages;
#[cfg(feature = "ssr")]
pub mod storage;
#[cfg(feature = "ssr")]
pub mod store;

pub use api::{AddComment, EditComment, HideComment};
pub use pages::{Attachments, CommentForm, CommentItem};

/// How long after writing a comment its author may still edit it.
pub const EDIT_MINUTES: i64 = 15;

/// The longest comment, in characters.
pub const MAX_COMMENT: usize = 10_000;

/// A hidden comment: who hid it, when, and (for admins only) why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hidden {
    /// The admin who hid it.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
    /// Why; empty for readers who are not admins.
    pub reason: String,
}

/// One comment as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentView {
    /// Comment id (the anchor `#comment-{id}`).
    pub id: i64,
    /// Who wrote it.
    pub author: Person,
    /// When it was written, RFC 3339.
    pub at: String,
    /// When it was last edited, RFC 3339.
    pub edited_at: Option<String>,
    /// The rendered, sanitised HTML; empty when hidden.
    pub html: String,
    /// The text as typed, for the author's edit form; empty unless [`Self::may_edit`].
    pub body: String,
    /// Set when an admin hid it.
    pub hidden: Option<Hidden>,
    /// The reader wrote it and may still edit it.
    pub may_edit: bool,
    /// The reader is an admin and may hide it.
    pub may_hide: bool,
    /// Where it goes in the newest-first timeline: the number of timeline entries newer than it.
    pub position: usize,
    /// The files posted with it, oldest first; none once it is hidden.
    #[serde(default)]
    pub files: Vec<AttachmentView>,
}

/// One attached file as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentView {
    /// Attachment id (`/attachments/{id}/{name}`).
    pub id: i64,
    /// The file name.
    pub name: String,
    /// The type detected from its bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// An image with a thumbnail, shown inline.
    pub image: bool,
    /// Who attached it (none for a report that arrived by intake).
    pub by: Option<Person>,
    /// The comment it belongs to, if any.
    pub comment_id: Option<i64>,
    /// When, RFC 3339.
    pub at: String,
}

impl AttachmentView {
    /// Where it downloads from (its name in the path, so a saved file keeps it).
    pub fn href(&self) -> String {
        format!("/attachments/{}/{}", self.id, percent_path(&self.name))
    }
}

/// Percent-encodes a path segment or query value (UTF-8 bytes outside the unreserved set).
pub fn percent_path(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A size as people read it: 930 B, 14 KB, 2.4 MB.
pub fn human_size(bytes: i64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{:.1} MB", b / KB / KB)
    }
}
