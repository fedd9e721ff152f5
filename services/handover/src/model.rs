//! Handovers as the API shows them, and the parsing that turns a request body into a validated
//! new handover, so storage never re-checks a text's length.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{auth::UserId, error::ApiError};

/// A handover's id (UUID v7, so ids sort by creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HandoverId(pub Uuid);

impl std::fmt::Display for HandoverId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a handover is. `accepting` is the claim an accept holds while the task service
/// reassigns (seconds at most); it ends as `accepted`, or back at `requested` on a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Requested,
    Accepting,
    Accepted,
    Rejected,
}

impl Status {
    /// Every spelling, for error messages and the OpenAPI document.
    pub const ALL: &[&str] = &["requested", "accepting", "accepted", "rejected"];

    /// The stored and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Accepting => "accepting",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    /// Parses the stored or JSON spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "requested" => Self::Requested,
            "accepting" => Self::Accepting,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

/// The SBAR note: situation, background, assessment, recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sbar {
    pub situation: String,
    pub background: Option<String>,
    pub assessment: Option<String>,
    pub recommendation: Option<String>,
}

/// One task handed over and the assignee it had when the handover was requested.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HandoverTask {
    pub task_id: Uuid,
    pub expected_assignee_id: Option<Uuid>,
}

/// A handover as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    pub id: HandoverId,
    pub status: Status,
    pub from_practitioner_id: Uuid,
    pub to_practitioner_id: Uuid,
    pub ward_id: Uuid,
    /// In the order the request listed them.
    pub tasks: Vec<HandoverTask>,
    pub sbar: Sbar,
    pub notes: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<Uuid>,
    pub reject_reason: Option<String>,
}

/// Most tasks one handover may carry (a whole ward's shift, and the platform's page size).
pub const MAX_TASKS: usize = 200;
const SBAR_MAX: usize = 2_000;
const NOTES_MAX: usize = 4_000;
const REASON_MAX: usize = 1_000;

/// The SBAR part of a `POST /handovers` body, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbarBody {
    pub situation: Option<String>,
    pub background: Option<String>,
    pub assessment: Option<String>,
    pub recommendation: Option<String>,
}

/// The body of `POST /handovers` as sent; [`NewHandover::parse`] validates it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    pub to_practitioner_id: Uuid,
    pub ward_id: Uuid,
    pub task_ids: Vec<Uuid>,
    pub sbar: SbarBody,
    pub notes: Option<String>,
}

/// The body of `POST /handovers/{id}/reject`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: Option<String>,
}

/// Free text of at most `max` characters: line breaks and tabs allowed, other control characters
/// not (they hide text in a clinical note and break log lines downstream).
fn text(field: &'static str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(t) if t.chars().count() > max => Err(ApiError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        )),
        Some(t) if t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => Err(ApiError::invalid(
            field,
            format!("{field} must not contain control characters other than line breaks and tabs"),
        )),
        other => Ok(other),
    }
}

/// Required free text: present and not blank.
fn required(field: &'static str, value: Option<String>, max: usize) -> Result<String, ApiError> {
    match text(field, value, max)? {
        Some(t) if !t.trim().is_empty() => Ok(t),
        _ => Err(ApiError::invalid(
            field,
            format!("{field} is required (1 to {max} characters)"),
        )),
    }
}

/// A validated new handover; the tasks' recorded assignees come from the task service.
#[derive(Debug, Clone)]
pub struct NewHandover {
    pub from: UserId,
    pub to: Uuid,
    pub ward_id: Uuid,
    pub task_ids: Vec<Uuid>,
    pub sbar: Sbar,
    pub notes: Option<String>,
}

impl NewHandover {
    /// Validates a `POST /handovers` body sent by `from`.
    pub fn parse(body: HandoverBody, from: UserId) -> Result<Self, ApiError> {
        if body.to_practitioner_id == from.0 {
            return Err(ApiError::invalid(
                "to_practitioner_id",
                "a handover goes to another practitioner, not to yourself",
            ));
        }
        if body.task_ids.is_empty() || body.task_ids.len() > MAX_TASKS {
            return Err(ApiError::invalid(
                "task_ids",
                format!("task_ids must list from 1 to {MAX_TASKS} tasks"),
            ));
        }
        let mut sorted = body.task_ids.clone();
        sorted.sort_unstable();
        if let Some(twice) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(ApiError::invalid(
                "task_ids",
                format!("task {} is listed more than once", twice[0]),
            ));
        }
        let sbar = Sbar {
            situation: required("sbar.situation", body.sbar.situation, SBAR_MAX)?,
            background: text("sbar.background", body.sbar.background, SBAR_MAX)?,
            assessment: text("sbar.assessment", body.sbar.assessment, SBAR_MAX)?,
            recommendation: text("sbar.recommendation", body.sbar.recommendation, SBAR_MAX)?,
        };
        Ok(Self {
            from,
            to: body.to_practitioner_id,
            ward_id: body.ward_id,
            task_ids: body.task_ids,
            sbar,
            notes: text("notes", body.notes, NOTES_MAX)?,
        })
    }
}

impl RejectBody {
    /// The validated reason.
    pub fn reason(self) -> Result<String, ApiError> {
        required("reason", self.reason, REASON_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(task_ids: Vec<Uuid>, situation: Option<&str>) -> HandoverBody {
        HandoverBody {
            to_practitioner_id: Uuid::now_v7(),
            ward_id: Uuid::now_v7(),
            task_ids,
            sbar: SbarBody {
                situation: situation.map(str::to_owned),
                background: None,
                assessment: None,
                recommendation: None,
            },
            notes: None,
        }
    }

    #[test]
    fn a_blank_situation_a_repeated_task_and_too_many_tasks_are_refused_by_field() {
        let me = UserId(Uuid::now_v7());
        let blank = NewHandover::parse(body(vec![Uuid::now_v7()], Some("  ")), me).unwrap_err();
        assert_eq!(blank.body.field.as_deref(), Some("sbar.situation"));
        let id = Uuid::now_v7();
        let twice = NewHandover::parse(body(vec![id, id], Some("ok")), me).unwrap_err();
        assert_eq!(twice.body.field.as_deref(), Some("task_ids"));
        let many = (0..=MAX_TASKS).map(|_| Uuid::now_v7()).collect();
        let many = NewHandover::parse(body(many, Some("ok")), me).unwrap_err();
        assert_eq!(many.body.field.as_deref(), Some("task_ids"));
    }

    #[test]
    fn every_status_spelling_parses_back() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(*s));
        }
    }
}
