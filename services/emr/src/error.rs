//! Everything an EMR request can fail with, and the status and message each gives the caller.
//! Vendor failures name the vendor and say what to do; internal details stay in the logs.

use std::time::Duration;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use emrlab_common::error::ApiError;
use emrlab_seed::Vendor;

/// Cloneable, because one single-flight result may answer many callers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmrError {
    #[error("the {0} circuit breaker is open: {0} has been failing; retry in {1:?}")]
    BreakerOpen(Vendor, Duration),
    #[error("too many calls to {0} are in flight; retry shortly")]
    BulkheadFull(Vendor),
    #[error("{0} did not answer in time")]
    Timeout(Vendor),
    #[error("{0} could not be reached")]
    Unreachable(Vendor),
    #[error("{0} is throttling requests")]
    Throttled(Vendor, Option<Duration>),
    #[error("{0} answered with an error ({1})")]
    VendorFailed(Vendor, u16),
    #[error("{0} sent an answer that could not be read")]
    Malformed(Vendor),
    #[error("{}", .0.body.message)]
    Rejected(ApiError),
    #[error("storage failure: {0}")]
    Storage(String),
    /// The database is busy or unreachable: a 503 the caller may retry.
    #[error("{}", .0.body.message)]
    Database(ApiError),
}

impl From<ApiError> for EmrError {
    fn from(error: ApiError) -> Self {
        Self::Rejected(error)
    }
}

impl From<sqlx::Error> for EmrError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            e if matches!(e, sqlx::Error::PoolTimedOut) || emrlab_common::error::unreachable(&e) => {
                Self::Database(ApiError::storage(e))
            }
            other => Self::Storage(other.to_string()),
        }
    }
}

impl EmrError {
    /// A failure of the vendor (for the breaker), as opposed to a refusal or our own error.
    pub fn is_vendor_failure(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::Unreachable(_) | Self::Throttled(..) | Self::VendorFailed(..) | Self::Malformed(_)
        )
    }

    /// Worth another attempt of an idempotent call. Not a timeout: that attempt already spent
    /// the caller's patience, and retrying a slow vendor only adds to its load.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_) | Self::Throttled(..) | Self::VendorFailed(..)
        )
    }

    /// The outcome label of the vendor-call metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::BreakerOpen(..) => "breaker_open",
            Self::BulkheadFull(_) => "bulkhead_full",
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Throttled(..) => "throttled",
            Self::VendorFailed(..) => "error",
            Self::Malformed(_) => "malformed",
            Self::Rejected(_) => "rejected",
            Self::Storage(_) | Self::Database(_) => "internal",
        }
    }
}

fn seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl IntoResponse for EmrError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let vendor = |v: &Vendor| serde_json::json!({ "vendor": v.as_str() });
        let error = match &self {
            Self::BreakerOpen(v, wait) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "breaker_open", message)
                .details(vendor(v))
                .retry_after(seconds(*wait)),
            Self::BulkheadFull(v) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "bulkhead_full", message)
                .details(vendor(v))
                .retry_after(1),
            Self::Timeout(v) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "vendor_timeout", message).details(vendor(v))
            }
            Self::Unreachable(v) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "vendor_unavailable", message).details(vendor(v))
            }
            Self::Throttled(v, wait) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "vendor_throttled", message)
                .details(vendor(v))
                .retry_after(wait.map_or(1, seconds)),
            Self::VendorFailed(v, _) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "vendor_error", message).details(vendor(v))
            }
            Self::Malformed(v) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "vendor_malformed", message).details(vendor(v))
            }
            Self::Rejected(error) => error.clone(),
            Self::Database(error) => error.clone(),
            Self::Storage(detail) => ApiError::internal(detail),
        };
        error.into_response()
    }
}
