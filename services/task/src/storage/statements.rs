//! SQL fragments both backends share: a task's columns and the statement parts of a create.

/// The audit row of a create, in the statement that inserts the task: $1 org, $2 task id,
/// $12 its timestamp, $14 the audit row's id, $15 the actor, $16 the task as JSON.
macro_rules! create_audit_values {
    () => {
        "INSERT INTO audit_log (id, org_id, actor_id, action, entity, entity_id, before, after, at) \
         VALUES ($14, $1, $15, 'task.create', 'task', $2, NULL, $16, $12)"
    };
}
pub(crate) use create_audit_values;

/// The task columns and their placeholders $1–$13 of a create.
macro_rules! create_task_values {
    () => {
        concat!(
            "INSERT INTO tasks (org_id, ",
            crate::storage::statements::task_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )
    };
}
pub(crate) use create_task_values;

/// Columns of a task as a create writes them; the verification columns take their defaults.
macro_rules! task_columns {
    () => {
        "id, patient_id, title, description, status, priority, assignee_id, ward_id, due_at, created_at, updated_at, version"
    };
}
pub(crate) use task_columns;

/// Columns of a task as every read returns it, in the order `task_from_row` reads them.
macro_rules! task_row_columns {
    () => {
        concat!(
            crate::storage::statements::task_columns!(),
            ", verification, verified_at, conflict"
        )
    };
}
pub(crate) use task_row_columns;

/// One task of an organisation by id: $1 org, $2 task id.
pub(crate) const FETCH_TASK: &str = concat!(
    "SELECT ",
    task_row_columns!(),
    " FROM tasks WHERE org_id = $1 AND id = $2"
);
