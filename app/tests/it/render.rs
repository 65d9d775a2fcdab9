//! Pages are rendered as an in-order HTML stream (the routes are `SsrMode::Async` or `InOrder`).
//! The vendored view crate writes each element's tags straight into that stream's buffer
//! (`vendor/tachys/VENDORED.md`); the stream must stay byte for byte what the plain string render
//! of the same view gives.

use std::sync::Arc;

use futures::StreamExt as _;
use hydration_context::SsrSharedContext;
use leptos::prelude::*;

/// Elements with static, dynamic, boolean and `inner_html` attributes, classes from text and
/// from a string, escaping in attributes and text, a void element, a type-erased part and an
/// island with children: everything whose opening or closing tag the stream writes.
fn sample() -> impl IntoView {
    let dynamic_class = String::from("owners__row owners__row--\"quoted\"");
    let title = String::from("R&D <ops>");
    view! {
        <article class="incident" data-live-incident=42 aria-labelledby="t">
            <h1 id="t" title=title>"Login fails & times out <again>"</h1>
            <div class=dynamic_class>
                <input type="hidden" name="version" value=7 required=true />
                <p inner_html="<b>kept as is</b>"></p>
            </div>
            {view! { <ol><li>"one"</li><li>"two"</li></ol> }.into_any()}
            <app::enhance::Enhance>
                <form method="post" action="/api/x"><button type="submit">"Send"</button></form>
            </app::enhance::Enhance>
        </article>
    }
}

#[tokio::test]
async fn the_in_order_stream_renders_what_the_string_render_does() {
    // As a page render in islands mode has it: an island needs the render's shared context.
    let owner = Owner::new_root(Some(Arc::new(SsrSharedContext::new_islands())));
    let (sync, streamed) = owner.with(|| {
        let sync = sample().to_html();
        let stream = sample().to_html_stream_in_order();
        (sync, stream)
    });
    let streamed: String = streamed.collect::<Vec<String>>().await.concat();
    assert!(sync.contains("</article>") && sync.contains("<leptos-island"), "the sample renders: {sync}");
    assert_eq!(streamed, sync);
}
