//! The sync API: register a device and get a snapshot, send changes, fetch what changed since a
//! clock, list and resolve conflicts, and follow async jobs.

use std::time::Instant;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, OrgId},
    error::ApiError,
    extract::{Json, Path, Query},
};

use crate::{
    AppState, Field, FieldValue, Mode,
    error::ServiceError,
    metrics,
    storage::StoredDoc,
    wire::{ChangesRequest, ConflictOut, DocOut, InitRequest, device_id},
};

/// Most documents one `GET /sync/state` or `GET /sync/conflicts` returns; the clock it answers
/// with lets the device fetch the rest.
const PAGE: u32 = 500;

/// The caller's organisation and practitioner id; the operator role sees no clinical data.
fn clinical(caller: &Caller) -> Result<(OrgId, Uuid), ApiError> {
    caller.clinical().map(|claims| (claims.org, claims.sub.0))
}

fn docs_out(docs: Vec<StoredDoc>) -> Vec<DocOut> {
    docs.into_iter()
        .map(|d| DocOut {
            task_id: d.task_id,
            position: d.position,
            view: d.doc.view(),
            doc: d.doc,
        })
        .collect()
}

/// `POST /sync/init`: registers the device and answers with a snapshot of its ward's newest
/// tasks (their documents, made from the rows for tasks never synced) and the clock to pass as
/// `since` next time.
pub async fn init(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<InitRequest>,
) -> Result<axum::Json<serde_json::Value>, ServiceError> {
    let (org, actor) = clinical(&caller)?;
    let device = device_id(body.device_id)?;
    let limit = state.knobs.get().sync.snapshot_limit;
    let rows = state.engine.tasks.newest(org, body.ward_id, limit).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut docs = state.engine.refresh(org, actor, &ids).await?;
    // Newest task first, as the rows came: every device sees one order, whatever order the
    // documents were last stored in.
    let rank: std::collections::HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    docs.sort_by_key(|d| rank.get(&d.task_id).copied().unwrap_or(usize::MAX));
    state.engine.docs.store.register_device(org, &device, actor).await?;
    let clock = state.engine.docs.position(org).await?;
    tracing::info!(device = %device, tasks = docs.len(), "device registered");
    Ok(axum::Json(
        json!({ "device_id": device, "clock": clock, "tasks": docs_out(docs) }),
    ))
}

/// `POST /sync/changes`: merges a batch (inline) or queues it (async: 202 and a job id).
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ChangesRequest>,
) -> Result<Response, ServiceError> {
    let (org, actor) = clinical(&caller)?;
    let settings = state.knobs.get();
    let request = body.clone();
    let batch = body.parse(settings.sync.max_batch as usize)?;
    if !state.engine.docs.store.touch_device(org, &batch.device).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "device_not_registered",
            "this device has not registered in your organisation: call POST /sync/init first",
        )
        .field("device_id")
        .into());
    }
    if settings.sync.mode == Mode::Async {
        let id = state.jobs.submit(&state.engine, org, actor, &request, batch).await?;
        let location = format!("/sync/jobs/{id}");
        let body = json!({ "job_id": id, "status": "accepted", "location": location });
        return Ok((
            StatusCode::ACCEPTED,
            [(http::header::LOCATION, location)],
            axum::Json(body),
        )
            .into_response());
    }
    let started = Instant::now();
    let report = state.engine.merge(org, actor, &batch).await?;
    let conflicted = report.new_conflicts.len();
    metrics::merged(
        "inline",
        started.elapsed(),
        report.applied,
        report.duplicates,
        conflicted,
    );
    Ok(axum::Json(report).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    since: Option<String>,
}

/// `GET /sync/state?since=<clock>`: the documents stored after that clock (all, without it),
/// brought up to date with edits made through the task API, and the clock to ask from next.
pub async fn state(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Since>,
) -> Result<axum::Json<serde_json::Value>, ServiceError> {
    let (org, actor) = clinical(&caller)?;
    let since = match query.since.as_deref() {
        None => 0,
        Some(text) => text.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_clock",
                "since must be a clock this API returned (a whole number ≥ 0)",
            )
            .field("since")
        })?,
    };
    let current = state.engine.docs.position(org).await?;
    if since > current {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "clock_from_future",
            format!("since={since} is ahead of this organisation's clock ({current}); call POST /sync/init again"),
        )
        .field("since")
        .into());
    }
    let page = state.engine.docs.store.docs_since(org, since, PAGE).await?;
    let more = page.len() == PAGE as usize;
    let ids: Vec<Uuid> = page.iter().map(|d| d.task_id).collect();
    let docs = state.engine.refresh(org, actor, &ids).await?;
    let clock = match (more, page.last()) {
        (true, Some(last)) => last.position,
        _ => docs.iter().map(|d| d.position).max().unwrap_or(current).max(current),
    };
    Ok(axum::Json(
        json!({ "clock": clock, "more": more, "tasks": docs_out(docs) }),
    ))
}

/// `GET /sync/conflicts`: every field holding concurrent values, oldest first.
pub async fn conflicts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<serde_json::Value>, ServiceError> {
    let (org, actor) = clinical(&caller)?;
    let flagged = state.engine.docs.store.conflicted_docs(org, PAGE).await?;
    let ids: Vec<Uuid> = flagged.iter().map(|d| d.task_id).collect();
    // An edit through the task API may have settled a conflict since it was stored.
    let docs = state.engine.refresh(org, actor, &ids).await?;
    let items: Vec<ConflictOut> = docs
        .iter()
        .flat_map(|d| {
            d.doc.conflicts().into_iter().map(|conflict| ConflictOut {
                id: format!("{}.{}", d.task_id, conflict.field),
                task_id: d.task_id,
                conflict,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    value: serde_json::Value,
}

/// `POST /sync/conflicts/{id}/resolve` with `{"value": …}`: a person's choice for the field, a
/// server change that has seen (and so replaces) every concurrent value.
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Resolution>,
) -> Result<axum::Json<serde_json::Value>, ServiceError> {
    let (org, actor) = clinical(&caller)?;
    let not_found = || ApiError::not_found(format!("no conflict {id}"));
    let (task, field) = id.split_once('.').ok_or_else(not_found)?;
    let task = Uuid::parse_str(task).map_err(|_| not_found())?;
    let field: Field = serde_json::from_value(json!(field)).map_err(|_| not_found())?;
    let value: FieldValue = serde_json::from_value(json!({ "field": field, "value": body.value }))
        .map_err(|e| ApiError::invalid("value", format!("not a valid {field}: {e}")))?;
    let doc = state.engine.resolve(org, actor, task, value).await?;
    Ok(axum::Json(
        json!({ "task_id": task, "position": doc.position, "view": doc.doc.view(), "doc": doc.doc }),
    ))
}

/// `GET /sync/jobs/{id}`: an async batch's state and, once merged, its report or error.
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<serde_json::Value>, ServiceError> {
    let (org, _) = clinical(&caller)?;
    let job = state
        .engine
        .docs
        .store
        .fetch_job(org, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no sync job {id}")))?;
    let at = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
    Ok(axum::Json(json!({
        "id": job.id,
        "status": job.status,
        "result": job.result,
        "submitted_at": at(job.submitted_at),
        "finished_at": job.finished_at.and_then(at),
    })))
}
