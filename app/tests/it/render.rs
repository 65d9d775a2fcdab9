//! Pages are rendered as an in-order HTML stream (the routes are `SsrMode::Async` or `InOrder`).
//! The vendored view crate writes each element's tags straight into that stream's buffer
//! (`vendor/tachys/VENDORED.md`); the stream must stay byte for byte what the plain string render
//! of the same view gives.

use std::sync::Arc;

use futures::StreamExt as _;
use hydration_context::SsrSharedContext;
use leptos::prelude::*;

/// Elements with static, dynamic, boolean, `inner_html`, `class:` and `style` attributes, a
/// class from a string, attributes a component passes on (`attr:`), escaping in attributes and
/// text, a void element, a type-erased part and an island with children: everything whose
/// opening or closing tag the stream writes.
fn sample() -> impl IntoView {
    let dynamic_class = String::from("owners__row owners__row--\"quoted\"");
    let title = String::from("R&D <ops>");
    view! {
        <article class="incident" data-live-incident=42 aria-labelledby="t" style="margin: 0">
            <h1 id="t" title=title class:urgent=true class:calm=false>"Login fails & times out <again>"</h1>
            <div class=dynamic_class style:color="red">
                <input type="hidden" name="version" value=7 required=true />
                <p inner_html="<b>kept as is</b>"></p>
            </div>
            {view! { <ol><li>"one"</li><li>"two"</li></ol> }.into_any()}
            <app::enhance::Enhance attr:data-form="send">
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
    for part in ["</article>", "<leptos-island", "<leptos-children", "data-form=\"send\"", "class=\"urgent\""] {
        assert!(sync.contains(part), "the sample renders {part}: {sync}");
    }
    assert_eq!(streamed, sync);
}

#[tokio::test]
async fn tags_after_a_part_that_waits_land_after_its_content() {
    // A part that is not ready on the first poll splits the stream: what follows it is written
    // into a new buffer once the part's content is in.
    let owner = Owner::new_root(Some(Arc::new(SsrSharedContext::new_islands())));
    let streamed = owner.with(|| {
        view! {
            <section class="card">
                <h2>"Before"</h2>
                {Suspend::new(async {
                    tokio::task::yield_now().await;
                    view! { <p class="late">"Loaded"</p> }
                })}
                <footer>"After"</footer>
            </section>
        }
        .to_html_stream_in_order()
    });
    let streamed: String = streamed.collect::<Vec<String>>().await.concat();
    let order = [
        "<section class=\"card\">",
        "<h2>Before</h2>",
        "<p class=\"late\">Loaded</p>",
        "<footer>After</footer>",
        "</section>",
    ];
    let mut from = 0;
    for part in order {
        let at = streamed[from..].find(part).map(|i| from + i);
        assert!(at.is_some(), "{part} follows what comes before it in: {streamed}");
        from = at.unwrap_or(from) + part.len();
    }
}
