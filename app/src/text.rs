//! The one rule every piece of submitted text obeys: no control characters.
//!
//! PostgreSQL cannot store NUL in a text column (the insert fails), SQLite stores it and every
//! reader after it then has to cope; other C0 controls (escape, backspace, bell…) are never typed
//! by a person and only serve to garble logs, terminals and emails. So text from every input (the
//! forms and server functions, the intake API, the command line) is refused when it holds any
//! character below U+0020 other than tab, line feed and carriage return, or DEL, with a field
//! error that names the field. Both databases therefore behave the same.

use crate::error::{AppError, FieldProblem};

/// Whether `c` may appear in submitted text.
pub fn allowed(c: char) -> bool {
    !(c.is_ascii_control()) || matches!(c, '\t' | '\n' | '\r')
}

/// The first character of `value` that text may not hold.
pub fn forbidden_char(value: &str) -> Option<char> {
    value.chars().find(|c| !allowed(*c))
}

/// Refuses `value` for `field` when it holds a control character.
pub fn check(field: &str, value: &str) -> Result<(), AppError> {
    match forbidden_char(value) {
        Some(_) => Err(AppError::invalid(field, FieldProblem::ControlCharacter)),
        None => Ok(()),
    }
}

/// Text from outside that nobody typed into Baton (a decoded email): control characters are
/// dropped rather than refused, so a stray byte in a user's mail does not lose their report.
pub fn without_controls(value: &str) -> String {
    if forbidden_char(value).is_none() {
        return value.to_owned();
    }
    value.chars().filter(|c| allowed(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_and_line_breaks_are_text_other_controls_are_not() {
        assert_eq!(forbidden_char("a\tb\r\nc 中文 ✓"), None);
        for bad in ['\0', '\u{1}', '\u{7}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}'] {
            assert_eq!(forbidden_char(&format!("ok{bad}ok")), Some(bad), "{:?}", bad);
        }
    }

    #[test]
    fn check_names_the_field() {
        assert_eq!(check("title", "fine"), Ok(()));
        assert_eq!(check("title", "nul\0"), Err(AppError::invalid("title", FieldProblem::ControlCharacter)));
    }

    #[test]
    fn controls_are_dropped_from_outside_text() {
        assert_eq!(without_controls("a\0b\u{1b}[31mc\n"), "ab[31mc\n");
        assert_eq!(without_controls("plain"), "plain");
    }
}
