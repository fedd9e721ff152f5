//! The Task a vendor holds, and a `POST`/`PUT /Task` body parsed once into it. Only the FHIR
//! values docs/vendors.md maps from the platform are taken; anything else is refused here, so the
//! store and the renderer never see an unchecked value.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::outcome::FhirError;

/// The identifier system carrying the platform's task id.
pub const PLATFORM_TASK_SYSTEM: &str = "urn:emrlab:task";

/// `Task.status`, limited to the four the platform's statuses map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Requested,
    InProgress,
    Completed,
    Cancelled,
}

impl Status {
    /// The FHIR code for a platform status (`pending`, `in_progress`, `completed`, `cancelled`).
    pub fn from_platform(status: &str) -> Option<Self> {
        match status {
            "pending" => Some(Self::Requested),
            "in_progress" => Some(Self::InProgress),
            "completed" => Some(Self::Completed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    fn from_fhir(code: &str) -> Option<Self> {
        match code {
            "requested" => Some(Self::Requested),
            "in-progress" => Some(Self::InProgress),
            "completed" => Some(Self::Completed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// `Task.priority` (FHIR's request-priority value set, the platform's own four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Routine,
    Urgent,
    Asap,
    Stat,
}

impl Priority {
    /// Platform and FHIR spell these alike.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "routine" => Some(Self::Routine),
            "urgent" => Some(Self::Urgent),
            "asap" => Some(Self::Asap),
            "stat" => Some(Self::Stat),
            _ => None,
        }
    }
}

/// A business identifier (`system|value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

/// What a caller says about a task: everything but its id, version and timestamps.
#[derive(Debug, Clone)]
pub struct TaskContent {
    pub identifiers: Vec<Identifier>,
    pub status: Status,
    pub priority: Priority,
    /// `code.text`: the platform task's title.
    pub title: String,
    pub description: Option<String>,
    /// The vendor's id of the patient in `for.reference`.
    pub patient_id: String,
    /// `restriction.period.end`: when the task is due.
    pub due: Option<OffsetDateTime>,
}

/// A parsed Task body.
#[derive(Debug)]
pub struct TaskInput {
    pub content: TaskContent,
    /// `authoredOn` when the caller sent one.
    pub authored_on: Option<OffsetDateTime>,
    /// `id` when the caller sent one: an update must name the task it is sent to.
    pub id: Option<String>,
}

/// A task as stored; replaced whole on every update.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: String,
    pub version: u64,
    pub authored_on: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub content: TaskContent,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTask {
    resource_type: Option<String>,
    id: Option<String>,
    #[serde(default)]
    identifier: Vec<RawIdentifier>,
    status: Option<String>,
    intent: Option<String>,
    priority: Option<String>,
    code: Option<RawText>,
    description: Option<String>,
    #[serde(rename = "for")]
    subject: Option<RawReference>,
    authored_on: Option<String>,
    restriction: Option<RawRestriction>,
}

#[derive(Deserialize)]
struct RawIdentifier {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct RawText {
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawReference {
    reference: Option<String>,
}

#[derive(Deserialize)]
struct RawRestriction {
    period: Option<RawPeriod>,
}

#[derive(Deserialize)]
struct RawPeriod {
    end: Option<String>,
}

impl TaskInput {
    /// Parses a body: unreadable JSON or not a Task is a 400, a value outside what the
    /// contract allows a 422. Whether the patient exists is the store's to say.
    pub fn parse(body: &[u8]) -> Result<Self, FhirError> {
        let raw: RawTask = serde_json::from_slice(body)
            .map_err(|e| FhirError::Structure(format!("the body is not a readable Task: {e}")))?;
        if raw.resource_type.as_deref() != Some("Task") {
            return Err(FhirError::Structure("resourceType must be \"Task\"".into()));
        }
        let status = required(raw.status, "status")?;
        let status = Status::from_fhir(&status)
            .ok_or_else(|| invalid("status must be requested, in-progress, completed or cancelled"))?;
        if required(raw.intent, "intent")? != "order" {
            return Err(invalid("intent must be order"));
        }
        let priority = required(raw.priority, "priority")?;
        let priority =
            Priority::parse(&priority).ok_or_else(|| invalid("priority must be routine, urgent, asap or stat"))?;
        let title = raw.code.and_then(|c| c.text).unwrap_or_default();
        if title.trim().is_empty() {
            return Err(invalid("code.text (the task's title) is required"));
        }
        let reference = raw.subject.and_then(|s| s.reference).unwrap_or_default();
        let patient_id = reference
            .strip_prefix("Patient/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| invalid("for.reference must be Patient/<id>"))?
            .to_owned();
        let identifiers = raw
            .identifier
            .into_iter()
            .map(|i| match (i.system, i.value) {
                (Some(system), Some(value)) if !system.is_empty() && !value.is_empty() => {
                    Ok(Identifier { system, value })
                }
                _ => Err(invalid("every identifier needs a system and a value")),
            })
            .collect::<Result<_, _>>()?;
        let due = raw.restriction.and_then(|r| r.period).and_then(|p| p.end);
        Ok(Self {
            content: TaskContent {
                identifiers,
                status,
                priority,
                title,
                description: raw.description.filter(|d| !d.is_empty()),
                patient_id,
                due: due.map(|d| instant(&d, "restriction.period.end")).transpose()?,
            },
            authored_on: raw.authored_on.map(|a| instant(&a, "authoredOn")).transpose()?,
            id: raw.id,
        })
    }
}

fn invalid(message: &str) -> FhirError {
    FhirError::Invalid(message.to_owned())
}

fn required(value: Option<String>, field: &str) -> Result<String, FhirError> {
    value.ok_or_else(|| FhirError::Invalid(format!("{field} is required")))
}

fn instant(value: &str, field: &str) -> Result<OffsetDateTime, FhirError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|_| FhirError::Invalid(format!("{field} must be an instant such as 2026-01-31T09:30:00Z")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> serde_json::Value {
        json!({
            "resourceType": "Task",
            "identifier": [{"system": PLATFORM_TASK_SYSTEM, "value": "0190c5a2-0000-7000-8000-000000000001"}],
            "status": "in-progress",
            "intent": "order",
            "priority": "stat",
            "code": {"text": "Obs round"},
            "for": {"reference": "Patient/e123"},
            "authoredOn": "2026-01-31T09:30:00Z",
            "restriction": {"period": {"end": "2026-01-31T10:30:00Z"}}
        })
    }

    fn parse(value: serde_json::Value) -> Result<TaskInput, FhirError> {
        TaskInput::parse(&serde_json::to_vec(&value).unwrap())
    }

    #[test]
    fn a_complete_task_is_taken() {
        let input = parse(body()).unwrap();
        assert_eq!(input.content.status, Status::InProgress);
        assert_eq!(input.content.priority, Priority::Stat);
        assert_eq!(input.content.patient_id, "e123");
        assert!(input.content.due.is_some() && input.authored_on.is_some());
    }

    #[test]
    fn unreadable_bodies_are_400_and_bad_values_422() {
        assert!(matches!(
            TaskInput::parse(b"{\"resourceType\":"),
            Err(FhirError::Structure(_))
        ));
        let mut patient = body();
        patient["resourceType"] = json!("Patient");
        assert!(matches!(parse(patient), Err(FhirError::Structure(_))));
        for (field, value) in [
            ("status", json!("draft")),
            ("intent", json!("plan")),
            ("priority", json!("whenever")),
            ("code", json!({"text": " "})),
            ("for", json!({"reference": "Practitioner/1"})),
            ("authoredOn", json!("yesterday")),
        ] {
            let mut bad = body();
            bad[field] = value;
            assert!(matches!(parse(bad), Err(FhirError::Invalid(_))), "{field}");
        }
    }
}
