//! Patients as the API shows them, and the validation of an admission and of a search.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use emrlab_common::error::ApiError;

use crate::model::Task;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

const MRN_MAX: usize = 40;
const NAME_MAX: usize = 100;
const BED_MAX: usize = 16;
const SEXES: &[&str] = &["female", "male", "other", "unknown"];
/// The longest search string: a name or an MRN, never a document.
const QUERY_MAX: usize = 100;

/// A patient of the organisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patient {
    pub id: Uuid,
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    /// `given_name family_name`, as the task list's `include=patient` shows it.
    pub name: String,
    #[serde(with = "iso_date")]
    pub birth_date: Date,
    pub sex: String,
    pub ward_id: Option<Uuid>,
    pub bed: Option<String>,
    /// `admitted` (in a bed), `discharged`, or `registered` (known, never admitted).
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub admitted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub discharged_at: Option<OffsetDateTime>,
    pub admitting_practitioner_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Patient {
    /// The status its admission and discharge instants imply.
    pub fn status_of(admitted_at: Option<OffsetDateTime>, discharged_at: Option<OffsetDateTime>) -> &'static str {
        match (admitted_at, discharged_at) {
            (_, Some(_)) => "discharged",
            (Some(_), None) => "admitted",
            (None, None) => "registered",
        }
    }
}

/// `GET /patients/{id}`: the patient and its open tasks.
#[derive(Debug, Serialize)]
pub struct PatientDetail {
    #[serde(flatten)]
    pub patient: Patient,
    /// Pending and in-progress tasks, newest first, at most [`crate::listing::MAX_LIMIT`]; the
    /// full list is `GET /tasks?patient_id=…`.
    pub active_tasks: Vec<Task>,
}

/// The body of `POST /patients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionBody {
    mrn: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    birth_date: Option<String>,
    sex: Option<String>,
    ward_id: Option<Uuid>,
    bed: Option<String>,
    admitting_practitioner_id: Option<Uuid>,
}

/// A validated admission: a new patient, in a ward's bed from now on.
#[derive(Debug, Clone)]
pub struct Admission {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: &'static str,
    pub ward_id: Uuid,
    pub bed: String,
    pub admitting_practitioner_id: Uuid,
}

/// Required text of 1 to `max` characters, not blank, without control characters.
fn text(field: &'static str, value: Option<String>, max: usize) -> Result<String, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))?;
    let value = value.trim().to_owned();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(value)
}

impl AdmissionBody {
    /// Validates the body; the admitting practitioner defaults to the caller.
    pub fn parse(self, caller: Uuid, today: Date) -> Result<Admission, ApiError> {
        let mrn = text("mrn", self.mrn, MRN_MAX)?;
        if !mrn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::invalid("mrn", "mrn must be letters, digits and '-'"));
        }
        let birth_date = self
            .birth_date
            .ok_or_else(|| ApiError::invalid("birth_date", "birth_date is required"))
            .and_then(|d| {
                Date::parse(&d, &time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| ApiError::invalid("birth_date", "birth_date must be a date such as 1950-02-03"))
            })?;
        if birth_date > today || birth_date.year() < 1900 {
            return Err(ApiError::invalid("birth_date", "birth_date must be from 1900 to today"));
        }
        let sex = self.sex.ok_or_else(|| ApiError::invalid("sex", "sex is required"))?;
        let sex = SEXES
            .iter()
            .find(|s| **s == sex)
            .ok_or_else(|| ApiError::invalid("sex", format!("sex must be one of {}", SEXES.join(", "))))?;
        Ok(Admission {
            mrn,
            given_name: text("given_name", self.given_name, NAME_MAX)?,
            family_name: text("family_name", self.family_name, NAME_MAX)?,
            birth_date,
            sex,
            ward_id: self
                .ward_id
                .ok_or_else(|| ApiError::invalid("ward_id", "ward_id is required"))?,
            bed: text("bed", self.bed, BED_MAX)?,
            admitting_practitioner_id: self.admitting_practitioner_id.unwrap_or(caller),
        })
    }
}

/// The query string of `GET /patients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    #[serde(alias = "ward")]
    ward_id: Option<Uuid>,
    status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Which patients a search wants; every filter narrows it.
#[derive(Debug, Clone, Default)]
pub struct PatientFilter {
    /// The search string: an MRN prefix, or terms that must each occur in the given or family
    /// name, ignoring case (ASCII case on SQLite, as for tasks).
    pub q: Option<String>,
    pub ward_id: Option<Uuid>,
    /// `Some(true)`: only patients in a bed; `Some(false)`: only discharged ones.
    pub admitted: Option<bool>,
}

impl PatientFilter {
    /// The whitespace-separated terms of `q`.
    pub fn terms(&self) -> Vec<&str> {
        self.q
            .as_deref()
            .map(|q| q.split_whitespace().collect())
            .unwrap_or_default()
    }
}

impl SearchQuery {
    pub fn filter(&self) -> Result<PatientFilter, ApiError> {
        let q = match self.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > QUERY_MAX || q.chars().any(char::is_control) => {
                return Err(ApiError::invalid(
                    "q",
                    format!("q must be at most {QUERY_MAX} characters, without control characters"),
                ));
            }
            Some(q) => Some(q.to_owned()),
        };
        let admitted = match self.status.as_deref() {
            None | Some("all") => None,
            Some("admitted") => Some(true),
            Some("discharged") => Some(false),
            Some(_) => {
                return Err(ApiError::invalid(
                    "status",
                    "status must be admitted, discharged or all",
                ));
            }
        };
        Ok(PatientFilter {
            q,
            ward_id: self.ward_id,
            admitted,
        })
    }
}
