//! Server functions of the chat channels page (admins) and of a user's chat identities.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]
// A server function's arguments are its form's fields, one each.
#![allow(clippy::too_many_arguments)]

use std::collections::HashMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ChannelsView, ChatIdentity};
use crate::error::AppError;

/// A channel just saved; a webhook's generated secret is in this answer only, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedChannel {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The signing secret Baton generated (webhooks left without one), else empty.
    pub secret: String,
}

/// The result of a test message: whether the platform took it, and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// Channel name.
    pub name: String,
    /// `delivered`, `retrying`, `failed`, or `queued` when another sender holds the channel.
    pub outcome: String,
    /// The remote answer (status and body), or the reason nothing was sent.
    pub answer: String,
    /// `outcome` in the admin's language: the page shows the answer as it comes (a form's result
    /// slots take text, not a value to translate in the browser).
    pub outcome_text: String,
}

#[cfg(feature = "ssr")]
fn origin(admin: &crate::auth::CurrentUser) -> crate::audit::store::Origin {
    crate::audit::store::Origin::of(admin, &crate::auth::guard::client_info())
}

/// The ticked boxes of a group of checkboxes. They arrive as `events[intake]=on`, the form
/// convention of the clock settings (a map by name: only ticked boxes are sent, so indices would
/// have gaps); listed in `order`, names it does not know last, for the store to refuse.
#[cfg(feature = "ssr")]
fn ticked(boxes: HashMap<String, String>, order: impl Iterator<Item = &'static str>) -> Vec<String> {
    let order: Vec<&str> = order.collect();
    let mut names: Vec<String> = boxes.into_keys().collect();
    names.sort_by_key(|name| (order.iter().position(|o| *o == name.as_str()).unwrap_or(usize::MAX), name.clone()));
    names
}

#[cfg(feature = "ssr")]
fn input(
    name: String,
    kind: String,
    language: String,
    events: HashMap<String, String>,
    severities: HashMap<String, String>,
    url: String,
    secret: String,
    enabled: Option<String>,
) -> super::store::ChannelInput {
    super::store::ChannelInput {
        name,
        kind,
        language,
        events: ticked(events, super::ChatEvent::ALL.into_iter().map(super::ChatEvent::as_str)),
        severities: ticked(
            severities,
            crate::workflow::input::Severity::ALL.into_iter().map(crate::workflow::input::Severity::as_str),
        ),
        url: url.into(),
        secret: secret.into(),
        // An unchecked checkbox sends nothing; a new channel is on unless unticked.
        enabled: enabled.is_some_and(|v| v != "false"),
    }
}

/// Every channel (without credentials), whether a key is configured, and the allowed hosts.
#[server(endpoint = "chat/channels")]
pub async fn chat_channels() -> Result<ChannelsView, AppError> {
    use crate::auth::{guard, Role};
    guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let db = &state.db;
    Ok(ChannelsView {
        channels: super::store::list(db).await?,
        key_configured: state.config.secret_key.is_some(),
        allowed_hosts: crate::db::settings::get(db, super::destination::ALLOWED_HOSTS_SETTING)
            .await?
            .unwrap_or_default(),
        official_hosts: super::destination::OFFICIAL_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
    })
}

/// Adds a channel. The URL and secret are sealed; a webhook without a secret gets one, returned
/// here once.
#[server(endpoint = "chat/create")]
pub async fn create_channel(
    name: String,
    kind: String,
    language: String,
    #[server(default)] events: HashMap<String, String>,
    #[server(default)] severities: HashMap<String, String>,
    url: String,
    #[server(default)] secret: String,
    enabled: Option<String>,
) -> Result<SavedChannel, AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let input = input(name, kind, language, events, severities, url, secret, enabled);
    let (id, generated) =
        super::store::create(&state.db, state.config.secret_key.as_ref(), &origin(&admin), &input, state.clock.now())
            .await?;
    tracing::info!(admin = %admin.me.username, channel = id, "chat channel added");
    Ok(SavedChannel { id, name: input.name.trim().to_owned(), secret: generated.unwrap_or_default() })
}

/// Changes a channel; an empty URL or secret keeps the stored one.
#[server(endpoint = "chat/update")]
pub async fn update_channel(
    id: i64,
    name: String,
    kind: String,
    language: String,
    #[server(default)] events: HashMap<String, String>,
    #[server(default)] severities: HashMap<String, String>,
    #[server(default)] url: String,
    #[server(default)] secret: String,
    enabled: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let input = input(name, kind, language, events, severities, url, secret, enabled);
    super::store::update(&state.db, state.config.secret_key.as_ref(), &origin(&admin), id, &input, state.clock.now())
        .await?;
    tracing::info!(admin = %admin.me.username, channel = id, "chat channel changed");
    leptos_axum::redirect("/admin/channels?saved=1");
    Ok(())
}

/// Removes a channel; its waiting messages fail.
#[server(endpoint = "chat/remove")]
pub async fn remove_channel(id: i64) -> Result<(), AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    super::store::remove(&state.db, &origin(&admin), id, state.clock.now()).await?;
    tracing::info!(admin = %admin.me.username, channel = id, "chat channel removed");
    leptos_axum::redirect("/admin/channels?removed=1");
    Ok(())
}

/// Stores the hosts allowed besides the platforms' own.
#[server(endpoint = "chat/allowed_hosts")]
pub async fn save_allowed_hosts(hosts: String) -> Result<(), AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    super::store::set_allowed_hosts(&state.db, &origin(&admin), &hosts, state.clock.now()).await?;
    leptos_axum::redirect("/admin/channels?saved=1");
    Ok(())
}

/// Sends a test message through the outbox right away and answers with the platform's reply.
#[server(endpoint = "chat/test")]
pub async fn test_channel(id: i64) -> Result<TestResult, AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let now = state.clock.now();
    let channel = super::store::list(&state.db).await?.into_iter().find(|c| c.id == id).ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin_write().await?;
    let row = super::notify::queue_test(&mut tx, id, &channel.language, &admin.me.display_name, now).await?;
    tx.commit().await?;
    // Sent now, through the outbox like any message, by the shared sender (its one HTTP client);
    // while another sender holds the channel, it goes out with that sender's next pass.
    state.chat.work_channel(id).await?;
    let sent = crate::mail::outbox::get(&state.db, row).await?.ok_or(AppError::NotFound)?;
    let after = super::store::list(&state.db).await?.into_iter().find(|c| c.id == id).ok_or(AppError::NotFound)?;
    let error = sent.last_error;
    let outcome = match sent.status {
        crate::mail::EmailStatus::Sent => "delivered",
        crate::mail::EmailStatus::Failed => "failed",
        crate::mail::EmailStatus::Queued if !error.is_empty() => "retrying",
        _ => "queued",
    };
    tracing::info!(admin = %admin.me.username, channel = id, outcome, "chat test message");
    Ok(TestResult {
        name: channel.name,
        outcome: outcome.to_owned(),
        answer: if error.is_empty() { after.last_answer } else { error },
        outcome_text: super::pages::outcome_label(outcome, crate::i18n::use_i18n().t()).to_owned(),
    })
}

/// The signed-in user's chat identities.
#[server(endpoint = "account/chat_identity")]
pub async fn my_chat_identity() -> Result<ChatIdentity, AppError> {
    use crate::auth::guard;
    let user = guard::require_user()?;
    crate::users::store::chat_identity(&guard::app_state().db, user.me.id).await
}

/// A user's chat identities, for their page (admins).
#[server(endpoint = "users/chat_identity")]
pub async fn get_user_chat_identity(id: i64) -> Result<ChatIdentity, AppError> {
    use crate::auth::{guard, Role};
    guard::require_role(Role::Admin).await?;
    crate::users::store::chat_identity(&guard::app_state().db, id).await
}

/// Stores the signed-in user's chat identities (audited), then shows the account page again.
#[server(endpoint = "account/set_chat_identity")]
pub async fn set_my_chat_identity(
    #[server(default)] mobile: String,
    #[server(default)] wecom_userid: String,
    #[server(default)] feishu_open_id: String,
) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_user()?;
    let state = guard::app_state();
    let identity = ChatIdentity { mobile, wecom_userid, feishu_open_id };
    crate::users::store::set_chat_identity(
        &state.db,
        &origin(&user),
        user.me.id,
        &user.me.username,
        &identity,
        state.clock.now(),
    )
    .await?;
    leptos_axum::redirect("/account?saved=chat");
    Ok(())
}

/// An admin stores a user's chat identities (audited).
#[server(endpoint = "users/set_chat_identity")]
pub async fn set_user_chat_identity(
    id: i64,
    #[server(default)] mobile: String,
    #[server(default)] wecom_userid: String,
    #[server(default)] feishu_open_id: String,
) -> Result<(), AppError> {
    use crate::auth::{guard, Role};
    let admin = guard::require_role(Role::Admin).await?;
    let state = guard::app_state();
    let detail = crate::users::store::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let identity = ChatIdentity { mobile, wecom_userid, feishu_open_id };
    crate::users::store::set_chat_identity(
        &state.db,
        &origin(&admin),
        id,
        &detail.summary.username,
        &identity,
        state.clock.now(),
    )
    .await?;
    leptos_axum::redirect(&format!("/admin/users/{id}?saved=1"));
    Ok(())
}
