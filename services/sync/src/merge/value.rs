//! What a task document holds: the fields people edit, the status and notes, each parsed once
//! into a validated type so the merge never meets a bad value.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SyncError;

/// The task service's limits, so a merged value always fits the task row.
const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 4_000;

/// Checks a text's length in characters and its control characters; line breaks and tabs are
/// allowed only where the text is multi-line.
fn checked(
    field: &'static str,
    text: String,
    required: bool,
    multiline: bool,
    max: usize,
) -> Result<String, SyncError> {
    if text.chars().count() > max || (required && text.trim().is_empty()) {
        let least = if required { "1" } else { "0" };
        return Err(SyncError::invalid(
            field,
            format!("{field} must be {least} to {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(SyncError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(text)
}

macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, $field:literal, required: $required:literal, multiline: $multiline:literal, max: $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates the text.
            pub fn parse(text: impl Into<String>) -> Result<Self, SyncError> {
                checked($field, text.into(), $required, $multiline, $max).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = SyncError;

            fn try_from(text: String) -> Result<Self, SyncError> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> Self {
                text.0
            }
        }
    };
}

text_type!(
    /// A task title: 1 to 200 characters, one line.
    Title, "title", required: true, multiline: false, max: TITLE_MAX
);
text_type!(
    /// A task description: up to 4,000 characters, line breaks allowed.
    Description, "description", required: false, multiline: true, max: TEXT_MAX
);
text_type!(
    /// A note's text: 1 to 4,000 characters, line breaks allowed.
    NoteText, "text", required: true, multiline: true, max: TEXT_MAX
);

/// FHIR Task.priority, spelled as the task service spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Routine,
    Urgent,
    Asap,
    Stat,
}

/// Where a task is in its life. The declaration order is the merge order (see [`crate::merge`] docs):
/// pending < in_progress < cancelled < completed; `cancelled` and `completed` are final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Pending,
    InProgress,
    Cancelled,
    Completed,
}

impl Status {
    /// Whether the task's work is over; a final status is only ever replaced by a greater one.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Cancelled | Self::Completed)
    }
}

/// A field of a task that people edit and that may therefore hold concurrent values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Description,
    Priority,
    AssigneeId,
    DueAt,
    WardId,
}

impl Field {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Description => "description",
            Self::Priority => "priority",
            Self::AssigneeId => "assignee_id",
            Self::DueAt => "due_at",
            Self::WardId => "ward_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value for one field. JSON: `{"field": "title", "value": "Obs round"}`; optional fields take
/// `"value": null` to clear them, and an unknown field name is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldValue {
    Title(Title),
    Description(Option<Description>),
    Priority(Priority),
    AssigneeId(Option<Uuid>),
    DueAt(#[serde(with = "time::serde::rfc3339::option")] Option<OffsetDateTime>),
    WardId(Option<Uuid>),
}

impl FieldValue {
    /// The field this value is for.
    pub fn field(&self) -> Field {
        match self {
            Self::Title(_) => Field::Title,
            Self::Description(_) => Field::Description,
            Self::Priority(_) => Field::Priority,
            Self::AssigneeId(_) => Field::AssigneeId,
            Self::DueAt(_) => Field::DueAt,
            Self::WardId(_) => Field::WardId,
        }
    }
}

/// A note's id, chosen by the device that wrote it (a UUID, so devices never coordinate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NoteId(pub Uuid);

impl fmt::Display for NoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A note or observation: written once, never edited or removed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub id: NoteId,
    pub text: NoteText,
    /// The user who wrote it.
    pub author: Uuid,
    /// The author's device clock when written: only for showing notes in order, never for merging.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_values_are_tagged_by_field_name() {
        let value = FieldValue::Title(Title::parse("Obs round").unwrap());
        assert_eq!(
            serde_json::to_value(&value).unwrap(),
            json!({"field": "title", "value": "Obs round"})
        );
        let cleared: FieldValue = serde_json::from_value(json!({"field": "assignee_id", "value": null})).unwrap();
        assert_eq!(cleared, FieldValue::AssigneeId(None));
        let due: FieldValue =
            serde_json::from_value(json!({"field": "due_at", "value": "2026-01-02T03:04:05Z"})).unwrap();
        assert_eq!(due.field(), Field::DueAt);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        for bad in [
            json!({"field": "patient_id", "value": null}),
            json!({"field": "title", "value": ""}),
            json!({"field": "title", "value": "a\u{7}b"}),
            json!({"field": "title", "value": "x".repeat(201)}),
            json!({"field": "priority", "value": "whenever"}),
            json!({"field": "due_at", "value": "tomorrow"}),
            json!({"field": "title", "value": "ok", "extra": 1}),
        ] {
            assert!(
                serde_json::from_value::<FieldValue>(bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn note_text_is_limited_to_4000_characters() {
        assert!(NoteText::parse("é".repeat(4_000)).is_ok());
        let err = NoteText::parse("x".repeat(4_001)).unwrap_err();
        assert_eq!(err, SyncError::invalid("text", "text must be 1 to 4000 characters"));
        assert!(NoteText::parse("line one\nline two").is_ok());
        assert!(NoteText::parse("  ").is_err());
        assert!(Description::parse("").is_ok());
    }

    #[test]
    fn final_statuses_sit_above_the_working_ones() {
        assert!(Status::Pending < Status::InProgress && Status::InProgress < Status::Cancelled);
        assert!(Status::Cancelled < Status::Completed);
        assert!(Status::Cancelled.is_final() && !Status::InProgress.is_final());
    }
}
