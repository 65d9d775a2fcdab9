//! The requirement pool (需求池): the optimal solutions parked by interim fixes, and items a PM
//! adds directly. Everyone signed in reads it; PMs manage it ([`crate::workflow::rules::may_manage_pool`]).

mod api;
mod pages;
#[cfg(feature = "ssr")]
pub mod store;

pub use api::*;
pub use pages::{PoolItemPage, PoolPage};
use serde::{Deserialize, Serialize};

use crate::{
    error::Refusal,
    workflow::input::{text, Severity, MAX_SHORT, MAX_TEXT},
};

/// The optimal solution, parked in the requirement pool by the PM's not-optimal verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDraft {
    /// Item title.
    pub title: String,
    /// The optimal solution.
    pub description: String,
    /// Priority.
    pub priority: Severity,
}

impl PoolDraft {
    /// Checks the title and the description of the optimal solution.
    pub fn validate(&self) -> Result<(), Refusal> {
        text("pool_title", &self.title, MAX_SHORT, true)?;
        text("pool_description", &self.description, MAX_TEXT, true)
    }
}

/// Status of a requirement-pool item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolStatus {
    /// Waiting to be scheduled.
    Open,
    /// In a release plan.
    Scheduled,
    /// Delivered.
    Done,
}

impl PoolStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolStatus::Open => "open",
            PoolStatus::Scheduled => "scheduled",
            PoolStatus::Done => "done",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        [PoolStatus::Open, PoolStatus::Scheduled, PoolStatus::Done].into_iter().find(|s| s.as_str() == name.trim())
    }
}

/// A requirement-pool item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolItem {
    /// Row id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// The optimal solution.
    pub description: String,
    /// Priority.
    pub priority: Severity,
    /// Status.
    pub status: PoolStatus,
    /// Target release.
    pub target_release: String,
    /// Key of the incident it came from.
    pub source_incident: Option<String>,
    /// When it entered the pool (RFC 3339).
    pub created_at: String,
    /// When it was done (RFC 3339).
    pub done_at: Option<String>,
    /// How long it waited in the pool: until it was done, or until now.
    pub waited_seconds: i64,
}
