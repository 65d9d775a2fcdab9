//! The browser side of an enhanced multipart form (attachments): the sizes checked before
//! anything is sent, and the body sent with `XMLHttpRequest`, whose upload progress moves the
//! form's `data-progress` bar (`fetch` cannot report how much of a request body has gone).

use js_sys::{Function, Promise};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FormData, HtmlFormElement, HtmlInputElement, ProgressEvent, XmlHttpRequest};

use super::browser::elements;
use crate::error::{AppError, FieldProblem};

/// The form's file limit in bytes (`data-max-bytes`), if it states one.
fn max_bytes(form: &HtmlFormElement) -> Option<f64> {
    form.get_attribute("data-max-bytes")?.parse().ok()
}

fn too_large(field: &str, max: f64) -> AppError {
    AppError::invalid(field, FieldProblem::FileTooLarge(max as usize))
}

/// The refusal for the first chosen file over the form's limit. Checked before sending, so a
/// phone does not spend minutes sending what the server will refuse; the server checks again.
pub fn check_sizes(form: &HtmlFormElement) -> Option<AppError> {
    let max = max_bytes(form)?;
    elements(form, "input[type=file]").into_iter().filter_map(|e| e.dyn_into::<HtmlInputElement>().ok()).find_map(
        |input| {
            let files = input.files()?;
            (0..files.length())
                .filter_map(|i| files.get(i))
                .any(|file| file.size() > max)
                .then(|| too_large(&input.name(), max))
        },
    )
}

/// Shows or hides the form's progress bar at `percent`.
fn show_progress(bar: &web_sys::Element, percent: Option<f64>) {
    match percent {
        Some(p) => {
            let _ = bar.set_attribute("value", &format!("{:.0}", p.clamp(0.0, 100.0)));
            let _ = bar.remove_attribute("hidden");
        }
        None => {
            let _ = bar.set_attribute("hidden", "");
        }
    }
}

/// Posts `data` to the form's action, asking for JSON, with the progress bar moving as the body
/// goes. A refusal comes back as the server's encoded [`AppError`].
pub async fn post(form: &HtmlFormElement, data: &FormData) -> Result<(), AppError> {
    let failed = |_: JsValue| AppError::Request("network".into());
    let xhr = XmlHttpRequest::new().map_err(failed)?;
    xhr.open_with_async("POST", &form.action(), true).map_err(failed)?;
    xhr.set_request_header("Accept", "application/json").map_err(failed)?;
    let bar = form.query_selector("[data-progress]").ok().flatten();
    // Kept alive until the request is over, then dropped (the browser holds no other reference).
    let on_progress = bar.clone().map(|bar| {
        show_progress(&bar, Some(0.0));
        Closure::<dyn FnMut(ProgressEvent)>::new(move |ev: ProgressEvent| {
            if ev.length_computable() && ev.total() > 0.0 {
                show_progress(&bar, Some(ev.loaded() / ev.total() * 100.0));
            }
        })
    });
    if let (Some(callback), Ok(upload)) = (&on_progress, xhr.upload()) {
        upload.set_onprogress(Some(callback.as_ref().unchecked_ref()));
    }
    let finished = Promise::new(&mut |resolve: Function, reject: Function| {
        xhr.set_onload(Some(&resolve));
        xhr.set_onerror(Some(&reject));
        xhr.set_onabort(Some(&reject));
    });
    xhr.send_with_opt_form_data(Some(data)).map_err(failed)?;
    let outcome = JsFuture::from(finished).await;
    if let Some(bar) = &bar {
        show_progress(bar, None);
    }
    drop(on_progress);
    outcome.map_err(failed)?;
    let status = xhr.status().map_err(failed)?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = xhr.response_text().ok().flatten().unwrap_or_default();
    Err(serde_json::from_str(&text).unwrap_or_else(|_| match (status, max_bytes(form)) {
        // Refused by the body limit before the handler ran, with no body of ours.
        (413, Some(max)) => too_large("file", max),
        _ => AppError::Request(status.to_string()),
    }))
}
