//! Prometheus metrics: one recorder per process, every series labelled with its `component`.
//!
//! In separate processes (containers) each `/metrics` shows one component; under `emrlab up`
//! every component's `/metrics` shows the whole process, told apart by the `component` label.

use std::{
    sync::{Mutex, OnceLock},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Metric names, so dashboards, alert rules and code agree.
pub mod names {
    pub const HTTP_DURATION: &str = "emrlab_http_request_duration_seconds";
    pub const HTTP_IN_FLIGHT: &str = "emrlab_http_requests_in_flight";
    pub const DB_ACQUIRE: &str = "emrlab_db_pool_acquire_duration_seconds";
    pub const DB_IN_USE: &str = "emrlab_db_pool_connections_in_use";
    pub const DB_IDLE: &str = "emrlab_db_pool_connections_idle";
    pub const DB_MAX: &str = "emrlab_db_pool_connections_max";
    pub const RATE_LIMITED: &str = "emrlab_gateway_rate_limited_total";
    pub const UPSTREAM_ERRORS: &str = "emrlab_gateway_upstream_errors_total";
    pub const LOGINS: &str = "emrlab_auth_logins_total";
    pub const HASH_DURATION: &str = "emrlab_auth_password_hash_duration_seconds";
    pub const HASHES_WAITING: &str = "emrlab_auth_password_hashes_waiting";
    pub const CACHE_REQUESTS: &str = "emrlab_cache_requests_total";
    pub const EVENTS_PUBLISHED: &str = "emrlab_events_published_total";
    pub const EVENTS_DROPPED: &str = "emrlab_events_dropped_total";
    pub const EVENTS_RECEIVED: &str = "emrlab_events_received_total";
    pub const EVENTS_DELIVERED: &str = "emrlab_events_delivered_total";
    pub const WS_CONNECTIONS: &str = "emrlab_ws_connections_open";
    pub const WS_DROPPED: &str = "emrlab_ws_clients_dropped_total";
}

/// Latency buckets in seconds: 1 ms to 60 s, dense where the SLOs sit (200 ms, 500 ms, 1 s, 2 s).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process's recorder once and returns the handle that renders it.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    handle
                }
                // Another recorder is already installed (an embedding program); render ours empty.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        names::HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration by route template, method and status"
    );
    describe_gauge!(names::HTTP_IN_FLIGHT, "HTTP requests being served");
    describe_histogram!(
        names::DB_ACQUIRE,
        Unit::Seconds,
        "wait for a pooled database connection"
    );
    describe_gauge!(names::DB_IN_USE, "database connections checked out");
    describe_gauge!(names::DB_IDLE, "database connections idle in the pool");
    describe_gauge!(names::DB_MAX, "database pool size (db.pool_size)");
    describe_counter!(names::RATE_LIMITED, "requests answered 429 by the gateway, by limiter");
    describe_counter!(
        names::UPSTREAM_ERRORS,
        "proxied requests that failed to reach a service"
    );
    describe_counter!(names::LOGINS, "login attempts by result");
    describe_histogram!(
        names::HASH_DURATION,
        Unit::Seconds,
        "password hash or verify time, queue wait excluded"
    );
    describe_gauge!(names::HASHES_WAITING, "logins waiting for a password-hashing slot");
    describe_counter!(names::CACHE_REQUESTS, "cache lookups by cache and result");
    describe_counter!(
        names::EVENTS_PUBLISHED,
        "events a service handed to the bus, by transport"
    );
    describe_counter!(
        names::EVENTS_DROPPED,
        "events lost on the way (queue full, transport down, hub behind), by reason"
    );
    describe_counter!(names::EVENTS_RECEIVED, "events the gateway received over Redis or HTTP");
    describe_counter!(names::EVENTS_DELIVERED, "event messages queued to WebSocket clients");
    describe_gauge!(names::WS_CONNECTIONS, "WebSocket connections open");
    describe_counter!(names::WS_DROPPED, "WebSocket clients the gateway closed, by reason");
}

/// Creates a component's series before any traffic, so dashboards and alerts see them at once.
pub fn register(component: &'static str, routes: &[(&'static str, &'static str)]) {
    handle();
    metrics::gauge!(names::HTTP_IN_FLIGHT, "component" => component).set(0.0);
    let _ = metrics::histogram!(names::DB_ACQUIRE, "component" => component);
    for (method, route) in routes {
        let _ = metrics::histogram!(names::HTTP_DURATION, "component" => component, "route" => *route,
            "method" => *method, "status" => "200");
    }
}

/// Per-component request metrics, built once so the hot path allocates as little as it can.
pub struct Tracker {
    component: &'static str,
    in_flight: metrics::Gauge,
    routes: &'static [(&'static str, &'static str)],
}

impl Tracker {
    /// A tracker for `component`, whose known routes become borrowed labels.
    pub fn new(component: &'static str, routes: &'static [(&'static str, &'static str)]) -> Self {
        Self {
            component,
            in_flight: metrics::gauge!(names::HTTP_IN_FLIGHT, "component" => component),
            routes,
        }
    }

    fn route_label(&self, req: &Request) -> metrics::SharedString {
        let Some(path) = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str) else {
            return metrics::SharedString::const_str("unmatched");
        };
        match self.routes.iter().find(|(_, route)| *route == path) {
            Some((_, route)) => metrics::SharedString::const_str(route),
            None => metrics::SharedString::from(path.to_owned()),
        }
    }
}

fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `status` label: the usual codes as static strings, so recording one allocates nothing.
fn status_label(status: http::StatusCode) -> metrics::SharedString {
    let code = match status.as_u16() {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        412 => "412",
        413 => "413",
        415 => "415",
        422 => "422",
        428 => "428",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => return metrics::SharedString::from(other.to_string()),
    };
    metrics::SharedString::const_str(code)
}

/// Middleware recording duration and in-flight requests, labelled by route template.
pub async fn track(tracker: std::sync::Arc<Tracker>, req: Request, next: Next) -> Response {
    let route = tracker.route_label(&req);
    let method = method_label(req.method());
    tracker.in_flight.increment(1.0);
    let started = Instant::now();
    let response = next.run(req).await;
    tracker.in_flight.decrement(1.0);
    metrics::histogram!(names::HTTP_DURATION, "component" => tracker.component, "route" => route,
        "method" => method, "status" => status_label(response.status()))
    .record(started.elapsed());
    response
}

/// A gauge refresher run before each render; it returns `false` once what it watches is gone.
type ScrapeHook = Box<dyn Fn() -> bool + Send>;

fn hooks() -> &'static Mutex<Vec<ScrapeHook>> {
    static HOOKS: OnceLock<Mutex<Vec<ScrapeHook>>> = OnceLock::new();
    HOOKS.get_or_init(Default::default)
}

/// Registers a gauge refresher (pool sizes are read, not counted, so they are read at scrape time).
pub fn on_scrape(hook: impl Fn() -> bool + Send + 'static) {
    hooks().lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(hook));
}

/// The Prometheus text of this process.
pub fn render() -> String {
    hooks().lock().unwrap_or_else(|p| p.into_inner()).retain(|hook| hook());
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

/// `GET /metrics` in Prometheus text format.
pub async fn endpoint() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
}
