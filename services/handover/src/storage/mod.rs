//! What the handover service needs from a database, and its one SQL implementation, expanded
//! for PostgreSQL and SQLite by `sql_handover_store!` so both backends run the same statements.
//! Only `handovers` and `handover_tasks` are written here, and the directory (wards,
//! practitioners) is read to prove a reference is the caller's organisation's; tasks belong to
//! the task service and are reached over HTTP.

use async_trait::async_trait;
use time::OffsetDateTime;

use emrlab_common::{
    auth::{OrgId, UserId},
    db::AnyDb,
};

use crate::{
    error::HandoverError,
    listing::{HandoverFilter, PageRequest},
    model::{Handover, HandoverId, HandoverTask, NewHandover},
};

mod postgres;
mod sql;
mod sqlite;

/// Handover persistence. Every method takes the organisation, so tenancy lives in the SQL.
#[async_trait] // boxed futures keep the trait usable as `Arc<dyn HandoverStore>`
pub trait HandoverStore: Send + Sync + 'static {
    /// Stores a `requested` handover and its tasks in one transaction; the receiver and the
    /// ward must be the organisation's (else a 422 naming the field, nothing written).
    async fn insert_handover(
        &self,
        org: OrgId,
        new: &NewHandover,
        tasks: &[HandoverTask],
    ) -> Result<Handover, HandoverError>;
    /// One handover of the organisation.
    async fn fetch_handover(&self, org: OrgId, id: HandoverId) -> Result<Handover, HandoverError>;
    /// Up to `limit + 1` matching handovers after the cursor, newest first, so the caller can
    /// tell whether more follow.
    async fn page_handovers(
        &self,
        org: OrgId,
        filter: &HandoverFilter,
        page: PageRequest,
    ) -> Result<Vec<Handover>, HandoverError>;
    /// `requested → accepting` (or takes over an `accepting` claim made before
    /// `stale_before`), in one conditional update; `false` when another accept holds it or it
    /// is decided.
    async fn claim_handover(
        &self,
        org: OrgId,
        id: HandoverId,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, HandoverError>;
    /// `accepting → requested`: the accept failed and changed no task.
    async fn release_claim(&self, org: OrgId, id: HandoverId) -> Result<(), HandoverError>;
    /// `accepting → accepted`, recording who and when; `false` if the claim was lost.
    async fn mark_accepted(
        &self,
        org: OrgId,
        id: HandoverId,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<bool, HandoverError>;
    /// Handovers not yet decided (requested, or being accepted), for the task service's dashboard.
    async fn count_pending(&self, org: OrgId, ward: Option<uuid::Uuid>) -> Result<i64, HandoverError>;
    /// `requested → rejected` with the reason; `false` if it was no longer `requested`.
    async fn mark_rejected(
        &self,
        org: OrgId,
        id: HandoverId,
        by: UserId,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<bool, HandoverError>;
}

/// The store for a component's database.
pub fn open(db: &AnyDb) -> std::sync::Arc<dyn HandoverStore> {
    match db {
        AnyDb::Postgres(db) => std::sync::Arc::new(postgres::PgHandoverStore::new(db.clone())),
        AnyDb::Sqlite(db) => std::sync::Arc::new(sqlite::SqliteHandoverStore::new(db.clone())),
    }
}
