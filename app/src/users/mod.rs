//! User management for admins: list, create, edit, deactivate, reset password, end sessions.

mod api;
mod pages;
pub mod validate;

#[cfg(feature = "ssr")]
pub mod bootstrap;
#[cfg(feature = "ssr")]
pub mod chat_identity;
#[cfg(feature = "ssr")]
pub mod preferences;
#[cfg(feature = "ssr")]
pub mod store;

pub use api::*;
pub use pages::{NewUserPage, UserPage, UsersPage};

use serde::{Deserialize, Serialize};

use crate::{auth::Role, i18n::Locale};

/// A user as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    /// User id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Email address.
    pub email: String,
    /// Can sign in.
    pub active: bool,
    /// Roles held.
    pub roles: Vec<Role>,
}

/// A user with everything the admin page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserDetail {
    /// The listed fields.
    pub summary: UserSummary,
    /// Preferred language (emails and default UI language).
    pub language: Locale,
    /// Must choose a new password at next sign-in.
    pub must_change_password: bool,
    /// Sessions not yet ended.
    pub active_sessions: i64,
}
