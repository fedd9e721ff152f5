//! W3C trace context across the platform's HTTP hops: a server span per request, the child of
//! the caller's span when a `traceparent` came with it, and a client span per outgoing call
//! whose context leaves in the request's headers. Every component and client goes through these
//! few functions, so a hop cannot be forgotten in one place only.

use axum::extract::MatchedPath;
use http::{HeaderMap, Method, Request, StatusCode};
use opentelemetry::{KeyValue, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::enabled;
use crate::server::REQUEST_ID;

/// The span of one request a component serves, with its request id, component, method and route.
/// When exporting it is an OTel server span named `GET /tasks/{id}`, under the caller's span.
pub fn server_span<B>(component: &'static str, req: &Request<B>) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The otel.* fields stay empty, and out of the log lines, unless spans are exported. Ours
    // are recorded with Display (`%`): the log layer formats every request span's fields as it
    // opens, and Debug escapes strings character by character. Not the request id, which the
    // client chose: escaped and quoted, it cannot pass for other fields of the log line.
    let span = tracing::info_span!(
        "request",
        component = %component,
        request_id = id,
        method = %req.method(),
        route = %route,
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
        http.response.status_code = Empty,
    );
    if enabled() {
        span.record("otel.name", format!("{} {route}", req.method()));
        span.record("otel.kind", "server");
        let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        // Fails only when the span is not recorded by the OTel layer (filtered out): then there
        // is nothing to attach.
        let _ = span.set_parent(parent);
    }
    span
}

/// A client span for a call to `peer` (`task`, `epic`), named `GET epic Patient` (the method,
/// the peer and what is asked of it; never the path, which can carry identifiers).
/// A disabled span when nothing is exported.
pub fn client_span(method: &Method, peer: &str, operation: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let name = if operation.is_empty() {
        format!("{method} {peer}")
    } else {
        format!("{method} {peer} {operation}")
    };
    tracing::info_span!(
        "call",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = Empty,
        peer.service = peer,
        http.request.method = %method,
        http.response.status_code = Empty,
    )
}

/// Writes `span`'s context into outgoing `headers` (`traceparent`, `tracestate`).
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let context = span.context();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderInjector(headers)));
}

/// Records the answer's status on a server or client span; a 5xx marks it failed.
pub fn record_status(span: &Span, status: StatusCode) {
    if !enabled() {
        return;
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

/// Sends a reqwest request inside a [`client_span`], carrying the trace context; the plain
/// `send` when nothing is exported.
pub async fn send(request: reqwest::RequestBuilder, peer: &str, operation: &str) -> reqwest::Result<reqwest::Response> {
    if !enabled() {
        return request.send().await;
    }
    let (client, request) = request.build_split();
    let mut request = request?;
    let span = client_span(request.method(), peer, operation);
    inject(&span, request.headers_mut());
    let result = client.execute(request).instrument(span.clone()).await;
    match &result {
        Ok(response) => record_status(&span, response.status()),
        Err(error) if error.is_timeout() => record_failure(&span, "timeout"),
        Err(error) if error.is_connect() => record_failure(&span, "connect"),
        Err(_) => record_failure(&span, "transport"),
    }
    result
}

/// Marks a client span failed without an answer (`timeout`, `connect`, `transport`).
pub fn record_failure(span: &Span, kind: &'static str) {
    if !enabled() {
        return;
    }
    span.record("otel.status_code", "error");
    span.set_attribute("error.type", kind);
}

/// Sets an attribute on the current span (`emr.cache` = `hit`), seen in the trace only: it
/// costs a log line nothing.
pub fn annotate(key: &'static str, value: &'static str) {
    if enabled() {
        Span::current().set_attribute(key, value);
    }
}

/// Adds a named event with attributes to the current span (a breaker rejection and its vendor).
pub fn event(name: &'static str, attributes: &[(&'static str, &'static str)]) {
    if enabled() {
        let attributes = attributes.iter().map(|&(k, v)| KeyValue::new(k, v)).collect();
        Span::current().add_event(name, attributes);
    }
}
