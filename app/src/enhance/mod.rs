//! What the browser adds to pages that are complete without it.
//!
//! Every page is server-rendered HTML whose forms post and redirect, so it works with no WASM at
//! all. The browser loads only two small islands (Leptos `#[island]`s) that make it better:
//!
//! - [`Enhance`] wraps a server-rendered form. Once hydrated it submits the form with `fetch`: a
//!   refusal appears next to its field while everything typed stays in place, a success follows
//!   the server's redirect or redraws the page in place, and a second click while the first is
//!   under way does nothing. A form holding a `data-result` slot shows the server function's
//!   answer there instead (a secret shown once). A multipart form (attachments) is checked
//!   against its `data-max-bytes` first and sent with a progress bar.
//! - [`LiveUpdates`] listens to the server's change stream (`/events`) and redraws the page when
//!   what it shows has changed: the incident of a `data-live-incident` element past its
//!   `data-live-version` or its `data-live-activity` (a comment), or any incident for a `data-live-any` element (the queue). When the user
//!   has typed into a form it says so instead, and the draft stays until they choose to see the
//!   latest page.
//!
//! A redraw fetches the page again and swaps its `<main>`; the islands in the new content are then
//! hydrated by the page's loader (see `shell::AppScripts`).

use leptos::prelude::*;

use crate::i18n::use_i18n;

#[cfg(feature = "hydrate")]
mod browser;
#[cfg(feature = "hydrate")]
mod upload;

/// Attribute naming the incident an element shows; with [`LIVE_VERSION`], the version shown.
pub const LIVE_INCIDENT: &str = "data-live-incident";
/// Attribute holding the version of the incident an element shows.
pub const LIVE_VERSION: &str = "data-live-version";
/// Attribute holding the activity counter (comments) of the incident an element shows.
pub const LIVE_ACTIVITY: &str = "data-live-activity";
/// Attribute marking content that changes with any incident (a queue).
pub const LIVE_ANY: &str = "data-live-any";

/// A server-rendered form, submitted in place once the page is interactive (see the module
/// documentation). The form inside must carry the usual [`crate::forms::FormError`] and
/// [`crate::forms::FieldError`] slots, which the browser fills on a refusal.
#[island]
pub fn Enhance(children: Children) -> impl IntoView {
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        browser::submit(ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! { <div class="enhance" on:submit=on_submit>{children()}</div> }
}

/// What the live notice says about a change that arrived while the user had a draft: the
/// newest timeline entry of the latest page ("Olivia Ops · Dispatch dev and QA → Investigating")
/// and whether the form holding the draft is gone from it. Read from the page itself, which holds
/// only what this user may see; the change events carry ids and versions only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// The newest entry's line, empty when the latest page could not be read.
    pub what: String,
    /// The form the user was typing in is not on the latest page (the action is no longer theirs).
    pub form_gone: bool,
}

/// The change listener of signed-in pages, and the notice it shows when a change arrives while
/// the user has a draft (see the module documentation).
#[island]
pub fn LiveUpdates() -> impl IntoView {
    let i18n = use_i18n();
    let changed = RwSignal::new(None::<Moved>);
    #[cfg(feature = "hydrate")]
    browser::listen(changed);
    let show_latest = move |_| {
        changed.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::refresh_main());
    };
    // The region is always in the document, so assistive technology announces what appears in it.
    view! {
        <div class="live-region" aria-live="polite">
            {move || changed.get().map(|moved| {
                let t = i18n.t();
                let what = (!moved.what.is_empty()).then(|| crate::i18n::fill(t.live_moved, &[("what", &moved.what)]));
                view! {
                    <div class="notice notice--warn live-notice" role="status">
                        {what.map(|w| view! { <p data-live-what=""><strong>{w}</strong></p> })}
                        <p>{if moved.form_gone { t.live_form_gone } else { t.live_changed }}</p>
                        <button type="button" class="button button--secondary button--small" on:click=show_latest>
                            {t.live_show_latest}
                        </button>
                    </div>
                }
            })}
        </div>
    }
}
