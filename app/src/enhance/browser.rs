//! The browser side of [`super::Enhance`] and [`super::LiveUpdates`]: plain DOM and `fetch`, so
//! the WASM carries no view code of the pages themselves.

use std::cell::Cell;

use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Element, EventSource, FormData, HtmlButtonElement, HtmlElement, HtmlFormElement, HtmlInputElement,
    HtmlSelectElement, HtmlTextAreaElement, MessageEvent, RequestInit, Response, SubmitEvent, UrlSearchParams,
};

use super::{Moved, LIVE_ACTIVITY, LIVE_ANY, LIVE_INCIDENT, LIVE_VERSION};
use crate::{
    error::AppError,
    i18n::{Locale, Strings},
    workflow::live::IncidentChanged,
};

/// Set on a form while its submission is under way.
const PENDING: &str = "data-pending";
/// The event the page's loader listens to, to hydrate the islands of content put in place.
pub const SWAPPED: &str = "baton:swapped";

/// The string table of the page's language (`<html lang>`, which the server chose).
fn strings() -> &'static Strings {
    document()
        .document_element()
        .and_then(|html| html.get_attribute("lang"))
        .and_then(|tag| Locale::from_tag(&tag))
        .unwrap_or_default()
        .strings()
}

/// What a successful server function answered.
struct Answer {
    /// Where the server function redirects (`leptos_axum::redirect`), if anywhere.
    location: Option<String>,
    /// The encoded return value.
    body: String,
}

/// Submits the form of `ev` in place (see [`super::Enhance`]). GET forms (filters, paging) are
/// left to the browser.
pub fn submit(ev: SubmitEvent) {
    let Some(form) = ev.target().and_then(|t| t.dyn_into::<HtmlFormElement>().ok()) else { return };
    if !form.method().eq_ignore_ascii_case("post") {
        return;
    }
    ev.prevent_default();
    if form.has_attribute(PENDING) {
        return;
    }
    // Files go as multipart, with a progress bar, once their sizes pass the form's limit.
    let multipart = form.enctype().eq_ignore_ascii_case("multipart/form-data");
    if multipart {
        if let Some(err) = super::upload::check_sizes(&form) {
            clear_errors(&form);
            show_error(&form, &err);
            return;
        }
    }
    let Ok(data) = FormData::new_with_form(&form) else {
        // Cannot read the form: let the browser post it.
        let _ = form.submit();
        return;
    };
    // The browser includes the button that submitted the form; so does this request.
    if let Some(button) = ev.submitter().and_then(|s| s.dyn_into::<HtmlButtonElement>().ok()) {
        if !button.name().is_empty() {
            let _ = data.append_with_str(&button.name(), &button.value());
        }
    }
    set_pending(&form, true);
    clear_errors(&form);
    leptos::task::spawn_local(async move {
        let answer = if multipart {
            super::upload::post(&form, &data).await.map(|()| Answer { location: None, body: String::new() })
        } else {
            post(&form.action(), &data).await
        };
        match answer {
            Ok(Answer { location: Some(to), .. }) => {
                // Stays pending: the page is being replaced.
                let _ = window().location().assign(&to);
            }
            Ok(Answer { body, .. }) => {
                if show_result(&form, &body) {
                    set_pending(&form, false);
                } else {
                    // Stays pending until the redraw replaces it: the change this submission made
                    // comes back on the live stream meanwhile, and a form that still holds what
                    // was just sent must not count as a draft that change would overwrite.
                    refresh_main().await;
                }
            }
            Err(err) => {
                set_pending(&form, false);
                show_error(&form, &err);
            }
        }
    });
}

/// Posts `data` as the browser would (URL-encoded) to a server function, asking for its encoded
/// answer rather than a redirect.
async fn post(url: &str, data: &FormData) -> Result<Answer, AppError> {
    let failed = |_: JsValue| AppError::Request("network".into());
    let body = UrlSearchParams::new_with_str_sequence_sequence(data).map_err(failed)?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&body);
    let headers = web_sys::Headers::new().map_err(failed)?;
    headers.set("Accept", "application/json").map_err(failed)?;
    init.set_headers(&headers);
    let response: Response = JsFuture::from(window().fetch_with_str_and_init(url, &init))
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let location = response.headers().get("location").ok().flatten();
    let text = JsFuture::from(response.text().map_err(failed)?).await.map_err(failed)?.as_string().unwrap_or_default();
    if response.ok() {
        Ok(Answer { location, body: text })
    } else {
        // Server functions answer a refusal with the encoded `AppError`; anything else (a proxy's
        // error page) is a failed request.
        Err(serde_json::from_str(&text).unwrap_or_else(|_| AppError::Request(response.status().to_string())))
    }
}

fn set_pending(form: &HtmlFormElement, pending: bool) {
    if pending {
        let _ = form.set_attribute(PENDING, "");
    } else {
        let _ = form.remove_attribute(PENDING);
    }
    for button in elements(form, "button[type=submit], button:not([type])") {
        if let Ok(button) = button.dyn_into::<HtmlButtonElement>() {
            button.set_disabled(pending);
        }
    }
}

/// Every element under `root` matching `selector`.
pub(super) fn elements(root: &Element, selector: &str) -> Vec<Element> {
    let Ok(list) = root.query_selector_all(selector) else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.item(i)).filter_map(|n| n.dyn_into::<Element>().ok()).collect()
}

fn clear_errors(form: &HtmlFormElement) {
    for slot in elements(form, "[data-form-error], [data-error-for]") {
        slot.set_text_content(None);
        let _ = slot.set_attribute("hidden", "");
    }
    for field in elements(form, "[aria-invalid]") {
        let _ = field.remove_attribute("aria-invalid");
    }
}

/// Shows `err` in the slot of its field, else in the form's error slot.
fn show_error(form: &HtmlFormElement, err: &AppError) {
    let message = err.message(strings());
    // Field names are ours ([a-z0-9_], and brackets for rows: `measures[1][due]`); anything else
    // is not used in a selector.
    let field = err.field().filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '[' | ']')));
    let field_slot = field.and_then(|f| form.query_selector(&format!("[data-error-for=\"{f}\"]")).ok().flatten());
    let slot = field_slot.clone().or_else(|| form.query_selector("[data-form-error]").ok().flatten());
    match slot {
        Some(slot) => {
            slot.set_text_content(Some(&message));
            let _ = slot.remove_attribute("hidden");
        }
        None => {
            let _ = window().alert_with_message(&message);
        }
    }
    if let (Some(f), Some(_)) = (field, field_slot) {
        if let Ok(Some(input)) = form.query_selector(&format!("[name=\"{f}\"]")) {
            let _ = input.set_attribute("aria-invalid", "true");
            if let Some(input) = input.dyn_ref::<HtmlElement>() {
                let _ = input.focus();
            }
        }
    }
}

/// Fills the form's `data-result` slots from the server function's answer (a JSON object: each
/// `data-result-field="key"` gets that key's text). False when the form has no such slot.
fn show_result(form: &HtmlFormElement, body: &str) -> bool {
    let Ok(Some(slot)) = form.query_selector("[data-result]") else { return false };
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    for field in elements(&slot, "[data-result-field]") {
        let key = field.get_attribute("data-result-field").unwrap_or_default();
        let text = value.get(&key).and_then(|v| v.as_str()).unwrap_or_default();
        field.set_text_content(Some(text));
    }
    let _ = slot.remove_attribute("hidden");
    form.reset();
    true
}

thread_local! {
    /// Counts redraws, so an older one that finishes late does not replace a newer page.
    static REDRAWS: Cell<u64> = const { Cell::new(0) };
}

/// Fetches this page again and puts its new `<main>` in place of the old one, then asks the
/// loader to hydrate the islands inside. Falls back to a full load when that cannot be done.
pub async fn refresh_main() {
    let this = REDRAWS.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let (redirected, html) = match fetch_this_page().await {
        Ok(answer) => answer,
        Err(_) => return reload(),
    };
    if REDRAWS.with(Cell::get) != this {
        return;
    }
    // The page now lives elsewhere (the session ended, say): go there.
    if let Some(url) = redirected {
        let _ = window().location().assign(&url);
        return;
    }
    let Some(fresh) = parse(&html) else { return reload() };
    let (Some(new_main), Some(old_main)) = (fresh.get_element_by_id("main"), document().get_element_by_id("main"))
    else {
        return reload();
    };
    let had_focus = document().active_element().is_some_and(|el| old_main.contains(Some(&el)));
    if old_main.replace_with_with_node_1(&new_main).is_err() {
        return reload();
    }
    document().set_title(&fresh.title());
    // Focus was in what was replaced: keep it in the page's main part, not lost to the body.
    if had_focus {
        if let Some(main) = document().get_element_by_id("main").and_then(|m| m.dyn_into::<HtmlElement>().ok()) {
            let _ = main.focus();
        }
    }
    if let Ok(event) = web_sys::Event::new(SWAPPED) {
        let _ = document().dispatch_event(&event);
    }
}

/// This page's address fetched again: where it was redirected (if it was) and its HTML.
async fn fetch_this_page() -> Result<(Option<String>, String), JsValue> {
    let href = window().location().href().unwrap_or_default();
    let response: Response = JsFuture::from(window().fetch_with_str(&href)).await?.dyn_into()?;
    let text = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
    Ok((response.redirected().then(|| response.url()), text))
}

fn parse(html: &str) -> Option<web_sys::Document> {
    web_sys::DomParser::new().ok()?.parse_from_string(html, web_sys::SupportedType::TextHtml).ok()
}

/// What changed, for the notice shown over a draft: the latest page's newest timeline line, and
/// whether the gate form holding the draft is still on it.
async fn describe_change() -> Moved {
    let Some(fresh) =
        fetch_this_page().await.ok().filter(|(redirected, _)| redirected.is_none()).and_then(|(_, html)| parse(&html))
    else {
        return Moved::default();
    };
    let what = fresh
        .query_selector(".timeline__entry .timeline__what")
        .ok()
        .flatten()
        .and_then(|el| el.text_content())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let form_gone = draft_actions().iter().any(|action| {
        fresh.query_selector(&format!("section.gate[data-action=\"{action}\"]")).ok().flatten().is_none()
    });
    Moved { what, form_gone }
}

/// The gate actions whose forms hold what the user typed.
fn draft_actions() -> Vec<String> {
    let Some(main) = document().get_element_by_id("main") else { return Vec::new() };
    let mut actions: Vec<String> =
        elements(&main, "section.gate form textarea, section.gate form input, section.gate form select")
            .into_iter()
            .filter(changed_by_user)
            .filter_map(|field| field.closest("section.gate").ok().flatten())
            .filter_map(|section| section.get_attribute("data-action"))
            .collect();
    actions.dedup();
    actions
}

fn reload() {
    let _ = window().location().reload();
}

/// Connects to `/events` for the page's life; `changed` is set when a change concerns the page
/// while the user has a draft, and cleared whenever the page is redrawn.
pub fn listen(changed: RwSignal<Option<Moved>>) {
    let Ok(source) = EventSource::new("/events") else { return };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(change) = event.data().as_string().and_then(|t| serde_json::from_str::<IncidentChanged>(&t).ok())
        else {
            return;
        };
        if !concerns_page(change) {
            return;
        }
        if has_draft() {
            leptos::task::spawn_local(async move { changed.set(Some(describe_change().await)) });
        } else {
            leptos::task::spawn_local(refresh_main());
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The stream reopens after the server closed it (a restart, an instance leaving the pool):
    // changes made meanwhile were not heard, so an untouched page is redrawn.
    let mut opened_before = false;
    let on_open = Closure::<dyn FnMut()>::new(move || {
        if std::mem::replace(&mut opened_before, true) && !has_draft() {
            leptos::task::spawn_local(refresh_main());
        }
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    let on_swapped = Closure::<dyn FnMut()>::new(move || changed.set(None));
    let _ = document().add_event_listener_with_callback(SWAPPED, on_swapped.as_ref().unchecked_ref());
    // Both live as long as the page; the browser reconnects the stream by itself.
    on_message.forget();
    on_open.forget();
    on_swapped.forget();
    std::mem::forget(source);
}

/// Whether the page shows what `change` changed.
fn concerns_page(change: IncidentChanged) -> bool {
    let Some(main) = document().get_element_by_id("main") else { return false };
    if main.query_selector(&format!("[{LIVE_ANY}]")).ok().flatten().is_some() {
        return true;
    }
    let Some(shown) = main.query_selector(&format!("[{LIVE_INCIDENT}=\"{}\"]", change.id)).ok().flatten() else {
        return false;
    };
    let number = |name: &str| shown.get_attribute(name).and_then(|v| v.parse::<i64>().ok());
    // Moved on in the process, or a comment was written, edited or hidden since.
    number(LIVE_VERSION).is_some_and(|v| change.version > v)
        || number(LIVE_ACTIVITY).is_some_and(|a| change.activity > a)
}

/// Whether the user changed a field of a form in the page's main part (a submission under way
/// does not count: its page is about to be redrawn anyway).
fn has_draft() -> bool {
    let Some(main) = document().get_element_by_id("main") else { return false };
    elements(&main, "form textarea, form input, form select").into_iter().any(|field| {
        let submitting = field.closest(&format!("form[{PENDING}]")).ok().flatten().is_some();
        !submitting && changed_by_user(&field)
    })
}

fn changed_by_user(field: &Element) -> bool {
    if let Some(text) = field.dyn_ref::<HtmlTextAreaElement>() {
        return Ok(text.value()) != text.default_value();
    }
    if let Some(input) = field.dyn_ref::<HtmlInputElement>() {
        return match input.type_().as_str() {
            "hidden" | "submit" | "button" | "reset" => false,
            "checkbox" | "radio" => input.checked() != input.default_checked(),
            _ => input.value() != input.default_value(),
        };
    }
    if let Some(select) = field.dyn_ref::<HtmlSelectElement>() {
        let options = select.options();
        // With no option marked `selected`, the browser shows the first.
        let initial = (0..options.length())
            .find(|i| {
                options
                    .item(*i)
                    .and_then(|o| o.dyn_into::<web_sys::HtmlOptionElement>().ok())
                    .is_some_and(|o| o.default_selected())
            })
            .map_or(0, |i| i as i32);
        return select.selected_index() != initial;
    }
    false
}
