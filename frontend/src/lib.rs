//! Browser entry point. Pages are complete server-rendered HTML; the browser hydrates only the
//! app's islands (`app::enhance`), which the page's loader finds and starts one by one.

use wasm_bindgen::prelude::wasm_bindgen;

// The islands are exported (`#[wasm_bindgen]`) from the app crate: link it even though nothing here
// names it.
extern crate app;

/// Called by the page's loader once the WASM module is loaded, before it hydrates the islands.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
