//! Requests nobody is signed in for, limited per client address before they reach the database.
//!
//! Sign-in attempts, posts without a session (cross-site ones included) and intake deliveries can
//! be sent by anyone, and each may cost a query and an audit entry. Each client address (as the
//! trusted-proxy rules determine it) may send `BATON_ANONYMOUS_RATE_PER_SECOND` of them per second,
//! with a burst of ten seconds' worth; past that the answer is 429 with `Retry-After`, and the
//! refusals are recorded coalesced (`app::audit::refusals`). Reading pages, and anything sent with
//! a session cookie, is not limited here (sign-in has its own per-account throttle, and a
//! signed-in user's requests are theirs to make).

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc};

use app::{
    audit::{
        event,
        refusals::Refusals,
        store::{Origin, Record},
        Outcome,
    },
    auth::{cookie, ClientInfo},
    db::Db,
    error::AppError,
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};

/// One token bucket per client address.
type PerAddress = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// The limiter and what its refusals need.
#[derive(Clone)]
pub struct Flood {
    limiter: Arc<PerAddress>,
    db: Db,
    refusals: Arc<Refusals>,
    trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    secure: bool,
}

impl Flood {
    /// `BATON_ANONYMOUS_RATE_PER_SECOND` requests per address, bursts of ten seconds' worth.
    pub fn new(config: &app::config::Config, db: Db, refusals: Arc<Refusals>) -> Self {
        let per_second = config.anonymous_rate_per_second;
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(per_second.saturating_mul(10)).unwrap_or(rate);
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))),
            db,
            refusals,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            secure: config.is_https(),
        }
    }

    /// Forgets addresses whose bucket is full again (bounded memory under a many-address flood).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Whether the request is one the limiter counts.
fn is_anonymous_write(request: &Request, secure: bool) -> bool {
    if request.uri().path().starts_with(crate::intake::PREFIX) {
        return true;
    }
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    !safe && cookie::token_from(request.headers(), secure).is_none()
}

/// The middleware: see the module documentation.
pub async fn limit_anonymous(State(flood): State<Flood>, request: Request, next: Next) -> Response {
    if !is_anonymous_write(&request, flood.secure) {
        return next.run(request).await;
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let addr = crate::auth::client_addr(peer, request.headers(), &flood.trusted_proxies);
    let Err(not_until) = flood.limiter.check_key(&addr) else {
        return next.run(request).await;
    };
    let wait = not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1);
    metrics::counter!("baton_rate_limited_total", "limiter" => "anonymous").increment(1);
    let client = ClientInfo {
        addr,
        user_agent: request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").into(),
    };
    let recorded = Record::new(&Origin::anonymous("", &client), event::RATE_LIMITED)
        .target("request", request.uri().path())
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "method": request.method().as_str() }))
        .record_refusal(&flood.db, &flood.refusals, "rate", chrono::Utc::now())
        .await;
    if let Err(err) = recorded {
        tracing::error!("cannot record a rate-limited request in the audit log: {err}");
    }
    let body = if request.uri().path().starts_with(crate::intake::PREFIX) {
        // The intake API's own error shape (its OpenAPI document's `ApiError`).
        serde_json::json!({
            "error": "rate_limited",
            "message": "too many requests from this address",
            "retry_after_seconds": wait,
        })
        .to_string()
    } else {
        serde_json::to_string(&AppError::Throttled(wait)).unwrap_or_default()
    };
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
