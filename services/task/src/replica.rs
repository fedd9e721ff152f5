//! Internal endpoints for the sync service, which keeps each task's replicated document and
//! needs the task rows it mirrors: `POST /internal/sync/tasks` reads them, and
//! `POST /internal/sync/merge` writes a merge result to many rows in one transaction (STYLE:
//! the owner of the rows makes the whole change). Never routed by the gateway; callers present
//! an internal credential and name the organisation, which every query is scoped to.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{Internal, OrgId, UserId},
    error::ApiError,
    extract::Json,
};

use crate::{
    AppState,
    error::TaskError,
    listing::{PageRequest, TaskFilter},
    model::{self, Actor, Priority, Status, Task, TaskId},
    storage::synced::MergedRow,
};

/// The most rows one call reads or writes: a sync batch holds at most 1,000 changes, so it
/// touches at most 1,000 tasks.
const MAX_ROWS: usize = 1_000;

/// `POST /internal/sync/tasks`: the given tasks, or without ids the newest of a ward (or of the
/// organisation), for a device's first snapshot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    org_id: Uuid,
    #[serde(default)]
    ids: Option<Vec<TaskId>>,
    #[serde(default)]
    ward_id: Option<Uuid>,
    #[serde(default)]
    limit: Option<u32>,
}

/// The tasks found.
#[derive(Debug, Serialize)]
pub struct TaskRows {
    tasks: Vec<Task>,
}

/// Answers [`TasksQuery`].
pub async fn sync_tasks(
    State(state): State<AppState>,
    _caller: Internal,
    Json(query): Json<TasksQuery>,
) -> Result<axum::Json<TaskRows>, TaskError> {
    let org = OrgId(query.org_id);
    let tasks = match query.ids {
        Some(ids) if ids.len() > MAX_ROWS => {
            return Err(ApiError::invalid("ids", format!("at most {MAX_ROWS} ids")).into());
        }
        Some(ids) => state.store.fetch_tasks(org, &ids).await?,
        None => {
            let limit = query.limit.unwrap_or(100).clamp(1, MAX_ROWS as u32);
            let filter = TaskFilter {
                ward_id: query.ward_id,
                ..TaskFilter::default()
            };
            let page = PageRequest::Cursor { after: None, limit };
            let (mut tasks, _) = state.store.page_tasks(org, &filter, page).await?;
            tasks.truncate(limit as usize);
            tasks
        }
    };
    Ok(axum::Json(TaskRows { tasks }))
}

/// One row of a merge result as the sync service sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergedRowBody {
    id: TaskId,
    expected_version: i64,
    title: String,
    description: Option<String>,
    status: Status,
    priority: Priority,
    assignee_id: Option<Uuid>,
    ward_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    due_at: Option<OffsetDateTime>,
    conflict: bool,
}

/// `POST /internal/sync/merge`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    org_id: Uuid,
    /// The practitioner whose sync produced the merge, for the audit rows.
    actor_id: Uuid,
    rows: Vec<MergedRowBody>,
}

impl MergedRowBody {
    /// Holds a merged row to the same rules as a REST edit, so no path writes what the API refuses.
    fn parse(self) -> Result<MergedRow, ApiError> {
        Ok(MergedRow {
            id: self.id,
            expected_version: self.expected_version,
            title: model::title(Some(self.title))?,
            description: model::description(self.description)?,
            status: self.status,
            priority: self.priority,
            assignee_id: self.assignee_id,
            ward_id: self.ward_id,
            due_at: self.due_at,
            conflict: self.conflict,
        })
    }
}

/// Writes a merge result: all rows or, if any moved since the sync service read it, none (409).
pub async fn merge_tasks(
    State(state): State<AppState>,
    _caller: Internal,
    Json(body): Json<MergeBody>,
) -> Result<axum::Json<TaskRows>, TaskError> {
    if body.rows.len() > MAX_ROWS {
        return Err(ApiError::invalid("rows", format!("at most {MAX_ROWS} rows")).into());
    }
    let rows = body
        .rows
        .into_iter()
        .map(MergedRowBody::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let actor = Actor {
        org: OrgId(body.org_id),
        user: UserId(body.actor_id),
    };
    let tasks = state.store.write_merged(actor, &rows).await?;
    Ok(axum::Json(TaskRows { tasks }))
}
