//! HTTP handlers of the task service. Routes have no `/api/v1`: the gateway adds it.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use emrlab_common::{
    auth::Caller,
    error::ApiError,
    extract::{Json, Path, Query, is_json, parse_json},
};

use crate::{
    AppState,
    error::TaskError,
    events,
    listing::{ListQuery, Page, PageRequest, encode_cursor},
    model::{Actor, NewTask, Task, TaskBody, TaskChange, TaskId},
};

/// The operator runs the platform; clinical data is for the organisation's own staff.
pub(crate) fn clinical_actor(caller: &Caller) -> Result<Actor, ApiError> {
    let claims = caller.clinical()?;
    Ok(Actor {
        org: claims.org,
        user: claims.sub,
    })
}

fn with_etag(status: StatusCode, task: Task, extra: Option<(header::HeaderName, String)>) -> Response {
    let mut response = (status, axum::Json(&task)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", task.version)) {
        headers.insert(header::ETAG, etag);
    }
    if let Some((name, value)) = extra
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        headers.insert(name, value);
    }
    response
}

/// `POST /tasks`: 201 with the task, its `Location` and `ETag`.
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TaskBody>,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let task = state.store.insert_task(actor, NewTask::parse(body)?).await?;
    tracing::info!(task_id = %task.id, "task created");
    events::publish(&state, events::CREATED, actor.org, &task);
    let location = format!("/tasks/{}", task.id);
    Ok(with_etag(StatusCode::CREATED, task, Some((header::LOCATION, location))))
}

/// `GET /tasks/{id}`, with an `ETag` carrying the version.
pub async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let task = state.store.fetch_task(actor.org, TaskId(id)).await?;
    Ok(with_etag(StatusCode::OK, task, None))
}

/// The version from `If-Match` (`"3"` or `W/"3"`), if the header is present.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match must be an ETag this API issued, such as \"3\"",
            )
        })
}

fn version(body: Option<i64>, headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    match (body, if_match(headers)?) {
        (Some(b), Some(h)) if b != h => Err(ApiError::invalid(
            "version",
            "version in the body and If-Match disagree",
        )),
        (b, h) => Ok(b.or(h)),
    }
}

/// `PUT /tasks/{id}`: changes the fields present, if the caller's `version` is current.
pub async fn update_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<TaskBody>,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let expected = version(body.version, &headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "version_required",
            "send the version you read, in the body or as If-Match",
        )
        .field("version")
    })?;
    let change = TaskChange::parse(body)?;
    let task = state
        .store
        .update_task(actor, TaskId(id), Some(expected), &change)
        .await?;
    let kind = events::kind_of_update(&task, change.status.is_some());
    events::publish(&state, kind, actor.org, &task);
    Ok(with_etag(StatusCode::OK, task, None))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    version: Option<i64>,
}

/// `POST /tasks/{id}/complete`: the body (`{"version": n}`) or `If-Match` are optional here.
pub async fn complete_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TaskError> {
    let actor = clinical_actor(&caller)?;
    let from_body = if body.is_empty() {
        None
    } else if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
        .into());
    } else {
        parse_json::<CompleteBody>(&body)?.version
    };
    let expected = version(from_body, &headers)?;
    let task = state
        .store
        .update_task(actor, TaskId(id), expected, &TaskChange::complete())
        .await?;
    events::publish(&state, events::COMPLETED, actor.org, &task);
    Ok(with_etag(StatusCode::OK, task, None))
}

/// `GET /tasks`: filtered, paged as `tasks.pagination` says.
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page>, TaskError> {
    let actor = clinical_actor(&caller)?;
    let mode = state.knobs.get().tasks.pagination;
    let include_patient = query.include_patient()?;
    let (filter, page) = query.parse(mode)?;
    let (mut items, total) = if include_patient {
        crate::include::page_with_patients(&state, actor, &filter, page).await?
    } else {
        let (tasks, total) = state.store.page_tasks(actor.org, &filter, page).await?;
        let listed = tasks
            .into_iter()
            .map(|task| crate::include::Listed { task, patient: None });
        (listed.collect(), total)
    };
    let (next_cursor, offset) = match page {
        PageRequest::Cursor { limit, .. } if items.len() > limit as usize => {
            items.truncate(limit as usize);
            (items.last().map(|l| encode_cursor(&l.task)), None)
        }
        PageRequest::Offset { offset, .. } => (None, Some(offset)),
        _ => (None, None),
    };
    Ok(axum::Json(Page {
        items,
        next_cursor,
        total,
        offset,
    }))
}
