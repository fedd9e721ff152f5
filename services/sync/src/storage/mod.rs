//! What the sync service keeps in the database: registered devices, one replicated document per
//! synced task, the organisation's change order, and async jobs. One SQL implementation for both
//! backends ([`sql_sync_store!`]), differing only in how an instant is stored.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{auth::OrgId, db::AnyDb};

use crate::{ReplicaId, TaskDoc, error::ServiceError};

mod postgres;
mod sql;
mod sqlite;

/// A task's document as stored.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub task_id: Uuid,
    pub doc: TaskDoc,
    /// The task row's version this document was last written at; a greater row version means
    /// the row was edited through the task API since.
    pub row_version: i64,
    /// Bumped on every store, so two merges of one task cannot both store.
    pub doc_version: i64,
    /// Its place in the organisation's change order.
    pub position: i64,
}

/// A document to store: new (`expected_doc_version` None) or replacing the version read.
#[derive(Debug, Clone)]
pub struct DocWrite {
    pub task_id: Uuid,
    pub doc: TaskDoc,
    pub row_version: i64,
    pub expected_doc_version: Option<i64>,
}

/// Another merge stored one of the documents first; the caller reads them again and retries.
#[derive(Debug, Clone, Copy)]
pub struct Raced;

/// An async job's state.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: Uuid,
    pub status: String,
    pub result: Option<serde_json::Value>,
    pub submitted_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// A job still to merge, as a restart finds it.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    pub id: Uuid,
    pub org: OrgId,
    pub device: String,
    pub actor: Uuid,
    pub request: String,
}

/// Sync persistence. Every method on tenant data takes the organisation.
#[async_trait]
pub trait SyncStore: Send + Sync + 'static {
    /// Registers a device (again: a re-install keeps its id) for a practitioner.
    async fn register_device(&self, org: OrgId, device: &ReplicaId, practitioner: Uuid) -> Result<(), ServiceError>;
    /// Marks a device seen; false if it never registered in this organisation.
    async fn touch_device(&self, org: OrgId, device: &ReplicaId) -> Result<bool, ServiceError>;
    /// The stored documents among `ids`.
    async fn load_docs(&self, org: OrgId, ids: &[Uuid]) -> Result<Vec<StoredDoc>, ServiceError>;
    /// Stores documents in one transaction, each at a new position, or none if any raced.
    async fn save_docs(&self, org: OrgId, docs: &[DocWrite]) -> Result<Result<Vec<StoredDoc>, Raced>, ServiceError>;
    /// Documents stored after position `since`, in order, at most `limit`.
    async fn docs_since(&self, org: OrgId, since: i64, limit: u32) -> Result<Vec<StoredDoc>, ServiceError>;
    /// Documents with a conflicted field, at most `limit`, oldest position first.
    async fn conflicted_docs(&self, org: OrgId, limit: u32) -> Result<Vec<StoredDoc>, ServiceError>;
    /// The organisation's last position handed out (0 before the first).
    async fn position(&self, org: OrgId) -> Result<i64, ServiceError>;
    /// Records a batch accepted in async mode.
    async fn insert_job(&self, job: &QueuedJob) -> Result<(), ServiceError>;
    /// Records a job's outcome.
    async fn finish_job(&self, id: Uuid, failed: bool, result: &serde_json::Value) -> Result<(), ServiceError>;
    /// One job of the organisation.
    async fn fetch_job(&self, org: OrgId, id: Uuid) -> Result<Option<JobRow>, ServiceError>;
    /// Jobs accepted but not merged (after a restart), oldest first.
    async fn queued_jobs(&self, limit: u32) -> Result<Vec<QueuedJob>, ServiceError>;
}

/// The store for a component's database.
pub fn open(db: &AnyDb) -> std::sync::Arc<dyn SyncStore> {
    match db {
        AnyDb::Postgres(db) => std::sync::Arc::new(postgres::PgSyncStore::new(db.clone())),
        AnyDb::Sqlite(db) => std::sync::Arc::new(sqlite::SqliteSyncStore::new(db.clone())),
    }
}

fn doc_from_text(text: &str) -> Result<TaskDoc, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(e.into()))
}

fn doc_to_text(doc: &TaskDoc) -> Result<String, sqlx::Error> {
    serde_json::to_string(doc).map_err(|e| sqlx::Error::Encode(e.into()))
}
