//! The single value per field a task row shows, chosen by a deterministic rule while a field is
//! conflicted, plus the `conflict` flag that says a person still has to choose.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Description, Field, FieldValue, Note, Priority, Status, TaskDoc, Title};

/// A document flattened to one value per field, as the task row shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// `None` only for a document no one has given a title yet.
    pub title: Option<Title>,
    pub description: Option<Description>,
    /// `None` only for a document no one has given a priority yet.
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    pub ward_id: Option<Uuid>,
    pub status: Status,
    /// Every note, by the author's time and then id.
    pub notes: Vec<Note>,
    /// Whether any field holds concurrent values.
    pub conflict: bool,
    /// Which fields do, in field order.
    pub conflicted_fields: Vec<Field>,
}

impl TaskDoc {
    /// The view: each field shows the value with the greatest dot (counter, then replica id), a
    /// rule every replica computes alike; the status shows the greatest status it holds.
    pub fn view(&self) -> TaskView {
        let mut view = TaskView {
            status: self.status.entries().iter().map(|e| e.value).max().unwrap_or_default(),
            ..TaskView::default()
        };
        for (&field, register) in &self.fields {
            if register.is_conflicted() {
                view.conflicted_fields.push(field);
            }
            match register.shown().cloned() {
                Some(FieldValue::Title(title)) => view.title = Some(title),
                Some(FieldValue::Description(description)) => view.description = description,
                Some(FieldValue::Priority(priority)) => view.priority = Some(priority),
                Some(FieldValue::AssigneeId(assignee)) => view.assignee_id = assignee,
                Some(FieldValue::DueAt(due)) => view.due_at = due,
                Some(FieldValue::WardId(ward)) => view.ward_id = ward,
                None => {}
            }
        }
        view.conflict = !view.conflicted_fields.is_empty();
        view.notes = self.notes.values().cloned().collect();
        view.notes.sort_by_key(|note| (note.at, note.id));
        view
    }
}
