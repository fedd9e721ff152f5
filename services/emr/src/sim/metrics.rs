//! The simulator's own series: what each vendor was asked and how it answered, injected faults
//! included, so a user can tell the simulator's doing from the platform's (docs/vendors.md).

use std::time::Duration;

use axum::http::{Method, StatusCode};

/// Requests by `component` (the vendor), `operation` and `outcome`.
pub const REQUESTS: &str = "emrlab_vendor_requests_total";
/// Time to the answer's head by `component`, `operation` and `outcome` (hangs and trickles
/// are counted only: they have no answer time worth a bucket).
pub const DURATION: &str = "emrlab_vendor_request_duration_seconds";

/// What a FHIR request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PatientRead,
    PatientSearch,
    TaskCreate,
    TaskRead,
    TaskUpdate,
}

impl Operation {
    const ALL: [Self; 5] = [
        Self::PatientRead,
        Self::PatientSearch,
        Self::TaskCreate,
        Self::TaskRead,
        Self::TaskUpdate,
    ];

    /// The `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientRead => "patient.read",
            Self::PatientSearch => "patient.search",
            Self::TaskCreate => "task.create",
            Self::TaskRead => "task.read",
            Self::TaskUpdate => "task.update",
        }
    }

    /// The operation of a route template below the FHIR base (`/Patient/{id}`).
    pub fn of(method: &Method, route: &str) -> Option<Self> {
        match (method.as_str(), route) {
            ("GET" | "HEAD", "/Patient/{id}") => Some(Self::PatientRead),
            ("GET" | "HEAD", "/Patient") => Some(Self::PatientSearch),
            ("POST", "/Task") => Some(Self::TaskCreate),
            ("GET" | "HEAD", "/Task/{id}") => Some(Self::TaskRead),
            ("PUT", "/Task/{id}") => Some(Self::TaskUpdate),
            _ => None,
        }
    }
}

/// How a FHIR request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    Throttled,
    Malformed,
    Hang,
    Trickle,
    NotFound,
    Invalid,
    Conflict,
}

impl Outcome {
    const ALL: [Self; 9] = [
        Self::Ok,
        Self::Error,
        Self::Throttled,
        Self::Malformed,
        Self::Hang,
        Self::Trickle,
        Self::NotFound,
        Self::Invalid,
        Self::Conflict,
    ];

    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Throttled => "throttled",
            Self::Malformed => "malformed",
            Self::Hang => "hang",
            Self::Trickle => "trickle",
            Self::NotFound => "not_found",
            Self::Invalid => "invalid",
            Self::Conflict => "conflict",
        }
    }

    /// The outcome of an answer the handlers gave (not an injected one).
    pub fn of_status(status: StatusCode) -> Self {
        match status {
            s if s.is_success() => Self::Ok,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::PRECONDITION_FAILED => Self::Conflict,
            StatusCode::TOO_MANY_REQUESTS => Self::Throttled,
            s if s.is_client_error() => Self::Invalid,
            _ => Self::Error,
        }
    }
}

/// Creates every series of `component` at zero, so dashboards see a vendor before its traffic.
pub fn register(component: &'static str) {
    emrlab_common::metrics::handle();
    metrics::describe_counter!(REQUESTS, "requests to a simulated vendor by operation and outcome");
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "simulated vendor answer time by operation and outcome, injected latency included"
    );
    for operation in Operation::ALL {
        for outcome in Outcome::ALL {
            metrics::counter!(REQUESTS, "component" => component, "operation" => operation.as_str(),
                "outcome" => outcome.as_str())
            .increment(0);
        }
    }
}

/// Counts one request, and its answer time when it had one.
pub fn record(component: &'static str, operation: Operation, outcome: Outcome, elapsed: Option<Duration>) {
    let labels = [
        ("component", component),
        ("operation", operation.as_str()),
        ("outcome", outcome.as_str()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    if let Some(elapsed) = elapsed {
        metrics::histogram!(DURATION, &labels).record(elapsed);
    }
}
