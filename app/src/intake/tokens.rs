//! Intake tokens: random, recognisable by their prefix, stored only as a SHA-256 hash.
//!
//! A token is `btn_` and 64 hex digits (256 random bits from the operating system's generator).
//! It is a bearer secret with that much entropy, so a fast hash is enough: there is nothing to
//! brute-force as there is with a password, and every request can afford to compute it.

use crate::digest;

/// What every token starts with, so a leaked one is recognisable (e.g. by secret scanners).
pub const PREFIX: &str = "btn_";
/// Characters of the token kept in clear to tell tokens apart.
const HINT_LEN: usize = PREFIX.len() + 6;

/// A fresh token.
pub fn generate() -> String {
    format!("{PREFIX}{}", digest::random_hex(32))
}

/// The stored form of `token`: SHA-256, hex.
pub fn hash(token: &str) -> String {
    digest::sha256_hex(token.as_bytes())
}

/// The token's first characters and an ellipsis, for the admin page.
pub fn hint(token: &str) -> String {
    format!("{}…", token.chars().take(HINT_LEN).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_distinct_and_hashed() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash("btn_x"), hash("btn_x"));
        assert!(hint(&a).starts_with(&a[..10]) && !hint(&a).contains(&a[10..]));
    }
}
