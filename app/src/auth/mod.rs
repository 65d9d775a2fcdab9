//! Accounts and sign-in: who the user is, which roles they hold, and their session.

mod api;
mod pages;
mod role;

#[cfg(feature = "ssr")]
pub mod cookie;
#[cfg(feature = "ssr")]
pub mod guard;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod throttle;

pub use api::*;
pub use pages::{provide_me, use_me, AccountPage, ChangePasswordPage, LoginPage, SignedInNav};
pub use role::Role;

use serde::{Deserialize, Serialize};

use crate::i18n::Locale;

/// The signed-in user as the browser may know them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// User id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Roles held now (read from the database on every request).
    pub roles: Vec<Role>,
    /// Preferred language.
    pub language: Locale,
    /// The time zone chosen on the account page (IANA name); `None`: the device's, else the
    /// installation's.
    pub time_zone: Option<String>,
    /// The user must choose a new password before doing anything else.
    pub must_change_password: bool,
}

impl Me {
    /// Whether the user holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The user a request acts as, with the id of their session record. Server-side only: put into
/// the request extensions by the session middleware after checking the session record.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// Who.
    pub me: Me,
    /// Their app-owned session record.
    pub session_id: String,
}

/// Where a request came from, as far as the server can trust it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP address (from `X-Forwarded-For` only when the peer is a trusted proxy).
    pub addr: String,
    /// `User-Agent` header.
    pub user_agent: String,
}

/// Name of the session cookie when the base URL is plain http (a laptop, a test).
pub const SESSION_COOKIE: &str = "baton_session";

/// Name of the session cookie behind https. Browsers accept a `__Host-` cookie only when it is
/// `Secure`, has `Path=/` and no `Domain`: a neighbouring subdomain can neither set nor overwrite
/// it, so nobody can plant a session of their choosing (fixation through a sibling host).
pub const SECURE_SESSION_COOKIE: &str = "__Host-baton_session";

/// Server functions callable without signing in. Every other server function is refused to
/// anonymous callers before it runs (deny by default).
pub const PUBLIC_SERVER_FNS: &[&str] = &["/api/auth/login", "/api/auth/logout", "/api/auth/me"];

/// Server functions a user who must change their password may still call.
pub const PASSWORD_CHANGE_SERVER_FNS: &[&str] = &["/api/auth/change_password"];

/// Where to go after signing in: only local paths are followed.
pub fn safe_next(next: Option<&str>) -> String {
    crate::shell::local_path(next.unwrap_or_default()).to_owned()
}
