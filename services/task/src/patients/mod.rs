//! Patients: the ward's census, searched by name or MRN and keyset paged (`GET /patients`), one
//! patient with the tasks still open for them (`GET /patients/{id}`), admission
//! (`POST /patients`) and discharge (`POST /patients/{id}/discharge`), each change written with
//! its audit row in one transaction. The SQL is in `storage::admissions`.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use uuid::Uuid;

use emrlab_common::extract::{Json, Path, Query};

use crate::{AppState, error::TaskError, handlers::clinical_actor, storage::admissions::patient_not_found};

pub mod model;

use model::{AdmissionBody, SearchQuery};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/patients", get(search).post(admit))
        .route("/patients/{id}", get(detail))
        .route("/patients/{id}/discharge", post(discharge))
}

/// `GET /patients?q=&ward_id=&status=&limit=&cursor=`: newest first, in the list envelope.
async fn search(
    State(state): State<AppState>,
    caller: emrlab_common::auth::Caller,
    Query(query): Query<SearchQuery>,
) -> Result<impl IntoResponse, TaskError> {
    let actor = clinical_actor(&caller)?;
    let filter = query.filter()?;
    let limit = crate::listing::page_limit(query.limit)?;
    let after = query.cursor.as_deref().map(emrlab_common::cursor::decode).transpose()?;
    let rows = state.store.search_patients(actor.org, &filter, after, limit).await?;
    Ok(axum::Json(crate::listing::KeysetPage::new(rows, limit, |p| {
        (p.created_at, p.id)
    })))
}

/// `GET /patients/{id}`: the patient and its pending and in-progress tasks.
async fn detail(
    State(state): State<AppState>,
    caller: emrlab_common::auth::Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, TaskError> {
    let actor = clinical_actor(&caller)?;
    match state.store.patient_detail(actor.org, id).await? {
        Some(detail) => Ok(axum::Json(detail)),
        None => Err(patient_not_found(id)),
    }
}

/// `POST /patients`: 201 with the admitted patient and its `Location`.
async fn admit(
    State(state): State<AppState>,
    caller: emrlab_common::auth::Caller,
    Json(body): Json<AdmissionBody>,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let admission = body.parse(actor.user.0, emrlab_common::db::now().date())?;
    let patient = state.store.admit(actor, admission).await?;
    tracing::info!(patient_id = %patient.id, "patient admitted");
    let location = format!("/patients/{}", patient.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(patient)).into_response())
}

/// `POST /patients/{id}/discharge`: the patient leaves their bed; their tasks stay as they are.
async fn discharge(
    State(state): State<AppState>,
    caller: emrlab_common::auth::Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, TaskError> {
    let actor = clinical_actor(&caller)?;
    let patient = state.store.discharge(actor, id).await?;
    tracing::info!(patient_id = %patient.id, "patient discharged");
    Ok(axum::Json(patient))
}
