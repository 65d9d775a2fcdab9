//! Live updates: when an incident moves, open pages learn of it within a moment.
//!
//! The server publishes `IncidentChanged` after each committed change and streams it to signed-in
//! browsers as server-sent events on `/events`. The browser keeps the latest change in a signal;
//! the incident page reloads when its incident moved past the version it shows, and the queue
//! reloads on any change. Events carry only ids and versions: each page fetches what the user
//! may see through the usual server functions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One committed change of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentChanged {
    /// Incident id.
    pub id: i64,
    /// Its version after the change.
    pub version: i64,
}

/// The latest change seen by this page.
#[derive(Clone, Copy)]
pub struct LiveUpdates(pub RwSignal<Option<IncidentChanged>>);

/// Provides the live-update signal and, in the browser, connects to `/events` once the user is
/// signed in.
pub fn provide_live_updates() -> LiveUpdates {
    let live = LiveUpdates(RwSignal::new(None));
    provide_context(live);
    #[cfg(feature = "hydrate")]
    {
        let me = crate::auth::use_me();
        Effect::new(move |connected: Option<bool>| {
            if connected == Some(true) {
                return true;
            }
            if me.get().flatten().is_none() {
                return false;
            }
            connect(live.0);
            true
        });
    }
    live
}

/// The live-update signal provided by [`provide_live_updates`].
pub fn use_live_updates() -> LiveUpdates {
    expect_context::<LiveUpdates>()
}

#[cfg(feature = "hydrate")]
fn connect(signal: RwSignal<Option<IncidentChanged>>) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Ok(source) = web_sys::EventSource::new("/events") else { return };
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        if let Some(text) = event.data().as_string() {
            if let Ok(change) = serde_json::from_str::<IncidentChanged>(&text) {
                signal.set(Some(change));
            }
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The page keeps listening for its whole life; the browser reconnects by itself.
    on_message.forget();
    std::mem::forget(source);
}

/// The server side: a broadcast of committed changes, and a switch that ends every stream when
/// the server shuts down (open streams would otherwise hold the graceful shutdown forever).
///
/// With SQLite (one process) a change goes straight to this process's listeners. With PostgreSQL
/// several instances may serve the same database, so a change is announced with `NOTIFY` and
/// every instance, this one included, relays what it hears to its own listeners
/// ([`Events::relay_notifications`]).
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct Events {
    changes: tokio::sync::broadcast::Sender<IncidentChanged>,
    closing: tokio::sync::watch::Sender<bool>,
    relay: Option<sqlx::PgPool>,
}

/// The PostgreSQL notification channel of incident changes.
#[cfg(feature = "ssr")]
pub const NOTIFY_CHANNEL: &str = "baton_incident_changed";

#[cfg(feature = "ssr")]
impl Default for Events {
    fn default() -> Self {
        // Slow listeners skip ahead rather than hold the sender back.
        Self {
            changes: tokio::sync::broadcast::channel(256).0,
            closing: tokio::sync::watch::channel(false).0,
            relay: None,
        }
    }
}

#[cfg(feature = "ssr")]
impl Events {
    /// Events for a server on `db`: relayed through PostgreSQL, in-process on SQLite.
    pub fn for_db(db: &crate::db::Db) -> Self {
        let relay = match db {
            crate::db::Db::Postgres(pool) => Some(pool.clone()),
            crate::db::Db::Sqlite(_) => None,
        };
        Self { relay, ..Self::default() }
    }

    /// Announces a committed change (call only after the transaction committed).
    pub fn publish(&self, change: IncidentChanged) {
        let Some(pool) = self.relay.clone() else {
            // No listener is fine: nobody has the page open.
            let _ = self.changes.send(change);
            return;
        };
        let local = self.changes.clone();
        // The caller's request does not wait for the notification.
        tokio::spawn(async move {
            let payload = serde_json::to_string(&change).unwrap_or_default();
            let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(payload).execute(&pool).await;
            if let Err(err) = sent {
                tracing::warn!("cannot announce an incident change to other instances: {err}");
                // This instance's own pages still hear of it.
                let _ = local.send(change);
            }
        });
    }

    /// On PostgreSQL, listens for the changes announced by every instance and passes them to this
    /// instance's listeners until [`Events::close`]; reconnects after a lost connection. Returns at
    /// once on SQLite.
    pub async fn relay_notifications(&self) {
        let Some(pool) = &self.relay else { return };
        let mut closing = self.closing.subscribe();
        while !*closing.borrow() {
            let listener = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(NOTIFY_CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = match listener.await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!("cannot listen for incident changes, retrying: {err}");
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = closing.changed() => return,
                    }
                }
            };
            loop {
                tokio::select! {
                    received = listener.recv() => match received {
                        Ok(notification) => {
                            if let Ok(change) = serde_json::from_str::<IncidentChanged>(notification.payload()) {
                                let _ = self.changes.send(change);
                            }
                        }
                        Err(err) => {
                            tracing::warn!("lost the incident-change listener, reconnecting: {err}");
                            break;
                        }
                    },
                    _ = closing.changed() => return,
                }
            }
        }
    }

    /// A new listener, and the signal that the server is shutting down.
    pub fn subscribe(&self) -> (tokio::sync::broadcast::Receiver<IncidentChanged>, tokio::sync::watch::Receiver<bool>) {
        (self.changes.subscribe(), self.closing.subscribe())
    }

    /// Ends every open stream and the relay.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }
}
