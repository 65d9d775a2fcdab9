//! Small pieces shared by every form: the error summary and per-field messages.
// The #[server] and #[component] macros generate argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use crate::{error::AppError, i18n::use_i18n};

/// The error of a form submission that belongs to no single field (or any error, when the form
/// shows no field messages). Announced to screen readers.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        error.get().filter(|e| e.field().is_none()).map(|e| {
            view! {
                <p class="form-error" role="alert">
                    {e.message(i18n.t())}
                </p>
            }
        })
    }
}

/// The message for one field, shown under it.
#[component]
pub fn FieldError(#[prop(into)] error: Signal<Option<AppError>>, field: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        error.get().filter(|e| e.field() == Some(field)).map(|e| {
            view! {
                <p class="field-error" id=format!("{field}-error") role="alert">
                    {e.message(i18n.t())}
                </p>
            }
        })
    }
}
