//! Password policy and hashing: argon2id at OWASP's parameters, off the async executor, with
//! bounded concurrency so sign-ins cannot starve other requests of CPU.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, OnceLock,
};

use argon2::{
    password_hash::{
        rand_core::OsRng, rand_core::RngCore, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
    },
    Algorithm, Argon2, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{AppError, FieldProblem};

/// Fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Most bytes a password may have; checked before hashing so huge inputs cost nothing.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; Params::new only fails for out-of-range values.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// How many of the most common passwords are refused.
pub const COMMON_PASSWORDS_REFUSED: usize = 10_000;

/// Checks a new password for `username` against the policy: its length, and that it is not the
/// username, the product's name or one of the [`COMMON_PASSWORDS_REFUSED`] most common passwords.
pub fn check_policy(password: &str, username: &str) -> Result<(), FieldProblem> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(FieldProblem::TooLong(MAX_PASSWORD_BYTES));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldProblem::TooShort(MIN_PASSWORD_CHARS));
    }
    if crate::text::forbidden_char(password).is_some() {
        return Err(FieldProblem::ControlCharacter);
    }
    let folded = password.trim().to_lowercase();
    let username = username.trim().to_lowercase();
    if is_name_plus_extras(&folded, &username) || is_name_plus_extras(&folded, PRODUCT_NAME) || is_common(&folded) {
        return Err(FieldProblem::PasswordGuessable);
    }
    Ok(())
}

/// Whether `folded` is `name`, alone or with only digits and symbols before or after it
/// ("Baton2026!", "li.na12345").
fn is_name_plus_extras(folded: &str, name: &str) -> bool {
    let extras = |rest: &str| !rest.chars().any(char::is_alphabetic);
    !name.is_empty() && (folded.strip_prefix(name).is_some_and(extras) || folded.strip_suffix(name).is_some_and(extras))
}

/// The product's name, the first guess against any of its accounts.
const PRODUCT_NAME: &str = "baton";

/// Whether `folded` (lower case) is, as a whole, one of the most common passwords. zxcvbn's
/// frequency list of passwords is ranked by how often each was found in leaked password dumps;
/// a whole-password match of rank up to [`COMMON_PASSWORDS_REFUSED`] is refused.
fn is_common(folded: &str) -> bool {
    use zxcvbn::matching::patterns::{DictionaryPattern, MatchPattern};
    // The crate does not export its dictionary type; the passwords list is its default value.
    let passwords = DictionaryPattern::default().dictionary_name;
    let estimate = zxcvbn::zxcvbn(folded, &[]);
    match estimate.sequence() {
        [only] => matches!(
            &only.pattern,
            MatchPattern::Dictionary(DictionaryPattern { dictionary_name, rank, reversed: false, l33t: false, .. })
                if *dictionary_name == passwords
                    && *rank <= COMMON_PASSWORDS_REFUSED
                    && only.token.chars().count() == folded.chars().count()
        ),
        _ => false,
    }
}

/// A random password of 16 characters from an alphabet without look-alikes (no 0/O, 1/l/I).
pub fn generate_password() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        let mut byte = [0u8; 1];
        OsRng.fill_bytes(&mut byte);
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        if (byte[0] as usize) < limit {
            out.push(ALPHABET[byte[0] as usize % ALPHABET.len()] as char);
        }
    }
    out.into()
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash uses other parameters than today's and should be replaced.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords on the blocking pool, at most `concurrency` at a time.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    hashes_computed: Arc<AtomicU64>,
}

/// A hash of a random password, verified against when the username is unknown so that the answer
/// takes as long as for a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let password = generate_password();
        argon2().hash_password(password.expose_secret().as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

impl PasswordHasher {
    /// A hasher allowing `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), hashes_computed: Arc::default() }
    }

    /// How many argon2 computations this hasher has run (for tests and metrics).
    pub fn hashes_computed(&self) -> u64 {
        self.hashes_computed.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        self.hashes_computed.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(work).await.map_err(AppError::internal)
    }

    /// Hashes a password that already passed [`check_policy`].
    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            return Err(AppError::invalid("password", FieldProblem::TooLong(MAX_PASSWORD_BYTES)));
        }
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2().hash_password(password.expose_secret().as_bytes(), &salt).map(|h| h.to_string())
        })
        .await?
        .map_err(AppError::internal)
    }

    /// Verifies `password` against `stored`; with no stored hash (unknown user) it verifies
    /// against a dummy so the time taken is the same, and reports no match.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<Verified, AppError> {
        if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            // Refused before any hashing: a huge password costs nothing.
            return Ok(Verified { ok: false, needs_rehash: false });
        }
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Verified { ok: false, needs_rehash: false };
            };
            let ok = argon2().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok() && known;
            let needs_rehash = ok && !uses_current_parameters(&parsed);
            Verified { ok, needs_rehash }
        })
        .await
    }
}

fn uses_current_parameters(hash: &PasswordHash<'_>) -> bool {
    if hash.algorithm.as_str() != "argon2id" || hash.version != Some(Version::V0x13 as u32) {
        return false;
    }
    match Params::try_from(hash) {
        Ok(p) => p.m_cost() >= MEMORY_KIB && p.t_cost() >= PASSES && p.p_cost() >= LANES,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(
            hasher.verify("correct horse battery".into(), Some(hash.clone())).await.unwrap(),
            Verified { ok: true, needs_rehash: false }
        );
        assert!(!hasher.verify("wrong horse battery".into(), Some(hash)).await.unwrap().ok);
    }

    #[tokio::test]
    async fn an_unknown_user_is_verified_against_a_dummy_and_never_matches() {
        let hasher = PasswordHasher::new(1);
        let before = hasher.hashes_computed();
        assert!(!hasher.verify("anything at all".into(), None).await.unwrap().ok);
        assert_eq!(hasher.hashes_computed(), before + 1, "the dummy verify must really run");
    }

    #[tokio::test]
    async fn a_hash_with_weaker_parameters_asks_for_a_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap());
        let salt = SaltString::generate(&mut OsRng);
        let hash = weak.hash_password(b"old password 123", &salt).unwrap().to_string();
        let verified = PasswordHasher::new(1).verify("old password 123".into(), Some(hash)).await.unwrap();
        assert_eq!(verified, Verified { ok: true, needs_rehash: true });
    }

    #[tokio::test]
    async fn an_oversized_password_is_refused_without_hashing() {
        let hasher = PasswordHasher::new(1);
        let huge = "x".repeat(1_000_000);
        assert!(!hasher.verify(huge.as_str().into(), None).await.unwrap().ok);
        assert!(hasher.hash(huge.into()).await.is_err());
        assert_eq!(hasher.hashes_computed(), 0);
    }

    #[test]
    fn the_policy_names_its_limits() {
        assert_eq!(check_policy("short", "li.na"), Err(FieldProblem::TooShort(MIN_PASSWORD_CHARS)));
        assert_eq!(check_policy(&"x".repeat(300), "li.na"), Err(FieldProblem::TooLong(MAX_PASSWORD_BYTES)));
        assert_eq!(check_policy("长长的中文密码也可以用的", "li.na"), Ok(()));
        assert_eq!(check_policy("correct horse battery staple", "li.na"), Ok(()));
    }

    #[test]
    fn the_username_the_product_name_and_common_passwords_are_refused() {
        for (password, username) in [
            ("Li.Na12345", "li.na"),
            ("zhang.san.wei", "zhang.san.wei"),
            ("Baton2026!!", "li.na"),
            ("1234567890", "li.na"),
            ("qwertyuiop", "li.na"),
            ("Password123", "li.na"),
        ] {
            assert_eq!(check_policy(password, username), Err(FieldProblem::PasswordGuessable), "{password}");
        }
        // Common words inside a longer password are fine: only the whole password is looked up.
        assert_eq!(check_policy("password for the cart service", "li.na"), Ok(()));
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let a = generate_password();
        assert_eq!(check_policy(a.expose_secret(), "li.na"), Ok(()));
        assert_ne!(a.expose_secret(), generate_password().expose_secret());
    }
}
