//! Browser entry point: hydrates the HTML that the server rendered.

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the hydration script in the page head once the WASM module is loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
