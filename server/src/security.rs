//! Response security headers and the same-origin check on state-changing requests.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use app::{
    audit::{
        event,
        refusals::Refusals,
        store::{Origin, Record},
        Outcome,
    },
    auth::ClientInfo,
    config::Config,
    db::Db,
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::nonce::Nonce;

/// Settings the security middleware needs, computed once at start-up.
#[derive(Clone, Debug)]
pub struct Security {
    /// `scheme://host[:port]` of the public base URL.
    base_origin: String,
    /// Extra `connect-src` source for cargo-leptos' live reload in development.
    live_reload: Option<String>,
    /// Where refusals are recorded.
    db: Option<Db>,
    /// Coalesces repeated refusals from one address.
    refusals: Arc<Refusals>,
    /// Proxies whose `X-Forwarded-For` is believed.
    trusted_proxies: Vec<IpAddr>,
}

impl Security {
    /// Derives the settings from the configuration; refusals are recorded in `db`'s audit log.
    pub fn new(config: &Config, db: Db, refusals: Arc<Refusals>) -> Self {
        let base_origin = origin_of(&config.base_url).to_owned();
        // cargo-leptos sets LEPTOS_WATCH while `cargo leptos watch` runs; only then does the page
        // open the live-reload WebSocket.
        let live_reload = std::env::var_os("LEPTOS_WATCH").map(|_| {
            let port = std::env::var("LEPTOS_RELOAD_PORT").unwrap_or_else(|_| "3001".into());
            format!("ws://{}:{port}", config.listen.ip())
        });
        Self { base_origin, live_reload, db: Some(db), refusals, trusted_proxies: config.trusted_proxies.clone() }
    }

    fn content_security_policy(&self, nonce: &str) -> String {
        let connect = match &self.live_reload {
            Some(ws) => format!("'self' {ws}"),
            None => "'self'".to_owned(),
        };
        // 'wasm-unsafe-eval' lets the page compile its WASM; the nonce admits exactly the inline
        // hydration script of this response. 'self' covers the module preload of the app's JS.
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; font-src 'self'; \
             connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'"
        )
    }
}

/// `scheme://authority` of an absolute URL (the URL itself when it has no path).
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Adds the security headers to every response, with a fresh CSP nonce per request that the
/// page's inline scripts receive through the request extensions.
pub async fn headers(State(security): State<Security>, mut request: Request, next: Next) -> Response {
    let nonce = Nonce::new();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A response with a policy of its own (an email preview) keeps it.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(csp) = HeaderValue::from_str(&security.content_security_policy(&nonce)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers
        .insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    response
}

/// Refuses state-changing requests that a browser sent from another site.
///
/// Browsers label every request with `Sec-Fetch-Site`; older ones at least send `Origin` on
/// cross-site posts. A request with neither did not come from a browser page and cannot carry a
/// victim's cookies unwittingly, so it passes (API clients authenticate by other means).
pub async fn same_origin(State(security): State<Security>, request: Request, next: Next) -> Response {
    if is_safe_method(request.method()) || is_same_origin(&security, request.headers()) {
        return next.run(request).await;
    }
    tracing::warn!(
        method = %request.method(),
        path = %request.uri().path(),
        origin = ?request.headers().get(header::ORIGIN),
        sec_fetch_site = ?request.headers().get("sec-fetch-site"),
        "refused a cross-site request"
    );
    if let Some(db) = &security.db {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let client = ClientInfo {
            addr: crate::auth::client_addr(peer, request.headers(), &security.trusted_proxies),
            user_agent: text_header(request.headers(), header::USER_AGENT.as_str()),
        };
        let details = serde_json::json!({
            "method": request.method().as_str(),
            "origin": text_header(request.headers(), header::ORIGIN.as_str()),
            "sec_fetch_site": text_header(request.headers(), "sec-fetch-site"),
        });
        // Who sent it is unknown here on purpose: the session is not consulted for a request
        // that is refused anyway.
        let recorded = Record::new(&Origin::anonymous("", &client), event::CROSS_SITE)
            .target("request", request.uri().path())
            .outcome(Outcome::Denied)
            .details(details)
            .record_refusal(db, &security.refusals, "cross_site", chrono::Utc::now())
            .await;
        if let Err(err) = recorded {
            tracing::error!("cannot record a refused request in the audit log: {err}");
        }
    }
    (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
}

fn text_header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_same_origin(security: &Security, headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        // "none": the user typed the address or used a bookmark.
        return matches!(site, "same-origin" | "none");
    }
    match text("origin") {
        None => true,
        Some(origin) => {
            origin == security.base_origin
                // Also accept the host the request was addressed to, so the app reached as
                // localhost while configured as 127.0.0.1 still works.
                || text("host").is_some_and(|host| origin.split_once("://").is_some_and(|(_, authority)| authority == host))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security() -> Security {
        Security {
            base_origin: "https://baton.example.com".into(),
            live_reload: None,
            db: None,
            refusals: Arc::new(Refusals::new(std::time::Duration::ZERO)),
            trusted_proxies: Vec::new(),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_and_typed_navigations_pass() {
        assert!(is_same_origin(&security(), &headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_same_origin(&security(), &headers(&[("sec-fetch-site", "none")])));
        assert!(is_same_origin(&security(), &headers(&[("origin", "https://baton.example.com")])));
        assert!(is_same_origin(
            &security(),
            &headers(&[("origin", "http://localhost:3000"), ("host", "localhost:3000")])
        ));
        assert!(is_same_origin(&security(), &headers(&[])));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(!is_same_origin(&security(), &headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!is_same_origin(&security(), &headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_same_origin(&security(), &headers(&[("origin", "https://evil.example")])));
        assert!(!is_same_origin(&security(), &headers(&[("origin", "null")])));
        assert!(!is_same_origin(
            &security(),
            &headers(&[("origin", "https://evil.example"), ("host", "baton.example.com")])
        ));
    }

    #[test]
    fn origin_drops_the_path() {
        assert_eq!(origin_of("https://a.example:8443/baton"), "https://a.example:8443");
        assert_eq!(origin_of("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
    }
}
