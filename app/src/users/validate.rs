//! Validation of user fields, shared by the server (the guard) and the browser (for display).

use crate::{
    auth::Role,
    error::{AppError, FieldProblem},
    i18n::Locale,
};

/// Username: 3 to 32 characters, letters, digits, `.`, `_` or `-`.
pub fn username(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    let problem = if v.is_empty() {
        Some(FieldProblem::Required)
    } else if v.chars().count() < 3 {
        Some(FieldProblem::TooShort(3))
    } else if v.chars().count() > 32 {
        Some(FieldProblem::TooLong(32))
    } else if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        Some(FieldProblem::InvalidUsername)
    } else {
        None
    };
    match problem {
        Some(p) => Err(AppError::invalid("username", p)),
        None => Ok(v.to_owned()),
    }
}

/// Display name: 1 to 80 characters.
pub fn display_name(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() {
        Err(AppError::invalid("display_name", FieldProblem::Required))
    } else if v.chars().count() > 80 {
        Err(AppError::invalid("display_name", FieldProblem::TooLong(80)))
    } else if crate::text::forbidden_char(v).is_some() {
        Err(AppError::invalid("display_name", FieldProblem::ControlCharacter))
    } else {
        Ok(v.to_owned())
    }
}

/// Email: one `@`, something before it, a dotted domain after it, no spaces, at most 254 bytes.
pub fn email(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::invalid("email", FieldProblem::Required));
    }
    let valid = v.len() <= 254
        && !v.contains(char::is_whitespace)
        && !v.contains(|c: char| c.is_control())
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(v.to_owned())
    } else {
        Err(AppError::invalid("email", FieldProblem::InvalidEmail))
    }
}

/// Language: one of the UI's languages.
pub fn language(value: &str) -> Result<Locale, AppError> {
    Locale::from_tag(value).ok_or_else(|| AppError::invalid("language", FieldProblem::InvalidChoice))
}

/// Roles from the form's checkboxes (`Some(_)` = checked), given in the order of [`Role::ALL`].
pub fn roles(checked: [&Option<String>; 5]) -> Vec<Role> {
    Role::ALL.into_iter().zip(checked).filter(|(_, v)| v.is_some()).map(|(r, _)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked() {
        assert_eq!(username(" li.wei ").unwrap(), "li.wei");
        assert!(username("ab").is_err());
        assert!(username("has space").is_err());
        assert!(username("名字").is_err());
        assert!(username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn emails_are_checked() {
        assert!(email("ops@example.com").is_ok());
        for bad in ["", "no-at", "@example.com", "a@b", "a b@example.com", "a@@example.com", "a@example."] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_may_be_chinese() {
        assert_eq!(display_name(" 王小明 ").unwrap(), "王小明");
        assert!(display_name("  ").is_err());
    }
}
