//! What the authorizations need from a database: one SQL implementation per concurrency mode,
//! written once in [`sql`](super::sql) and expanded for PostgreSQL and SQLite, which differ in
//! the `atomic` mode's statement (see [`postgres`](super::postgres) and [`sqlite`](super::sqlite)).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{auth::OrgId, db::AnyDb, error::ApiError};

use super::{
    integrity::Violation,
    model::{Authorization, Concurrency, NewReservation, Reservation, ReservationState},
};
use crate::{error::TaskError, model::Actor};

/// Narrows `GET /authorizations`; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationFilter {
    pub patient_id: Option<Uuid>,
    pub service_code: Option<String>,
    pub total_units: Option<i64>,
    /// At least this many units still available.
    pub min_available: Option<i64>,
}

/// Why one reservation attempt booked nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Not found, refused (expired, other service code, outside the period) or insufficient.
    #[error("{}", .0.body.message)]
    Refused(ApiError),
    /// Another request holding the same `Idempotency-Key` booked first.
    #[error("the idempotency key is taken")]
    KeyTaken,
    /// A serialization failure (SQLSTATE 40001) or deadlock (40P01): the attempt may be retried.
    #[error("serialization failure")]
    Retry,
    #[error("storage failure")]
    Storage(sqlx::Error),
}

impl From<sqlx::Error> for ReserveError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(e) if e.is_unique_violation() => Self::KeyTaken,
            sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("40001" | "40P01")) => Self::Retry,
            _ => Self::Storage(error),
        }
    }
}

/// Authorization persistence. Every method but [`Self::violations`] takes the organisation.
#[async_trait]
pub trait AuthorizationStore: Send + Sync + 'static {
    /// Up to `limit` matching authorizations after the keyset position, newest first.
    async fn page(
        &self,
        org: OrgId,
        filter: &AuthorizationFilter,
        after: Option<(OffsetDateTime, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Authorization>, TaskError>;
    /// One authorization of the organisation, or a 404.
    async fn fetch(&self, org: OrgId, id: Uuid) -> Result<Authorization, TaskError>;
    /// The reservation booked with this `Idempotency-Key`, if any.
    async fn by_key(&self, org: OrgId, key: &str) -> Result<Option<Reservation>, TaskError>;
    /// One attempt at booking, guarded as `mode` says; the caller retries [`ReserveError::Retry`].
    async fn reserve(
        &self,
        mode: Concurrency,
        actor: Actor,
        new: &NewReservation,
        now: OffsetDateTime,
    ) -> Result<Reservation, ReserveError>;
    /// Moves a scheduled reservation to `to` (consumed or released) and its units with it.
    async fn settle(&self, actor: Actor, id: Uuid, to: ReservationState) -> Result<Reservation, TaskError>;
    /// Every authorization, of every organisation, whose counters break the invariant, and how
    /// many were checked.
    async fn violations(&self) -> Result<(i64, Vec<Violation>), sqlx::Error>;
}

/// The store for a component's database.
pub fn open(db: &AnyDb) -> std::sync::Arc<dyn AuthorizationStore> {
    match db {
        AnyDb::Postgres(db) => std::sync::Arc::new(super::postgres::PgAuthorizations::new(db.clone())),
        AnyDb::Sqlite(db) => std::sync::Arc::new(super::sqlite::SqliteAuthorizations::new(db.clone())),
    }
}
