//! Prometheus metrics at `GET /metrics`, behind a bearer token (`BATON_METRICS_TOKEN`).
//!
//! Events are counted where they happen through the `metrics` facade (requests here; sign-in
//! failures, deliveries and purges in their own modules), into one process-wide recorder that
//! renders the Prometheus text format. What lives in the database (outbox depth, open incidents,
//! stage clocks) is read when scraped, so every instance of a multi-instance deployment reports
//! the same figures for it. Without a token configured the endpoint answers 404: nothing about
//! the installation is public by default.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use app::{db::Db, state::AppState};
use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;

/// Seconds, from 1 ms to 10 s: pages take milliseconds, exports and uploads seconds.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The process's recorder, installed on first use (the `metrics` facade has one per process).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("baton_http_request_duration_seconds".into()), LATENCY_BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(err) => {
                    tracing::error!("cannot start the metrics recorder: {err}");
                    None
                }
            }
        })
        .as_ref()
}

/// Help texts of every series (the README's table lists the same).
fn describe() {
    describe_counter!(
        "baton_http_requests_total",
        "HTTP requests answered, by route template, method and status class"
    );
    describe_histogram!("baton_http_request_duration_seconds", Unit::Seconds, "Time to answer an HTTP request");
    describe_gauge!("baton_db_connections", "Database pool connections, by state (in_use, idle)");
    describe_counter!("baton_db_errors_total", "Database operations that failed unexpectedly");
    describe_gauge!("baton_outbox_messages", "Outbox messages, by transport and status");
    describe_gauge!("baton_outbox_oldest_queued_seconds", "Age of the oldest queued outbox message, by transport");
    describe_counter!("baton_outbox_deliveries_total", "Delivery attempts finished, by transport and outcome");
    describe_gauge!("baton_incidents_open", "Open incidents, by stage and severity");
    describe_gauge!(
        "baton_stage_clocks",
        "Running stage clocks past a threshold, by state (at_risk, breached, escalated)"
    );
    describe_counter!(
        "baton_clock_notices_total",
        "Stage-clock notices queued, by level (clock_reminder, clock_breach, clock_escalation)"
    );
    describe_counter!("baton_sign_in_failures_total", "Failed sign-ins (wrong name or password)");
    describe_counter!("baton_sign_in_throttled_total", "Sign-ins refused because the account or address is throttled");
    describe_counter!("baton_rate_limited_total", "Requests refused with 429, by limiter (anonymous, intake)");
    describe_gauge!("baton_live_subscribers", "Open live-update streams on this instance");
    describe_counter!("baton_purged_records_total", "Records deleted by housekeeping, by kind (sessions, throttles)");
    describe_counter!("baton_backups_total", "Scheduled backups, by outcome (written, failed)");
    describe_gauge!("baton_build_info", "Always 1; the labels name the running build");
    describe_gauge!("baton_draining", "1 while this instance is shutting down");
}

/// Where the route layer leaves the matched route template for [`track`].
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// Counts and times every request by route template (never the raw path: one series per route,
/// whatever the URLs), method and status class. Outermost layer, so refusals are counted too.
pub async fn track(mut request: Request, next: Next) -> Response {
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = slot.0.get().map_or("unmatched", String::as_str).to_owned();
    let method = match method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    };
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let labels = [("route", route), ("method", method.to_owned()), ("status", status.to_owned())];
    counter!("baton_http_requests_total", &labels).increment(1);
    histogram!("baton_http_request_duration_seconds", &labels[..1]).record(started.elapsed().as_secs_f64());
    response
}

/// Route layer: records the template the router matched (known only once routing is done).
pub async fn mark_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) =
        (request.extensions().get::<RouteSlot>(), request.extensions().get::<MatchedPath>())
    {
        let _ = slot.0.set(path.as_str().to_owned());
    }
    next.run(request).await
}

/// `GET /metrics`: 404 without a configured token, 401 without the right bearer token.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes()) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")]).into_response();
    }
    let Some(handle) = handle() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if let Err(err) = read_database(&state.db).await {
        // The rest still goes out; the failure shows as a rising error count and a stale gauge.
        tracing::warn!("cannot read the database figures for /metrics: {err}");
        counter!("baton_db_errors_total").increment(1);
    }
    gauge!("baton_live_subscribers").set(state.events.subscribers() as f64);
    let (in_use, idle) = state.db.connections();
    gauge!("baton_db_connections", "state" => "in_use").set(in_use as f64);
    gauge!("baton_db_connections", "state" => "idle").set(idle as f64);
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sets the gauges whose truth is in the database.
async fn read_database(db: &Db) -> Result<(), app::db::DbError> {
    let figures = app::insight::gauges::read(db, chrono::Utc::now()).await?;
    // Series that dropped to zero must say so rather than keep their last value.
    for (transport, status) in app::insight::gauges::OUTBOX_SERIES {
        let n = figures.outbox.iter().find(|o| o.transport == *transport && o.status == *status).map_or(0, |o| o.count);
        gauge!("baton_outbox_messages", "transport" => *transport, "status" => *status).set(n as f64);
    }
    for transport in ["email", "chat"] {
        let age = figures.oldest_queued.iter().find(|(t, _)| t == transport).map_or(0.0, |(_, age)| *age);
        gauge!("baton_outbox_oldest_queued_seconds", "transport" => transport).set(age);
    }
    for stage in app::workflow::rules::Stage::ALL.iter().filter(|s| **s != app::workflow::rules::Stage::Closed) {
        for severity in ["p0", "p1", "p2", "p3"] {
            let n = figures
                .open
                .iter()
                .find(|o| o.stage == stage.as_str() && o.severity == severity)
                .map_or(0, |o| o.count);
            gauge!("baton_incidents_open", "stage" => stage.as_str(), "severity" => severity).set(n as f64);
        }
    }
    for (state, n) in [
        ("at_risk", figures.clocks.at_risk),
        ("breached", figures.clocks.breached),
        ("escalated", figures.clocks.escalated),
    ] {
        gauge!("baton_stage_clocks", "state" => state).set(n as f64);
    }
    Ok(())
}

/// Folds the recorded request timings into the histograms every few seconds, whether or not
/// anyone scrapes: the recorder keeps each sample until then, so without it memory would grow
/// with every request on an instance nobody scrapes.
pub async fn run_upkeep(stopping: impl std::future::Future<Output = ()>) {
    let Some(handle) = handle() else { return };
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            () = &mut stopping => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => handle.run_upkeep(),
        }
    }
}

/// Sets the labels of the running build (version and build id) and the draining flag.
pub fn record_build(build_id: &str) {
    gauge!("baton_build_info", "version" => env!("CARGO_PKG_VERSION"), "build_id" => build_id.to_owned()).set(1.0);
    gauge!("baton_draining").set(0.0);
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"abcdefghijklmnop", b"abcdefghijklmnop"));
        assert!(!constant_time_eq(b"abcdefghijklmnop", b"abcdefghijklmnoq"));
        assert!(!constant_time_eq(b"abcdefghijklmnop", b"abcdefghijklmno"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
