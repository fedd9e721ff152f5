//! The simulator's routes: the FHIR resources under the vendor's base, behind the fault
//! injection, and at the root `/health`, `/metrics` and `/internal/knobs`.
//!
//! The root routes get `common::server::with_common_layers`. The FHIR routes get the same request
//! id, span and HTTP metrics but not its 30 s request timeout: an injected hang must really hang.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::Response,
    routing::{any, get, post},
};
use time::OffsetDateTime;
use tracing::Instrument;

use emrlab_common::{auth::JwtKeys, server::REQUEST_ID};

use super::{
    Sim, faults, fhir, metrics,
    model::TaskInput,
    outcome::{FhirError, method_not_allowed, unknown_resource},
    search::search_patients,
};

/// The largest Task body a vendor reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

const ROOT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/internal/knobs"),
    ("PUT", "/internal/knobs"),
];

/// The routes of one simulated vendor: the FHIR port's (FHIR and the control plane) and the
/// control port's (the control plane alone, reachable while the FHIR port is closed).
pub fn routers(sim: Arc<Sim>, keys: Arc<JwtKeys>) -> (Router, Router) {
    let component = sim.component();
    let base = sim.dialect.base;
    emrlab_common::metrics::register(component, ROOT_ROUTES);
    emrlab_common::metrics::register(component, sim.dialect.routes);
    metrics::register(component);
    let tracker = Arc::new(emrlab_common::metrics::Tracker::new(component, sim.dialect.routes));
    let fhir = Router::new()
        .route(
            &format!("{base}/Patient/{{id}}"),
            get(read_patient).fallback(method_not_allowed),
        )
        .route(
            &format!("{base}/Patient"),
            get(search_patients).fallback(method_not_allowed),
        )
        .route(&format!("{base}/Task"), post(create_task).fallback(method_not_allowed))
        .route(
            &format!("{base}/Task/{{id}}"),
            get(read_task).put(update_task).fallback(method_not_allowed),
        )
        .route_layer(middleware::from_fn_with_state(sim.clone(), faults::inject))
        .route(&format!("{base}/{{*path}}"), any(unknown_resource))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |req, next| {
            emrlab_common::metrics::track(tracker.clone(), req, next)
        }))
        .layer(middleware::from_fn(move |req, next| request_span(component, req, next)))
        .with_state(sim.clone());
    let root = Router::new()
        .route("/health", get(emrlab_common::server::health))
        .route("/metrics", get(emrlab_common::metrics::endpoint))
        .merge(emrlab_common::internal::knob_router(sim.knobs.clone(), keys));
    let control = emrlab_common::server::with_common_layers(root, component, ROOT_ROUTES);
    (control.clone().merge(fhir), control)
}

/// What `with_common_layers` does for the request id and span: keep the id the caller sent
/// (the EMR service forwards the gateway's), or make one, and return it.
async fn request_span(component: &'static str, mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(&REQUEST_ID) {
        Some(id) => Some(id.clone()),
        None => HeaderValue::try_from(uuid::Uuid::new_v4().to_string()).ok(),
    };
    if let Some(id) = &id {
        req.headers_mut().insert(REQUEST_ID, id.clone());
    }
    let span = emrlab_common::telemetry::server_span(component, &req);
    let mut response = next.run(req).instrument(span.clone()).await;
    emrlab_common::telemetry::record_status(&span, response.status());
    if let Some(id) = id {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// A resource id from the path; one that is not valid UTF-8 is a 400.
struct FhirId(String);

impl<S: Send + Sync> FromRequestParts<S> for FhirId {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, FhirError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| FhirError::Structure("the id in the path could not be read".into()))
    }
}

/// A JSON request body of at most [`MAX_BODY_BYTES`].
struct FhirBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for FhirBody {
    type Rejection = FhirError;

    async fn from_request(req: Request, state: &S) -> Result<Self, FhirError> {
        if !emrlab_common::extract::is_json(req.headers()) {
            return Err(FhirError::MediaType);
        }
        Bytes::from_request(req, state).await.map(Self).map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FhirError::TooLarge(MAX_BODY_BYTES)
            } else {
                FhirError::Structure("the body could not be read".into())
            }
        })
    }
}

/// `GET /Patient/{id}`.
async fn read_patient(State(sim): State<Arc<Sim>>, FhirId(id): FhirId) -> Result<Response, FhirError> {
    let record = sim.store.patient(&id)?;
    let body = fhir::body(&fhir::patient(record, sim.dialect.mrn_system))?;
    // Seeded patients never change.
    Ok(fhir::versioned(StatusCode::OK, body, 1))
}

/// `POST /Task`: 201 with `Location` (FHIR's `…/Task/{id}/_history/{version}`) and `ETag`; the
/// Task itself only at Epic.
async fn create_task(State(sim): State<Arc<Sim>>, FhirBody(body): FhirBody) -> Result<Response, FhirError> {
    let input = TaskInput::parse(&body)?;
    let record = sim.store.create_task(input, OffsetDateTime::now_utc())?;
    let body = match sim.dialect.create_returns_body {
        true => fhir::body(&fhir::task(&record))?,
        false => Vec::new(),
    };
    let mut response = fhir::versioned(StatusCode::CREATED, body, record.version);
    if let Ok(location) = HeaderValue::try_from(format!(
        "{}/Task/{}/_history/{}",
        sim.base_url(),
        record.id,
        record.version
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /Task/{id}`.
async fn read_task(State(sim): State<Arc<Sim>>, FhirId(id): FhirId) -> Result<Response, FhirError> {
    let record = sim.store.task(&id)?;
    Ok(fhir::versioned(
        StatusCode::OK,
        fhir::body(&fhir::task(&record))?,
        record.version,
    ))
}

/// `PUT /Task/{id}`, optionally with `If-Match: W/"n"`: the Task at its new version.
async fn update_task(
    State(sim): State<Arc<Sim>>,
    FhirId(id): FhirId,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> Result<Response, FhirError> {
    let expected = if_match(&headers)?;
    let input = TaskInput::parse(&body)?;
    let record = sim.store.update_task(&id, input, expected, OffsetDateTime::now_utc())?;
    Ok(fhir::versioned(
        StatusCode::OK,
        fhir::body(&fhir::task(&record))?,
        record.version,
    ))
}

/// The version `If-Match` names: `W/"n"` as the ETag gave it (a strong `"n"` is taken too),
/// `None` for no header or `*`.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, FhirError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix("W/")
        .unwrap_or(value)
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| FhirError::Structure("If-Match must be an ETag this server gave, such as W/\"1\"".into()))
}
