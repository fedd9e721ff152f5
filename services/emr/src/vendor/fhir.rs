//! The FHIR R4 shapes both vendors share: reading a Patient into the platform's normalized patient,
//! and a task to and from a FHIR Task. Where the vendors differ, [`super::Adapter`] says how.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Adapter;

/// The identifier system under which the vendors keep the platform's task id.
pub const TASK_SYSTEM: &str = "urn:emrlab:task";

/// A patient as the EMR service returns it: the platform's shape, not raw FHIR.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Patient {
    pub id: Uuid,
    pub vendor: emrlab_seed::Vendor,
    pub vendor_id: String,
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
    pub sex: String,
    pub vendor_version: String,
    pub vendor_updated_at: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
}

/// Reads a FHIR Patient; `None` if it lacks what the platform needs.
pub fn read_patient(adapter: &dyn Adapter, id: Uuid, resource: &Value) -> Option<Patient> {
    if resource.get("resourceType")?.as_str()? != "Patient" {
        return None;
    }
    let name = resource
        .get("name")?
        .as_array()?
        .iter()
        .find(|n| n.get("use") == Some(&json!("official")))?;
    let mrn = resource
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|i| i.get("system").and_then(Value::as_str) == Some(adapter.mrn_system()))?
        .get("value")?
        .as_str()?;
    Some(Patient {
        id,
        vendor: adapter.vendor(),
        vendor_id: resource.get("id")?.as_str()?.to_owned(),
        mrn: adapter.platform_mrn(mrn),
        given_name: name.get("given")?.as_array()?.first()?.as_str()?.to_owned(),
        family_name: name.get("family")?.as_str()?.to_owned(),
        birth_date: resource.get("birthDate")?.as_str()?.to_owned(),
        sex: resource
            .get("gender")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        vendor_version: resource.pointer("/meta/versionId")?.as_str()?.to_owned(),
        vendor_updated_at: resource
            .pointer("/meta/lastUpdated")
            .and_then(Value::as_str)
            .map(str::to_owned),
        fetched_at: OffsetDateTime::now_utc(),
    })
}

/// A task as callers send it (the task service's JSON; other fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct TaskInput {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub priority: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
}

/// The platform's task status as FHIR's, and back.
pub fn fhir_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "pending" => "requested",
        "in_progress" => "in-progress",
        "completed" => "completed",
        "cancelled" => "cancelled",
        _ => return None,
    })
}

pub fn platform_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "requested" => "pending",
        "in-progress" => "in_progress",
        "completed" => "completed",
        "cancelled" => "cancelled",
        _ => return None,
    })
}

/// The FHIR Task a task becomes at the vendor holding `patient_vendor_id`.
pub fn task_resource(task: &TaskInput, status: &str, patient_vendor_id: &str, vendor_task_id: Option<&str>) -> Value {
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut resource = json!({
        "resourceType": "Task",
        "identifier": [{ "system": TASK_SYSTEM, "value": task.id.to_string() }],
        "status": status,
        "intent": "order",
        "priority": task.priority,
        "code": { "text": task.title },
        "for": { "reference": format!("Patient/{patient_vendor_id}") },
        "authoredOn": now,
        "lastModified": now,
    });
    if let Some(description) = &task.description {
        resource["description"] = json!(description);
    }
    if let Some(due) = task
        .due_at
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
    {
        resource["restriction"] = json!({ "period": { "end": due } });
    }
    if let Some(id) = vendor_task_id {
        resource["id"] = json!(id);
    }
    resource
}

/// One field on which the platform's task and the vendor's copy disagree.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    pub field: &'static str,
    pub ours: Value,
    pub vendor: Value,
}

/// Compares a task with the vendor's copy: the fields a clinician acts on.
pub fn compare(task: &TaskInput, patient_vendor_id: &str, copy: &Value) -> Vec<Difference> {
    let text = |pointer: &str| copy.pointer(pointer).and_then(Value::as_str);
    let vendor_status = text("/status").map(|s| platform_status(s).unwrap_or(s));
    let reference = format!("Patient/{patient_vendor_id}");
    let checks: [(&'static str, Value, Option<&str>); 5] = [
        ("title", json!(task.title), text("/code/text")),
        ("description", json!(task.description), text("/description")),
        ("status", json!(task.status), vendor_status),
        ("priority", json!(task.priority), text("/priority")),
        ("patient", json!(reference), text("/for/reference")),
    ];
    checks
        .into_iter()
        .filter(|(_, ours, theirs)| ours.as_str() != *theirs)
        .map(|(field, ours, theirs)| Difference {
            field,
            ours,
            vendor: json!(theirs),
        })
        .collect()
}

/// The resource type of an answer, to tell a FHIR body from a broken one.
pub fn is_resource(body: &Value, resource_type: &str) -> bool {
    body.get("resourceType").and_then(Value::as_str) == Some(resource_type)
}
