//! FHIR R4 JSON for what the vendors serve (Patient, Task, the searchset Bundle) and the headers
//! every FHIR answer carries. Field names and nesting follow the R4 resource definitions, so a
//! real FHIR client reads these unchanged.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{
    data::PatientRecord,
    model::{Priority, Status, TaskRecord},
    outcome::FhirError,
};

/// The media type of every FHIR body.
pub const CONTENT_TYPE: &str = "application/fhir+json";

/// HL7 v2 table 0203, whose `MR` code marks an identifier as the medical record number.
const IDENTIFIER_TYPES: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// A FHIR JSON answer; an empty body (Cerner's answer to a create) goes without a content type.
pub fn json(status: StatusCode, body: Vec<u8>) -> Response {
    if body.is_empty() {
        return status.into_response();
    }
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

/// A resource answer with its version as a weak ETag.
pub fn versioned(status: StatusCode, body: Vec<u8>, version: u64) -> Response {
    let mut response = json(status, body);
    if let Ok(etag) = HeaderValue::try_from(etag(version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// `W/"n"`, the ETag of version `n`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Serialises a resource; only an instant outside RFC 3339's years can fail.
pub fn body(resource: &impl Serialize) -> Result<Vec<u8>, FhirError> {
    serde_json::to_vec(resource).map_err(|e| {
        tracing::error!(error = %e, "a resource could not be serialised");
        FhirError::Exception
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    last_updated: OffsetDateTime,
}

/// `Patient`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient<'a> {
    resource_type: &'static str,
    id: &'a str,
    meta: Meta,
    identifier: [MrnIdentifier<'a>; 1],
    active: bool,
    name: [HumanName<'a>; 1],
    gender: &'a str,
    birth_date: &'a str,
}

#[derive(Serialize)]
struct MrnIdentifier<'a> {
    #[serde(rename = "use")]
    usage: &'static str,
    #[serde(rename = "type")]
    kind: CodeableConcept,
    system: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct CodeableConcept {
    coding: [Coding; 1],
    text: &'static str,
}

#[derive(Serialize)]
struct Coding {
    system: &'static str,
    code: &'static str,
    display: &'static str,
}

#[derive(Serialize)]
struct HumanName<'a> {
    #[serde(rename = "use")]
    usage: &'static str,
    text: &'a str,
    family: &'a str,
    given: [&'a str; 1],
}

/// A seeded patient as a FHIR Patient; patients are never changed, so always version 1.
pub fn patient<'a>(record: &'a PatientRecord, mrn_system: &'static str) -> Patient<'a> {
    Patient {
        resource_type: "Patient",
        id: &record.id,
        meta: Meta {
            version_id: Some("1".into()),
            last_updated: record.last_updated,
        },
        identifier: [MrnIdentifier {
            usage: "usual",
            kind: CodeableConcept {
                coding: [Coding {
                    system: IDENTIFIER_TYPES,
                    code: "MR",
                    display: "Medical record number",
                }],
                text: "MRN",
            },
            system: mrn_system,
            value: &record.mrn,
        }],
        active: true,
        name: [HumanName {
            usage: "official",
            text: &record.name_text,
            family: record.family,
            given: [record.given],
        }],
        gender: record.gender,
        birth_date: &record.birth_date,
    }
}

/// `Task`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task<'a> {
    resource_type: &'static str,
    id: &'a str,
    meta: Meta,
    // FHIR JSON never carries an empty array.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identifier: Vec<TaskIdentifier<'a>>,
    status: Status,
    intent: &'static str,
    priority: Priority,
    code: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "for")]
    subject: Reference,
    #[serde(with = "time::serde::rfc3339")]
    authored_on: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_modified: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    restriction: Option<Restriction>,
}

#[derive(Serialize)]
struct TaskIdentifier<'a> {
    system: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Reference {
    reference: String,
}

#[derive(Serialize)]
struct Restriction {
    period: Period,
}

#[derive(Serialize)]
struct Period {
    #[serde(with = "time::serde::rfc3339")]
    end: OffsetDateTime,
}

/// A stored task as a FHIR Task.
pub fn task(record: &TaskRecord) -> Task<'_> {
    let content = &record.content;
    Task {
        resource_type: "Task",
        id: &record.id,
        meta: Meta {
            version_id: Some(record.version.to_string()),
            last_updated: record.last_modified,
        },
        identifier: content
            .identifiers
            .iter()
            .map(|i| TaskIdentifier {
                system: &i.system,
                value: &i.value,
            })
            .collect(),
        status: content.status,
        intent: "order",
        priority: content.priority,
        code: Text { text: &content.title },
        description: content.description.as_deref(),
        subject: Reference {
            reference: format!("Patient/{}", content.patient_id),
        },
        authored_on: record.authored_on,
        last_modified: record.last_modified,
        restriction: content.due.map(|end| Restriction { period: Period { end } }),
    }
}

/// A `searchset` Bundle of patients.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<'a> {
    resource_type: &'static str,
    id: String,
    meta: Meta,
    #[serde(rename = "type")]
    kind: &'static str,
    total: usize,
    link: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entry: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Link {
    relation: &'static str,
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    full_url: String,
    resource: Patient<'a>,
    search: SearchMode,
}

#[derive(Serialize)]
struct SearchMode {
    mode: &'static str,
}

/// One page of a patient search: `total` matches in all, `page` of them here, `next` when more
/// follow. `base_url` is the vendor's absolute FHIR base, for each entry's `fullUrl`.
pub fn searchset<'a>(
    base_url: &str,
    mrn_system: &'static str,
    total: usize,
    page: impl Iterator<Item = &'a PatientRecord>,
    self_url: String,
    next_url: Option<String>,
) -> Bundle<'a> {
    let mut link = vec![Link {
        relation: "self",
        url: self_url,
    }];
    link.extend(next_url.map(|url| Link { relation: "next", url }));
    Bundle {
        resource_type: "Bundle",
        id: uuid::Uuid::new_v4().to_string(),
        meta: Meta {
            version_id: None,
            last_updated: OffsetDateTime::now_utc(),
        },
        kind: "searchset",
        total,
        link,
        entry: page
            .map(|record| Entry {
                full_url: format!("{base_url}/Patient/{}", record.id),
                resource: patient(record, mrn_system),
                search: SearchMode { mode: "match" },
            })
            .collect(),
    }
}
