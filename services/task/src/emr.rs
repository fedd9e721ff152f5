//! The EMR service as the task service calls it: `POST /emr/tasks/{id}/verify`, which compares a
//! task with the vendor's copy, stores nothing and calls nothing back. Its answer is mirrored
//! here rather than shared, because service crates never depend on each other.

use std::{sync::Arc, time::Duration};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use emrlab_common::{error::ApiError, server::REQUEST_ID};
use emrlab_seed::Vendor;

use crate::model::{Task, TaskId};

/// One field where the task and the vendor's copy disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub field: String,
    pub ours: Value,
    pub vendor: Value,
}

/// The EMR service's comparison of a task with the vendor's copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub task_id: TaskId,
    pub verified: bool,
    /// The vendor of the task's patient; `null` when the task was never pushed to one.
    pub vendor: Option<Vendor>,
    /// `null` when the vendor holds no copy of the task.
    pub vendor_task_id: Option<String>,
    pub differences: Vec<Difference>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// The caller's headers a verification passes on: the token, which the EMR service checks itself,
/// and the request id, so that one id finds the request in every component's logs.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    authorization: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl Forwarded {
    /// Picks the forwarded headers out of the caller's request.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            authorization: headers.get(header::AUTHORIZATION).cloned(),
            request_id: headers.get(&REQUEST_ID).cloned(),
        }
    }
}

/// Why a verification produced no comparison. Every case is recorded as `failed`.
#[derive(Debug)]
pub enum Failure {
    /// The EMR service answered with an error (vendor down, breaker open, bad input), already
    /// shaped as what the caller is told.
    Refused(ApiError),
    /// No complete answer within `tasks.verify_timeout`.
    TimedOut,
    /// The EMR service could not be reached, or the connection broke.
    Unreachable(reqwest::Error),
    /// An answer outside the EMR service's contract.
    Malformed(String),
}

impl Failure {
    fn from_transport(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::TimedOut
        } else {
            Self::Unreachable(error)
        }
    }

    /// What the caller is told: each case says that the verification failed, and
    /// `details.verification` that this is the state now stored.
    pub fn into_api_error(self) -> ApiError {
        let failed = serde_json::json!({ "verification": "failed" });
        match self {
            Self::Refused(error) => error,
            Self::TimedOut => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "emr_timeout",
                "verification failed: the EMR service did not answer in time",
            )
            .details(failed),
            Self::Unreachable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "emr_unavailable",
                "verification failed: the EMR service could not be reached; retry shortly",
            )
            .details(failed)
            .retry_after(1),
            Self::Malformed(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "emr_error",
                "verification failed: the EMR service's answer could not be read",
            )
            .details(failed),
        }
    }
}

/// Error codes of the EMR service passed on unchanged. `ErrorBody` takes a `&'static str`, and
/// an unknown code becomes `emr_error` rather than a string no client was told about.
const PASSED_CODES: &[&str] = &[
    "breaker_open",
    "bulkhead_full",
    "vendor_unavailable",
    "vendor_timeout",
    "vendor_error",
    "vendor_malformed",
    "vendor_throttled",
    "invalid_field",
    "not_found",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "unavailable",
    "timeout",
    "internal",
];

/// The caller's error for an EMR error answer: its status, code, field and details, its message
/// prefixed, and `details.verification = "failed"`.
fn refusal(status: StatusCode, body: &[u8], retry_after: Option<u64>) -> ApiError {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // The platform's `ErrorBody` is flat (`{"error": "<code>", "message", ...}`); an `error`
    // object with `code` and `message` inside is read too, so neither side has to change first.
    let nested = body.get("error").filter(|error| error.is_object());
    let member = |name: &str| nested.and_then(|error| error.get(name)).or_else(|| body.get(name));
    let code = nested
        .map_or_else(|| body.get("error"), |error| error.get("code"))
        .and_then(Value::as_str);
    let code = PASSED_CODES
        .iter()
        .copied()
        .find(|known| Some(*known) == code)
        .unwrap_or("emr_error");
    let message = member("message")
        .and_then(Value::as_str)
        .map_or_else(|| format!("the EMR service answered {status}"), str::to_owned);
    let mut details = member("details")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    details.insert("verification".to_owned(), "failed".into());
    let mut error =
        ApiError::new(status, code, format!("verification failed: {message}")).details(Value::Object(details));
    if let Some(field) = member("field").and_then(Value::as_str) {
        error = error.field(field);
    }
    if let Some(seconds) = retry_after {
        error = error.retry_after(seconds);
    }
    error
}

/// The EMR service's base URL and one pooled client for every call to it.
#[derive(Clone)]
pub struct EmrClient {
    http: reqwest::Client,
    base: Arc<str>,
}

impl EmrClient {
    /// A client for the EMR service at `base` (e.g. `http://127.0.0.1:41234`).
    pub fn new(base: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').into(),
        }
    }

    /// Asks the EMR service to compare `task`, as `GET /tasks/{id}` shows it, with the vendor's
    /// copy; the whole exchange, body included, ends within `timeout`.
    #[tracing::instrument(skip_all, fields(task_id = %task.id))]
    pub async fn verify(&self, task: &Task, forwarded: &Forwarded, timeout: Duration) -> Result<Comparison, Failure> {
        let url = format!("{}/emr/tasks/{}/verify", self.base, task.id);
        let mut request = self.http.post(url).json(task).timeout(timeout);
        if let Some(token) = &forwarded.authorization {
            request = request.header(header::AUTHORIZATION, token.clone());
        }
        if let Some(id) = &forwarded.request_id {
            request = request.header(REQUEST_ID, id.clone());
        }
        let response = emrlab_common::telemetry::send(request, "emr", "verify")
            .await
            .map_err(Failure::from_transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = response.bytes().await.map_err(Failure::from_transport)?;
        if status == StatusCode::OK {
            let comparison: Comparison =
                serde_json::from_slice(&body).map_err(|e| Failure::Malformed(format!("comparison: {e}")))?;
            if comparison.task_id != task.id {
                return Err(Failure::Malformed(format!(
                    "asked about task {}, answered about {}",
                    task.id, comparison.task_id
                )));
            }
            return Ok(comparison);
        }
        if !(status.is_client_error() || status.is_server_error()) {
            return Err(Failure::Malformed(format!("unexpected status {status}")));
        }
        Err(Failure::Refused(refusal(status, &body, retry_after)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emr_error_keeps_its_status_code_field_and_details_and_says_verification_failed() {
        let body = br#"{"error": "breaker_open", "message": "the epic circuit breaker is open", "field": null,
                        "details": {"vendor": "epic"}}"#;
        let error = refusal(StatusCode::SERVICE_UNAVAILABLE, body, Some(30));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.body.error, "breaker_open");
        assert_eq!(
            error.body.message,
            "verification failed: the epic circuit breaker is open"
        );
        assert_eq!(
            error.body.details.as_deref(),
            Some(&serde_json::json!({"vendor": "epic", "verification": "failed"}))
        );
        assert_eq!(error.retry_after, Some(30));
    }

    #[test]
    fn a_nested_error_object_is_read_too() {
        let body = br#"{"error": {"code": "vendor_timeout", "message": "epic did not answer in time"}}"#;
        let error = refusal(StatusCode::GATEWAY_TIMEOUT, body, None);
        assert_eq!(
            (error.body.error, error.body.message.as_str()),
            ("vendor_timeout", "verification failed: epic did not answer in time")
        );
    }

    #[test]
    fn an_unknown_code_or_a_body_that_is_not_json_becomes_emr_error_with_the_same_status() {
        let unknown = refusal(
            StatusCode::BAD_GATEWAY,
            br#"{"error": "something_new", "message": "m"}"#,
            None,
        );
        let text = refusal(StatusCode::INTERNAL_SERVER_ERROR, b"oops", None);
        assert_eq!(
            (unknown.status, unknown.body.error),
            (StatusCode::BAD_GATEWAY, "emr_error")
        );
        assert_eq!(
            (text.status, text.body.error, text.body.message.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "emr_error",
                "verification failed: the EMR service answered 500 Internal Server Error"
            )
        );
    }
}
