//! A request body left unread by an early answer is read to its end before the answer goes out, so
//! the keep-alive connection stays usable.
//!
//! A refusal (a signed-out `POST` answered 401, a cross-site post answered 403, a body over the
//! limit answered 413) is decided before the body is read. Left alone, the HTTP server then finds
//! unread bytes on the connection and closes it, without saying so in the answer: a client that
//! sends its next request on that connection meets a reset, and when the close races the rest of
//! the body arriving the refusal itself can be lost. Here every body the app did not read is handed
//! back when the app drops it and read (a bounded amount, for a bounded time) before the answer is
//! returned; when it cannot be read within those bounds the answer says `Connection: close`, so
//! the client opens a new connection instead of meeting a reset.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::oneshot;

/// Most bytes read from a body nobody wanted; past it the connection is closed instead.
const DRAIN_LIMIT: usize = 256 * 1024;
/// Longest wait for the rest of such a body.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A request body that gives itself back, when dropped before its end, through a channel.
struct Returning {
    inner: Option<Body>,
    back: Option<oneshot::Sender<Body>>,
    ended: bool,
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(HttpBody::size_hint).unwrap_or_default()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let (Some(body), Some(back)) = (self.inner.take(), self.back.take()) {
            if !body.is_end_stream() {
                let _ = back.send(body);
            }
        }
    }
}

/// Reads `body` to its end within [`DRAIN_LIMIT`]; whether it ended.
async fn drain(mut body: Body) -> bool {
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > DRAIN_LIMIT {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// The middleware: see the module documentation.
pub async fn read_unread_bodies(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (back, mut returned) = oneshot::channel();
    let request = request.map(|body| Body::new(Returning { inner: Some(body), back: Some(back), ended: false }));
    let mut response = next.run(request).await;
    if let Ok(rest) = returned.try_recv() {
        let ended = tokio::time::timeout(DRAIN_TIME, drain(rest)).await.unwrap_or(false);
        if !ended {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}
