//! The chat channels page (admins) and the chat identity fields (account page, admin user page).
//!
//! Every channel is a card with its forms (test, edit, remove), so a page of channels reads on a
//! phone without a table. The forms work as plain posts; in the browser they are submitted in
//! place, and the two answers that are only in a server function's reply (a test message's
//! outcome, a generated webhook secret) fill the form's `data-result` slot.
// The #[component] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    ChannelKind, ChannelView, ChannelsView, ChatEvent, ChatIdentity, CreateChannel, RemoveChannel, SaveAllowedHosts,
    SetMyChatIdentity, SetUserChatIdentity, TestChannel, UpdateChannel,
};
use crate::{
    clock::LocalTime,
    enhance::Enhance,
    error::AppError,
    forms::{FieldError, FormError},
    i18n::{fill, use_i18n, Locale, Strings},
    workflow::input::Severity,
};

/// A delivery outcome (`delivered`, `retrying`, `failed`, `queued`) in the language of `t`;
/// anything else (empty: no attempt yet) reads as nothing sent yet.
pub(crate) fn outcome_label(outcome: &str, t: &'static Strings) -> &'static str {
    match outcome {
        "delivered" => t.channels_outcome_delivered,
        "retrying" => t.channels_outcome_retrying,
        "failed" => t.channels_outcome_failed,
        "queued" => t.channels_outcome_queued,
        _ => t.channels_never,
    }
}

/// The class naming an outcome's colour; stored text never becomes a class name as it is.
fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "delivered" => "badge channel-outcome--delivered",
        "retrying" | "queued" => "badge channel-outcome--retrying",
        "failed" => "badge channel-outcome--failed",
        _ => "badge",
    }
}

/// A language tag as the language calls itself; an unknown tag as it is.
fn language_name(tag: &str) -> String {
    Locale::from_tag(tag).map(|l| l.native_name().to_owned()).unwrap_or_else(|| tag.to_owned())
}

/// What the address of a platform's robot looks like.
fn url_hint(kind: ChannelKind, t: &'static Strings) -> &'static str {
    match kind {
        ChannelKind::Dingtalk => t.channels_url_hint_dingtalk,
        ChannelKind::Wecom => t.channels_url_hint_wecom,
        ChannelKind::Feishu => t.channels_url_hint_feishu,
        ChannelKind::Webhook => t.channels_url_hint_webhook,
    }
}

/// Where a platform's signing secret comes from (or that it has none).
fn secret_hint(kind: ChannelKind, t: &'static Strings) -> &'static str {
    match kind {
        ChannelKind::Dingtalk => t.channels_secret_hint_dingtalk,
        ChannelKind::Wecom => t.channels_secret_hint_wecom,
        ChannelKind::Feishu => t.channels_secret_hint_feishu,
        ChannelKind::Webhook => t.channels_secret_hint_webhook,
    }
}

/// The page's actions. Each is shared by the forms of every channel: an action holds the result
/// of its last submission, whichever form sent it.
#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateChannel>,
    update: ServerAction<UpdateChannel>,
    remove: ServerAction<RemoveChannel>,
    test: ServerAction<TestChannel>,
    hosts: ServerAction<SaveAllowedHosts>,
}

/// `/admin/channels`: the channels with their last delivery, a test message, changes and removal;
/// a new channel; the hosts allowed besides the platforms' own.
#[component]
pub fn ChannelsPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let saved = move || query.read().get("saved").is_some();
    let removed = move || query.read().get("removed").is_some();
    let channels = Resource::new(|| (), |_| super::chat_channels());
    let actions = Actions {
        create: ServerAction::new(),
        update: ServerAction::new(),
        remove: ServerAction::new(),
        test: ServerAction::new(),
        hosts: ServerAction::new(),
    };
    // A plain post's refusal comes back without saying which channel's form sent it, so it is
    // shown once, above the list; an in-place one appears in the form that sent it.
    let channel_error = Signal::derive(move || {
        actions
            .update
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| actions.remove.value().get().and_then(|r| r.err()))
            .or_else(|| actions.test.value().get().and_then(|r| r.err()))
    });
    view! {
        <Title text=move || i18n.t().channels_title />
        <div class="page-head">
            <h1>{move || i18n.t().channels_title}</h1>
        </div>
        <p class="hint">{move || i18n.t().channels_intro}</p>
        {move || saved().then(|| view! { <p class="notice" role="status">{move || i18n.t().channels_saved}</p> })}
        {move || removed().then(|| view! { <p class="notice" role="status">{move || i18n.t().channels_removed}</p> })}
        <PlainError error=channel_error />
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match channels.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(view) => view! { <ChannelsBody view actions /> }.into_any(),
            }
        })}
    }
}

/// Any refusal, field or not, as one message: for the forms whose own slots cannot show it.
#[component]
fn PlainError(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    // Rendered once, on the server, like the forms' own slots.
    let message = error.get_untracked().map(|e| e.message(use_i18n().t()));
    message.map(|m| view! { <p class="form-error" role="alert">{m}</p> })
}

/// What the page shows once loaded: the missing-key warning, the channels, and the two forms.
#[component]
fn ChannelsBody(view: ChannelsView, actions: Actions) -> impl IntoView {
    let t = use_i18n().t();
    let ChannelsView { channels, key_configured, allowed_hosts, official_hosts } = view;
    let list = if channels.is_empty() {
        view! { <p>{t.channels_none}</p> }.into_any()
    } else {
        view! {
            <ul class="channel-list">
                {channels.into_iter().map(|channel| view! { <li><ChannelCard channel actions /></li> }).collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        {(!key_configured).then(|| view! { <p class="notice notice--warn" role="alert">{t.channels_no_key}</p> })}
        <section aria-labelledby="channels-heading">
            <h2 id="channels-heading">{t.channels_list_heading}</h2>
            {list}
        </section>
        <NewChannelForm action=actions.create />
        <AllowedHostsForm action=actions.hosts allowed_hosts official_hosts />
    }
    .into_any()
}

/// One channel: what it receives, where it posts, how its last message went, and its forms.
#[component]
fn ChannelCard(channel: ChannelView, actions: Actions) -> impl IntoView {
    let t = use_i18n().t();
    let ChannelView {
        id,
        ref name,
        kind,
        ref language,
        ref events,
        ref severities,
        ref url_hint,
        has_secret,
        enabled,
        ref last_outcome,
        ref last_answer,
        ref last_attempt_at,
        waiting,
    } = channel;
    let heading = format!("channel-{id}-heading");
    let labelled_by = heading.clone();
    let events = events.iter().map(|e| view! { <span class="badge">{e.label(t)}</span> " " }).collect_view();
    let severities = if severities.is_empty() {
        t.channels_all_severities.to_owned()
    } else {
        severities.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>().join(", ")
    };
    let signing = if !kind.has_secret() {
        t.channels_key_in_url
    } else if has_secret {
        t.channels_signed
    } else {
        t.channels_unsigned
    };
    let (state_class, state) = if enabled {
        ("badge channel-state--on", t.channels_status_enabled)
    } else {
        ("badge channel-state--off", t.channels_status_paused)
    };
    let last_at = last_attempt_at.clone().map(|at| view! { " " <LocalTime at ago=true /> });
    let answer = (!last_answer.is_empty()).then(|| {
        let answer = last_answer.clone();
        view! {
            <dt>{t.channels_field_answer}</dt>
            <dd><pre class="channel-answer">{answer}</pre></dd>
        }
    });
    view! {
        <article class="card channel" aria-labelledby=labelled_by>
            <div class="channel__head">
                <h3 id=heading>{name.clone()}</h3>
                <span class=state_class>{state}</span>
            </div>
            <dl class="facts">
                <dt>{t.channels_field_kind}</dt>
                <dd>{kind.product_name(t)}</dd>
                <dt>{t.channels_field_language}</dt>
                <dd>{language_name(language)}</dd>
                <dt>{t.channels_field_events}</dt>
                <dd>{events}</dd>
                <dt>{t.channels_field_severities}</dt>
                <dd>{severities}</dd>
                <dt>{t.channels_field_url}</dt>
                <dd><code>{url_hint.clone()}</code></dd>
                <dt>{t.channels_field_signing}</dt>
                <dd>{signing}</dd>
                <dt>{t.channels_field_last}</dt>
                <dd>
                    <span class=outcome_class(last_outcome)>{outcome_label(last_outcome, t)}</span>
                    {last_at}
                </dd>
                {answer}
                <dt>{t.channels_field_waiting}</dt>
                <dd>{waiting}</dd>
            </dl>
            <TestForm id name=name.clone() action=actions.test />
            <details class="channel-edit">
                <summary>{t.channels_edit}</summary>
                <EditForm channel=channel.clone() action=actions.update />
            </details>
            <RemoveForm id name=name.clone() action=actions.remove />
        </article>
    }
    .into_any()
}

/// Sends a test message now and shows the platform's answer in place.
#[component]
fn TestForm(id: i64, name: String, action: ServerAction<TestChannel>) -> impl IntoView {
    let t = use_i18n().t();
    view! {
        <Enhance>
        <ActionForm action attr:class="channel-test">
            <input type="hidden" name="id" value=id />
            <FormError error=Signal::stored(None) />
            <button type="submit" class="button button--secondary button--small" aria-label=fill(t.channels_test_named, &[("name", name.as_str())])>
                {t.channels_test}
            </button>
            // The outcome is in the server function's answer, not in the page until it is loaded
            // again: the in-place submission shows it here.
            <div class="notice" role="status" data-result="" hidden>
                <p>{t.chat_event_test}{t.colon}<strong data-result-field="outcome_text"></strong></p>
                <pre class="channel-answer" data-result-field="answer"></pre>
            </div>
        </ActionForm>
        </Enhance>
    }
}

/// A channel's form, filled with what is stored (but its URL and secret, which are never sent to
/// the browser).
#[component]
fn EditForm(channel: ChannelView, action: ServerAction<UpdateChannel>) -> impl IntoView {
    let t = use_i18n().t();
    let id = channel.id;
    view! {
        <Enhance>
        <ActionForm action attr:class="channel-form">
            <input type="hidden" name="id" value=id />
            <FormError error=Signal::stored(None) />
            <ChannelFields ids=format!("channel-{id}") current=channel error=Signal::stored(None) />
            <button type="submit" class="button">{t.save}</button>
        </ActionForm>
        </Enhance>
    }
    .into_any()
}

/// Removes a channel; its waiting messages are cancelled.
#[component]
fn RemoveForm(id: i64, name: String, action: ServerAction<RemoveChannel>) -> impl IntoView {
    let t = use_i18n().t();
    view! {
        <Enhance>
        <ActionForm action attr:class="channel-remove">
            <input type="hidden" name="id" value=id />
            <FormError error=Signal::stored(None) />
            <p class="hint">{t.channels_remove_hint}</p>
            <button type="submit" class="button button--danger button--small" aria-label=fill(t.channels_remove_named, &[("name", name.as_str())])>
                {t.channels_remove}
            </button>
        </ActionForm>
        </Enhance>
    }
}

/// The fields of a channel, shared by the new-channel form and each channel's edit form (`current`
/// given). `ids` prefixes the element ids, unique on a page holding one edit form per channel.
#[component]
fn ChannelFields(
    ids: String,
    #[prop(optional)] current: Option<ChannelView>,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let editing = current.is_some();
    let id = |field: &str| format!("{ids}-{field}");
    let err = |field: &str| format!("err-{ids}-{field}");
    let name = current.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    let kind = current.as_ref().map_or(ChannelKind::ALL[0], |c| c.kind);
    let language = current.as_ref().map_or_else(|| i18n.locale().tag().to_owned(), |c| c.language.clone());
    // A new channel receives everything until unticked; a stored one what it was given.
    let events: Vec<ChatEvent> =
        current.as_ref().map_or_else(|| ChatEvent::subscribable().to_vec(), |c| c.events.clone());
    let severities = current.as_ref().map(|c| c.severities.clone()).unwrap_or_default();
    let enabled = current.as_ref().is_none_or(|c| c.enabled);
    let kinds = ChannelKind::ALL
        .into_iter()
        .map(|k| view! { <option value=k.as_str() selected=k == kind>{k.product_name(t)}</option> })
        .collect_view();
    let languages = Locale::ALL
        .into_iter()
        .map(|l| view! { <option value=l.tag() selected=l.tag() == language>{l.native_name()}</option> })
        .collect_view();
    let event_checks = ChatEvent::subscribable()
        .iter()
        .copied()
        .map(|e| {
            view! {
                <label class="check">
                    <input type="checkbox" name=format!("events[{}]", e.as_str()) value="on" checked=events.contains(&e) />
                    <span>{e.label(t)}</span>
                </label>
            }
        })
        .collect_view();
    let severity_checks = Severity::ALL
        .into_iter()
        .map(|s| {
            let checked = severities.iter().any(|stored| stored == s.as_str());
            view! {
                <label class="check">
                    <input type="checkbox" name=format!("severities[{}]", s.as_str()) value="on" checked=checked />
                    <span>{s.as_str().to_uppercase()}</span>
                </label>
            }
        })
        .collect_view();
    // Every platform's hint is in the page; the style sheet shows the chosen platform's alone
    // (all of them where it cannot), so the form needs no script.
    let url_hints = ChannelKind::ALL
        .into_iter()
        .map(|k| view! { <p class="hint" data-kind=k.as_str()>{url_hint(k, t)}</p> })
        .collect_view();
    let secret_hints = ChannelKind::ALL
        .into_iter()
        .map(|k| view! { <p class="hint" data-kind=k.as_str()>{secret_hint(k, t)}</p> })
        .collect_view();
    let keep = editing.then(|| view! { <p class="hint">{t.channels_keep_hint}</p> });
    let keep_secret = editing.then(|| view! { <p class="hint">{t.channels_keep_hint}</p> });
    view! {
        <div class="field">
            <label for=id("name")>{t.channels_field_name}</label>
            <input
                id=id("name")
                name="name"
                type="text"
                value=name
                required
                maxlength="60"
                autocomplete="off"
                aria-describedby=err("name")
            />
            <FieldError error field="name" id=err("name") />
        </div>
        <div class="field">
            <label for=id("kind")>{t.channels_field_kind}</label>
            <select id=id("kind") name="kind" aria-describedby=err("kind")>{kinds}</select>
            <FieldError error field="kind" id=err("kind") />
        </div>
        <div class="field">
            <label for=id("language")>{t.channels_field_language}</label>
            <select id=id("language") name="language" aria-describedby=err("language")>{languages}</select>
            <FieldError error field="language" id=err("language") />
        </div>
        <div class="field">
            <fieldset class="checks" aria-describedby=err("events")>
                <legend>{t.channels_field_events}</legend>
                {event_checks}
            </fieldset>
            <FieldError error field="events" id=err("events") />
        </div>
        <div class="field">
            <fieldset class="checks" aria-describedby=format!("{} {}", id("severities-hint"), err("severities"))>
                <legend>{t.channels_field_severities}</legend>
                {severity_checks}
            </fieldset>
            <p class="hint" id=id("severities-hint")>{t.channels_severities_hint}</p>
            <FieldError error field="severities" id=err("severities") />
        </div>
        <div class="field">
            <label for=id("url")>{t.channels_field_url}</label>
            <input
                id=id("url")
                name="url"
                type="url"
                inputmode="url"
                required=!editing
                maxlength="2000"
                autocomplete="off"
                autocapitalize="none"
                spellcheck="false"
                aria-describedby=format!("{} {}", id("url-hint"), err("url"))
            />
            <div id=id("url-hint")>
                {keep}
                {url_hints}
            </div>
            <FieldError error field="url" id=err("url") />
        </div>
        <div class="field">
            <label for=id("secret")>{t.channels_field_secret}</label>
            <input
                id=id("secret")
                name="secret"
                type="password"
                maxlength="500"
                autocomplete="off"
                autocapitalize="none"
                spellcheck="false"
                aria-describedby=format!("{} {}", id("secret-hint"), err("secret"))
            />
            <div id=id("secret-hint")>
                {keep_secret}
                {secret_hints}
                <p class="hint">{t.channels_credentials_hint}</p>
            </div>
            <FieldError error field="secret" id=err("secret") />
        </div>
        <div class="field">
            <label class="check">
                <input type="checkbox" name="enabled" value="true" checked=enabled />
                <span>{t.channels_field_enabled}</span>
            </label>
        </div>
    }
    .into_any()
}

/// The new-channel form; a webhook's generated secret appears under it, once.
#[component]
fn NewChannelForm(action: ServerAction<CreateChannel>) -> impl IntoView {
    let t = use_i18n().t();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    view! {
        <section class="card" aria-labelledby="new-channel-heading">
            <h2 id="new-channel-heading">{t.channels_new}</h2>
            <Enhance>
            <ActionForm action attr:class="channel-form">
                <FormError error />
                <ChannelFields ids="new-channel".to_owned() error />
                <button type="submit" class="button">{t.channels_create_submit}</button>
                // A generated secret is in the server function's answer only, so it is shown once,
                // here, by the in-place submission; the list shows the new channel from the next
                // load on. Other platforms' answers carry no secret, and its part stays hidden.
                <div class="notice" role="status" data-result="" hidden>
                    <p>{t.channels_created}{t.colon}<strong data-result-field="name"></strong></p>
                    <div class="channel-secret">
                        <p>{t.channels_secret_once}</p>
                        <pre class="token"><code data-result-field="secret"></code></pre>
                    </div>
                    <p><a href="/admin/channels">{t.channels_show_list}</a></p>
                </div>
            </ActionForm>
            </Enhance>
        </section>
    }
    .into_any()
}

/// The hosts admins allow besides the platforms' own (which are listed, always allowed).
#[component]
fn AllowedHostsForm(
    action: ServerAction<SaveAllowedHosts>,
    allowed_hosts: String,
    official_hosts: Vec<String>,
) -> impl IntoView {
    let t = use_i18n().t();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    let official = official_hosts.into_iter().map(|h| view! { <li><code>{h}</code></li> }).collect_view();
    view! {
        <section class="card" aria-labelledby="hosts-heading">
            <h2 id="hosts-heading">{t.channels_hosts_heading}</h2>
            <p class="hint">{t.channels_hosts_intro}</p>
            <p>{t.channels_hosts_official}</p>
            <ul class="channel-hosts">{official}</ul>
            <Enhance>
            <ActionForm action>
                <FormError error />
                <div class="field">
                    <label for="allowed-hosts">{t.channels_hosts_label}</label>
                    <textarea
                        id="allowed-hosts"
                        name="hosts"
                        rows="4"
                        autocapitalize="none"
                        spellcheck="false"
                        aria-describedby="allowed-hosts-hint err-allowed-hosts"
                    >{allowed_hosts}</textarea>
                    <p class="hint" id="allowed-hosts-hint">{t.channels_hosts_hint}</p>
                    <FieldError error field="hosts" id="err-allowed-hosts" />
                </div>
                <button type="submit" class="button">{t.save}</button>
            </ActionForm>
            </Enhance>
        </section>
    }
    .into_any()
}

/// A user's chat identities, which chat messages @-mention them by: their own on the account page
/// (no `user_id`), or, for an admin, the user's of `user_id`.
#[component]
pub fn ChatIdentityFields(identity: ChatIdentity, #[prop(optional)] user_id: Option<i64>) -> impl IntoView {
    let t = use_i18n().t();
    let form = match user_id {
        None => {
            let action = ServerAction::<SetMyChatIdentity>::new();
            let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
            let saved = use_query_map().read_untracked().get("saved").as_deref() == Some("chat");
            view! {
                <Enhance>
                <ActionForm action>
                    <FormError error />
                    {saved.then(|| view! { <p class="notice" role="status">{t.chat_identity_saved}</p> })}
                    <IdentityInputs identity error own=true />
                    <button type="submit" class="button">{t.save}</button>
                </ActionForm>
                </Enhance>
            }
            .into_any()
        }
        Some(id) => {
            let action = ServerAction::<SetUserChatIdentity>::new();
            let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
            view! {
                <Enhance>
                <ActionForm action>
                    <input type="hidden" name="id" value=id />
                    <FormError error />
                    <IdentityInputs identity error own=false />
                    <button type="submit" class="button">{t.save}</button>
                </ActionForm>
                </Enhance>
            }
            .into_any()
        }
    };
    view! {
        <section class="chat-identity" aria-labelledby="chat-identity-heading">
            <h2 id="chat-identity-heading">{t.chat_identity_heading}</h2>
            <p class="hint">{t.chat_identity_intro}</p>
            {form}
        </section>
    }
}

/// The three identity inputs. `own`: the user is filling in their own, so the browser may offer
/// their phone number.
#[component]
fn IdentityInputs(identity: ChatIdentity, #[prop(into)] error: Signal<Option<AppError>>, own: bool) -> impl IntoView {
    let t = use_i18n().t();
    let ChatIdentity { mobile, wecom_userid, feishu_open_id } = identity;
    view! {
        <div class="field">
            <label for="chat-mobile">{t.chat_identity_mobile}</label>
            <input
                id="chat-mobile"
                name="mobile"
                type="tel"
                inputmode="tel"
                value=mobile
                maxlength="24"
                autocomplete=if own { "tel" } else { "off" }
                aria-describedby="chat-mobile-hint err-chat-mobile"
            />
            <p class="hint" id="chat-mobile-hint">{t.chat_identity_mobile_hint}</p>
            <FieldError error field="mobile" id="err-chat-mobile" />
        </div>
        <IdField id="chat-wecom" name="wecom_userid" label=t.chat_identity_wecom hint=t.chat_identity_wecom_hint value=wecom_userid error />
        <IdField id="chat-feishu" name="feishu_open_id" label=t.chat_identity_feishu hint=t.chat_identity_feishu_hint value=feishu_open_id error />
    }
}

/// A chat user id field (WeCom's, Feishu's): typed exactly, never corrected by the keyboard.
#[component]
fn IdField(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let error_id = format!("err-{id}");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=name
                type="text"
                value=value
                maxlength="64"
                autocomplete="off"
                autocapitalize="none"
                spellcheck="false"
                aria-describedby=format!("{hint_id} {error_id}")
            />
            <p class="hint" id=hint_id>{hint}</p>
            <FieldError error field=name id=error_id />
        </div>
    }
}
