//! Backpressure at the door: a per-client rate limit and a cap on requests in flight, both
//! answered with 429 and `Retry-After`.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use warmline_channels::ApiError;
use warmline_channels::widget::WidgetConfig;

/// Request limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Sustained requests per second per client IP on `/v1`; 0 turns the limit off.
    pub rate_per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub burst: u32,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Requests handled at once; more are refused with 429 rather than queued.
    pub max_in_flight: usize,
    /// Take the client IP from the first `X-Forwarded-For` entry (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Longest time a request may take.
    pub request_timeout: Duration,
    /// The web widget's sockets and the sites that may embed it.
    pub widget: WidgetConfig,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            rate_per_second: 20,
            burst: 40,
            max_body_bytes: 64 * 1024,
            max_in_flight: 1024,
            trust_forwarded_for: false,
            request_timeout: Duration::from_secs(30),
            widget: WidgetConfig::default(),
        }
    }
}

/// Shared state of the limit middleware.
#[derive(Clone)]
pub struct Gate {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    in_flight: Arc<Semaphore>,
    trust_forwarded_for: bool,
}

impl Gate {
    pub fn new(limits: &HttpLimits) -> Self {
        let limiter = NonZeroU32::new(limits.rate_per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.burst.max(limits.rate_per_second)).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self {
            limiter,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            trust_forwarded_for: limits.trust_forwarded_for,
        }
    }

    /// Every minute, forgets clients that have been quiet, so the limiter's memory stays
    /// bounded. The task ends once the router holding this gate is gone.
    pub fn sweep_idle_clients(&self) {
        let Some(limiter) = self.limiter.as_ref().map(Arc::downgrade) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                let Some(limiter) = limiter.upgrade() else {
                    return;
                };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
    }

    fn client_ip(&self, request: &Request) -> IpAddr {
        if self.trust_forwarded_for
            && let Some(ip) = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
    }
}

/// Middleware: refuse over-rate clients and requests beyond the in-flight cap.
pub async fn gate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &gate.limiter {
        let ip = gate.client_ip(&request);
        if let Err(not_until) = limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!("warmline_rate_limited_total", "reason" => "rate").increment(1);
            return ApiError::rate_limited(wait.as_secs().max(1)).into_response();
        }
    }
    let Ok(_permit) = gate.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("warmline_rate_limited_total", "reason" => "in_flight").increment(1);
        return ApiError::rate_limited(1).into_response();
    };
    next.run(request).await
}

/// CORS for the customer's routes (`/v1/conversations...`) when other sites embed the
/// widget: those origins may call them (no credentials: the conversation id and token are the
/// customer's keys); every other route stays same-origin. `None` when no other site is
/// configured.
pub fn widget_cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let allowed = move |origin: &HeaderValue, request: &axum::http::request::Parts| {
        request.uri.path().starts_with("/v1/conversations") && origins.contains(origin)
    };
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::predicate(allowed))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}
