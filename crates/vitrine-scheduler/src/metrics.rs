//! The scheduler's Prometheus series: requests by route, method and status with their latency,
//! open event streams, screens online, manifest builds, ingested rows, pairings, rate-limit
//! refusals and the database pool.
//!
//! They are served as `GET /metrics` on a listener of their own (`--metrics-listen`), off unless
//! configured: the API port faces shoppers' phones and the TLS proxy, and a scrape endpoint is for
//! the monitoring network only. Counters are kept as requests happen; the gauges that describe the
//! database (screens online, the pool) are read at scrape time, so a scrape always sees now.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;

/// A screen counts as online while its newest heartbeat is younger than this: three of the
/// player's default one-minute heartbeats, so one lost heartbeat does not flap the count.
pub const ONLINE_WINDOW: Duration = Duration::from_secs(180);

/// The `route` label of requests no route matched (404s for unknown paths), so that random
/// paths cannot each make a series of their own.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets, in seconds: from a cached manifest (milliseconds) to a large upload.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// What was ingested: a row of proof of play, or a QR scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    Impressions,
    Scans,
}

/// How a step of pairing went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairingOutcome {
    /// A screen asked for a code and got one.
    Requested,
    /// A screen asked for a code while every code was taken.
    NoCodeFree,
    /// Someone at HQ or in the store entered the code: the screen is registered.
    Confirmed,
    /// The screen collected its device token.
    Delivered,
}

/// Which limit refused a request with 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// Requests per token (or per address without one).
    General,
    /// Pairing codes per address.
    Pairing,
    /// Event streams per screen.
    EventStreams,
}

/// The registry and every series in it; one per scheduler, in [`AppState`].
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    event_streams: Gauge,
    screens_online: Gauge,
    manifest_builds: Counter,
    ingested_rows: Family<KindLabels, Counter>,
    pairings: Family<OutcomeLabels, Counter>,
    rate_limited: Family<KindLabels, Counter>,
    pool_connections: Gauge,
    pool_available: Gauge,
    pool_waiting: Gauge,
    pool_max: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vitrine_scheduler");
        let metrics = Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            event_streams: Gauge::default(),
            screens_online: Gauge::default(),
            manifest_builds: Counter::default(),
            ingested_rows: Family::default(),
            pairings: Family::default(),
            rate_limited: Family::default(),
            pool_connections: Gauge::default(),
            pool_available: Gauge::default(),
            pool_waiting: Gauge::default(),
            pool_max: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "build",
            "The scheduler's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response's head, by route template and method",
            Unit::Seconds,
            metrics.request_duration.clone(),
        );
        registry.register(
            "event_streams",
            "Screens' event streams (GET /v1/events) open now",
            metrics.event_streams.clone(),
        );
        registry.register(
            "screens_online",
            "Registered screens whose newest heartbeat is under three minutes old",
            metrics.screens_online.clone(),
        );
        registry.register(
            "manifest_builds",
            "Manifests built (a manifest served from the cache is not counted)",
            metrics.manifest_builds.clone(),
        );
        registry.register(
            "ingested_rows",
            "Rows of proof of play (kind=impressions) and QR scans (kind=scans) stored",
            metrics.ingested_rows.clone(),
        );
        registry.register(
            "pairings",
            "Pairing steps, by outcome: requested, no_code_free, confirmed, delivered",
            metrics.pairings.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429, by the limit that refused them: general, pairing, \
             event_streams",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "db_pool_connections",
            "SQLite connections the pool holds open",
            metrics.pool_connections.clone(),
        );
        registry.register(
            "db_pool_available_connections",
            "Pooled SQLite connections idle now",
            metrics.pool_available.clone(),
        );
        registry.register(
            "db_pool_waiting_requests",
            "Requests waiting for a SQLite connection now",
            metrics.pool_waiting.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The most SQLite connections the pool opens",
            metrics.pool_max.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    pub fn manifest_built(&self) {
        self.manifest_builds.inc();
    }

    pub fn ingested(&self, kind: Ingested, rows: u64) {
        let kind = match kind {
            Ingested::Impressions => "impressions",
            Ingested::Scans => "scans",
        };
        self.ingested_rows
            .get_or_create(&KindLabels { kind })
            .inc_by(rows);
    }

    pub fn pairing(&self, outcome: PairingOutcome) {
        let outcome = match outcome {
            PairingOutcome::Requested => "requested",
            PairingOutcome::NoCodeFree => "no_code_free",
            PairingOutcome::Confirmed => "confirmed",
            PairingOutcome::Delivered => "delivered",
        };
        self.pairings
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn rate_limited(&self, limit: RateLimit) {
        let kind = match limit {
            RateLimit::General => "general",
            RateLimit::Pairing => "pairing",
            RateLimit::EventStreams => "event_streams",
        };
        self.rate_limited.get_or_create(&KindLabels { kind }).inc();
    }

    fn observe_request(&self, route: &str, method: &str, status: StatusCode, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.as_u16(),
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Reads the gauges that describe now (screens online, open streams, the pool), then writes
    /// every series in the OpenMetrics text format.
    pub async fn render(&self, state: &AppState) -> anyhow::Result<String> {
        let since = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::try_from(ONLINE_WINDOW).unwrap_or_default())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let online = state.storage().screens_heard_since(since).await?;
        self.screens_online
            .set(i64::try_from(online).unwrap_or(i64::MAX));
        self.event_streams
            .set(i64::try_from(state.hub().open_streams()).unwrap_or(i64::MAX));
        let pool = state.storage().pool_status();
        let as_gauge = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        self.pool_connections.set(as_gauge(pool.size));
        self.pool_available.set(as_gauge(pool.available));
        self.pool_waiting.set(as_gauge(pool.waiting));
        self.pool_max.set(as_gauge(pool.max_size));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The `method` label: the standard methods as they are, anything else as `other`, so that
/// made-up methods cannot make series of their own.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `route` label of a route template: `/v1/media/{sha256}` is written `/v1/media/:sha256`.
/// Braces are legal in a label value, but simple line-based readers of the text format take the
/// first `}` for the end of the label set (the prometheus-parse crate does), and would drop the
/// sample.
pub fn route_label(template: &str) -> String {
    template.replace('{', ":").replace('}', "")
}

/// Middleware: counts every request by its route template (never the raw path, so ids in paths
/// do not make a series each), method and status, and observes how long its response took.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| route_label(path.as_str()),
    );
    let method = method_label(request.method());
    let response = next.run(request).await;
    state
        .metrics()
        .observe_request(&route, method, response.status(), started.elapsed());
    response
}

/// `GET /metrics`, for the metrics listener.
async fn scrape(State(state): State<AppState>) -> Response {
    match state.metrics().render(&state).await {
        Ok(text) => {
            let mut response = text.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "cannot read the database for /metrics"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the scheduler cannot read its database; the cause is in its log\n",
            )
                .into_response()
        }
    }
}

/// The metrics listener's router: `GET /metrics` and nothing else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    crate::serve::serve(
        listener,
        router(state),
        crate::serve::ConnectionLimits::default(),
        shutdown,
    )
    .await;
}
