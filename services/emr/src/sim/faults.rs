//! The behaviour knobs, applied to every FHIR request in the order docs/vendors.md gives them:
//! outage (refuse, hang, trickle), then throttle, then error rate, then latency, then the answer,
//! of which `malformed_rate` is cut off mid-JSON. Each request reads the knobs afresh, so a
//! change applies to the next request. Every request is counted by how it ended.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderValue, header, response::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    Sim,
    config::Outage,
    latency,
    listener::Connection,
    metrics::{Operation, Outcome},
    outcome::FhirError,
};

/// The gap between two bytes of a trickled answer: a 1 KiB patient takes over three minutes,
/// longer than any sane client timeout.
const TRICKLE_GAP: Duration = Duration::from_millis(200);

/// Middleware on the FHIR routes (a route layer, so the matched route names the operation).
pub async fn inject(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let Some(operation) = operation(&sim, &req) else {
        return next.run(req).await;
    };
    let started = Instant::now();
    let settings = sim.knobs.get();
    let vendor = settings.vendors.get(sim.dialect.vendor);
    match vendor.outage {
        Outage::None => {}
        Outage::Refuse => {
            let connection = req.extensions().get::<ConnectInfo<Connection>>().map(|c| c.0.clone());
            return refuse(&sim, connection).await;
        }
        Outage::Hang => {
            sim.record(operation, Outcome::Hang, None);
            // Hyper drops this future when the caller hangs up; shutdown ends the rest.
            sim.stop.cancelled().await;
            return FhirError::Exception.into_response();
        }
        Outage::Trickle => {
            sim.record(operation, Outcome::Trickle, None);
            return trickle(next.run(req).await, sim.stop.clone()).await;
        }
    }
    let Some(_slot) = sim.throttle.admit(&vendor.throttle) else {
        sim.record(operation, Outcome::Throttled, Some(started.elapsed()));
        let retry_after = whole_seconds(vendor.throttle.retry_after);
        return FhirError::Throttled { retry_after }.into_response();
    };
    if chance(vendor.error_rate) {
        sim.record(operation, Outcome::Error, Some(started.elapsed()));
        return FhirError::Exception.into_response();
    }
    let delay = latency::sample(&vendor.latency, &mut rand::rng());
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        // A long injected latency must not hold up shutdown: answer now instead.
        () = sim.stop.cancelled() => {}
    }
    let response = next.run(req).await;
    let mut outcome = Outcome::of_status(response.status());
    let response = if outcome == Outcome::Ok && has_body(&response) && chance(vendor.malformed_rate) {
        outcome = Outcome::Malformed;
        malform(response).await
    } else {
        response
    };
    sim.record(operation, outcome, Some(started.elapsed()));
    response
}

fn operation(sim: &Sim, req: &Request) -> Option<Operation> {
    let route = req.extensions().get::<MatchedPath>()?.as_str();
    Operation::of(req.method(), route.strip_prefix(sim.dialect.base)?)
}

/// The port is already closed, so this request came over a connection opened before the outage
/// (a pooled keep-alive one). Cut that connection too: the caller sees the vendor vanish, not
/// an answer. Hyper drops this future with the connection.
async fn refuse(sim: &Sim, connection: Option<Connection>) -> Response {
    if let Some(connection) = connection {
        connection.cut();
    }
    sim.stop.cancelled().await;
    FhirError::Exception.into_response()
}

/// Sends the head and the first byte at once, then one byte per [`TRICKLE_GAP`]. The head
/// announces the full length, so the caller keeps waiting for the rest.
async fn trickle(response: Response, stop: CancellationToken) -> Response {
    let (mut parts, bytes) = match collect(response).await {
        Ok(collected) => collected,
        Err(response) => return response,
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let bytes_one_by_one = futures::stream::unfold((bytes, 0), |(bytes, sent)| async move {
        if sent == bytes.len() {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(TRICKLE_GAP).await;
        }
        let byte = bytes.slice(sent..=sent);
        Some((Ok::<_, Infallible>(byte), (bytes, sent + 1)))
    });
    // At shutdown the body stops short of its length, and hyper closes the connection.
    let body = Body::from_stream(bytes_one_by_one.take_until(stop.cancelled_owned()));
    Response::from_parts(parts, body)
}

/// Keeps the status and headers and sends the first half of the body: valid HTTP, broken JSON.
async fn malform(response: Response) -> Response {
    match collect(response).await {
        Ok((parts, bytes)) => Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2))),
        Err(response) => response,
    }
}

async fn collect(response: Response) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = response.into_parts();
    // Handlers answer with bodies already in memory, so this never waits on the network.
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(e) => {
            tracing::error!(error = %e, "an answer's body could not be read back");
            Err(FhirError::Exception.into_response())
        }
    }
}

fn has_body(response: &Response) -> bool {
    response.body().size_hint().exact() != Some(0)
}

fn chance(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

/// `Retry-After` takes whole seconds; round up so the caller never comes back too early.
fn whole_seconds(duration: Duration) -> u64 {
    (duration.as_secs() + u64::from(duration.subsec_nanos() > 0)).max(1)
}
