//! HTTP handlers of the authorizations: the list, one authorization, and reservations booked,
//! released and consumed. Routes have no `/api/v1`: the gateway adds it.

use std::time::Duration;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rand::Rng;
use serde::Deserialize;
use uuid::Uuid;

use emrlab_common::{
    auth::Caller,
    error::ApiError,
    extract::{Json, Path, Query},
};

use super::{
    Config, metrics,
    model::{NewReservation, Reservation, ReservationBody, ReservationState, idempotency_key},
    store::{AuthorizationFilter, ReserveError},
};
use crate::{AppState, error::TaskError, handlers::clinical_actor, listing::page_limit};

/// The query string of `GET /authorizations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    patient_id: Option<Uuid>,
    service_code: Option<String>,
    total_units: Option<i64>,
    min_available: Option<i64>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /authorizations`: newest first, keyset-paged.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let limit = page_limit(query.limit)?;
    let after = query.cursor.as_deref().map(emrlab_common::cursor::decode).transpose()?;
    let filter = AuthorizationFilter {
        patient_id: query.patient_id,
        service_code: query.service_code,
        total_units: query.total_units,
        min_available: query.min_available,
    };
    let rows = state.authorizations.page(actor.org, &filter, after, limit + 1).await?;
    Ok(axum::Json(crate::listing::KeysetPage::new(rows, limit, |a| (a.created_at, a.id))).into_response())
}

/// `GET /authorizations/{id}`, with its balance.
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    Ok(axum::Json(state.authorizations.fetch(actor.org, id).await?).into_response())
}

fn created(reservation: &Reservation, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(reservation)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/reservations/{}", reservation.id)) {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The answer to a request whose `Idempotency-Key` already booked: the same reservation if it is
/// the same request, a 422 if the key was used for another.
fn replay(new: &NewReservation, stored: Reservation) -> Result<Response, TaskError> {
    if !new.same_as(&stored) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different reservation; use a new key",
        )
        .into());
    }
    Ok(created(&stored, true))
}

/// The wait before retry `attempt` (from 1): full jitter over an exponential step, capped at 32×
/// the base, so 50 retrying requests spread out instead of colliding again in step.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(5));
    ceiling.mul_f64(rand::rng().random_range(0.0..=1.0))
}

/// `POST /authorizations/{id}/reservations`: 201 with the reservation and the balance after it;
/// 409 `insufficient_units` with the balance; a retry with the same `Idempotency-Key` gets the
/// reservation it booked.
pub async fn reserve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<ReservationBody>,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let new = NewReservation::parse(id, body, idempotency_key(&headers)?)?;
    if let Some(key) = &new.idempotency_key
        && let Some(stored) = state.authorizations.by_key(actor.org, key).await?
    {
        return replay(&new, stored);
    }
    let Config {
        concurrency: mode,
        serializable_retries,
        retry_backoff,
    } = state.knobs.get().authorizations.clone();
    let mut attempt = 0;
    loop {
        let outcome = state
            .authorizations
            .reserve(mode, actor, &new, emrlab_common::db::now())
            .await;
        match outcome {
            Ok(reservation) => {
                metrics::reserved(mode, "booked");
                return Ok(created(&reservation, false));
            }
            Err(ReserveError::Refused(error)) => {
                metrics::reserved(
                    mode,
                    if error.status == StatusCode::CONFLICT {
                        "insufficient"
                    } else {
                        "refused"
                    },
                );
                return Err(error.into());
            }
            Err(ReserveError::KeyTaken) => {
                let key = new.idempotency_key.as_deref().unwrap_or_default();
                return match state.authorizations.by_key(actor.org, key).await? {
                    Some(stored) => replay(&new, stored),
                    None => Err(ApiError::internal(&"a unique key was taken by no reservation").into()),
                };
            }
            Err(ReserveError::Retry) if attempt < serializable_retries => {
                attempt += 1;
                metrics::retried(mode);
                tokio::time::sleep(backoff(retry_backoff, attempt)).await;
            }
            Err(ReserveError::Retry) => {
                metrics::gave_up(mode);
                tracing::warn!(
                    attempts = attempt + 1,
                    "reservation gave up after serialization failures"
                );
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serialization_retry_exhausted",
                    format!(
                        "the reservation conflicted with others {} times; retry shortly",
                        attempt + 1
                    ),
                )
                .retry_after(1)
                .into());
            }
            Err(ReserveError::Storage(error)) => return Err(error.into()),
        }
    }
}

async fn settle(state: AppState, caller: Caller, id: Uuid, to: ReservationState) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let reservation = state.authorizations.settle(actor, id, to).await?;
    Ok(axum::Json(reservation).into_response())
}

/// `POST /reservations/{id}/release`: the units go back to the authorization.
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, TaskError> {
    settle(state, caller, id, ReservationState::Released).await
}

/// `POST /reservations/{id}/consume`: the session took place; the units are used.
pub async fn consume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, TaskError> {
    settle(state, caller, id, ReservationState::Consumed).await
}
