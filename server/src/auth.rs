//! Request authentication: the client's address, the cookie session, the app-owned session record
//! and the deny-by-default gate in front of server functions and protected pages.

use std::net::{IpAddr, SocketAddr};

use app::{
    auth::{
        cookie,
        sessions::{self, Resolved, Timeouts},
        ClientInfo, CurrentUser, Role, PASSWORD_CHANGE_SERVER_FNS, PUBLIC_SERVER_FNS,
    },
    error::AppError,
    i18n::PreferredLocale,
    state::AppState,
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

/// Records where the request came from. `X-Forwarded-For` is believed only when the direct peer
/// is a configured trusted proxy; then the right-most address that is not itself a trusted
/// proxy is the client (left-most entries are whatever the client chose to send).
pub async fn client_info(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let addr = client_addr(peer, request.headers(), &state.config.trusted_proxies);
    let user_agent =
        request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    request.extensions_mut().insert(ClientInfo { addr, user_agent });
    next.run(request).await
}

/// The client's address (see [`client_info`]).
pub(crate) fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer else { return "unknown".into() };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer).to_string()
}

/// Paths that never need the user: static files and probes (saves the session lookups).
fn is_static(path: &str) -> bool {
    path.starts_with("/pkg/") || matches!(path, "/healthz" | "/livez" | "/favicon.svg" | "/favicon.ico")
}

/// Loads the session record that the session cookie's token opens and, when valid, puts the
/// [`CurrentUser`] (with roles read from the database now) and their [`PreferredLocale`] into the
/// request: one query per signed-in request. An ended session's cookie is removed.
pub async fn resolve_user(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if is_static(request.uri().path()) {
        return next.run(request).await;
    }
    let secure = state.config.is_https();
    let Some(token) = cookie::token_from(request.headers(), secure) else {
        return next.run(request).await;
    };
    let timeouts = Timeouts { idle: state.config.session_idle, absolute: state.config.session_absolute };
    match sessions::resolve(&state.db, &token, timeouts, chrono::Utc::now()).await {
        Ok(Resolved::Valid(user)) => {
            request.extensions_mut().insert(PreferredLocale(user.me.language));
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Ok(Resolved::Ended) => {
            let mut response = next.run(request).await;
            // A response that sets a new session (a sign-in) keeps it.
            let sets_session = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|value| value.as_bytes().starts_with(cookie::name(secure).as_bytes()));
            if !sets_session {
                response.headers_mut().append(header::SET_COOKIE, cookie::clear(secure));
            }
            response
        }
        Err(err) => {
            tracing::error!("cannot check the session record: {err}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Deny by default. Server functions need a signed-in user unless allow-listed in
/// [`PUBLIC_SERVER_FNS`]; a user who must change their password may call only that. Pages under
/// Pages that need a signed-in user (every page but the home page and sign-in): an anonymous
/// visitor is sent to sign in and brought back afterwards.
/// Pages only some roles may open (any one of them), each rendered inside `shell::RoleOnly` with
/// the same roles.
const ROLE_PAGES: [(&str, &[Role]); 2] = [("/admin", &[Role::Admin]), ("/reports", app::insight::READERS)];

const PROTECTED_PAGES: [&str; 7] = ["/admin", "/account", "/incidents", "/pool", "/measures", "/reports", "/search"];

/// The pages in [`PROTECTED_PAGES`] send anonymous visitors to sign in; a user who must change their
/// password is sent to do so first. Role checks happen inside each server function.
pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let user = request.extensions().get::<CurrentUser>();
    let must_change = user.is_some_and(|u| u.me.must_change_password);

    // The versioned API (intake deliveries from other systems) authenticates every call by its
    // bearer token in its own handlers, never by a session: the session rules below are not its.
    if path.starts_with(crate::intake::PREFIX) {
        return next.run(request).await;
    }
    if path.starts_with("/api/") {
        let public = PUBLIC_SERVER_FNS.contains(&path.as_str());
        if !public && user.is_none() {
            return crate::api_status::json_error(StatusCode::UNAUTHORIZED, &AppError::NotSignedIn);
        }
        if !public && must_change && !PASSWORD_CHANGE_SERVER_FNS.contains(&path.as_str()) {
            return crate::api_status::json_error(StatusCode::FORBIDDEN, &AppError::Forbidden);
        }
        return next.run(request).await;
    }

    // A link from an email opened while signed out lands on the sign-in page and comes back.
    let protected = PROTECTED_PAGES.iter().any(|prefix| path.starts_with(prefix));
    if protected && user.is_none() {
        let target = request.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        return Redirect::to(&format!("/login?next={}", encode_component(target))).into_response();
    }
    if must_change && !is_static(&path) && path != "/account/password" && path != "/login" && path != "/lang" {
        return Redirect::to("/account/password").into_response();
    }
    // A role-gated page opened by someone else renders only its refusal (`shell::RoleOnly`); the
    // status says so too, decided here because a streamed page's status goes out before its
    // content is rendered, and the refusal is recorded like a refused server function. (The
    // exports answer and record their own refusals.)
    let gate = ROLE_PAGES.iter().find(|(prefix, _)| path.starts_with(prefix)).filter(|_| !path.contains("/export."));
    let refused =
        gate.and_then(|(_, roles)| user.filter(|u| !roles.iter().any(|r| u.me.has(*r))).map(|u| (u.clone(), roles[0])));
    if let Some((user, role)) = &refused {
        let client = request.extensions().get::<ClientInfo>().cloned().unwrap_or_default();
        app::auth::guard::record_refusal(&state.db, user, &client, &path, *role).await;
    }
    let mut response = next.run(request).await;
    if refused.is_some() && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}

/// Percent-encodes a URL component (RFC 3986 unreserved characters stay).
fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_addr(Some(peer), &xff("1.2.3.4"), &[]), "203.0.113.9");
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        // The client forged "6.6.6.6"; the proxy appended the real address.
        assert_eq!(client_addr(Some(proxy), &xff("6.6.6.6, 198.51.100.7"), &[proxy]), "198.51.100.7");
        assert_eq!(client_addr(Some(proxy), &HeaderMap::new(), &[proxy]), "10.0.0.2");
    }

    #[test]
    fn next_targets_are_encoded() {
        assert_eq!(encode_component("/admin/users?q=a b&x=1"), "/admin/users%3Fq%3Da%20b%26x%3D1");
    }
}
