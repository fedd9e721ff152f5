//! The task service's errors and how each leaves as JSON.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use emrlab_common::error::ApiError;

use crate::model::TaskId;

/// Everything a task request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task {0} not found")]
    NotFound(TaskId),
    #[error("task {id} was changed by someone else; reload it (now version {current})")]
    StaleVersion { id: TaskId, current: i64 },
    /// A handover's tasks changed hands since it was requested; nothing was reassigned.
    #[error("{} of the handover's tasks changed hands since it was requested; nothing was reassigned", .0.len())]
    TasksChanged(Vec<crate::internal::Change>),
    /// Input refused with a specific status and field (validation, missing precondition).
    #[error("{}", .0.body.message)]
    Rejected(ApiError),
    #[error("storage failure")]
    Storage(#[from] sqlx::Error),
}

impl From<ApiError> for TaskError {
    fn from(error: ApiError) -> Self {
        Self::Rejected(error)
    }
}

impl IntoResponse for TaskError {
    fn into_response(self) -> Response {
        let error = match self {
            Self::NotFound(_) => ApiError::not_found(self.to_string()),
            Self::StaleVersion { current, .. } => {
                ApiError::new(StatusCode::CONFLICT, "stale_version", self.to_string())
                    .field("version")
                    .details(serde_json::json!({ "current_version": current }))
            }
            Self::TasksChanged(ref changes) => {
                let details = serde_json::json!({ "changes": changes });
                ApiError::new(StatusCode::CONFLICT, "tasks_changed", self.to_string()).details(details)
            }
            Self::Rejected(error) => error,
            Self::Storage(error) => ApiError::storage(error),
        };
        error.into_response()
    }
}
