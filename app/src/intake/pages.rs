//! The admin page of intake sources: create one (its token is shown once), list, pause, revoke.
// The #[component] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;
use leptos_meta::Title;

use super::{CreateIntakeSource, RevokeIntakeSource, SetIntakeSourceEnabled, SourceChannel, SourceView};
use crate::{
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::{use_i18n, Strings},
};

/// A channel's name.
fn channel_label(channel: SourceChannel, t: &'static Strings) -> &'static str {
    crate::workflow::labels::channel(channel.incident_channel(), t)
}

/// `/admin/intake`.
#[component]
pub fn IntakePage() -> impl IntoView {
    let i18n = use_i18n();
    let create = ServerAction::<CreateIntakeSource>::new();
    let revoke = ServerAction::<RevokeIntakeSource>::new();
    let set_enabled = ServerAction::<SetIntakeSourceEnabled>::new();
    let create_error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let change_error = Signal::derive(move || {
        revoke.value().get().and_then(|r| r.err()).or_else(|| set_enabled.value().get().and_then(|r| r.err()))
    });
    let sources = Resource::new(|| (), |_| super::list_intake_sources());
    view! {
        <Title text=move || i18n.t().intake_title />
        <div class="page-head">
            <h1>{move || i18n.t().intake_title}</h1>
        </div>
        <p class="hint">{move || i18n.t().intake_intro}</p>
        <section class="card narrow" aria-labelledby="new-source-heading">
            <h2 id="new-source-heading">{move || i18n.t().intake_new}</h2>
            <Enhance>
            <ActionForm action=create>
                <FormError error=create_error />
                <div class="field">
                    <label for="name">{move || i18n.t().intake_field_name}</label>
                    <input id="name" name="name" type="text" required maxlength="100" autocomplete="off" />
                    <FieldError error=create_error field="name" />
                </div>
                <div class="field">
                    <label for="channel">{move || i18n.t().intake_field_channel}</label>
                    <select id="channel" name="channel">
                        {SourceChannel::ALL.into_iter().map(|c| view! {
                            <option value=c.as_str()>{move || channel_label(c, i18n.t())}</option>
                        }).collect_view()}
                    </select>
                    <FieldError error=create_error field="channel" />
                </div>
                <button type="submit" class="button">
                    {move || i18n.t().intake_create_submit}
                </button>
                // The new token is in the server function's answer only, so it is shown once, here,
                // by the in-place submission; the list shows it from the next load on.
                <div class="notice" role="status" data-result="" hidden>
                    <p>{move || i18n.t().intake_token_once}</p>
                    <p><strong data-result-field="name"></strong></p>
                    <pre class="token"><code data-result-field="token"></code></pre>
                </div>
            </ActionForm>
            </Enhance>
        </section>
        <FormError error=change_error />
        // Awaited, not read under a <Suspense>, which builds its children once per pass.
        {Suspend::new(async move {
            match sources.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p>{move || i18n.t().intake_none}</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table">
                        <thead>
                            <tr>
                                <th scope="col">{move || i18n.t().intake_field_name}</th>
                                <th scope="col">{move || i18n.t().intake_field_channel}</th>
                                <th scope="col">{move || i18n.t().intake_field_token}</th>
                                <th scope="col">{move || i18n.t().intake_field_last_used}</th>
                                <th scope="col">{move || i18n.t().field_status}</th>
                                <th scope="col"><span class="visually-hidden">{move || i18n.t().intake_actions}</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            {list.into_iter().map(|s| view! { <SourceRow source=s revoke set_enabled /> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }
        })}
    }
}

#[component]
fn SourceRow(
    source: SourceView,
    revoke: ServerAction<RevokeIntakeSource>,
    set_enabled: ServerAction<SetIntakeSourceEnabled>,
) -> impl IntoView {
    let i18n = use_i18n();
    let SourceView { id, name, channel, token_hint, enabled, revoked, last_used_at, .. } = source;
    let last_used = last_used_at.map(|t| t.get(..16).unwrap_or(&t).replace('T', " ")).unwrap_or_default();
    let status = move || {
        let t = i18n.t();
        if revoked {
            t.intake_status_revoked
        } else if enabled {
            t.intake_status_enabled
        } else {
            t.intake_status_paused
        }
    };
    view! {
        <tr>
            <td data-label=move || i18n.t().intake_field_name>{name}</td>
            <td data-label=move || i18n.t().intake_field_channel>{move || channel_label(channel, i18n.t())}</td>
            <td data-label=move || i18n.t().intake_field_token><code>{token_hint}</code></td>
            <td data-label=move || i18n.t().intake_field_last_used>{last_used}</td>
            <td data-label=move || i18n.t().field_status>{status}</td>
            <td data-label=move || i18n.t().intake_actions>
                {(!revoked).then(|| view! {
                    <div class="button-row">
                        <Enhance>
                        <ActionForm action=set_enabled>
                            <input type="hidden" name="id" value=id />
                            <input type="hidden" name="enabled" value=(!enabled).to_string() />
                            <FormError error=Signal::stored(None) />
                            <button type="submit" class="button button--secondary">
                                {move || if enabled { i18n.t().intake_pause } else { i18n.t().intake_resume }}
                            </button>
                        </ActionForm>
                        </Enhance>
                        <Enhance>
                        <ActionForm action=revoke>
                            <input type="hidden" name="id" value=id />
                            <FormError error=Signal::stored(None) />
                            <button type="submit" class="button button--danger">{move || i18n.t().intake_revoke}</button>
                        </ActionForm>
                        </Enhance>
                    </div>
                })}
            </td>
        </tr>
    }
}
