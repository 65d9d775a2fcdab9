//! The session cookie: it carries the [`SessionToken`] and nothing else.
//!
//! The session record is the one authority on a sign-in, so the cookie needs no store of its own:
//! a signed-in request costs one database query (the record with its user and roles).

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

use super::{sessions::SessionToken, SESSION_COOKIE};

/// The token of this request's session cookie, when it carries a well-formed one.
pub fn token_from(headers: &HeaderMap) -> Option<SessionToken> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .and_then(|(_, value)| SessionToken::parse(value.trim()))
}

/// `Set-Cookie` for a new session: not readable by scripts, sent on top-level navigations from
/// other sites (a link to an incident in an email arrives signed in) but not on their posts,
/// host-only, `Secure` behind HTTPS, and kept as long as a session may live at most.
pub fn set(token: &SessionToken, secure: bool, lifetime: Duration) -> HeaderValue {
    let value = format!("{SESSION_COOKIE}={}; {}; Max-Age={}", token.expose(), attributes(secure), lifetime.as_secs());
    HeaderValue::from_str(&value).expect("a token is hex, the attributes ASCII")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear(secure: bool) -> HeaderValue {
    let value = format!("{SESSION_COOKIE}=; {}; Max-Age=0", attributes(secure));
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
        let found = token_from(&headers(&format!("lang=zh-CN; {SESSION_COOKIE}={}; x=1", token.expose())));
        assert_eq!(found.map(|t| t.record_id()), Some(token.record_id()));
    }

    #[test]
    fn malformed_tokens_are_no_tokens() {
        assert!(token_from(&headers(&format!("{SESSION_COOKIE}=abc"))).is_none());
        assert!(token_from(&headers(&format!("{SESSION_COOKIE}={}", "G".repeat(64)))).is_none());
        assert!(token_from(&headers("other=1")).is_none());
        assert!(token_from(&HeaderMap::new()).is_none());
    }

    #[test]
    fn set_and_clear_carry_the_attributes() {
        let token = SessionToken::generate();
        let set = set(&token, true, Duration::from_secs(3600));
        let set = set.to_str().unwrap();
        assert!(set.starts_with(&format!("{SESSION_COOKIE}={};", token.expose())), "{set}");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=3600"] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        assert!(!clear(false).to_str().unwrap().contains("Secure"));
        assert!(clear(false).to_str().unwrap().contains("Max-Age=0"));
    }
}
