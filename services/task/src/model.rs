//! Tasks as the API shows them, and the parsing that turns request bodies into validated changes,
//! so storage never re-checks a title's length.

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{OrgId, UserId},
    error::ApiError,
};

/// A task's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub Uuid);

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every accepted spelling, for error messages and the OpenAPI document.
            pub const ALL: &[&str] = &[$($text),+];

            /// The stored and JSON spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the stored or JSON spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }

            /// Parses input for `field`; anything else (or nothing) is a 422 listing the choices.
            pub fn parse_field(field: &'static str, value: Option<&str>) -> Result<Self, ApiError> {
                value.and_then(Self::parse).ok_or_else(|| {
                    ApiError::invalid(field, format!("{field} must be one of {}", Self::ALL.join(", ")))
                })
            }
        }
    };
}

string_enum!(
    /// Where a task is in its life; `completed` and `cancelled` are final.
    Status { Pending = "pending", InProgress = "in_progress", Completed = "completed", Cancelled = "cancelled" }
);
string_enum!(
    /// FHIR Task.priority.
    Priority { Routine = "routine", Urgent = "urgent", Asap = "asap", Stat = "stat" }
);
string_enum!(
    /// The outcome of the last comparison with the vendor's copy (`POST /tasks/{id}/verify`);
    /// `pending` until the first one. Not a user edit: recording it leaves the version alone.
    Verification { Pending = "pending", Verified = "verified", Mismatch = "mismatch", Failed = "failed" }
);

impl Status {
    /// Whether the task can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

/// A task as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub patient_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub ward_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
    pub verification: Verification,
    /// When the last verification was recorded, whatever its outcome.
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// Whether a field holds concurrent values from offline devices (see `/sync/conflicts`);
    /// the row then shows the one the sync service's rule picks.
    pub conflict: bool,
}

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 4_000;

/// A present-but-null field (`"assignee_id": null`) is `Some(None)`; an absent one is `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn present_instant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    time::serde::rfc3339::option::deserialize(d).map(Some)
}

/// The body of `POST /tasks` and `PUT /tasks/{id}` as sent; [`NewTask::parse`] and
/// [`TaskChange::parse`] validate it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    #[serde(default, deserialize_with = "present")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub patient_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub status: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub priority: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub assignee_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    pub ward_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present_instant")]
    pub due_at: Option<Option<OffsetDateTime>>,
    /// Only on PUT: the version the caller last read.
    #[serde(default)]
    pub version: Option<i64>,
    /// Read-only fields a client may send back unchanged; they are ignored.
    #[serde(default)]
    pub id: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub created_at: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub updated_at: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub verification: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub verified_at: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub conflict: Option<serde::de::IgnoredAny>,
}

pub(crate) fn title(value: Option<String>) -> Result<String, ApiError> {
    let title = value.ok_or_else(|| ApiError::invalid("title", "title is required"))?;
    let chars = title.chars().count();
    if chars == 0 || chars > TITLE_MAX || title.trim().is_empty() {
        return Err(ApiError::invalid(
            "title",
            format!("title must be 1 to {TITLE_MAX} characters"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::invalid("title", "title must not contain control characters"));
    }
    Ok(title)
}

pub(crate) fn description(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(d) if d.chars().count() > DESCRIPTION_MAX => Err(ApiError::invalid(
            "description",
            format!("description must be at most {DESCRIPTION_MAX} characters"),
        )),
        Some(d) if d.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => Err(ApiError::invalid(
            "description",
            "description must not contain control characters other than line breaks and tabs",
        )),
        other => Ok(other),
    }
}

fn status(value: Option<String>) -> Result<Status, ApiError> {
    Status::parse_field("status", value.as_deref())
}

fn priority(value: Option<String>) -> Result<Priority, ApiError> {
    Priority::parse_field("priority", value.as_deref())
}

/// A validated new task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub patient_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub ward_id: Option<Uuid>,
    pub due_at: Option<OffsetDateTime>,
}

impl NewTask {
    /// Validates a `POST /tasks` body: `title` and `patient_id` required, `priority` defaults to routine.
    pub fn parse(body: TaskBody) -> Result<Self, ApiError> {
        if body.version.is_some() {
            return Err(ApiError::invalid("version", "a new task has no version yet"));
        }
        let status = match body.status {
            None => Status::Pending,
            Some(s) => status(s)?,
        };
        if status.is_final() {
            return Err(ApiError::invalid("status", "a new task must be pending or in_progress"));
        }
        Ok(Self {
            title: title(body.title.flatten())?,
            patient_id: body
                .patient_id
                .flatten()
                .ok_or_else(|| ApiError::invalid("patient_id", "patient_id is required"))?,
            description: description(body.description.flatten())?,
            status,
            priority: match body.priority {
                None => Priority::Routine,
                Some(p) => priority(p)?,
            },
            assignee_id: body.assignee_id.flatten(),
            ward_id: body.ward_id.flatten(),
            due_at: body.due_at.flatten(),
        })
    }

    /// The task this creates.
    pub fn into_task(self, id: TaskId, now: OffsetDateTime) -> Task {
        Task {
            id,
            patient_id: self.patient_id,
            title: self.title,
            description: self.description,
            status: self.status,
            priority: self.priority,
            assignee_id: self.assignee_id,
            ward_id: self.ward_id,
            due_at: self.due_at,
            created_at: now,
            updated_at: now,
            version: 1,
            verification: Verification::Pending,
            verified_at: None,
            conflict: false,
        }
    }
}

/// A validated change to an existing task: only the fields present change.
#[derive(Debug, Clone, Default)]
pub struct TaskChange {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<Uuid>>,
    pub ward_id: Option<Option<Uuid>>,
    pub due_at: Option<Option<OffsetDateTime>>,
}

impl TaskChange {
    /// Validates a `PUT /tasks/{id}` body (the patient of a task cannot change).
    pub fn parse(body: TaskBody) -> Result<Self, ApiError> {
        if body.patient_id.is_some() {
            return Err(ApiError::invalid(
                "patient_id",
                "a task's patient cannot change; create a new task",
            ));
        }
        Ok(Self {
            title: body.title.map(title).transpose()?,
            description: body.description.map(description).transpose()?,
            status: body.status.map(status).transpose()?,
            priority: body.priority.map(priority).transpose()?,
            assignee_id: body.assignee_id,
            ward_id: body.ward_id,
            due_at: body.due_at,
        })
    }

    /// The change `POST /tasks/{id}/complete` makes.
    pub fn complete() -> Self {
        Self {
            status: Some(Status::Completed),
            ..Self::default()
        }
    }

    /// The task after this change, or why the change is not allowed.
    pub fn apply(&self, current: &Task, now: OffsetDateTime) -> Result<Task, ApiError> {
        if current.status.is_final() {
            return Err(ApiError::invalid(
                "status",
                format!("the task is {} and can no longer change", current.status.as_str()),
            )
            .details(serde_json::json!({ "current_status": current.status.as_str() })));
        }
        let mut next = current.clone();
        if let Some(title) = &self.title {
            next.title.clone_from(title);
        }
        if let Some(description) = &self.description {
            next.description.clone_from(description);
        }
        if let Some(status) = self.status {
            next.status = status;
        }
        if let Some(priority) = self.priority {
            next.priority = priority;
        }
        if let Some(assignee) = self.assignee_id {
            next.assignee_id = assignee;
        }
        if let Some(ward) = self.ward_id {
            next.ward_id = ward;
        }
        if let Some(due) = self.due_at {
            next.due_at = due;
        }
        next.version = current.version + 1;
        next.updated_at = now;
        Ok(next)
    }
}

/// Who acts and in which organisation; every storage call takes it.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub org: OrgId,
    pub user: UserId,
}
