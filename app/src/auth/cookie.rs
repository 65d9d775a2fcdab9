//! The session cookie: it carries the [`SessionToken`] and nothing else.
//!
//! The session record is the one authority on a sign-in, so the cookie needs no store of its own:
//! a signed-in request costs one database query (the record with its user and roles).

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

use super::{sessions::SessionToken, SECURE_SESSION_COOKIE, SESSION_COOKIE};

/// The session cookie's name: `__Host-` prefixed behind https ([`SECURE_SESSION_COOKIE`]).
pub fn name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The token of this request's session cookie, when it carries a well-formed one. Behind https
/// only the `__Host-` cookie counts: a plain-named one could have been set by another host.
pub fn token_from(headers: &HeaderMap, secure: bool) -> Option<SessionToken> {
    let wanted = name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .and_then(|(_, value)| SessionToken::parse(value.trim()))
}

/// `Set-Cookie` for a new session: not readable by scripts, sent on top-level navigations from
/// other sites (a link to an incident in an email arrives signed in) but not on their posts,
/// host-only, `Secure` behind HTTPS, and kept as long as a session may live at most.
pub fn set(token: &SessionToken, secure: bool, lifetime: Duration) -> HeaderValue {
    let value = format!("{}={}; {}; Max-Age={}", name(secure), token.expose(), attributes(secure), lifetime.as_secs());
    HeaderValue::from_str(&value).expect("a token is hex, the attributes ASCII")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear(secure: bool) -> HeaderValue {
    let value = format!("{}=; {}; Max-Age=0", name(secure), attributes(secure));
    HeaderValue::from_str(&value).expect("ASCII")
}

fn attributes(secure: bool) -> &'static str {
    if secure {
        "HttpOnly; SameSite=Lax; Path=/; Secure"
    } else {
        "HttpOnly; SameSite=Lax; Path=/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let token = SessionToken::generate();
        let found = token_from(&headers(&format!("lang=zh-CN; {SESSION_COOKIE}={}; x=1", token.expose())), false);
        assert_eq!(found.map(|t| t.record_id()), Some(token.record_id()));
    }

    #[test]
    fn behind_https_only_the_host_prefixed_cookie_counts() {
        let token = SessionToken::generate();
        let plain = headers(&format!("{SESSION_COOKIE}={}", token.expose()));
        assert!(token_from(&plain, true).is_none(), "a cookie another host could set is ignored");
        let prefixed = headers(&format!("{SECURE_SESSION_COOKIE}={}", token.expose()));
        assert_eq!(token_from(&prefixed, true).map(|t| t.record_id()), Some(token.record_id()));
        assert!(token_from(&prefixed, false).is_none());
        let set = set(&token, true, Duration::from_secs(60));
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-baton_session="), "{set}");
        assert!(set.contains("Secure") && set.contains("Path=/") && !set.contains("Domain"), "{set}");
        assert!(clear(true).to_str().unwrap().starts_with("__Host-baton_session=;"));
    }

    #[test]
    fn malformed_tokens_are_no_tokens() {
        assert!(token_from(&headers(&format!("{SESSION_COOKIE}=abc")), false).is_none());
        assert!(token_from(&headers(&format!("{SESSION_COOKIE}={}", "G".repeat(64))), false).is_none());
        assert!(token_from(&headers("other=1"), false).is_none());
        assert!(token_from(&HeaderMap::new(), false).is_none());
    }

    #[test]
    fn set_and_clear_carry_the_attributes() {
        let token = SessionToken::generate();
        let set = set(&token, true, Duration::from_secs(3600));
        let set = set.to_str().unwrap();
        assert!(set.starts_with(&format!("{SECURE_SESSION_COOKIE}={};", token.expose())), "{set}");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=3600"] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        assert!(!clear(false).to_str().unwrap().contains("Secure"));
        assert!(clear(false).to_str().unwrap().contains("Max-Age=0"));
    }
}
