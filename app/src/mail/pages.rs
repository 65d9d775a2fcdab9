//! The admin Outbox page and the report copy on the incident page.
// The #[component] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{EmailKind, EmailStatus, EmailView, RetryEmail};
use crate::{
    clock::LocalTime,
    enhance::Enhance,
    forms::FormError,
    i18n::{fill, use_i18n},
};

/// Every email, newest first, with its status and a preview; failed and unsent ones can be sent
/// again. At `/admin/outbox`, for admins.
#[component]
pub fn OutboxPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let status = move || query.read().get("status").filter(|s| !s.is_empty());
    let transport = move || query.read().get("transport").filter(|s| !s.is_empty());
    let before = move || query.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let retry = ServerAction::<RetryEmail>::new();
    let emails = Resource::new(
        move || (status(), transport(), before()),
        |(status, transport, before)| super::list_outbox(status, transport, before),
    );
    let retry_error = Signal::derive(move || retry.value().get().and_then(|r| r.err()));
    let retried = move || query.read().get("retried").is_some();
    let filter_link = move |value: Option<EmailStatus>| {
        // Reactive: following a chip changes the query without re-creating the page.
        let selected = move || (status().as_deref() == value.map(EmailStatus::as_str)).then_some("page");
        let by_transport = transport().map(|t| format!("transport={t}&")).unwrap_or_default();
        let href = value
            .map(|s| format!("/admin/outbox?{by_transport}status={}", s.as_str()))
            .unwrap_or_else(|| format!("/admin/outbox?{by_transport}"));
        view! {
            <a class="filter-chip" href=href aria-current=selected>
                {move || value.map(|s| s.label(i18n.t())).unwrap_or(i18n.t().outbox_all)}
            </a>
        }
    };
    // Which transport: emails, chat messages, or both.
    let transport_link = move |value: Option<&'static str>| {
        let selected = move || (transport().as_deref() == value).then_some("page");
        let href = value.map(|t| format!("/admin/outbox?transport={t}")).unwrap_or_else(|| "/admin/outbox".into());
        view! {
            <a class="filter-chip" href=href aria-current=selected>
                {move || match value {
                    Some("email") => i18n.t().outbox_transport_email,
                    Some(_) => i18n.t().outbox_transport_chat,
                    None => i18n.t().outbox_transport_all,
                }}
            </a>
        }
    };
    view! {
        <Title text=move || i18n.t().outbox_title />
        <div class="page-head">
            <h1>{move || i18n.t().outbox_title}</h1>
        </div>
        <p class="hint">{move || i18n.t().outbox_intro}</p>
        <nav class="filter-chips" aria-label=move || i18n.t().outbox_transport>
            {transport_link(None)}
            {transport_link(Some("email"))}
            {transport_link(Some("chat"))}
        </nav>
        <nav class="filter-chips" aria-label=move || i18n.t().field_status>
            {filter_link(None)}
            {EmailStatus::ALL.into_iter().map(|s| filter_link(Some(s))).collect_view()}
        </nav>
        {move || retried().then(|| view! { <p class="notice" role="status">{move || i18n.t().outbox_retried}</p> })}
        <FormError error=retry_error />
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match emails.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p>{move || i18n.t().outbox_none}</p> }.into_any(),
                Ok(list) => {
                    let more = (list.len() >= 50).then(|| {
                        let last = list.last().map(|e| e.id).unwrap_or_default();
                        let status = status().map(|s| format!("&status={s}")).unwrap_or_default();
                        let by_transport = transport().map(|t| format!("&transport={t}")).unwrap_or_default();
                        format!("/admin/outbox?before={last}{status}{by_transport}")
                    });
                    view! {
                        <ul class="outbox">
                            {list.into_iter().map(|email| view! { <li><EmailCard email retry filter=status() /></li> }).collect_view()}
                        </ul>
                        {more.map(|href| view! { <a class="button button--secondary" href=href>{move || i18n.t().outbox_more}</a> })}
                    }.into_any()
                }
            }
        })}
    }
}

/// A status badge.
#[component]
fn StatusBadge(status: EmailStatus) -> impl IntoView {
    let i18n = use_i18n();
    view! { <span class=format!("badge mail-status mail-status--{}", status.as_str())>{move || status.label(i18n.t())}</span> }
}

/// The two parts of an email, folded: the text as text, the HTML in a sandboxed frame (no
/// scripts, no same-origin access), so nothing in it can act on the page.
#[component]
fn EmailPreview(text: String, id: i64) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <details class="email-preview">
            <summary>{move || i18n.t().outbox_preview_text}</summary>
            <pre class="prewrap email-preview__text">{text}</pre>
        </details>
        <HtmlPreview id />
    }
}

/// An email's HTML part in a sandboxed frame, loaded from its own address (`/mail/{id}/preview`,
/// whose policy admits the email's inline styles) only once opened.
#[component]
fn HtmlPreview(id: i64) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <details class="email-preview">
            <summary>{move || i18n.t().outbox_preview_html}</summary>
            <iframe
                class="email-preview__html"
                // Same origin only so the request carries the session (the preview answers only
                // to who may read it); no scripts, forms or popups, and the preview's own policy
                // sandboxes the document again.
                sandbox="allow-same-origin"
                src=format!("/mail/{id}/preview")
                title=move || i18n.t().outbox_preview_html
            ></iframe>
        </details>
    }
}

#[component]
fn EmailCard(email: EmailView, retry: ServerAction<RetryEmail>, filter: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let kind = email.kind;
    let status = email.status;
    let id = email.id;
    let key = email.incident_key.clone();
    let next = (status == EmailStatus::Queued).then(|| email.next_attempt_at.clone());
    let sent = email.sent_at.clone();
    let created = email.created_at.clone();
    let attempts = email.attempts.to_string();
    let error = email.last_error.clone();
    let chat = email.transport == "chat";
    let to = match &email.channel {
        Some(channel) if chat => channel.clone(),
        _ => email.recipients.join(", "),
    };
    let digest = email.digest_of.filter(|of| *of != id).map(|of| of.to_string());
    view! {
        <article class="card outbox-item" aria-label=email.subject.clone()>
            <p class="outbox-item__head">
                <StatusBadge status />
                " "
                {chat.then(|| view! { <span class="badge">{move || i18n.t().outbox_transport_chat}</span> " " })}
                <span class="hint">
                    {move || match kind {
                        EmailKind::Notification => i18n.t().outbox_kind_notification,
                        EmailKind::Report => i18n.t().outbox_kind_report,
                    }}
                </span>
                {key.map(|k| view! { " · " <a href=format!("/incidents/{k}")>{k.clone()}</a> })}
            </p>
            <h2 class="outbox-item__subject">{email.subject.clone()}</h2>
            // What an admin scans for stays in view (who, when, why it failed); the rest of the
            // delivery record and the parts are folded, so a page of emails stays short on a phone.
            <p class="hint">
                {move || if chat { i18n.t().outbox_channel } else { i18n.t().outbox_to }} {move || i18n.t().colon} {to.clone()}
                " · " <LocalTime at=created ago=true />
            </p>
            {(!error.is_empty()).then(|| view! { <p class="outbox-item__error">{error.clone()}</p> })}
            {status.retryable().then(|| view! {
                <Enhance>
                <ActionForm action=retry>
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="status" value=filter.clone() />
                    // The page shows a plain submission's refusal above the list; this slot takes an
                    // in-place one, next to the button that caused it.
                    <FormError error=Signal::stored(None) />
                    <button type="submit" class="button button--secondary button--small">{move || i18n.t().outbox_retry}</button>
                </ActionForm>
                </Enhance>
            })}
            <details class="outbox-item__more">
                <summary>{move || i18n.t().outbox_details}</summary>
                <dl class="facts">
                    <dt>{move || i18n.t().outbox_attempts}</dt>
                    <dd>{attempts}</dd>
                    {next.map(|n| view! { <dt>{move || i18n.t().outbox_next_attempt}</dt><dd><LocalTime at=n /></dd> })}
                    {sent.map(|s| view! { <dt>{move || i18n.t().outbox_sent_at}</dt><dd><LocalTime at=s ago=true /></dd> })}
                    {digest.map(|of| view! {
                        <dt>{move || i18n.t().outbox_digest}</dt>
                        <dd>{move || fill(i18n.t().outbox_digest_of, &[("id", &of)])}</dd>
                    })}
                    {(!chat).then(|| view! {
                        <dt>"Message-ID"</dt>
                        <dd class="mono">{email.message_id.clone()}</dd>
                    })}
                </dl>
                {if chat {
                    view! { <p>{email.body_text.clone()}</p> }.into_any()
                } else {
                    view! { <EmailPreview text=email.body_text.clone() id=email.id /> }.into_any()
                }}
            </details>
        </article>
    }
}

/// The report email's copy on the incident page, with its delivery status.
#[component]
pub fn ReportCopy(email: EmailView) -> impl IntoView {
    let i18n = use_i18n();
    let status = email.status;
    view! {
        <section class="card" aria-labelledby="report-email-heading">
            <h2 id="report-email-heading">{move || i18n.t().incident_report_email}</h2>
            <p>
                {move || fill(i18n.t().incident_report_delivery, &[("status", status.label(i18n.t()))])}
                " "
                <StatusBadge status />
            </p>
            <p><strong>{email.subject.clone()}</strong></p>
            <p class="hint">{move || i18n.t().outbox_to} {move || i18n.t().colon} {email.recipients.join(", ")}</p>
            <pre class="prewrap email-preview__text">{email.body_text.clone()}</pre>
            <HtmlPreview id=email.id />
        </section>
    }
}
