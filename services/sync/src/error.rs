//! The sync service's errors and how each leaves as JSON. Merge refusals are already shaped as
//! [`ApiError`]s by [`crate::wire::refused`]; this adds the failures of storage and of the task
//! service it writes through.

use axum::response::{IntoResponse, Response};

use emrlab_common::error::ApiError;

/// Everything a sync request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input refused, or a state the caller must act on (409 gap, 413 batch, 503 queue full).
    #[error("{}", .0.body.message)]
    Rejected(ApiError),
    /// The task service refused or failed; its answer is passed on when it is the caller's.
    #[error("task service: {0}")]
    Tasks(String),
    #[error("storage failure")]
    Storage(#[from] sqlx::Error),
}

impl From<ApiError> for ServiceError {
    fn from(error: ApiError) -> Self {
        Self::Rejected(error)
    }
}

impl ServiceError {
    /// The answer a client gets.
    pub fn into_api_error(self) -> ApiError {
        match self {
            Self::Rejected(error) => error,
            Self::Tasks(detail) => {
                tracing::error!(detail, "task service call failed");
                ApiError::unavailable("the task service could not apply the merge; retry shortly")
            }
            Self::Storage(error) => ApiError::storage(error),
        }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        self.into_api_error().into_response()
    }
}
