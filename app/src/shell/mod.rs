//! The application shell: the HTML document, the header with the language switch, the routes and
//! the 404 page.

#[cfg(feature = "ssr")]
pub mod assets;
mod header;
mod not_found;

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use leptos_meta::MetaTags;
use leptos_meta::{provide_meta_context, Html, Link, Meta, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

pub use header::{AppHeader, LanguageSwitch};
pub use not_found::{AdminOnly, LoadError, NotFound, RoleOnly};

use crate::{
    audit::{AuditEntryPage, AuditPage},
    auth::{provide_me, AccountPage, ChangePasswordPage, LoginPage},
    chat::ChannelsPage,
    clocks::ClockSettingsPage,
    enhance::LiveUpdates,
    home::HomePage,
    i18n::provide_i18n,
    insight::{MeasuresPage, ReportsPage},
    intake::IntakePage,
    mail::OutboxPage,
    pool::{PoolItemPage, PoolPage},
    search::SearchPage,
    users::{NewUserPage, UserPage, UsersPage},
    workflow::{IncidentListPage, IncidentPage, NewIncidentPage},
};

/// `target` when it is a local path (so a redirect cannot lead to another site), else `/`.
pub fn local_path(target: &str) -> &str {
    let is_local = target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.contains(['\r', '\n']);
    if is_local {
        target
    } else {
        "/"
    }
}

/// The document title as the current side needs it. leptos_meta (0.8) writes the server-rendered
/// `<title>` without escaping, so a title made of user text (an incident's, which may come from
/// any email sender) could close the element and add markup: on the server the text is escaped
/// here. The browser sets `document.title` as plain text, where escaping would show.
fn title_text(title: String) -> String {
    if cfg!(feature = "ssr") {
        title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    } else {
        title
    }
}

/// This build's id, with the marker the server finds it by in the built WASM file (see
/// `app/build.rs`). The WASM returns it from its `build_id` export, which keeps the marker whole in
/// the file.
pub const BUILD_MARKER: &str = concat!("baton-build-id=", env!("BATON_BUILD_ID"), ";");

/// This build's id: the same in the server and in the WASM built from the same sources.
pub const BUILD_ID: &str = env!("BATON_BUILD_ID");

/// The build id in a built WASM file's bytes (`None`: no marker, not one of ours).
pub fn build_id_in(bytes: &[u8]) -> Option<String> {
    const PREFIX: &[u8] = b"baton-build-id=";
    let at = bytes.windows(PREFIX.len()).position(|w| w == PREFIX)? + PREFIX.len();
    let rest = &bytes[at..];
    let end = rest.iter().take(64).position(|b| *b == b';')?;
    std::str::from_utf8(&rest[..end]).ok().filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit())).map(str::to_owned)
}

/// Name of the built site's files (`pkg/baton.js`, `pkg/baton.css`); matches the workspace's
/// cargo-leptos `name`.
pub const OUTPUT_NAME: &str = "baton";

/// What the document around the app needs, prepared once at start-up and shared by every render.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct ShellParts {
    /// Fingerprinted URLs of the built site's files.
    pub assets: assets::Assets,
    /// Leptos' settings, kept only while `cargo leptos watch` runs (for its live-reload script).
    pub live_reload: Option<LeptosOptions>,
}

/// The HTML document around the app, rendered on the server only.
#[cfg(feature = "ssr")]
pub fn shell(parts: &ShellParts) -> impl IntoView {
    let stylesheet = parts.assets.url(&format!("{OUTPUT_NAME}.css"));
    view! {
        <!DOCTYPE html>
        <html data-build=BUILD_ID>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href=stylesheet />
                {parts.live_reload.clone().map(|options| view! { <AutoReload options /> })}
                <AppScripts assets=parts.assets.clone() />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The islands loader (`islands.js`) as it goes into every page: without its comments and
/// indentation.
#[cfg(feature = "ssr")]
static LOADER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    include_str!("islands.js")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end_matches(';')
        .to_owned()
});

/// Loads the app's JS and WASM and hydrates the page's islands: the module and the WASM are
/// preloaded while the HTML parses, and the inline loader (`islands.js`) carries this response's
/// CSP nonce.
#[cfg(feature = "ssr")]
#[component]
fn AppScripts(assets: assets::Assets) -> impl IntoView {
    // Islands mode: only `#[island]` components are hydrated, so the rest of the page is rendered
    // without hydration markers and its resources are not serialized into the page.
    if let Some(context) = Owner::current_shared_context() {
        context.set_is_hydrating(false);
    }
    let js = assets.url(&format!("{OUTPUT_NAME}.js"));
    // cargo-leptos names the WASM after the output (`baton.wasm`).
    let wasm = assets.url(&format!("{OUTPUT_NAME}.wasm"));
    let nonce = leptos::nonce::use_nonce();
    // Both URLs are ours and contain only [a-z0-9_./]: safe to embed as JS string literals.
    let loader = format!("{}({js:?}, {wasm:?});", *LOADER);
    view! {
        <link rel="modulepreload" href=js crossorigin="anonymous" />
        <link rel="preload" href=wasm r#as="fetch" r#type="application/wasm" crossorigin="anonymous" />
        <script type="module" nonce=nonce>{loader}</script>
    }
}

/// The root component: language, document metadata, header and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let i18n = provide_i18n();
    let me = provide_me();
    let zone = crate::clock::provide_zone();

    view! {
        // The zone the times are shown in; the loader shows them in the device's zone instead
        // when the user chose none (see `clock`).
        <Html attr:lang=move || i18n.locale().tag() attr:data-zone=zone.name.clone() attr:data-zone-chosen=zone.chosen.to_string() />
        <Title formatter=move |page: String| {
            let product = i18n.t().product_name;
            let title = if page.is_empty() { product.to_owned() } else { format!("{page} · {product}") };
            title_text(title)
        } />
        <Meta name="description" content=move || i18n.t().product_tagline />
        <Meta name="theme-color" content="#1f3a5f" />
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Router>
            <a class="skip-link" href="#main">{move || i18n.t().skip_to_content}</a>
            <AppHeader />
            // Signed-in pages follow changes as they happen (the event stream needs a session, and
            // is closed to a user who must first change their password).
            {me.clone().filter(|m| !m.must_change_password).map(|_| view! { <LiveUpdates /> })}
            <main id="main" class="page" tabindex="-1">
                // In-order streaming: every page arrives complete, so it works without WASM and
                // no inline script is needed to swap in late content. Pages whose title names what
                // they load render whole before the head is sent (`Async`): in-order streaming
                // sends the head with the first chunk, which may come before the data.
                <Routes fallback=NotFound>
                    <Route path=path!("") view=HomePage ssr=SsrMode::InOrder />
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::InOrder />
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::InOrder />
                    <Route path=path!("/account/password") view=ChangePasswordPage ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/users") view=|| view! { <AdminOnly><UsersPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/users/new") view=|| view! { <AdminOnly><NewUserPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/users/:id") view=|| view! { <AdminOnly><UserPage /></AdminOnly> } ssr=SsrMode::Async />
                    <Route path=path!("/admin/intake") view=|| view! { <AdminOnly><IntakePage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/clocks") view=|| view! { <AdminOnly><ClockSettingsPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/channels") view=|| view! { <AdminOnly><ChannelsPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/audit") view=|| view! { <AdminOnly><AuditPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/audit/:seq") view=|| view! { <AdminOnly><AuditEntryPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/admin/outbox") view=|| view! { <AdminOnly><OutboxPage /></AdminOnly> } ssr=SsrMode::InOrder />
                    <Route path=path!("/incidents") view=IncidentListPage ssr=SsrMode::InOrder />
                    <Route path=path!("/incidents/new") view=NewIncidentPage ssr=SsrMode::InOrder />
                    <Route path=path!("/incidents/:key") view=IncidentPage ssr=SsrMode::Async />
                    <Route path=path!("/pool") view=PoolPage ssr=SsrMode::InOrder />
                    <Route path=path!("/pool/:id") view=PoolItemPage ssr=SsrMode::Async />
                    <Route path=path!("/measures") view=MeasuresPage ssr=SsrMode::InOrder />
                    <Route path=path!("/search") view=SearchPage ssr=SsrMode::InOrder />
                    <Route path=path!("/reports") view=|| view! { <RoleOnly roles=crate::insight::READERS><ReportsPage /></RoleOnly> } ssr=SsrMode::InOrder />
                </Routes>
            </main>
            {me.map(|_| view! { <ZoneFooter /> })}
        </Router>
    }
}

/// Says which zone the page's times are in, with the way to change it: on every signed-in page.
#[component]
fn ZoneFooter() -> impl IntoView {
    let i18n = crate::i18n::use_i18n();
    let (before, after) = crate::i18n::around(i18n.t().times_in_zone, "zone");
    view! {
        <footer class="app-footer">
            <p>
                {before} <crate::clock::ZoneName /> {after} " "
                <a href="/account">{i18n.t().zone_change}</a>
            </p>
        </footer>
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn titles_are_escaped_for_the_server_rendered_head() {
        let escaped = super::title_text("</title><meta http-equiv=refresh> & co".into());
        assert_eq!(escaped, "&lt;/title&gt;&lt;meta http-equiv=refresh&gt; &amp; co");
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/incidents?page=2"), "/incidents?page=2");
        assert_eq!(local_path("https://evil.example"), "/");
        assert_eq!(local_path("//evil.example"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
