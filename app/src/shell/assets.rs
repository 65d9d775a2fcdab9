//! The built site's files under `/pkg` (the app's JS, WASM and CSS), each addressed by a
//! fingerprint of its content.
//!
//! A page links `/pkg/baton.3f9a0c1d2e4b5a69.js`, never `/pkg/baton.js`: the URL changes whenever
//! the file does, so browsers and proxies may keep it for a year without asking again, and a new
//! release is never mixed with a cached old one. Fingerprints are computed once at start-up from
//! the files themselves, so whatever built the site, the server and its pages agree.

use std::{collections::HashMap, path::Path, sync::Arc};

/// Hex digits of the content hash kept in a URL: 64 bits, enough to never collide across
/// releases of one file.
const FINGERPRINT_LEN: usize = 16;

/// Compressed twins of a file, produced at build time; they are served, not listed.
const COMPRESSED_SUFFIXES: [&str; 2] = [".br", ".gz"];

/// File name to content fingerprint, for the files directly under the site's `pkg` directory.
#[derive(Clone, Debug, Default)]
pub struct Assets {
    fingerprints: Arc<HashMap<String, String>>,
}

/// What a request for `/pkg/{name}` refers to.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The current version of this file (the fingerprint matched): cacheable forever.
    Current(&'a str),
    /// A fingerprint that is not the current one: an older or never-built version.
    Stale,
    /// A name without a fingerprint: served as is, revalidated on every use.
    Plain,
}

impl Assets {
    /// Reads and fingerprints every file directly under `pkg_dir`. A missing directory gives an
    /// empty set (the server still runs, pages just link unfingerprinted names).
    pub fn scan(pkg_dir: &Path) -> std::io::Result<Self> {
        let mut fingerprints = HashMap::new();
        let entries = match std::fs::read_dir(pkg_dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else { continue };
            if COMPRESSED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)) {
                continue;
            }
            let mut fingerprint = crate::digest::sha256_hex(&std::fs::read(entry.path())?);
            fingerprint.truncate(FINGERPRINT_LEN);
            fingerprints.insert(name, fingerprint);
        }
        Ok(Self { fingerprints: Arc::new(fingerprints) })
    }

    /// Whether a file of this name was found.
    pub fn contains(&self, name: &str) -> bool {
        self.fingerprints.contains_key(name)
    }

    /// The URL of a file under `/pkg`: fingerprinted when the file exists, else the plain name.
    pub fn url(&self, name: &str) -> String {
        match self.fingerprints.get(name) {
            Some(fingerprint) => {
                let (stem, ext) = split_extension(name);
                format!("/pkg/{stem}.{fingerprint}{ext}")
            }
            None => format!("/pkg/{name}"),
        }
    }

    /// What a requested file name under `/pkg` refers to.
    pub fn lookup<'a>(&'a self, requested: &str) -> Lookup<'a> {
        let (rest, ext) = split_extension(requested);
        if let Some((stem, fingerprint)) = rest.rsplit_once('.') {
            if is_fingerprint(fingerprint) {
                let name = format!("{stem}{ext}");
                return match self.fingerprints.get_key_value(&name) {
                    Some((name, current)) if current == fingerprint => Lookup::Current(name),
                    _ => Lookup::Stale,
                };
            }
        }
        Lookup::Plain
    }
}

/// `("baton_bg", ".wasm")` for `baton_bg.wasm`; no extension gives `(name, "")`.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    }
}

fn is_fingerprint(part: &str) -> bool {
    part.len() == FINGERPRINT_LEN && part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        dir
    }

    #[test]
    fn a_url_changes_when_the_content_changes_and_only_then() {
        let dir = site(&[("baton.js", "one"), ("baton.css", "body{}")]);
        let before = Assets::scan(dir.path()).unwrap();
        let again = Assets::scan(dir.path()).unwrap();
        assert_eq!(before.url("baton.js"), again.url("baton.js"));
        std::fs::write(dir.path().join("baton.js"), "two").unwrap();
        let after = Assets::scan(dir.path()).unwrap();
        assert_ne!(before.url("baton.js"), after.url("baton.js"));
        assert_eq!(before.url("baton.css"), after.url("baton.css"));
    }

    #[test]
    fn urls_put_the_fingerprint_before_the_extension() {
        let dir = site(&[("baton_bg.wasm", "\0asm")]);
        let assets = Assets::scan(dir.path()).unwrap();
        let url = assets.url("baton_bg.wasm");
        let name = url.strip_prefix("/pkg/baton_bg.").and_then(|rest| rest.strip_suffix(".wasm")).unwrap();
        assert!(is_fingerprint(name), "{url}");
        assert_eq!(assets.url("missing.js"), "/pkg/missing.js");
    }

    #[test]
    fn lookups_tell_current_stale_and_plain_names_apart() {
        let dir = site(&[("baton.js", "one"), ("baton.js.br", "compressed")]);
        let assets = Assets::scan(dir.path()).unwrap();
        let current = assets.url("baton.js");
        assert_eq!(assets.lookup(current.trim_start_matches("/pkg/")), Lookup::Current("baton.js"));
        assert_eq!(assets.lookup("baton.0123456789abcdef.js"), Lookup::Stale);
        assert_eq!(assets.lookup("other.0123456789abcdef.js"), Lookup::Stale);
        assert_eq!(assets.lookup("baton.js"), Lookup::Plain);
        assert_eq!(assets.lookup("snippets.v1.js"), Lookup::Plain);
        assert!(!assets.contains("baton.js.br"), "compressed twins are not assets of their own");
    }

    #[test]
    fn a_missing_directory_is_an_empty_set() {
        let dir = tempfile::tempdir().unwrap();
        let assets = Assets::scan(&dir.path().join("pkg")).unwrap();
        assert!(!assets.contains("baton.js"));
    }
}
