//! The reverse proxy: `/api/v1/<service path>` → `<service url>/<service path>` over pooled
//! HTTP/1.1 keep-alive connections, with the request id and the verified identity forwarded.

use std::time::Duration;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use emrlab_common::{auth::Claims, error::ApiError, extract::MAX_BODY_BYTES, metrics::names, telemetry};
use tracing::Instrument;

use crate::AppState;

/// What the services get to see of who called, for tracing only: they verify the token themselves.
const FORWARDED_USER: HeaderName = HeaderName::from_static("x-emrlab-user");
const FORWARDED_ORG: HeaderName = HeaderName::from_static("x-emrlab-org");
const PUBLIC_PREFIX: &str = "/api/v1";

/// Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the message's.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    HeaderName::from_static("keep-alive"),
];

/// A pooled client shared by all proxied routes.
#[derive(Clone)]
pub struct Proxy(Client<HttpConnector, Body>);

impl Proxy {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1_024)
            .build(connector);
        Self(client)
    }
}

/// Everything under `/api/v1/tasks`.
pub async fn to_tasks(State(state): State<AppState>, req: Request) -> Response {
    forward(&state, "task", req).await
}

/// Everything under `/api/v1/emr`.
pub async fn to_emr(State(state): State<AppState>, req: Request) -> Response {
    forward(&state, "emr", req).await
}

/// Everything under `/api/v1/sync`.
pub async fn to_sync(State(state): State<AppState>, req: Request) -> Response {
    forward(&state, "sync", req).await
}

/// Everything under `/api/v1/handovers`.
pub async fn to_handovers(State(state): State<AppState>, req: Request) -> Response {
    forward(&state, "handover", req).await
}

async fn forward(state: &AppState, service: &'static str, mut req: Request) -> Response {
    let Some(upstream) = state.upstreams.get(service) else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            format!("the {service} service is not configured"),
        )
        .into_response();
    };
    let too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES);
    if too_large {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    }
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = format!("{}{}", upstream.url, path.strip_prefix(PUBLIC_PREFIX).unwrap_or(path));
    let Ok(uri) = target.parse::<Uri>() else {
        return ApiError::bad_request("invalid_path", "the request path could not be forwarded").into_response();
    };
    *req.uri_mut() = uri;
    let identity = req
        .extensions()
        .get::<Claims>()
        .map(|c| (c.sub.to_string(), c.org.to_string()));
    let headers = req.headers_mut();
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::HOST);
    if let Some((user, org)) = identity {
        for (name, value) in [(FORWARDED_USER, user), (FORWARDED_ORG, org)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    let span = telemetry::client_span(req.method(), service, "");
    telemetry::inject(&span, req.headers_mut());
    let timeout = state.knobs.get().gateway.upstream_timeout;
    let call = state.proxy.0.request(req).instrument(span.clone());
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(response)) => {
            telemetry::record_status(&span, response.status());
            let (mut parts, body) = response.into_parts();
            for name in &HOP_BY_HOP {
                parts.headers.remove(name);
            }
            public_location(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(error)) => {
            telemetry::record_failure(&span, "connect");
            metrics::counter!(names::UPSTREAM_ERRORS, "component" => "gateway", "service" => service, "kind" => "unreachable").increment(1);
            tracing::warn!(service, error = %error, "upstream unreachable");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                format!("the {service} service could not be reached; retry shortly"),
            )
            .retry_after(1)
            .into_response()
        }
        Err(_) => {
            telemetry::record_failure(&span, "timeout");
            metrics::counter!(names::UPSTREAM_ERRORS, "component" => "gateway", "service" => service, "kind" => "timeout").increment(1);
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!(
                    "the {service} service did not answer within {}",
                    humantime::format_duration(timeout)
                ),
            )
            .into_response()
        }
    }
}

/// Services know their own paths; a client needs the public one.
fn public_location(headers: &mut axum::http::HeaderMap) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if location.starts_with('/')
        && !location.starts_with(PUBLIC_PREFIX)
        && let Ok(value) = HeaderValue::from_str(&format!("{PUBLIC_PREFIX}{location}"))
    {
        headers.insert(header::LOCATION, value);
    }
}
