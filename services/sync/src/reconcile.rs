//! Keeping a document and its task row in step. A row edited through the task API (or by a
//! handover) has a greater version than the one the document was last written at; the edit
//! enters the document as a change of the server replica that had seen the whole document, since
//! the editor saw the row the document produced. A merged document goes back to the row as its
//! view: one value per field by the documented rule, and the conflict flag.

use uuid::Uuid;

use crate::{
    FieldValue, Op, ReplicaId, SyncError, TaskDoc, TaskView,
    storage::StoredDoc,
    tasks::{RowWrite, TaskRow},
};

/// A row's values as the changes that would write them, in field order, status last.
fn row_ops(row: &TaskRow) -> [Op; 7] {
    [
        Op::Set(FieldValue::Title(row.title.clone())),
        Op::Set(FieldValue::Description(row.description.clone())),
        Op::Set(FieldValue::Priority(row.priority)),
        Op::Set(FieldValue::AssigneeId(row.assignee_id)),
        Op::Set(FieldValue::DueAt(row.due_at)),
        Op::Set(FieldValue::WardId(row.ward_id)),
        Op::SetStatus(row.status),
    ]
}

/// Whether the view already shows what `op` would write.
fn shows(view: &TaskView, op: &Op) -> bool {
    match op {
        Op::Set(FieldValue::Title(t)) => view.title.as_ref() == Some(t),
        Op::Set(FieldValue::Description(d)) => view.description == *d,
        Op::Set(FieldValue::Priority(p)) => view.priority == Some(*p),
        Op::Set(FieldValue::AssigneeId(a)) => view.assignee_id == *a,
        Op::Set(FieldValue::DueAt(d)) => view.due_at == *d,
        Op::Set(FieldValue::WardId(w)) => view.ward_id == *w,
        Op::SetStatus(s) => view.status == *s,
        Op::AddNote(_) => true,
    }
}

/// The document for a row: the stored one with any edits made through the task API since, or,
/// for a task never synced, one made from the row by the server. `true` when it differs from
/// what is stored (so it must be stored, at a new position).
pub fn reconcile(stored: Option<&StoredDoc>, row: &TaskRow) -> Result<(TaskDoc, bool), SyncError> {
    let server = ReplicaId::server();
    match stored {
        None => {
            let mut doc = TaskDoc::default();
            for op in row_ops(row) {
                doc.change(server.clone(), op)?;
            }
            Ok((doc, true))
        }
        Some(stored) if row.version > stored.row_version => {
            let mut doc = stored.doc.clone();
            let view = doc.view();
            for op in row_ops(row) {
                if !shows(&view, &op) {
                    doc.change(server.clone(), op)?;
                }
            }
            Ok((doc, true))
        }
        Some(stored) => Ok((stored.doc.clone(), false)),
    }
}

/// The row write a document needs, if its view differs from the row.
pub fn row_write(task_id: Uuid, doc: &TaskDoc, row: &TaskRow) -> Option<RowWrite> {
    let view = doc.view();
    let same = row_ops(row).iter().all(|op| shows(&view, op)) && view.conflict == row.conflict;
    if same {
        return None;
    }
    Some(RowWrite {
        id: task_id,
        expected_version: row.version,
        // A document made from a row always holds a title and a priority.
        title: view.title.unwrap_or_else(|| row.title.clone()),
        description: view.description,
        status: view.status,
        priority: view.priority.unwrap_or(row.priority),
        assignee_id: view.assignee_id,
        ward_id: view.ward_id,
        due_at: view.due_at,
        conflict: view.conflict,
    })
}
