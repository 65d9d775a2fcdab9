//! The error type of every server function.
//!
//! Expected outcomes (wrong password, missing permission, invalid field) are variants the UI
//! renders in the user's language. Unexpected failures become [`AppError::Internal`] carrying only
//! a reference; the detail is logged on the server under the same reference and never sent to the
//! browser.

use leptos::{
    prelude::{FromServerFnError, ServerFnErrorErr},
    server_fn::codec::JsonEncoding,
};
use serde::{Deserialize, Serialize};

use crate::i18n::{fill, Strings};

/// What is wrong with one submitted field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldProblem {
    /// Left empty.
    Required,
    /// Shorter than the minimum number of characters.
    TooShort(usize),
    /// Longer than the maximum number of characters (or bytes, for passwords).
    TooLong(usize),
    /// Not an email address.
    InvalidEmail,
    /// A username may hold letters, digits, `.`, `_` and `-` only.
    InvalidUsername,
    /// Another user already has this username.
    UsernameTaken,
    /// The two new passwords differ.
    PasswordMismatch,
    /// The current password given is wrong.
    WrongPassword,
    /// A password anyone would try first: the username, the product's name or a common one.
    PasswordGuessable,
    /// The new password is the current one.
    PasswordUnchanged,
    /// The value is not one of the allowed choices.
    InvalidChoice,
    /// Not a date (or date and time) that exists.
    InvalidDate,
    /// Another record already has this value (e.g. a name).
    Taken,
    /// The value has the wrong type (a number where text belongs, say).
    WrongType,
    /// A time earlier than the incident was reported.
    BeforeReported,
    /// A time that has not come yet.
    InFuture,
    /// A date that has passed (a due date before today).
    InPast,
    /// These email addresses (one or more of a list) are not addresses.
    InvalidAddresses(Vec<String>),
    /// Not an audit-log head (`N:hash`).
    NotAuditHead,
    /// Holds a control character (NUL, escape…): only tab and line breaks may appear in text.
    ControlCharacter,
    /// Not a duration (`15m`, `2h`, `1h 30m`).
    NotDuration,
    /// A duration out of the accepted range (1 minute to 90 days).
    DurationRange,
    /// A percentage out of the accepted range.
    PercentRange,
    /// Not a time zone this build knows.
    UnknownZone,
    /// Not working hours (`09:00-12:00, 13:00-18:00`).
    NotWorkingHours,
    /// This line of a day list is not a date or a range of dates.
    DayLine(usize),
    /// Not an `http://` or `https://` URL.
    NotUrl,
    /// The URL's host is an internal address (loopback, private network…), not allowed by name.
    InternalAddress(String),
    /// The URL's host is neither a chat platform's nor one an admin allowed.
    HostNotAllowed(String),
    /// Not the kind of URL this platform hands out (its robot token is missing).
    UrlNotOfKind,
    /// Not a signing secret of this platform.
    SecretFormat,
    /// The server has no secret key to seal credentials with.
    SecretKeyMissing,
    /// Not a mobile number.
    NotMobile,
    /// Not a chat user id (letters, digits, `_ . @ -`).
    NotChatId,
    /// Not a Feishu/Lark open_id (`ou_…`).
    NotOpenId,
    /// A comment may be edited only this many minutes after it was written.
    EditWindowClosed(i64),
    /// A file larger than this many bytes.
    FileTooLarge(usize),
    /// An image too large (in pixels) to open safely.
    ImageTooLarge,
    /// More than this many items at once.
    TooMany(usize),
}

/// Why a gate action is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The incident is not in the stage this action belongs to.
    #[error("wrong stage")]
    WrongStage,
    /// The user does not hold the action's role.
    #[error("not your role")]
    NotYourRole,
    /// Another user is the named owner of the action's role.
    #[error("not the named owner")]
    NotNamedOwner,
    /// A required field is missing or invalid.
    #[error("invalid field {field}: {problem:?}")]
    Invalid {
        /// Field name.
        field: String,
        /// What is wrong.
        problem: FieldProblem,
    },
    /// Someone else moved the incident since the user loaded it.
    #[error("the incident has moved on")]
    Stale,
}

/// A refusal or failure reported to the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The request needs a signed-in user.
    #[error("not signed in")]
    NotSignedIn,
    /// The signed-in user lacks the role for this.
    #[error("forbidden")]
    Forbidden,
    /// Unknown username or wrong password (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed sign-ins; try again after this many seconds.
    #[error("throttled for {0} s")]
    Throttled(u64),
    /// A submitted field is invalid.
    #[error("invalid field {field}: {problem:?}")]
    Invalid {
        /// Form field name.
        field: String,
        /// What is wrong.
        problem: FieldProblem,
    },
    /// An admin may not deactivate themselves or remove their own admin role.
    #[error("would lock the admin out")]
    SelfLockout,
    /// A gate action was refused by the workflow rules.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// An unexpected failure; the server log holds the detail under this reference.
    #[error("internal error (reference {0})")]
    Internal(String),
    /// The request itself could not be carried out (network, encoding).
    #[error("request failed: {0}")]
    Request(String),
}

impl AppError {
    /// Shorthand for a field error.
    pub fn invalid(field: &str, problem: FieldProblem) -> Self {
        AppError::Invalid { field: field.to_owned(), problem }
    }

    /// The field this error belongs to, if it is a field error.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => Some(field),
            AppError::Refused(Refusal::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    /// The message to show, in the language of `t`.
    pub fn message(&self, t: &Strings) -> String {
        match self {
            AppError::NotSignedIn => t.error_not_signed_in.to_owned(),
            AppError::Forbidden => t.error_forbidden.to_owned(),
            AppError::InvalidCredentials => t.error_invalid_credentials.to_owned(),
            AppError::Throttled(secs) => fill(t.error_throttled, &[("seconds", &secs.to_string())]),
            AppError::Invalid { problem, .. } => problem.message(t),
            AppError::SelfLockout => t.error_self_lockout.to_owned(),
            AppError::Refused(refusal) => match refusal {
                Refusal::WrongStage => t.refusal_wrong_stage.to_owned(),
                Refusal::NotYourRole => t.refusal_not_your_role.to_owned(),
                Refusal::NotNamedOwner => t.refusal_not_named_owner.to_owned(),
                Refusal::Stale => t.refusal_stale.to_owned(),
                Refusal::Invalid { problem, .. } => problem.message(t),
            },
            AppError::NotFound => t.error_not_found.to_owned(),
            AppError::Internal(reference) => fill(t.error_internal, &[("reference", reference)]),
            AppError::Request(_) => t.error_request.to_owned(),
        }
    }
}

impl FieldProblem {
    /// The message to show next to the field, in the language of `t`.
    pub fn message(&self, t: &Strings) -> String {
        match self {
            FieldProblem::Required => t.field_required.to_owned(),
            FieldProblem::TooShort(n) => fill(t.field_too_short, &[("min", &n.to_string())]),
            FieldProblem::TooLong(n) => fill(t.field_too_long, &[("max", &n.to_string())]),
            FieldProblem::InvalidEmail => t.field_invalid_email.to_owned(),
            FieldProblem::InvalidUsername => t.field_invalid_username.to_owned(),
            FieldProblem::UsernameTaken => t.field_username_taken.to_owned(),
            FieldProblem::PasswordMismatch => t.field_password_mismatch.to_owned(),
            FieldProblem::WrongPassword => t.field_wrong_password.to_owned(),
            FieldProblem::PasswordGuessable => t.field_password_guessable.to_owned(),
            FieldProblem::PasswordUnchanged => t.field_password_unchanged.to_owned(),
            FieldProblem::InvalidChoice => t.field_invalid_choice.to_owned(),
            FieldProblem::InvalidDate => t.field_invalid_date.to_owned(),
            FieldProblem::Taken => t.field_taken.to_owned(),
            FieldProblem::WrongType => t.field_wrong_type.to_owned(),
            FieldProblem::BeforeReported => t.field_before_reported.to_owned(),
            FieldProblem::InFuture => t.field_in_future.to_owned(),
            FieldProblem::InPast => t.field_in_past.to_owned(),
            FieldProblem::InvalidAddresses(list) => fill(t.field_invalid_addresses, &[("list", &list.join(", "))]),
            FieldProblem::NotAuditHead => t.field_not_audit_head.to_owned(),
            FieldProblem::ControlCharacter => t.field_control_character.to_owned(),
            FieldProblem::NotDuration => t.field_not_duration.to_owned(),
            FieldProblem::DurationRange => t.field_duration_range.to_owned(),
            FieldProblem::PercentRange => t.field_percent_range.to_owned(),
            FieldProblem::UnknownZone => t.field_unknown_zone.to_owned(),
            FieldProblem::NotWorkingHours => t.field_not_working_hours.to_owned(),
            FieldProblem::DayLine(line) => fill(t.field_day_line, &[("line", &line.to_string())]),
            FieldProblem::NotUrl => t.field_not_url.to_owned(),
            FieldProblem::InternalAddress(host) => fill(t.field_internal_address, &[("host", host)]),
            FieldProblem::HostNotAllowed(host) => fill(t.field_host_not_allowed, &[("host", host)]),
            FieldProblem::UrlNotOfKind => t.field_url_not_of_kind.to_owned(),
            FieldProblem::SecretFormat => t.field_secret_format.to_owned(),
            FieldProblem::SecretKeyMissing => t.field_secret_key_missing.to_owned(),
            FieldProblem::NotMobile => t.field_not_mobile.to_owned(),
            FieldProblem::NotChatId => t.field_not_chat_id.to_owned(),
            FieldProblem::NotOpenId => t.field_not_open_id.to_owned(),
            FieldProblem::EditWindowClosed(n) => fill(t.field_edit_window_closed, &[("minutes", &n.to_string())]),
            FieldProblem::FileTooLarge(n) => {
                fill(t.field_file_too_large, &[("size", &crate::collab::human_size(*n as i64))])
            }
            FieldProblem::ImageTooLarge => t.field_image_too_large.to_owned(),
            FieldProblem::TooMany(n) => fill(t.field_too_many, &[("max", &n.to_string())]),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // Argument decoding and transport failures: never echo their text (it may quote input or
        // internals), only say the request failed.
        AppError::Request(match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => "network".into(),
            _ => "bad request".into(),
        })
    }
}

impl From<ServerFnErrorErr> for AppError {
    fn from(value: ServerFnErrorErr) -> Self {
        Self::from_server_fn_error(value)
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs an unexpected failure with its detail and returns the generic error with a reference
    /// that support can find in the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        tracing::error!(reference = %reference, "internal error: {detail}");
        AppError::Internal(reference)
    }
}

#[cfg(feature = "ssr")]
impl From<crate::db::DbError> for AppError {
    fn from(err: crate::db::DbError) -> Self {
        metrics::counter!("baton_db_errors_total").increment(1);
        AppError::internal(err)
    }
}

#[cfg(feature = "ssr")]
impl From<crate::db::UnknownStoredValue> for AppError {
    fn from(err: crate::db::UnknownStoredValue) -> Self {
        AppError::internal(err)
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        metrics::counter!("baton_db_errors_total").increment(1);
        AppError::internal(crate::db::DbError::Query(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{EN, ZH_CN};

    #[test]
    fn messages_come_in_both_languages_and_fill_their_numbers() {
        let throttled = AppError::Throttled(42);
        assert!(throttled.message(&EN).contains("42"));
        assert!(throttled.message(&ZH_CN).contains("42"));
        assert_ne!(throttled.message(&EN), throttled.message(&ZH_CN));
        assert!(AppError::invalid("password", FieldProblem::TooShort(12)).message(&EN).contains("12"));
    }

    #[test]
    fn decoding_failures_do_not_carry_their_text_to_the_browser() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Args("SELECT secret FROM x".into()));
        assert_eq!(err, AppError::Request("bad request".into()));
    }
}
