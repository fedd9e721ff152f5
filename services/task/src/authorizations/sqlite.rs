//! Authorizations on SQLite, whose single writer decides what each mode can mean:
//! - `atomic`: the same conditional UPDATE as on PostgreSQL, then the INSERT, in one `BEGIN
//!   IMMEDIATE` transaction (SQLite has no data-modifying CTEs).
//! - `row_lock` and `serializable`: `BEGIN IMMEDIATE` takes the database's write lock before the
//!   read, which serialises the read-check-write as `FOR UPDATE` does; SQLite transactions are
//!   serializable, and holding the write lock from the start, they never need a retry.
//! - `naive`: separate autocommitted statements on pooled connections; SQLite's reads do not wait
//!   for the writer, so two requests can still read the same balance and both book.

use sqlx::Sqlite;
use time::OffsetDateTime;

use emrlab_common::db::{Db, from_micros, to_micros};

use super::model::{NewReservation, Reservation};
use crate::model::Actor;

async fn reserve_atomic(
    db: &Db<Sqlite>,
    actor: Actor,
    new: &NewReservation,
    now: OffsetDateTime,
) -> Result<Reservation, ReserveError> {
    let id = uuid::Uuid::now_v7();
    let mut w = db.begin_write().await?;
    let row = sqlx::query(
        "UPDATE authorizations SET scheduled_units = scheduled_units + $3, updated_at = $4 \
         WHERE org_id = $1 AND id = $2 AND used_units + scheduled_units + $3 <= total_units \
           AND valid_from <= $4 AND valid_until >= $4 AND valid_from <= $5 AND valid_until >= $5 \
           AND ($6 IS NULL OR service_code = $6) \
         RETURNING total_units, used_units, scheduled_units",
    )
    .bind(actor.org.0)
    .bind(new.authorization_id)
    .bind(new.units)
    .bind(to_micros(now))
    .bind(to_micros(new.scheduled_for))
    .bind(new.service_code.as_deref())
    .fetch_optional(&mut *w.tx)
    .await?;
    let Some(row) = row else {
        return Err(explain(&mut w.tx, actor.org, new, now).await);
    };
    let balance = balance_from_row(&row)?;
    insert_reservation(&mut w.tx, actor, new, id, now).await?;
    w.tx.commit().await?;
    Ok(booked(actor, new, id, now, balance))
}

super::sql::sql_authorizations!(
    SqliteAuthorizations, Sqlite,
    instant: i64, to_db: to_micros, from_db: from_micros, lock: "",
    atomic: reserve_atomic,
);
