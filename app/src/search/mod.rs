//! Search across incidents (key, title, description, root cause, solution), comments and pool
//! items, for Chinese as well as English.
//!
//! Chinese has no spaces between words, so words cannot be the unit. Every document is indexed by
//! its character n-grams, computed by the application ([`grams`]) the same way for both
//! databases: trigrams of every run of letters and digits, plus every pair of adjacent Chinese
//! (CJK) characters and every two-character word. A query needs the grams of its terms, which an
//! index finds (SQLite: an FTS5 table of the grams as tokens; PostgreSQL: a GIN index on the grams
//! as an array); each candidate is then checked for the exact substring in its folded text. The
//! bigrams are what let a two-character query such as 支付 or 登录 find its incidents, which a plain
//! trigram index cannot (it has no gram shorter than three characters). Neither an extension nor
//! the database's locale decides what matches.

use serde::{Deserialize, Serialize};

use crate::workflow::{input::Severity, rules::Stage};

mod api;
#[cfg(feature = "ssr")]
pub mod grams;
#[cfg(feature = "ssr")]
pub mod index;
mod pages;
#[cfg(feature = "ssr")]
pub mod query;

pub use api::search;
pub use pages::{HeaderSearch, SearchPage};

/// The longest query, in characters.
pub const MAX_QUERY: usize = 200;

/// Results per page.
pub const SEARCH_PAGE: usize = 20;

/// What a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HitKind {
    /// An incident.
    Incident,
    /// A comment on an incident.
    Comment,
    /// A requirement-pool item.
    Pool,
}

/// A piece of shown text: matched (highlighted) or not.
pub type Piece = (String, bool);

/// One result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// What it is.
    pub kind: HitKind,
    /// Where it is.
    pub href: String,
    /// The incident's key (incidents and comments, and pool items that came from one).
    pub key: Option<String>,
    /// The heading: the incident's or pool item's title, matches marked.
    pub title: Vec<Piece>,
    /// The text around the first match, matches marked.
    pub fragment: Vec<Piece>,
    /// The incident's stage now.
    pub stage: Option<Stage>,
    /// The incident's severity.
    pub severity: Option<Severity>,
    /// When the record was written, RFC 3339.
    pub at: String,
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The hits, best first.
    pub hits: Vec<SearchHit>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}
