//! Generates the typed string tables from `locales/*.json`, and the build id.
//!
//! Every locale must define exactly the keys of `en.json`, with the same `{placeholders}`; any
//! difference fails the build, so a missing translation never reaches a user. Each key becomes a
//! field of `Strings`, so a misspelt key in a component is a compile error.

use std::{
    collections::{BTreeMap, BTreeSet},
    env, fs,
    path::Path,
};

/// (file stem, name of the generated static)
const LOCALES: &[(&str, &str)] = &[("en", "EN"), ("zh-CN", "ZH_CN")];

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                found.insert(after[..end].to_owned());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

fn load(stem: &str) -> BTreeMap<String, String> {
    let path = Path::new("locales").join(format!("{stem}.json"));
    println!("cargo::rerun-if-changed={}", path.display());
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let map: BTreeMap<String, String> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} must be a flat JSON object of strings: {e}", path.display()));
    for key in map.keys() {
        let ok = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(ok, "{}: key {key:?} must be snake_case", path.display());
    }
    map
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// The build id (`BATON_BUILD_ID`): a hash of this crate's sources and strings, the lock file and
/// the profile. The server and the WASM compile this same crate, so they carry the same id exactly
/// when they were built from the same sources with the same profile; the server refuses to serve
/// a site of another build, and the page does not hydrate with one.
fn build_id() -> String {
    use std::hash::{Hash, Hasher};
    let mut files = Vec::new();
    files_under(Path::new("src"), &mut files);
    files_under(Path::new("locales"), &mut files);
    files.push(Path::new("../Cargo.lock").to_owned());
    files.sort();
    // SipHash with fixed keys: the same input gives the same id in every compilation.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    for file in &files {
        file.to_string_lossy().replace('\\', "/").hash(&mut hasher);
        fs::read(file).unwrap_or_default().hash(&mut hasher);
    }
    env::var("PROFILE").unwrap_or_default().hash(&mut hasher);
    println!("cargo::rerun-if-changed=src");
    println!("cargo::rerun-if-changed=../Cargo.lock");
    format!("{:016x}", hasher.finish())
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-env=BATON_BUILD_ID={}", build_id());
    let tables: Vec<(&str, &str, BTreeMap<String, String>)> =
        LOCALES.iter().map(|(stem, name)| (*stem, *name, load(stem))).collect();
    let (_, _, reference) = &tables[0];

    let mut problems = Vec::new();
    for (stem, _, table) in &tables[1..] {
        for key in reference.keys().filter(|k| !table.contains_key(*k)) {
            problems.push(format!("{stem}.json lacks key {key}"));
        }
        for key in table.keys().filter(|k| !reference.contains_key(*k)) {
            problems.push(format!("{stem}.json has key {key} that en.json lacks"));
        }
        for (key, text) in table {
            if let Some(en) = reference.get(key) {
                if placeholders(en) != placeholders(text) {
                    problems.push(format!(
                        "{stem}.json key {key} has placeholders {:?}, en.json {:?}",
                        placeholders(text),
                        placeholders(en)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "locale files disagree:\n  {}", problems.join("\n  "));

    let mut out = String::from("/// Every user-visible string of one locale, generated from `locales/*.json`.\n#[derive(Debug)]\npub struct Strings {\n");
    for (key, en) in reference {
        out.push_str(&format!("    /// en: {:?}\n    pub {key}: &'static str,\n", en));
    }
    out.push_str("}\n");
    for (stem, name, table) in &tables {
        out.push_str(&format!("/// The `{stem}` strings.\npub static {name}: Strings = Strings {{\n"));
        for (key, text) in table {
            out.push_str(&format!("    {key}: {text:?},\n"));
        }
        out.push_str("};\n");
    }
    let dest = Path::new(&env::var("OUT_DIR").expect("OUT_DIR is set by cargo")).join("strings.rs");
    fs::write(dest, out).expect("write generated strings");
}
