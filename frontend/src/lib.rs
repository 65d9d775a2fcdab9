//! Browser entry point. Pages are complete server-rendered HTML; the browser hydrates only the
//! app's islands (`app::enhance`), which the page's loader finds and starts one by one.

use wasm_bindgen::prelude::wasm_bindgen;

// The islands are exported (`#[wasm_bindgen]`) from the app crate: link it even though nothing here
// names it.
extern crate app;

/// This build's id: the loader hydrates only when it is the page's (`<html data-build>`), so a page
/// rendered by one build never runs with another build's WASM.
#[wasm_bindgen]
pub fn build_id() -> String {
    // Read through the whole marker so the file keeps it intact for the server to find.
    let marker = std::hint::black_box(app::shell::BUILD_MARKER);
    marker.trim_start_matches("baton-build-id=").trim_end_matches(';').to_owned()
}

/// Called by the page's loader once the WASM module is loaded, before it hydrates the islands.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
