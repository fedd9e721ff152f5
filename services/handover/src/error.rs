//! The handover service's errors and how each leaves as JSON.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use emrlab_common::error::ApiError;

use crate::{
    model::{HandoverId, Status},
    tasks::Change,
};

/// Everything a handover request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("handover {0} not found")]
    NotFound(HandoverId),
    #[error("handover {id} is {}: only a requested handover can be accepted or rejected", .status.as_str())]
    NotPending { id: HandoverId, status: Status },
    #[error("{} of the handover's tasks changed hands since it was requested; nothing was reassigned", .0.len())]
    TasksChanged(Vec<Change>),
    /// Unreachable, or busy (its own 503); the text is for the log only.
    #[error("the task service is unavailable: {0}")]
    TaskServiceUnavailable(String),
    #[error("the task service did not answer in time")]
    TaskServiceTimeout,
    /// An answer outside the task service's contract; the text is for the log only.
    #[error("the task service's answer could not be used: {0}")]
    TaskServiceError(String),
    /// Input refused with a specific status and field (validation, role).
    #[error("{}", .0.body.message)]
    Rejected(ApiError),
    #[error("storage failure")]
    Storage(#[from] sqlx::Error),
}

impl From<ApiError> for HandoverError {
    fn from(error: ApiError) -> Self {
        Self::Rejected(error)
    }
}

impl IntoResponse for HandoverError {
    fn into_response(self) -> Response {
        let error = match self {
            Self::NotFound(_) => ApiError::not_found(self.to_string()),
            Self::NotPending { status, .. } => {
                ApiError::new(StatusCode::CONFLICT, "handover_not_pending", self.to_string())
                    .details(serde_json::json!({ "status": status.as_str() }))
            }
            Self::TasksChanged(ref changes) => {
                let details = serde_json::json!({ "changes": changes });
                ApiError::new(StatusCode::CONFLICT, "tasks_changed", self.to_string()).details(details)
            }
            Self::TaskServiceUnavailable(ref cause) => {
                tracing::warn!(cause = %cause, "task service unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "task_service_unavailable",
                    "the task service could not be reached; nothing was changed, retry shortly",
                )
                .retry_after(1)
            }
            Self::TaskServiceTimeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "task_service_timeout",
                "the task service did not answer in time; the handover is unchanged, retry shortly",
            ),
            Self::TaskServiceError(ref cause) => {
                tracing::error!(cause = %cause, "task service answer unusable");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "task_service_error",
                    "the task service's answer could not be used; quote the x-request-id header when reporting it",
                )
            }
            Self::Rejected(error) => error,
            Self::Storage(error) => ApiError::storage(error),
        };
        error.into_response()
    }
}
