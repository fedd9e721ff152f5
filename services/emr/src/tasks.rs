//! Tasks at the vendor: `POST /emr/tasks` pushes one, `PUT /emr/tasks/{id}` updates the vendor's
//! copy, `POST /emr/tasks/{id}/verify` compares a task with that copy (storing nothing).

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, OrgId},
    error::ApiError,
    extract::{Json, Path},
};
use emrlab_seed::Vendor;

use crate::{
    AppState, directory,
    error::EmrError,
    patients::{clinical_org, invalidate, not_at_vendor, unexpected, vendor_patient_id},
    vendor::{
        Answer, Operation, adapter, created_task,
        fhir::{self, Difference, TaskInput},
    },
};

const FHIR_JSON: &str = "application/fhir+json";
const PRIORITIES: [&str; 4] = ["routine", "urgent", "asap", "stat"];

/// Where a task lives at its vendor, as the pushes and updates answer.
#[derive(Debug, Serialize)]
pub struct Pushed {
    task_id: Uuid,
    vendor: Vendor,
    vendor_task_id: String,
    vendor_version: String,
}

/// The outcome of a verification.
#[derive(Debug, Serialize)]
pub struct Verification {
    task_id: Uuid,
    verified: bool,
    vendor: Option<Vendor>,
    vendor_task_id: Option<String>,
    differences: Vec<Difference>,
    #[serde(with = "time::serde::rfc3339")]
    checked_at: OffsetDateTime,
}

/// The checked parts of a task: its FHIR status, and where its patient lives.
struct Prepared {
    status: &'static str,
    task: directory::TaskRef,
    patient: directory::PatientRef,
}

async fn prepare(state: &AppState, org: OrgId, id: Uuid, input: &TaskInput) -> Result<Prepared, EmrError> {
    if input.id != id {
        return Err(ApiError::invalid("id", "the task in the body is not the task in the path").into());
    }
    let status = fhir::fhir_status(&input.status)
        .ok_or_else(|| ApiError::invalid("status", "status must be pending, in_progress, completed or cancelled"))?;
    if !PRIORITIES.contains(&input.priority.as_str()) {
        return Err(ApiError::invalid("priority", "priority must be routine, urgent, asap or stat").into());
    }
    let task = directory::task(&state.db, org, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("task {id} not found")))?;
    if task.patient_id != input.patient_id {
        return Err(ApiError::invalid("patient_id", "this is not the task's patient").into());
    }
    let patient = directory::patient(&state.db, org, task.patient_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("patient {} not found", task.patient_id)))?;
    Ok(Prepared { status, task, patient })
}

fn version_of(answer: &Answer, body: &Value) -> String {
    body.pointer("/meta/versionId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let etag = answer.headers.get(header::ETAG)?.to_str().ok()?;
            Some(etag.trim_start_matches("W/").trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

/// A 4xx the vendor gives for the content we sent: the caller's to fix, with the vendor's words.
fn rejected(vendor: Vendor, answer: &Answer) -> EmrError {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let said = body
        .pointer("/issue/0/diagnostics")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "vendor_rejected",
        format!("{vendor} refused the task: {said}"),
    )
    .into()
}

/// `POST /emr/tasks`: pushes a task (the task service's JSON) to its patient's home vendor.
pub async fn push(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<TaskInput>,
) -> Result<Response, EmrError> {
    let org = clinical_org(&caller)?;
    let Prepared { status, task, patient } = prepare(&state, org, input.id, &input).await?;
    if task.link.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_pushed",
            "the task is already at its vendor; update it with PUT /emr/tasks/{id}",
        )
        .into());
    }
    let vendor = patient.home_vendor;
    let patient_vendor_id = vendor_patient_id(&state.vendors, vendor, &patient).await?;
    let body = fhir::task_resource(&input, status, &patient_vendor_id, None).to_string();
    let url = format!("{}/Task", state.vendors.base_url(vendor));
    let adapter = adapter(vendor);
    let (vendor_task_id, vendor_version) = state
        .vendors
        .call(
            vendor,
            Operation::TaskCreate,
            |http| {
                http.post(&url)
                    .header(header::CONTENT_TYPE, FHIR_JSON)
                    .body(body.clone())
            },
            |answer| {
                if !answer.status.is_success() {
                    return Err(rejected(vendor, &answer));
                }
                let location = answer.headers.get(header::LOCATION).and_then(|l| l.to_str().ok());
                let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                created_task(adapter, location, &json).ok_or(EmrError::Malformed(vendor))
            },
        )
        .await?;
    if !directory::link(&state.db, org, input.id, vendor, &vendor_task_id).await? {
        tracing::warn!(task_id = %input.id, %vendor, "task pushed twice at once; the vendor holds a duplicate");
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_pushed",
            "the task was pushed at the same time",
        )
        .into());
    }
    invalidate(state.cache(state.knobs.get().emr.cache), org, task.patient_id).await;
    let pushed = Pushed {
        task_id: input.id,
        vendor,
        vendor_task_id,
        vendor_version,
    };
    Ok((StatusCode::CREATED, axum::Json(pushed)).into_response())
}

/// `PUT /emr/tasks/{id}`: replaces the vendor's copy with the task sent.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<TaskInput>,
) -> Result<Response, EmrError> {
    let org = clinical_org(&caller)?;
    let Prepared { status, task, patient } = prepare(&state, org, id, &input).await?;
    let Some((vendor, vendor_task_id)) = task.link else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_pushed",
            "the task is not at a vendor yet; push it with POST /emr/tasks",
        )
        .into());
    };
    let patient_vendor_id = vendor_patient_id(&state.vendors, vendor, &patient).await?;
    let body = fhir::task_resource(&input, status, &patient_vendor_id, Some(&vendor_task_id)).to_string();
    let url = format!("{}/Task/{vendor_task_id}", state.vendors.base_url(vendor));
    let version = state
        .vendors
        .call(
            vendor,
            Operation::TaskUpdate,
            |http| {
                http.put(&url)
                    .header(header::CONTENT_TYPE, FHIR_JSON)
                    .body(body.clone())
            },
            |answer| match answer.status {
                s if s.is_success() => {
                    let json: Value = serde_json::from_slice(&answer.body).map_err(|_| EmrError::Malformed(vendor))?;
                    Ok(version_of(&answer, &json))
                }
                StatusCode::NOT_FOUND => Err(not_at_vendor(vendor, "task", id)),
                _ => Err(rejected(vendor, &answer)),
            },
        )
        .await?;
    invalidate(state.cache(state.knobs.get().emr.cache), org, task.patient_id).await;
    Ok(axum::Json(Pushed {
        task_id: id,
        vendor,
        vendor_task_id,
        vendor_version: version,
    })
    .into_response())
}

/// `POST /emr/tasks/{id}/verify`: does the vendor's copy say what the task sent says?
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<TaskInput>,
) -> Result<axum::Json<Verification>, EmrError> {
    let org = clinical_org(&caller)?;
    let Prepared { task, patient, .. } = prepare(&state, org, id, &input).await?;
    let missing = |vendor: Option<Vendor>, vendor_task_id: Option<String>| Verification {
        task_id: id,
        verified: false,
        vendor,
        vendor_task_id,
        differences: vec![Difference {
            field: "task",
            ours: json!("present"),
            vendor: json!("missing"),
        }],
        checked_at: OffsetDateTime::now_utc(),
    };
    let Some((vendor, vendor_task_id)) = task.link else {
        return Ok(axum::Json(missing(None, None)));
    };
    let patient_vendor_id = vendor_patient_id(&state.vendors, vendor, &patient).await?;
    let url = format!("{}/Task/{vendor_task_id}", state.vendors.base_url(vendor));
    let copy = state
        .vendors
        .call(
            vendor,
            Operation::TaskRead,
            |http| http.get(&url).header(header::ACCEPT, FHIR_JSON),
            |answer| match answer.status {
                StatusCode::OK => {
                    let json: Value = serde_json::from_slice(&answer.body).map_err(|_| EmrError::Malformed(vendor))?;
                    fhir::is_resource(&json, "Task")
                        .then_some(Some(json))
                        .ok_or(EmrError::Malformed(vendor))
                }
                StatusCode::NOT_FOUND => Ok(None),
                other => Err(unexpected(vendor, other)),
            },
        )
        .await?;
    let Some(copy) = copy else {
        return Ok(axum::Json(missing(Some(vendor), Some(vendor_task_id))));
    };
    let differences = fhir::compare(&input, &patient_vendor_id, &copy);
    Ok(axum::Json(Verification {
        task_id: id,
        verified: differences.is_empty(),
        vendor: Some(vendor),
        vendor_task_id: Some(vendor_task_id),
        differences,
        checked_at: OffsetDateTime::now_utc(),
    }))
}
