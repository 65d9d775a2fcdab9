//! The roles a user may hold. A user may hold several; admin alone gives no power over incidents.

use serde::{Deserialize, Serialize};

use crate::i18n::Strings;

/// One role of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// 运营: receives feedback, triages, replies to users.
    Ops,
    /// 产品经理: owns technical incidents, dispatches, decides, reports.
    Pm,
    /// 技术/开发: locates, fixes and releases.
    Dev,
    /// 测试: tests the fix and re-tests in production.
    Qa,
    /// 管理员: users, settings, audit log.
    Admin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 5] = [Role::Ops, Role::Pm, Role::Dev, Role::Qa, Role::Admin];

    /// The stable name stored in the database and used in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ops => "ops",
            Role::Pm => "pm",
            Role::Dev => "dev",
            Role::Qa => "qa",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or submitted role name.
    pub fn parse(name: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == name.trim())
    }

    /// The role's name in the user's language.
    pub fn label(self, t: &Strings) -> &'static str {
        match self {
            Role::Ops => t.role_ops,
            Role::Pm => t.role_pm,
            Role::Dev => t.role_dev,
            Role::Qa => t.role_qa,
            Role::Admin => t.role_admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
