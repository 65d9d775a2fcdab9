//! Page renders run to their end even when the browser leaves early.
//!
//! A page is rendered as a stream of HTML. When the client goes away mid-stream, hyper drops the
//! stream, and with it Leptos' reactive owner of the render, while the page's data loaders may
//! still be running on other worker threads. In Leptos 0.8 a loader that looks up its context
//! (as every server function does, for the signed-in user) while the last reference to the
//! owner tree goes away can deadlock on the owner's lock, blocking that worker thread for good
//! (see leptos issues 4578 and 4673 for the family). Here the render is driven to completion in
//! a task of its own and only its output is handed to the connection: a page renders in about a
//! millisecond, so finishing an abandoned one costs little, and the owner is dropped only after
//! every loader is done.

use axum::{body::Body, extract::Request, http::header, middleware::Next, response::Response};
use futures::{SinkExt as _, StreamExt as _};

/// Chunks buffered between the render and a slow client before the render waits.
const BUFFERED_CHUNKS: usize = 16;

/// Decouples an HTML response's render from the connection (see the module docs).
pub async fn finish_renders(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (mut sender, receiver) = futures::channel::mpsc::channel(BUFFERED_CHUNKS);
    tokio::spawn(async move {
        let mut render = body.into_data_stream();
        let mut client_there = true;
        while let Some(chunk) = render.next().await {
            if client_there && sender.send(chunk).await.is_err() {
                // The client left: keep rendering, discard the output.
                client_there = false;
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(receiver))
}
