//! Every refusal a simulated vendor gives, as FHIR does it: an `OperationOutcome` with one issue
//! whose `code` the adapters branch on (docs/vendors.md, "Errors").

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::fhir;

/// Why a request was not answered with a resource.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// The body or query could not be read as what the route takes (400).
    #[error("{0}")]
    Structure(String),
    /// A readable resource with a value the vendor does not take (422).
    #[error("{0}")]
    Invalid(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("send the body as application/fhir+json")]
    MediaType,
    /// Nothing under that id or path (404); the message names what was looked for.
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("the resource is at version {current}; read it again before changing it")]
    VersionConflict { current: u64 },
    #[error("too many requests; retry after {retry_after} s")]
    Throttled { retry_after: u64 },
    /// A failure, injected or real; the caller learns nothing more.
    #[error("internal error")]
    Exception,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationOutcome<'a> {
    resource_type: &'static str,
    issue: [Issue<'a>; 1],
}

#[derive(Serialize)]
struct Issue<'a> {
    severity: &'static str,
    code: &'static str,
    diagnostics: &'a str,
}

impl FhirError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Structure(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "invalid"),
            Self::MediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "not-supported"),
            Self::VersionConflict { .. } => (StatusCode::PRECONDITION_FAILED, "conflict"),
            Self::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Self::Exception => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        }
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let diagnostics = self.to_string();
        let outcome = OperationOutcome {
            resource_type: "OperationOutcome",
            issue: [Issue {
                severity: "error",
                code,
                diagnostics: &diagnostics,
            }],
        };
        // Three static strings and a message: serialising this cannot fail.
        let body = serde_json::to_vec(&outcome).unwrap_or_default();
        let mut response = fhir::json(status, body);
        if let Self::Throttled { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// Fallback for a known FHIR path asked with a method it does not take.
pub async fn method_not_allowed() -> FhirError {
    FhirError::MethodNotAllowed
}

/// Route for a path under the FHIR base that names no resource the vendor serves.
pub async fn unknown_resource() -> FhirError {
    FhirError::NotFound("no resource type or operation at this path".into())
}
