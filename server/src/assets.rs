//! Static files and cache policy.
//!
//! `/pkg` holds the app's JS, WASM and CSS. Pages link them by fingerprinted name (see
//! [`app::shell::assets`]); those answers may be cached for a year and are sent precompressed
//! (brotli or gzip, produced at build time) to browsers that accept it. Everything else the
//! server answers depends on the user or the moment, so it is never stored by a cache unless the
//! handler chose otherwise.

use std::{
    convert::Infallible,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

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

/// The `/pkg` files: where they are, their current fingerprints, and whose build they are.
#[derive(Clone)]
pub struct PkgFiles {
    dir: ServeDir,
    assets: Assets,
    site: SiteBuild,
}

impl PkgFiles {
    /// The files under `site_root/pkg`, with the fingerprints in `assets`.
    pub fn new(site_root: &Path, assets: Assets, site: SiteBuild) -> Self {
        let dir = ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip();
        Self { dir, assets, site }
    }
}

/// What the built site's WASM says about its build, compared with this server's
/// (`app::shell::BUILD_ID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteState {
    /// No WASM file: pages work without it.
    Absent,
    /// The same build as the server.
    Matching,
    /// Another build (another checkout, profile or version): its WASM would fail on these pages.
    Other {
        /// The site's build id (`unknown` without a marker).
        found: String,
    },
}

/// The check of the site's build, made at start-up and again whenever the WASM file changes
/// under the running server (someone rebuilt the site in place).
#[derive(Clone, Debug)]
pub struct SiteBuild {
    wasm: PathBuf,
    seen: Arc<Mutex<(Option<Stamp>, SiteState)>>,
}

/// A file's size and modification time: when either changes, the file is read again.
type Stamp = (u64, SystemTime);

impl SiteBuild {
    /// Checks `site_root/pkg/<output>.wasm` now, saying in the log when it is another build's.
    pub fn check(site_root: &Path) -> Self {
        let wasm = site_root.join("pkg").join(format!("{}.wasm", app::shell::OUTPUT_NAME));
        let site = Self { wasm, seen: Arc::new(Mutex::new((None, SiteState::Absent))) };
        site.refresh();
        site
    }

    /// The current state, re-read when the file's size or time changed since the last look.
    pub fn refresh(&self) -> SiteState {
        let stamp =
            std::fs::metadata(&self.wasm).ok().map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.0.is_some() && seen.0 == stamp {
            return seen.1.clone();
        }
        let state = match std::fs::read(&self.wasm) {
            Err(_) => SiteState::Absent,
            Ok(bytes) => match app::shell::build_id_in(&bytes) {
                Some(found) if found == app::shell::BUILD_ID => SiteState::Matching,
                found => SiteState::Other { found: found.unwrap_or_else(|| "unknown".into()) },
            },
        };
        if let SiteState::Other { found } = &state {
            tracing::error!(
                site = %self.wasm.display(),
                site_build = %found,
                server_build = app::shell::BUILD_ID,
                "the built site is another build's: its WASM is not served and pages work without it; \
                 rebuild the site with this server (or start the server built with it)"
            );
        }
        *seen = (stamp, state.clone());
        state
    }
}

/// `GET /pkg/{*file}`: the current version of a fingerprinted file (cacheable for a year), or a
/// plain name (revalidated). An outdated fingerprint is not found, so no cache ever keeps a
/// different file under that URL.
pub async fn pkg(State(files): State<PkgFiles>, request: Request) -> Response {
    let requested = request.uri().path().strip_prefix("/pkg/").unwrap_or_default().to_owned();
    // The WASM and its JS glue only go out as this server's build: another build's would fail on
    // every page (a site rebuilt in place under a running server, say).
    if (requested.ends_with(".wasm") || requested.ends_with(".js"))
        && matches!(files.site.refresh(), SiteState::Other { .. })
    {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, NO_STORE)]).into_response();
    }
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
