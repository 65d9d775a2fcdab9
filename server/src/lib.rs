//! Baton's HTTP server as a library: [`Application`] builds the whole app on a listener and runs
//! it until a shutdown signal, so tests run the real server on port 0.

mod api_status;
mod assets;
mod attachments;
mod audit_export;
mod auth;
mod background;
pub mod backup;
mod drain;
mod events;
mod flood;
mod health;
mod intake;
mod lang;
mod mail_preview;
pub mod metrics;
mod render;
mod reports_export;
mod security;
pub mod telemetry;
mod text_guard;
mod webhook_doc;

use std::{
    future::{Future, IntoFuture as _},
    net::SocketAddr,
    sync::Arc,
};

use anyhow::Context as _;
use app::{
    auth::password::PasswordHasher,
    config::Config,
    db::Db,
    shell::{assets::Assets, shell, App, ShellParts, OUTPUT_NAME},
    state::{AppState, Shared},
    users::bootstrap,
};
use axum::{
    routing::{get, post},
    serve::ListenerExt,
    Router,
};
use background::Background;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use secrecy::{ExposeSecret, SecretString};
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::{
    compression::{
        predicate::{DefaultPredicate, NotForContentType, Predicate as _},
        CompressionLayer, CompressionLevel,
    },
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

/// A fully set-up server: database migrated, routes built, listener bound.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    local_addr: SocketAddr,
    mailer: Background,
    relay: JoinHandle<()>,
    anchor: Option<Background>,
    housekeeping: Background,
    scheduler: Background,
    chat: Background,
    clock_passes: tokio::sync::watch::Receiver<u64>,
    purge: Background,
    metrics_upkeep: Background,
    backups: Option<Background>,
    draining: health::Draining,
    /// Held while serving a SQLite database (see `backup::lock_database`).
    _lock: Option<app::db::backup::InUseLock>,
}

/// Deletes ended session records and stale throttle rows past `BATON_PURGE_AFTER`: once at
/// start, then hourly.
fn start_purge(config: &Config, db: Db, clock: Arc<dyn app::clock::Clock>) -> Background {
    let retention = app::housekeeping::Retention {
        after: config.purge_after,
        sessions: app::auth::sessions::Timeouts { idle: config.session_idle, absolute: config.session_absolute },
    };
    Background::spawn(move |stopping| async move {
        let stopping = stopping.wait();
        tokio::pin!(stopping);
        loop {
            match app::housekeeping::purge(&db, clock.now(), retention).await {
                Ok(purged) => {
                    if purged != app::housekeeping::Purged::default() {
                        tracing::info!(
                            sessions = purged.sessions,
                            throttles = purged.throttles,
                            "purged ended records"
                        );
                    }
                    ::metrics::counter!("baton_purged_records_total", "kind" => "sessions").increment(purged.sessions);
                    ::metrics::counter!("baton_purged_records_total", "kind" => "throttles")
                        .increment(purged.throttles);
                }
                Err(err) => tracing::error!("cannot purge ended records: {err}"),
            }
            tokio::select! {
                () = &mut stopping => break,
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            }
        }
    })
}

/// Records the coalesced refusals of each window that closed and forgets idle addresses of the
/// anonymous-request limiter; when stopped, records every open window.
fn start_housekeeping(db: Db, refusals: Arc<app::audit::refusals::Refusals>, flood: flood::Flood) -> Background {
    let every = refusals.window().max(std::time::Duration::from_secs(1));
    Background::spawn(|stopping| async move {
        let stopping = stopping.wait();
        tokio::pin!(stopping);
        loop {
            let last = tokio::select! {
                () = &mut stopping => true,
                () = tokio::time::sleep(every) => false,
            };
            if let Err(err) = app::audit::store::record_closed_refusals(&db, &refusals, chrono::Utc::now(), last).await
            {
                tracing::error!("cannot record coalesced refusals: {err}");
            }
            flood.forget_idle();
            if last {
                break;
            }
        }
    })
}

/// The periodic audit-head anchor (`BATON_AUDIT_ANCHOR_FILE`), which writes a last anchor when
/// stopped.
fn start_anchor(config: &Config, db: &Db) -> Option<Background> {
    let path = config.audit_anchor_file.clone()?;
    tracing::info!(file = %path.display(), every = ?config.audit_anchor_every, "anchoring the audit head");
    let (db, every) = (db.clone(), config.audit_anchor_every);
    Some(Background::spawn(move |stopping| app::audit::anchor::run(db, path, every, stopping.wait())))
}

/// Starts the email sender: with the configured SMTP server, or (without one) only marking queued
/// emails as not configured, so they stay readable in the outbox.
async fn start_mailer(config: &Config, db: &Db, wakeup: app::mail::Wakeup) -> anyhow::Result<Background> {
    app::mail::compose::remember_base_url(db, &config.base_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot record the public base URL for emails: {e}"))?;
    app::mail::compose::remember_time_zone(db, &config.time_zone)
        .await
        .map_err(|e| anyhow::anyhow!("cannot record the time zone for emails: {e}"))?;
    let tuning = app::mail::sender::Tuning::for_timeout(
        config.smtp.as_ref().map(|s| s.timeout).unwrap_or(std::time::Duration::from_secs(30)),
    );
    let sender = app::mail::sender::Sender::new(db.clone(), config.smtp.as_ref(), tuning)
        .map_err(|e| anyhow::anyhow!("invalid SMTP settings: {e}"))?;
    match &config.smtp {
        Some(smtp) => tracing::info!(host = %smtp.host, port = smtp.port, "sending email through SMTP"),
        None => tracing::warn!("no SMTP server configured (BATON_SMTP_HOST): emails stay in the outbox, unsent"),
    }
    Ok(Background::spawn(|stopping| sender.run(wakeup, stopping.wait())))
}

/// Starts the chat sender, after checking that the secret key opens the stored channels: with
/// channels but no key (or another key) every message would fail, so start-up stops instead.
async fn start_chat(
    config: &Config,
    db: &Db,
    clock: Arc<dyn app::clock::Clock>,
    wakeup: app::mail::Wakeup,
) -> anyhow::Result<(Background, app::chat::sender::ChatSender)> {
    let channels = app::chat::store::check_key(db, config.secret_key.as_ref()).await.map_err(|e| anyhow::anyhow!(e))?;
    if channels > 0 {
        tracing::info!(channels, "delivering to chat channels");
    }
    let sender = app::chat::sender::ChatSender::new(
        db.clone(),
        config.secret_key.clone(),
        clock,
        app::chat::sender::ChatSender::default_tuning(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let shared = sender.clone();
    let public_url: Arc<str> = config.base_url.as_str().into();
    let run = |stopping: background::Stopping| {
        app::mail::compose::PUBLIC_BASE_URL.scope(public_url, sender.run(wakeup, stopping.wait()))
    };
    Ok((Background::spawn(run), shared))
}

impl Application {
    /// Binds the configured address, then builds the app (see [`Application::build_with_listener`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Check storage before taking the port, so a bad data dir or URL is the first thing said.
        let lock = backup::lock_database(&config)?;
        let db = open_database(&config).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (BATON_LISTEN)", config.listen))?;
        Self::assemble_with_clock(config, listener, db, Arc::new(app::clock::SystemClock), lock).await
    }

    /// Builds the app on an already bound listener: prepares the data directory, opens the
    /// database and runs pending migrations. Fails fast, naming the setting at fault.
    pub async fn build_with_listener(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        Self::build_with_clock(config, listener, Arc::new(app::clock::SystemClock)).await
    }

    /// Like [`Application::build_with_listener`], telling time by `clock` (tests move it by hand).
    pub async fn build_with_clock(
        config: Config,
        listener: TcpListener,
        clock: Arc<dyn app::clock::Clock>,
    ) -> anyhow::Result<Self> {
        let lock = backup::lock_database(&config)?;
        let db = open_database(&config).await?;
        Self::assemble_with_clock(config, listener, db, clock, lock).await
    }

    async fn assemble_with_clock(
        config: Config,
        listener: TcpListener,
        db: Db,
        clock: Arc<dyn app::clock::Clock>,
        lock: Option<app::db::backup::InUseLock>,
    ) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr().context("listener has no local address")?;
        let hasher = PasswordHasher::new(config.login_concurrency);
        let first_admin = bootstrap::ensure_first_admin(&db, &hasher)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the first admin: {e}"))?;
        if let Some(password) = first_admin {
            print_first_admin(&password);
        }
        let assets = Assets::scan(&config.site_root.join("pkg")).with_context(|| {
            format!("cannot read the built site in {} (BATON_SITE_ROOT)", config.site_root.display())
        })?;
        if !assets.contains(&format!("{OUTPUT_NAME}.js")) {
            tracing::warn!(site_root = %config.site_root.display(), "the built site has no {OUTPUT_NAME}.js: pages will work, but without WASM");
        }
        let wakeup = app::mail::Wakeup::default();
        let mailer = start_mailer(&config, &db, wakeup.clone()).await?;
        let (chat, chat_sender) = start_chat(&config, &db, clock.clone(), wakeup.clone()).await?;
        let anchor = start_anchor(&config, &db);
        let refusals = Arc::new(app::audit::refusals::Refusals::new(config.audit_coalesce_window));
        let flood = flood::Flood::new(&config, db.clone(), refusals.clone());
        let housekeeping = start_housekeeping(db.clone(), refusals.clone(), flood.clone());
        let purge = start_purge(&config, db.clone(), clock.clone());
        let backups = backup::start_scheduled(&config, &db);
        if metrics::handle().is_some() {
            metrics::record_build(app::shell::BUILD_ID);
        }
        let metrics_upkeep = Background::spawn(|stopping| metrics::run_upkeep(stopping.wait()));
        let draining = health::Draining::default();
        let state = AppState::new(Shared {
            leptos_options: leptos_options(&config, local_addr),
            config: Arc::new(config),
            hasher,
            events: app::workflow::live::Events::for_db(&db),
            db,
            mail: wakeup,
            refusals,
            clock,
            chat: chat_sender,
            blobs: Arc::new(app::collab::storage::InDatabase),
        });
        // Records written before the search index existed are indexed in the background, in
        // short transactions, while the app serves.
        tokio::spawn({
            let db = state.db.clone();
            async move {
                // A pause between batches lets sign-ins and gate actions through on SQLite.
                match app::search::index::fill_missing(&db, std::time::Duration::from_millis(25)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(records = n, "added older records to the search index"),
                    Err(err) => tracing::warn!("cannot add older records to the search index: {err}"),
                }
            }
        });
        // On PostgreSQL, changes made through any instance reach this one's open pages.
        let relay = tokio::spawn({
            let events = state.events.clone();
            async move { events.relay_notifications().await }
        });
        let shell = ShellParts {
            assets,
            // cargo-leptos sets LEPTOS_WATCH while `cargo leptos watch` runs: only then is the
            // live-reload script wanted.
            live_reload: std::env::var_os("LEPTOS_WATCH").map(|_| state.leptos_options.clone()),
        };
        let router = router(state.clone(), shell, flood, draining.clone());
        let clocks = app::clocks::scheduler::Scheduler::new(
            state.db.clone(),
            state.clock.clone(),
            state.mail.clone(),
            state.events.clone(),
        );
        let clock_passes = clocks.passes();
        let public_url: Arc<str> = state.config.base_url.as_str().into();
        let scheduler = Background::spawn(|stopping| {
            app::mail::compose::PUBLIC_BASE_URL.scope(public_url, clocks.run(stopping.wait()))
        });
        Ok(Self {
            listener,
            router,
            state,
            local_addr,
            mailer,
            relay,
            anchor,
            housekeeping,
            scheduler,
            chat,
            clock_passes,
            purge,
            metrics_upkeep,
            backups,
            draining,
            _lock: lock,
        })
    }

    /// The shared state (database, configuration), e.g. for seeding demo users before serving.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Counts the stage-clock scheduler's passes: a test waits for the first one instead of for
    /// time to pass.
    pub fn clock_passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.clock_passes.clone()
    }

    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves requests until `shutdown` completes, then lets requests in flight finish and closes
    /// the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr, "listening");
        // Pages stream in several chunks: without TCP_NODELAY, Nagle's algorithm and the client's
        // delayed ACK hold each response for about 40 ms.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY: {err}");
            }
        });
        let events = self.state.events.clone();
        let (stop_accepting, accepting_stops) = tokio::sync::oneshot::channel::<()>();
        let serving = axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = accepting_stops.await;
                // Live-update streams never end on their own: each is sent its reconnect hint and
                // ended, so shutdown can complete.
                events.close();
            });
        let mut serving = tokio::spawn(serving.into_future());
        tokio::select! {
            ended = &mut serving => {
                ended.context("server task failed")?.context("server error")?;
            }
            () = shutdown => {
                // From here `/healthz` answers 503, so a load balancer stops sending new requests;
                // the listener stays open for the drain delay while it notices.
                self.draining.start();
                let config = &self.state.config;
                tracing::info!(delay = ?config.drain_delay, "draining");
                tokio::time::sleep(config.drain_delay).await;
                let _ = stop_accepting.send(());
                match tokio::time::timeout(config.shutdown_timeout, &mut serving).await {
                    Ok(ended) => ended.context("server task failed")?.context("server error")?,
                    Err(_) => {
                        // Each connection runs in a task of its own: what is still running ends
                        // with the process, once the steps below are done.
                        tracing::warn!(timeout = ?config.shutdown_timeout, "requests still in flight at the shutdown timeout: cut");
                        serving.abort();
                    }
                }
            }
        }
        tracing::info!("stopped accepting requests; closing the database");
        // `events.close()` above already ended the relay; wait so its connection is returned.
        self.state.events.close();
        let _ = self.relay.await;
        // The sender finishes the email in hand, or leaves it to its lease after a grace period.
        if !self.mailer.stop(Some(std::time::Duration::from_secs(10))).await {
            tracing::warn!("email sender did not stop in time; abandoning its current email to the lease");
        }
        self.scheduler.stop(Some(std::time::Duration::from_secs(10))).await;
        // A request in flight is finished (or left to the channel's lease).
        self.chat.stop(Some(std::time::Duration::from_secs(12))).await;
        // Summaries of open refusal windows first, so the last anchor covers them.
        self.housekeeping.stop(None).await;
        self.purge.stop(Some(std::time::Duration::from_secs(5))).await;
        self.metrics_upkeep.stop(None).await;
        if let Some(backups) = self.backups {
            // A backup being written is finished: it is read in one transaction and renamed at the end.
            backups.stop(Some(std::time::Duration::from_secs(60))).await;
        }
        if let Some(anchor) = self.anchor {
            anchor.stop(None).await;
        }
        // A request cut at the shutdown timeout may still hold a connection: do not wait for it.
        if tokio::time::timeout(std::time::Duration::from_secs(10), self.state.db.close()).await.is_err() {
            tracing::warn!("database connections still in use after 10 s: leaving them to the process exit");
        }
        Ok(())
    }
}

/// Shows the first admin's one-time password on the terminal (standard error), never in the
/// logs: a log shipper must not receive it. It is stored only as a hash and shown only now.
fn print_first_admin(password: &SecretString) {
    eprintln!(
        "\nBaton created the first account.\n  username:          admin\n  one-time password: {}\n\
         Sign in with it and choose a new password: it must be changed at first sign-in.\n\
         It is shown only this once and is not written to the logs.\n",
        password.expose_secret()
    );
    tracing::warn!(username = "admin", "created the first account; its one-time password is on standard error");
}

/// Opens and migrates the configured database (also used by the command-line tools).
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    tracing::info!(?config, "starting Baton {}", env!("CARGO_PKG_VERSION"));
    config.prepare_data_dir()?;
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    // Stale planner statistics only make queries slower: a failure here must not stop the start.
    if let Err(err) = db.refresh_statistics().await {
        tracing::warn!("cannot refresh the query planner's statistics: {err}");
    }
    tracing::info!(backend = %db.backend(), "database ready");
    Ok(db)
}

fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Makes the inline scripts of the page carry the nonce that [`security::headers`] put in the
/// Content-Security-Policy of this response.
fn provide_request_nonce() {
    if let Some(nonce) =
        use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<leptos::nonce::Nonce>().cloned())
    {
        provide_context(nonce);
    }
}

/// All routes and middleware of the app.
/// The app's routes, generated once per process. Generating them renders the app with resource
/// loading suppressed process-wide, and a page render that starts meanwhile would wait forever
/// (leptos issue 4773); once generated before any server starts, that window never recurs.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn router(state: AppState, shell_parts: ShellParts, flood: flood::Flood, draining: health::Draining) -> Router {
    let routes = route_list();
    let max_body = state.config.max_body_bytes;
    let max_file = state.config.attachment_max_bytes;
    let security = security::Security::new(&state.config, state.db.clone(), state.refusals.clone());
    let site = assets::SiteBuild::check(&state.config.site_root);
    let pkg_files = assets::PkgFiles::new(&state.config.site_root, shell_parts.assets.clone(), site.clone());
    // One shared copy for every render: nothing of it is cloned per request but the pointer.
    let shell_parts = Arc::new(shell_parts);
    let fallback_parts = shell_parts.clone();
    // Pages and server-function answers are compressed on the fly with gzip at its fastest level
    // (zlib-rs): brotli's set-up per response costs more than rendering a page, and gzip's default
    // level about halves the rate, for 3.4-3.6 KB instead of 4.3 KB (docs/BENCHMARKS.md). The
    // WASM only ever goes out precompressed (built beside it).
    let public_url: Arc<str> = state.config.base_url.as_str().into();
    let compress_on_the_fly = DefaultPredicate::new().and(NotForContentType::const_new("application/wasm"));

    Router::new()
        .route(
            "/healthz",
            get(health::healthz)
                .layer::<_, std::convert::Infallible>(axum::Extension(draining))
                .layer::<_, std::convert::Infallible>(axum::Extension(site)),
        )
        .route("/livez", get(health::livez))
        .route("/metrics", get(metrics::scrape))
        .route("/pkg/{*file}", get(assets::pkg).with_state(pkg_files))
        .route("/favicon.svg", assets::favicon(&state.config.site_root))
        .route("/lang", post(lang::switch_language))
        .route("/events", get(events::stream))
        .route("/admin/audit/export.csv", get(audit_export::csv))
        .route("/admin/audit/export.jsonl", get(audit_export::json_lines))
        .route("/reports/export.csv", get(reports_export::csv))
        .route("/mail/{id}/preview", get(mail_preview::preview))
        // Uploads are bounded by `attachments::limit_body` (below), not by the extractor's default.
        .route(
            "/incidents/{key}/attachments",
            post(attachments::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/attachments/{id}/thumb", get(attachments::thumbnail))
        .route("/attachments/{id}/{name}", get(attachments::download))
        .merge(intake::routes(state.clone()))
        .leptos_routes_with_context(&state, routes, provide_request_nonce, move || shell(&shell_parts))
        // Every route above, not the fallback: the metrics label requests by the route matched.
        .route_layer(axum::middleware::from_fn(metrics::mark_route))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide_request_nonce, move |_| {
            shell(&fallback_parts)
        }))
        // Layers run outside-in from the last one added.
        .layer(axum::middleware::from_fn(render::finish_renders))
        .layer(axum::middleware::from_fn(text_guard::refuse_control_characters))
        .layer(axum::middleware::from_fn(api_status::refine))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::gate))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::resolve_user))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::client_info))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state((max_body, max_file), attachments::limit_body))
        .layer(axum::middleware::from_fn_with_state(max_body, intake::refuse_oversized))
        .layer(axum::middleware::from_fn_with_state(security.clone(), security::same_origin))
        .layer(axum::middleware::from_fn_with_state(flood, flood::limit_anonymous))
        .layer(axum::middleware::from_fn_with_state(security, security::headers))
        .layer(axum::middleware::from_fn(assets::no_store_by_default))
        .layer(axum::middleware::from_fn_with_state(public_url, with_public_url))
        .layer(CompressionLayer::new().br(false).quality(CompressionLevel::Fastest).compress_when(compress_on_the_fly))
        .layer(axum::middleware::from_fn(drain::read_unread_bodies))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &http::Request<axum::body::Body>| {
            let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(metrics::track))
}

/// Runs the request with this instance's public base URL at hand for the links of what it
/// composes (`app::mail::compose::PUBLIC_BASE_URL`).
async fn with_public_url(
    axum::extract::State(url): axum::extract::State<Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    app::mail::compose::PUBLIC_BASE_URL.scope(url, next.run(request)).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {err}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}
