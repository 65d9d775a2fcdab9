//! Small pieces shared by every form: the error summary and per-field messages.
// The #[server] and #[component] macros generate argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use crate::{error::AppError, i18n::use_i18n};

/// The error of a form submission that belongs to no single field (or any error, when the form
/// shows no field messages). Announced to screen readers. The slot is always in the page, hidden
/// while empty, so the browser can fill it after an in-place submission (`enhance`).
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    // Rendered once, on the server: forms are never hydrated (the browser fills the slot itself).
    let message = error.get_untracked().filter(|e| e.field().is_none()).map(|e| e.message(use_i18n().t()));
    let hidden = message.is_none();
    view! {
        <p class="form-error" role="alert" data-form-error="" hidden=hidden>
            {message}
        </p>
    }
}

/// The message for one field, shown under it; an empty, hidden slot while there is none.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(into)] field: String,
    /// The slot's id, for the field's `aria-describedby`; default `err-{field}` (give one when two
    /// forms of the page have a field of the same name).
    #[prop(optional, into)]
    id: Option<String>,
) -> impl IntoView {
    let message =
        error.get_untracked().filter(|e| e.field() == Some(field.as_str())).map(|e| e.message(use_i18n().t()));
    let hidden = message.is_none();
    let id = id.unwrap_or_else(|| format!("err-{field}"));
    view! {
        <p class="field-error" role="alert" id=id data-error-for=field hidden=hidden>
            {message}
        </p>
    }
}
