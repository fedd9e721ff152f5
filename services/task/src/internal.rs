//! Internal endpoints other services call (never routed by the gateway; only an internal token
//! from [`emrlab_common::auth::JwtKeys::issue_internal`] opens them):
//!
//! - `POST /internal/tasks/lookup`: the assignment facts of some tasks, for the handover service
//!   to validate a handover and record who each task was with.
//! - `POST /internal/tasks/reassign`: a handover's accept. The task service owns the rows, so it
//!   makes the whole change in one transaction: every task still with its expected assignee, or
//!   nothing written and a 409 listing what changed.
//!
//! The DTOs here are the task service's contract; the handover service mirrors them.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use emrlab_common::{
    auth::{Internal, OrgId, UserId},
    error::ApiError,
    extract::Json,
};

use crate::{
    AppState,
    error::TaskError,
    model::{Actor, Status, Task, TaskId},
};

/// Most tasks one call may name: a handover's limit, and the list page size.
pub const MAX_TASKS: usize = 200;

/// `POST /internal/tasks/lookup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    pub org_id: OrgId,
    pub ids: Vec<Uuid>,
}

/// What a lookup tells about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: TaskId,
    pub assignee_id: Option<Uuid>,
    pub ward_id: Option<Uuid>,
    pub status: Status,
    pub version: i64,
}

/// The answer of a lookup: the tasks found in the organisation; missing ones are simply absent.
#[derive(Debug, Serialize, Deserialize)]
pub struct LookupResponse {
    pub tasks: Vec<TaskSummary>,
}

/// One task of a reassignment and the assignee it must still have.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub id: TaskId,
    pub expected_assignee_id: Option<Uuid>,
}

/// `POST /internal/tasks/reassign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    pub org_id: OrgId,
    /// Who accepted the handover: the audit rows name them.
    pub actor_id: UserId,
    pub handover_id: Uuid,
    /// The new assignee, a practitioner of the organisation.
    pub to: Uuid,
    pub tasks: Vec<Expected>,
}

/// A task whose assignee is no longer the one the handover recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub task_id: TaskId,
    pub expected_assignee_id: Option<Uuid>,
    pub current_assignee_id: Option<Uuid>,
}

/// What a reassignment did.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reassigned {
    /// The tasks now assigned to `to`, as `GET /tasks/{id}` shows them.
    pub tasks: Vec<Task>,
    /// Tasks left as they were: already with `to` (a retried accept finds its own earlier
    /// work), or completed or cancelled since the handover was requested (final, nothing to own).
    pub unchanged: Vec<TaskId>,
}

fn checked_ids(ids: impl ExactSizeIterator<Item = Uuid>) -> Result<(), ApiError> {
    if ids.len() == 0 || ids.len() > MAX_TASKS {
        return Err(ApiError::invalid("ids", format!("name from 1 to {MAX_TASKS} tasks")));
    }
    let mut seen: Vec<Uuid> = ids.collect();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::invalid("ids", "each task may be named once"));
    }
    Ok(())
}

/// `POST /internal/tasks/lookup`: 200 with the tasks found.
pub async fn lookup_tasks(
    State(state): State<AppState>,
    _caller: Internal,
    Json(body): Json<LookupRequest>,
) -> Result<axum::Json<LookupResponse>, TaskError> {
    checked_ids(body.ids.iter().copied())?;
    let tasks = state.store.lookup_tasks(body.org_id, &body.ids).await?;
    Ok(axum::Json(LookupResponse { tasks }))
}

/// `POST /internal/tasks/reassign`: 200 with what changed, or 409 `tasks_changed` with
/// `details.changes` and nothing written.
#[tracing::instrument(skip_all, fields(handover_id = %body.handover_id, tasks = body.tasks.len()))]
pub async fn reassign_tasks(
    State(state): State<AppState>,
    _caller: Internal,
    Json(body): Json<ReassignRequest>,
) -> Result<axum::Json<Reassigned>, TaskError> {
    checked_ids(body.tasks.iter().map(|t| t.id.0))?;
    let actor = Actor {
        org: body.org_id,
        user: body.actor_id,
    };
    let done = state
        .store
        .reassign_tasks(actor, body.handover_id, body.to, &body.tasks)
        .await?;
    tracing::info!(
        reassigned = done.tasks.len(),
        unchanged = done.unchanged.len(),
        "tasks reassigned by handover"
    );
    Ok(axum::Json(done))
}
