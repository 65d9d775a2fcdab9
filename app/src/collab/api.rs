//! Server functions of comments: add, edit (the author, for a while), hide (admins).
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use crate::error::AppError;

/// Tells open pages that an incident's comments changed (after the transaction committed), and
/// wakes the senders (email and chat) for the mention notifications.
#[cfg(feature = "ssr")]
fn announce(changed: super::store::Changed) {
    let state = crate::auth::guard::app_state();
    state.events.publish(crate::workflow::live::IncidentChanged {
        id: changed.incident_id,
        version: changed.version,
        activity: changed.activity,
    });
    state.mail.wake();
}

/// Adds a comment to an incident (everyone signed in); returns its id.
#[server(endpoint = "comments/add")]
pub async fn add_comment(incident_id: i64, body: String) -> Result<i64, AppError> {
    let actor = crate::workflow::actor()?;
    let state = crate::auth::guard::app_state();
    let changed = super::store::add(&state.db, &actor, incident_id, &body, state.clock.now()).await?;
    announce(changed);
    Ok(changed.comment_id)
}

/// Replaces the text of the user's own comment, within the edit window.
#[server(endpoint = "comments/edit")]
pub async fn edit_comment(comment_id: i64, body: String) -> Result<(), AppError> {
    let actor = crate::workflow::actor()?;
    let state = crate::auth::guard::app_state();
    let changed = super::store::edit(&state.db, &actor, comment_id, &body, state.clock.now()).await?;
    announce(changed);
    Ok(())
}

/// Hides a comment, with the reason (admins).
#[server(endpoint = "comments/hide")]
pub async fn hide_comment(comment_id: i64, reason: String) -> Result<(), AppError> {
    let actor = crate::workflow::actor()?;
    let state = crate::auth::guard::app_state();
    let changed = super::store::hide(&state.db, &actor, comment_id, &reason, state.clock.now()).await?;
    announce(changed);
    Ok(())
}
