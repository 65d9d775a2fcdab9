//! `GET /events`: committed incident changes as server-sent events, for signed-in users.

use std::{convert::Infallible, time::Duration};

use app::{auth::CurrentUser, state::AppState};
use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

/// How long a browser waits before reconnecting after this instance closed its stream.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// Streams every committed change while the connection lasts. Events carry only the incident id
/// and version; pages fetch the content through the access-checked server functions.
pub async fn stream(State(state): State<AppState>, request: Request) -> Response {
    if request.extensions().get::<CurrentUser>().is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (receiver, closing) = state.events.subscribe();
    let mut response = Sse::new(changes(receiver, closing))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // nginx passes the stream on as it comes even where its configuration buffers responses.
    response.headers_mut().insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    response
}

fn changes(
    receiver: tokio::sync::broadcast::Receiver<app::workflow::live::IncidentChanged>,
    closing: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((receiver, closing, false), |(mut receiver, mut closing, said_goodbye)| async move {
        loop {
            if *closing.borrow() {
                if said_goodbye {
                    return None;
                }
                // The last event tells the browser when to reconnect: by then a proxy sends it to
                // an instance still serving, and the page fetches what it missed.
                let goodbye = Event::default().retry(RECONNECT_AFTER).comment("server shutting down");
                return Some((Ok(goodbye), (receiver, closing, true)));
            }
            tokio::select! {
                received = receiver.recv() => match received {
                    Ok(change) => {
                        let data = serde_json::to_string(&change).unwrap_or_default();
                        return Some((Ok(Event::default().data(data)), (receiver, closing, said_goodbye)));
                    }
                    // Missed some: pages reload on the next change anyway.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
                changed = closing.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    })
}
