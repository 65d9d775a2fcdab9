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

/// Streams every committed change while the connection lasts. Events carry only the incident id
/// and version; pages fetch the content through the access-checked server functions.
pub async fn stream(State(state): State<AppState>, request: Request) -> Response {
    if request.extensions().get::<CurrentUser>().is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (receiver, closing) = state.events.subscribe();
    Sse::new(changes(receiver, closing)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

fn changes(
    receiver: tokio::sync::broadcast::Receiver<app::workflow::live::IncidentChanged>,
    closing: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((receiver, closing), |(mut receiver, mut closing)| async move {
        loop {
            if *closing.borrow() {
                return None;
            }
            tokio::select! {
                received = receiver.recv() => match received {
                    Ok(change) => {
                        let data = serde_json::to_string(&change).unwrap_or_default();
                        return Some((Ok(Event::default().data(data)), (receiver, closing)));
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
