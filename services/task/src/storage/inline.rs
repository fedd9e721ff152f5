//! `db.sqlite_inline_reads` in the task store: a task by id read on the request's own thread
//! (see `emrlab_common::sqlite_inline`), with the same statement as the pooled read.

use emrlab_common::{auth::OrgId, db::from_micros, sqlite_inline::InlineReader};
use rusqlite::{OptionalExtension, Row};

use crate::model::{Priority, Status, Task, TaskId, Verification};

/// The task, or `None` when the organisation has no such task; an error (a lock met, say) means
/// the caller reads through its pool instead.
pub(crate) fn fetch_task(reader: &InlineReader, org: OrgId, id: TaskId) -> rusqlite::Result<Option<Task>> {
    reader.read(|conn| {
        conn.prepare_cached(super::statements::FETCH_TASK)?
            .query_row(rusqlite::params![org.0, id.0], task_from_row)
            .optional()
    })
}

/// A stored name (`pending`, `stat`…) as its enum; a name the model does not know is a decoding error.
fn named<T>(row: &Row<'_>, column: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let name = row.get_ref(column)?.as_str()?;
    parse(name).ok_or_else(|| {
        let error = format!("unknown value {name:?}");
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, error.into())
    })
}

/// The columns of `task_row_columns!`, in its order; instants are microseconds as on SQLite.
fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let instant = |column| row.get::<_, Option<i64>>(column).map(|v| v.map(from_micros));
    let required = |column| row.get::<_, i64>(column).map(from_micros);
    Ok(Task {
        id: TaskId(row.get(0)?),
        patient_id: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        status: named(row, 4, Status::parse)?,
        priority: named(row, 5, Priority::parse)?,
        assignee_id: row.get(6)?,
        ward_id: row.get(7)?,
        due_at: instant(8)?,
        created_at: required(9)?,
        updated_at: required(10)?,
        version: row.get(11)?,
        verification: named(row, 12, Verification::parse)?,
        verified_at: instant(13)?,
        conflict: row.get(14)?,
    })
}
