//! Static files and cache policy.
//!
//! `/pkg` holds the app's JS, WASM and CSS. Pages link them by fingerprinted name (see
//! [`app::shell::assets`]); those answers may be cached for a year and are sent precompressed
//! (brotli or gzip, produced at build time) to browsers that accept it. Everything else the
//! server answers depends on the user or the moment, so it is never stored by a cache unless the
//! handler chose otherwise.

use std::{convert::Infallible, path::Path};

use app::shell::assets::{Assets, Lookup};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, MethodRouter},
};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

/// Fingerprinted files never change under their URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A file linked by its plain name may change at the next release: revalidate each use.
const REVALIDATE: &str = "no-cache";
/// The icon has one fixed URL that browsers ask for by themselves.
const ICON: &str = "public, max-age=86400";
/// Pages, server functions and everything else: user- and time-dependent.
const NO_STORE: &str = "no-store";

/// The `/pkg` files: where they are and their current fingerprints.
#[derive(Clone)]
pub struct PkgFiles {
    dir: ServeDir,
    assets: Assets,
}

impl PkgFiles {
    /// The files under `site_root/pkg`, with the fingerprints in `assets`.
    pub fn new(site_root: &Path, assets: Assets) -> Self {
        let dir = ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip();
        Self { dir, assets }
    }
}

/// `GET /pkg/{*file}`: the current version of a fingerprinted file (cacheable for a year), or a
/// plain name (revalidated). An outdated fingerprint is not found, so no cache ever keeps a
/// different file under that URL.
pub async fn pkg(State(files): State<PkgFiles>, request: Request) -> Response {
    let requested = request.uri().path().strip_prefix("/pkg/").unwrap_or_default().to_owned();
    let (file, cache) = match files.assets.lookup(&requested) {
        Lookup::Current(name) => (name.to_owned(), IMMUTABLE),
        Lookup::Stale => return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, NO_STORE)]).into_response(),
        Lookup::Plain => (requested, REVALIDATE),
    };
    let (mut parts, body) = request.into_parts();
    parts.uri = match format!("/{file}").parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let response = files.dir.oneshot(Request::from_parts(parts, body)).await;
    let Ok(mut response) = response.map_err(|never: Infallible| never);
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        // The same URL answers differently by Accept-Encoding: shared caches must key on it.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response.into_response()
}

/// `GET /favicon.svg` from the site root, cached for a day.
pub fn favicon(site_root: &Path) -> MethodRouter<app::state::AppState> {
    let file = ServeFile::new(site_root.join("favicon.svg"));
    get(move |request: Request| {
        let file = file.clone();
        async move {
            let Ok(mut response) = file.oneshot(request).await.map_err(|never: Infallible| never);
            if response.status().is_success() {
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(ICON));
            }
            response.into_response()
        }
    })
}

/// Marks every answer that did not choose a cache policy as `no-store`: pages and server
/// functions carry one user's data.
pub async fn no_store_by_default(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static(NO_STORE));
    response
}
