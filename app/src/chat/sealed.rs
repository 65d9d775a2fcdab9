//! Credentials sealed at rest: a chat channel's webhook URL (it carries the robot's access token)
//! and its signing secret are stored encrypted with the installation's secret key
//! (`BATON_SECRET_KEY`), so a copied database file or backup does not hand out the robots.
//!
//! XChaCha20-Poly1305 (an AEAD): a random 192-bit nonce per value, so no nonce bookkeeping is
//! needed, and the tag refuses a value changed or sealed with another key. The purpose of each
//! value ("url", "secret") is bound in as associated data: a sealed secret cannot be swapped in
//! for a sealed URL.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// Version prefix of a sealed value, so the format can change later.
const PREFIX: &str = "v1:";

/// The installation's secret key: 32 bytes. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(std::sync::Arc<SecretBox<[u8; 32]>>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Not a sealed value of a known format.
    #[error("not a sealed value")]
    Malformed,
    /// Sealed with another key, or changed since.
    #[error("the secret key does not open it (another key, or the value was changed)")]
    WrongKey,
}

impl SecretKey {
    /// Reads a key given as base64 of 32 bytes (what `openssl rand -base64 32` prints).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| "expected base64 of 32 random bytes".to_owned())?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| "expected exactly 32 bytes (44 characters of base64)".to_owned())?;
        Ok(Self(std::sync::Arc::new(SecretBox::new(Box::new(key)))))
    }

    /// A new random key, as base64 (for setup scripts and tests).
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        // A v4 UUID has 122 random bits; two of them, hashed, give 32 uniformly random bytes.
        use sha2::Digest as _;
        STANDARD.encode(sha2::Sha256::digest(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.expose_secret().into())
    }

    /// Seals `plain` for `purpose`.
    pub fn seal(&self, purpose: &str, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        nonce[16..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: purpose.as_bytes() })
            // Encryption fails only for messages beyond 256 GiB.
            .expect("a value this small can be sealed");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<SecretString, SealError> {
        let bytes = sealed.strip_prefix(PREFIX).and_then(|b| STANDARD.decode(b).ok()).ok_or(SealError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = self
            .cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: purpose.as_bytes() })
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_base64(&SecretKey::generate_base64()).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_purpose_only() {
        let (k, other) = (key(), key());
        let sealed = k.seal("url", "https://oapi.dingtalk.com/robot/send?access_token=abc");
        assert!(!sealed.contains("access_token"), "{sealed}");
        assert_eq!(
            k.open("url", &sealed).unwrap().expose_secret(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc"
        );
        assert_eq!(other.open("url", &sealed).unwrap_err(), SealError::WrongKey);
        assert_eq!(k.open("secret", &sealed).unwrap_err(), SealError::WrongKey);
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let k = key();
        assert_ne!(k.seal("url", "x"), k.seal("url", "x"));
    }

    #[test]
    fn a_changed_or_foreign_value_is_refused() {
        let k = key();
        let sealed = k.seal("url", "hello");
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(k.open("url", &format!("v1:{}", STANDARD.encode(bytes))).unwrap_err(), SealError::WrongKey);
        assert_eq!(k.open("url", "https://plain.example").unwrap_err(), SealError::Malformed);
        assert_eq!(k.open("url", "v1:AAAA").unwrap_err(), SealError::Malformed);
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(SecretKey::from_base64("not base64!").is_err());
        assert!(SecretKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(SecretKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
    }
}
