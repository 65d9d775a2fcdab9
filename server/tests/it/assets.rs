//! Static files and caching: fingerprinted, precompressed, immutable `/pkg` files; pages and
//! server-function answers compressed on the fly and never stored by a cache.

use app::{config::Backend, shell::assets::Assets, testing::TestDb};
use reqwest::{header, StatusCode};

use crate::helpers::TestApp;

/// A built site as cargo-leptos leaves it in a release build with precompression.
fn built_site(js: &str) -> tempfile::TempDir {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    // The WASM carries the build id the server checks it by.
    let wasm = format!("\0asm wasm {}", app::shell::BUILD_MARKER);
    for (name, content) in [
        ("baton.js", js),
        ("baton.js.br", "brotli bytes"),
        ("baton.js.gz", "gzip bytes"),
        ("baton.wasm", wasm.as_str()),
        ("baton.wasm.br", "brotli wasm"),
        ("baton.css", "body { margin: 0 }"),
    ] {
        std::fs::write(pkg.join(name), content).unwrap();
    }
    site
}

async fn spawn_on(site: &tempfile::TempDir, db: &TestDb) -> TestApp {
    let root = site.path().display().to_string();
    TestApp::spawn_with(db.url.expose(), &[("BATON_SITE_ROOT", &root)]).await
}

async fn get(app: &TestApp, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(encodings) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, encodings);
    }
    request.send().await.unwrap()
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn pages_link_fingerprinted_files_that_are_sent_precompressed_and_cached_for_a_year() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let site = built_site("export function hydrate() {}");
    let app = spawn_on(&site, &db).await;
    let assets = Assets::scan(&site.path().join("pkg")).unwrap();
    let (js, wasm, css) = (assets.url("baton.js"), assets.url("baton.wasm"), assets.url("baton.css"));
    assert_ne!(js, "/pkg/baton.js");

    let page = get(&app, "/login", None).await;
    assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-store");
    let html = page.text().await.unwrap();
    for url in [&js, &wasm, &css] {
        assert!(html.contains(url.as_str()), "{url} not linked: {html}");
    }

    let brotli = get(&app, &js, Some("gzip, deflate, br")).await;
    assert_eq!(brotli.status(), StatusCode::OK);
    assert_eq!(header_of(&brotli, header::CONTENT_ENCODING), "br");
    assert_eq!(header_of(&brotli, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert!(header_of(&brotli, header::VARY).to_ascii_lowercase().contains("accept-encoding"));
    assert_eq!(brotli.text().await.unwrap(), "brotli bytes");

    let gzip = get(&app, &js, Some("gzip")).await;
    assert_eq!(header_of(&gzip, header::CONTENT_ENCODING), "gzip");
    assert_eq!(gzip.text().await.unwrap(), "gzip bytes");

    let identity = get(&app, &js, None).await;
    assert_eq!(header_of(&identity, header::CONTENT_ENCODING), "");
    assert_eq!(header_of(&identity, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert_eq!(identity.text().await.unwrap(), "export function hydrate() {}");

    let wasm_br = get(&app, &wasm, Some("br")).await;
    assert_eq!(header_of(&wasm_br, header::CONTENT_ENCODING), "br");
    assert_eq!(header_of(&wasm_br, header::CONTENT_TYPE), "application/wasm");

    // The plain name still answers, but must be revalidated; an outdated fingerprint is gone.
    let plain = get(&app, "/pkg/baton.js", None).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(header_of(&plain, header::CACHE_CONTROL), "no-cache");
    let stale = get(&app, "/pkg/baton.0123456789abcdef.js", None).await;
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    app.stop().await;
    db.destroy().await;
}

#[tokio::test]
async fn a_new_build_of_a_file_gets_a_new_url() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let site = built_site("first build");
    let app = spawn_on(&site, &db).await;
    let before = get(&app, "/login", None).await.text().await.unwrap();
    app.stop().await;
    std::fs::write(site.path().join("pkg/baton.js"), "second build").unwrap();
    let app = spawn_on(&site, &db).await;
    let after = get(&app, "/login", None).await.text().await.unwrap();
    let script_url = |html: &str| {
        html.split('"').find(|part| part.starts_with("/pkg/baton.") && part.ends_with(".js")).map(str::to_owned)
    };
    let (old, new) = (script_url(&before).unwrap(), script_url(&after).unwrap());
    assert_ne!(old, new);
    assert_eq!(
        get(&app, &old, None).await.status(),
        StatusCode::NOT_FOUND,
        "the old build's URL must not serve the new file"
    );
    assert_eq!(get(&app, &new, None).await.text().await.unwrap(), "second build");
    app.stop().await;
    db.destroy().await;
}

#[tokio::test]
async fn pages_and_server_function_answers_are_compressed_and_never_stored() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let site = built_site("js");
    let app = spawn_on(&site, &db).await;
    // Pages go out as gzip (fastest level) even when brotli is offered: see the server's router.
    let page = get(&app, "/login", Some("gzip, deflate, br")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header_of(&page, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-store");
    let answer = app
        .client
        .post(app.url("/api/auth/me"))
        .header(header::ACCEPT, "application/json")
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header_of(&answer, header::CACHE_CONTROL), "no-store");
    // The sign-in answer and the deny-by-default refusal, which no layer inside chose a policy for.
    let sign_in =
        app.client.post(app.url("/api/auth/login")).form(&[("username", "nobody"), ("password", "wrong")]).send();
    let sign_in = sign_in.await.unwrap();
    assert_eq!(sign_in.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&sign_in, header::CACHE_CONTROL), "no-store");
    let refused = app.client.post(app.url("/api/incidents/queue")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&refused, header::CACHE_CONTROL), "no-store");
    let icon = get(&app, "/favicon.svg", None).await;
    assert_eq!(icon.status(), StatusCode::NOT_FOUND, "no icon in this site");
    app.stop().await;
    db.destroy().await;
}

/// The stylesheet is plain CSS: rules sit at the top level or inside at-rules (`@media`), never
/// inside another rule. An unclosed rule once nested every later rule under it (CSS nesting), so
/// that the outbox, audit and email styles silently matched nothing.
#[test]
fn the_stylesheet_has_no_rule_inside_a_rule() {
    let css = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../style/main.css")).unwrap();
    // Comments may hold braces.
    let mut text = String::new();
    let mut rest = css.as_str();
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start..].split_once("*/").map(|(_, after)| after).unwrap_or("");
    }
    text.push_str(rest);
    let (mut open, mut prelude, mut line) = (Vec::<bool>::new(), String::new(), 1);
    for ch in text.chars() {
        match ch {
            '{' => {
                let at_rule = prelude.trim_start().starts_with('@');
                assert!(
                    open.last().is_none_or(|inside_at_rule| *inside_at_rule),
                    "line {line}: `{}` opens inside a rule (a brace left unclosed above?)",
                    prelude.trim()
                );
                open.push(at_rule);
                prelude.clear();
            }
            '}' => {
                assert!(open.pop().is_some(), "line {line}: a closing brace without its rule");
                prelude.clear();
            }
            ';' => prelude.clear(),
            '\n' => {
                line += 1;
                prelude.push(ch);
            }
            other => prelude.push(other),
        }
    }
    assert!(open.is_empty(), "{} rule(s) left open at the end", open.len());
}
