//! Authorizations on PostgreSQL. `atomic` books in one statement: a data-modifying CTE whose
//! conditional UPDATE takes the row lock and re-checks the balance after waiting for it (READ
//! COMMITTED re-evaluates the WHERE on the newest row version), so it can neither overbook nor
//! fail with a serialization error, and costs one round trip.

use sqlx::Postgres;
use time::OffsetDateTime;

use emrlab_common::db::Db;

use super::model::{NewReservation, Reservation};
use crate::model::Actor;

fn same(t: OffsetDateTime) -> OffsetDateTime {
    t
}

/// The `atomic` booking; benches/authorizations.sh runs this statement under pgbench as the
/// reference, so keep the two alike.
async fn reserve_atomic(
    db: &Db<Postgres>,
    actor: Actor,
    new: &NewReservation,
    now: OffsetDateTime,
) -> Result<Reservation, ReserveError> {
    let id = uuid::Uuid::now_v7();
    let mut conn = db.acquire().await?;
    let row = sqlx::query(
        "WITH booked AS ( \
           UPDATE authorizations SET scheduled_units = scheduled_units + $3, updated_at = $4 \
           WHERE org_id = $1 AND id = $2 AND used_units + scheduled_units + $3 <= total_units \
             AND valid_from <= $4 AND valid_until >= $4 AND valid_from <= $5 AND valid_until >= $5 \
             AND ($6::text IS NULL OR service_code = $6::text) \
           RETURNING id, total_units, used_units, scheduled_units), \
         made AS ( \
           INSERT INTO reservations (id, org_id, authorization_id, units, scheduled_for, state, \
             idempotency_key, created_by, created_at) \
           SELECT $7, $1, id, $3, $5, 'scheduled', $8, $9, $4 FROM booked) \
         SELECT total_units, used_units, scheduled_units FROM booked",
    )
    .bind(actor.org.0)
    .bind(new.authorization_id)
    .bind(new.units)
    .bind(now)
    .bind(new.scheduled_for)
    .bind(new.service_code.as_deref())
    .bind(id)
    .bind(new.idempotency_key.as_deref())
    .bind(actor.user.0)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(booked(actor, new, id, now, balance_from_row(&row)?)),
        None => Err(explain(&mut conn, actor.org, new, now).await),
    }
}

super::sql::sql_authorizations!(
    PgAuthorizations, Postgres,
    instant: OffsetDateTime, to_db: same, from_db: same, lock: " FOR UPDATE",
    atomic: reserve_atomic,
);
