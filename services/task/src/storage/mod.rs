//! What the task service needs from a database, and its one SQL implementation, expanded for
//! PostgreSQL and SQLite by [`sql_task_store!`] so both backends run the same statements.
//! Both pass `tests/store_contract/`.

use async_trait::async_trait;
use time::OffsetDateTime;

use emrlab_common::{auth::OrgId, db::AnyDb};

use crate::{
    error::TaskError,
    internal::{Expected, Reassigned, TaskSummary},
    listing::{PageRequest, TaskFilter},
    model::{Actor, NewTask, Task, TaskChange, TaskId, Verification},
};

pub mod admissions;
mod audit_rows;
mod inline;
mod locked;
pub mod patients;
mod postgres;
mod reassign;
mod sql;
pub(crate) mod sqlite;
pub(crate) mod statements;
pub mod synced;

/// Task persistence. Every method takes the organisation, so tenancy lives in the SQL.
/// The handover's side ([`ReassignStore`]) is a supertrait, so `Arc<dyn TaskStore>` offers it.
#[async_trait] // boxed futures keep the trait usable as `Arc<dyn TaskStore>`
pub trait TaskStore:
    synced::SyncedRows + ReassignStore + patients::PatientRefs + admissions::PatientStore + Send + Sync + 'static
{
    /// Inserts a task and its audit row in one transaction; the patient (and assignee and ward,
    /// when given) must belong to the actor's organisation.
    async fn insert_task(&self, actor: Actor, new: NewTask) -> Result<Task, TaskError>;
    /// One task of the organisation.
    async fn fetch_task(&self, org: OrgId, id: TaskId) -> Result<Task, TaskError>;
    /// Applies a change if the task is still at `expected` (when given), with its audit row.
    async fn update_task(
        &self,
        actor: Actor,
        id: TaskId,
        expected: Option<i64>,
        change: &TaskChange,
    ) -> Result<Task, TaskError>;
    /// A page of matching tasks, newest first, and the total count in offset mode.
    /// Cursor pages return up to `limit + 1` rows so the caller can tell whether more follow.
    async fn page_tasks(
        &self,
        org: OrgId,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<(Vec<Task>, Option<i64>), TaskError>;
    /// The audit actions recorded for an entity, oldest first.
    async fn audit_actions(&self, org: OrgId, entity_id: uuid::Uuid) -> Result<Vec<String>, TaskError>;
    /// Records a verification's outcome in a short write of its own; the version, `updated_at`
    /// and the audit log stay as they are, since it is not an edit of the task.
    async fn record_verification(
        &self,
        org: OrgId,
        id: TaskId,
        state: Verification,
        at: OffsetDateTime,
    ) -> Result<Task, TaskError>;
    /// Opens a write transaction and reads the task in it, locking its row (PostgreSQL) or the
    /// database's writers (SQLite) until the returned guard records an outcome or is dropped.
    /// The transaction holds a pooled connection all that time: `tasks.verify_mode =
    /// in_transaction` uses this to reproduce handlers that wait on a vendor inside one.
    async fn lock_task(&self, org: OrgId, id: TaskId) -> Result<Box<dyn LockedTask>, TaskError>;
}

/// What a handover needs from the tasks: their assignment facts, and an atomic reassignment.
#[async_trait]
pub trait ReassignStore: Send + Sync + 'static {
    /// The organisation's tasks among `ids` (missing ones are absent), in id order.
    async fn lookup_tasks(&self, org: OrgId, ids: &[uuid::Uuid]) -> Result<Vec<TaskSummary>, TaskError>;
    /// In one transaction: locks the tasks, checks each is still with its expected assignee
    /// (or already with `to`), and if any is not, writes nothing and fails with
    /// [`TaskError::TasksChanged`]; else assigns every open task to `to`, bumps its version and
    /// `updated_at`, and writes a `task.reassigned` audit row for each. `to` must be a
    /// practitioner of the organisation; a task not in it is [`TaskError::NotFound`].
    async fn reassign_tasks(
        &self,
        actor: Actor,
        handover: uuid::Uuid,
        to: uuid::Uuid,
        tasks: &[Expected],
    ) -> Result<Reassigned, TaskError>;
}

/// A task read in an open write transaction. Dropping it rolls the transaction back.
#[async_trait]
pub trait LockedTask: Send {
    /// The task as read under the lock.
    fn task(&self) -> &Task;
    /// Records a verification's outcome in the transaction and commits it.
    async fn record_verification(self: Box<Self>, state: Verification, at: OffsetDateTime) -> Result<Task, TaskError>;
}

/// The store for a component's database.
pub fn open(db: &AnyDb) -> std::sync::Arc<dyn TaskStore> {
    match db {
        AnyDb::Postgres(db) => std::sync::Arc::new(postgres::PgTaskStore::new(db.clone())),
        AnyDb::Sqlite(db) => std::sync::Arc::new(sqlite::SqliteTaskStore::new(db.clone())),
    }
}
