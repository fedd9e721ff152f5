//! HTTP handlers of the handover service: create, list, read and reject. Accepting has a module
//! of its own ([`crate::accept`]) for its claim protocol. Routes have no `/api/v1`: the gateway
//! adds it.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, OrgId, Role, UserId},
    error::ApiError,
    extract::{Json, Path, Query},
    server::REQUEST_ID,
};

use crate::{
    AppState,
    error::HandoverError,
    events::{self, HandoverEvent},
    listing::{ListQuery, Page, encode_cursor},
    model::{Handover, HandoverBody, HandoverId, HandoverTask, NewHandover, RejectBody, Status},
};

/// Who acts and in which organisation.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub org: OrgId,
    pub user: UserId,
    pub role: Role,
}

/// The operator runs the platform; clinical data is for the organisation's own staff (as on
/// tasks). Every clinical role may create and list handovers.
pub(crate) fn clinical_actor(caller: &Caller) -> Result<Actor, ApiError> {
    let claims = caller.clinical()?;
    Ok(Actor {
        org: claims.org,
        user: claims.sub,
        role: claims.role,
    })
}

/// Only the receiver, or a charge nurse of the organisation (who runs the ward's shifts), may
/// accept or reject a handover.
pub(crate) fn may_decide(actor: &Actor, handover: &Handover) -> Result<(), ApiError> {
    if actor.user.0 == handover.to_practitioner_id || actor.role == Role::ChargeNurse {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "only the receiving practitioner or a charge nurse may accept or reject this handover",
    ))
}

/// The request id to pass on to the task service.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(&REQUEST_ID).cloned()
}

/// `POST /handovers`: 201 with the handover and its `Location`. Every task must be an open task
/// of the caller's organisation, which the task service confirms; each one's assignee is
/// recorded, so an accept can tell whether it changed hands in between.
pub async fn create_handover(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<HandoverBody>,
) -> Result<Response, HandoverError> {
    let actor = clinical_actor(&caller)?;
    let new = NewHandover::parse(body, actor.user)?;
    let timeout = state.knobs.get().handover.task_timeout;
    let found = state
        .tasks
        .lookup(actor.org, &new.task_ids, timeout, request_id(&headers).as_ref())
        .await?;
    let by_id: std::collections::HashMap<Uuid, &crate::tasks::TaskSummary> = found.iter().map(|t| (t.id, t)).collect();
    let missing: Vec<Uuid> = new
        .task_ids
        .iter()
        .filter(|id| !by_id.contains_key(id))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid(
            "task_ids",
            format!("{} of the tasks are not tasks of your organisation", missing.len()),
        )
        .details(serde_json::json!({ "missing": missing }))
        .into());
    }
    let closed: Vec<Uuid> = found.iter().filter(|t| t.is_final()).map(|t| t.id).collect();
    if !closed.is_empty() {
        return Err(ApiError::invalid(
            "task_ids",
            format!(
                "{} of the tasks are completed or cancelled: there is nothing to hand over",
                closed.len()
            ),
        )
        .details(serde_json::json!({ "closed": closed }))
        .into());
    }
    let tasks: Vec<HandoverTask> = new
        .task_ids
        .iter()
        .map(|id| HandoverTask {
            task_id: *id,
            expected_assignee_id: by_id.get(id).and_then(|t| t.assignee_id),
        })
        .collect();
    let handover = state.store.insert_handover(actor.org, &new, &tasks).await?;
    tracing::info!(handover_id = %handover.id, tasks = tasks.len(), "handover requested");
    events::publish(&state.events, actor.org, HandoverEvent::Requested(&handover));
    let mut response = (StatusCode::CREATED, axum::Json(&handover)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/handovers/{}", handover.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /handovers/{id}`.
pub async fn get_handover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Handover>, HandoverError> {
    let actor = clinical_actor(&caller)?;
    Ok(axum::Json(state.store.fetch_handover(actor.org, HandoverId(id)).await?))
}

/// `GET /handovers`: newest first, optionally by `ward` and `status`, in keyset pages.
pub async fn list_handovers(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page>, HandoverError> {
    let actor = clinical_actor(&caller)?;
    let (filter, page) = query.parse()?;
    let mut items = state.store.page_handovers(actor.org, &filter, page).await?;
    let next_cursor = if items.len() > page.limit as usize {
        items.truncate(page.limit as usize);
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(axum::Json(Page { items, next_cursor }))
}

/// `POST /handovers/{id}/reject` with `{"reason": "..."}`: the receiver or a charge nurse.
pub async fn reject_handover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<RejectBody>,
) -> Result<axum::Json<Handover>, HandoverError> {
    let actor = clinical_actor(&caller)?;
    let reason = body.reason()?;
    let id = HandoverId(id);
    let handover = state.store.fetch_handover(actor.org, id).await?;
    may_decide(&actor, &handover)?;
    let now = emrlab_common::db::now();
    // Conditional on `requested`: an accept holding its claim, or a decision that landed since
    // the read above, wins, and this one is told so.
    if !state
        .store
        .mark_rejected(actor.org, id, actor.user, &reason, now)
        .await?
    {
        let current = state.store.fetch_handover(actor.org, id).await?;
        return Err(HandoverError::NotPending {
            id,
            status: current.status,
        });
    }
    tracing::info!(handover_id = %id, "handover rejected");
    Ok(axum::Json(Handover {
        status: Status::Rejected,
        decided_at: Some(now),
        decided_by: Some(actor.user.0),
        reject_reason: Some(reason),
        ..handover
    }))
}

/// The query of `GET /internal/handovers/pending`: the organisation is named by the calling
/// service, which checked its own caller.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingQuery {
    org_id: uuid::Uuid,
    ward_id: Option<uuid::Uuid>,
}

/// `GET /internal/handovers/pending?org_id=…[&ward_id=…]`: `{"pending": n}`, the handovers not
/// yet accepted or rejected, for the task service's dashboard.
pub async fn count_pending(
    State(state): State<AppState>,
    _caller: emrlab_common::auth::Internal,
    emrlab_common::extract::Query(query): emrlab_common::extract::Query<PendingQuery>,
) -> Result<axum::Json<serde_json::Value>, HandoverError> {
    let pending = state
        .store
        .count_pending(emrlab_common::auth::OrgId(query.org_id), query.ward_id)
        .await?;
    Ok(axum::Json(serde_json::json!({ "pending": pending })))
}
