//! Middleware in front of every authenticated route: the token check, then the rate limiter.

use std::time::Duration;

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use emrlab_common::{
    auth::{Claims, bearer, token_rejection},
    error::ApiError,
    metrics::names,
    server::ClientAddr,
};

use crate::{AppState, config::LimitKey};

fn unauthorized(reason: &str) -> Response {
    token_rejection(reason).into_response()
}

/// Verifies the bearer token and leaves its claims for the handlers and the limiter.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(req.headers()) else {
        return unauthorized("missing bearer token");
    };
    match state.keys.verify(token) {
        Ok(claims) => {
            req.extensions_mut().insert(claims);
            next.run(req).await
        }
        Err(e) => unauthorized(&e.to_string()),
    }
}

/// The seconds a client should wait, rounded up and at least 1: `Retry-After: 0` invites a spin.
pub fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Applies `gateway.rate_limit` per token or per client address.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = match state.knobs.get().gateway.rate_limit.key {
        LimitKey::Token => req.extensions().get::<Claims>().map(|c| c.jti.to_string()),
        LimitKey::Client => req
            .extensions()
            .get::<ConnectInfo<ClientAddr>>()
            .map(|c| c.0.0.ip().to_string()),
    };
    let limiter = state.limits.requests.load();
    if let Err(wait) = limiter.check(key.as_deref().unwrap_or("-")) {
        metrics::counter!(names::RATE_LIMITED, "component" => "gateway", "limiter" => "requests").increment(1);
        return ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; slow down and retry after the Retry-After delay",
        )
        .retry_after(retry_after(wait))
        .into_response();
    }
    next.run(req).await
}
