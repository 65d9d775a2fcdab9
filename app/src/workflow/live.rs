//! Live updates: when an incident moves, open pages learn of it within a moment.
//!
//! The server publishes `IncidentChanged` after each committed change and streams it to signed-in
//! browsers as server-sent events on `/events`. In the browser, `enhance::LiveUpdates` redraws the
//! incident page when its incident moved past the version it shows, and the queue on any change.
//! Events carry only ids and versions: the redrawn page holds only what the user may see.

use serde::{Deserialize, Serialize};

/// One committed change of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentChanged {
    /// Incident id.
    pub id: i64,
    /// Its version after the change.
    pub version: i64,
    /// Its activity counter after the change (comments: they move it, not the version, so a
    /// comment never makes an open gate form stale); 0 when the change did not read it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub activity: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
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
            crate::db::Db::Sqlite(..) => None,
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

    /// How many streams are open on this instance.
    pub fn subscribers(&self) -> usize {
        self.changes.receiver_count()
    }

    /// Ends every open stream and the relay.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }
}
