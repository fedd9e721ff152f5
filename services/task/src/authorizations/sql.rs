//! The authorizations' SQL, written once. [`sql_authorizations!`] expands it for one backend; the
//! caller passes how instants are stored and the `atomic` mode's function, the one place where
//! the backends differ (PostgreSQL books in one statement, SQLite in a short transaction).

/// Columns of an authorization, in the order `authorization_from_row` reads them.
macro_rules! authorization_columns {
    () => {
        "id, number, patient_id, service_code, valid_from, valid_until, total_units, used_units, \
         scheduled_units, created_at, updated_at"
    };
}
pub(crate) use authorization_columns;

/// Columns of a reservation, in the order `reservation_from_row` reads them.
macro_rules! reservation_columns {
    () => {
        "id, authorization_id, units, scheduled_for, state, created_by, created_at, settled_at"
    };
}
pub(crate) use reservation_columns;

macro_rules! sql_authorizations {
    (
        $store:ident, $db:ty,
        instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path, lock: $lock:literal,
        atomic: $atomic:path $(,)?
    ) => {
        /// The authorization store on this backend.
        pub struct $store {
            db: std::sync::Arc<emrlab_common::db::Db<$db>>,
        }

        impl $store {
            /// A store over this pool handle.
            pub fn new(db: std::sync::Arc<emrlab_common::db::Db<$db>>) -> Self {
                Self { db }
            }
        }

        use crate::authorizations::model as m;
        use crate::authorizations::store::ReserveError;

        fn authorization_from_row(row: &<$db as sqlx::Database>::Row) -> Result<m::Authorization, sqlx::Error> {
            use sqlx::Row;
            Ok(m::Authorization {
                id: row.try_get(0)?,
                number: row.try_get(1)?,
                patient_id: row.try_get(2)?,
                service_code: row.try_get(3)?,
                valid_from: $from_db(row.try_get::<$instant, _>(4)?),
                valid_until: $from_db(row.try_get::<$instant, _>(5)?),
                balance: m::Balance::new(row.try_get(6)?, row.try_get(7)?, row.try_get(8)?),
                created_at: $from_db(row.try_get::<$instant, _>(9)?),
                updated_at: $from_db(row.try_get::<$instant, _>(10)?),
            })
        }

        fn reservation_from_row(row: &<$db as sqlx::Database>::Row) -> Result<m::Reservation, sqlx::Error> {
            use sqlx::Row;
            let state: &str = row.try_get(4)?;
            Ok(m::Reservation {
                id: row.try_get(0)?,
                authorization_id: row.try_get(1)?,
                units: row.try_get(2)?,
                scheduled_for: $from_db(row.try_get::<$instant, _>(3)?),
                state: m::ReservationState::parse(state)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown reservation state {state}").into()))?,
                created_by: row.try_get(5)?,
                created_at: $from_db(row.try_get::<$instant, _>(6)?),
                settled_at: row.try_get::<Option<$instant>, _>(7)?.map($from_db),
                balance: None,
            })
        }

        fn balance_from_row(row: &<$db as sqlx::Database>::Row) -> Result<m::Balance, sqlx::Error> {
            use sqlx::Row;
            Ok(m::Balance::new(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        }

        fn not_found(id: uuid::Uuid) -> emrlab_common::error::ApiError {
            emrlab_common::error::ApiError::not_found(format!("authorization {id} not found"))
        }

        /// The authorization, locked for update when `lock` (PostgreSQL; SQLite's writers are
        /// already serialised by the write lock), or the 404.
        async fn select_authorization(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            id: uuid::Uuid,
            lock: bool,
        ) -> Result<m::Authorization, ReserveError> {
            let sql = if lock {
                concat!("SELECT ", crate::authorizations::sql::authorization_columns!(),
                        " FROM authorizations WHERE org_id = $1 AND id = $2", $lock)
            } else {
                concat!("SELECT ", crate::authorizations::sql::authorization_columns!(),
                        " FROM authorizations WHERE org_id = $1 AND id = $2")
            };
            let row = sqlx::query(sql).bind(org.0).bind(id).fetch_optional(conn).await?;
            match row {
                Some(row) => Ok(authorization_from_row(&row)?),
                None => Err(ReserveError::Refused(not_found(id))),
            }
        }

        /// Why a booking the database refused was refused: read after the fact, so only its
        /// message can be out of date, never the decision.
        async fn explain(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            new: &m::NewReservation,
            now: time::OffsetDateTime,
        ) -> ReserveError {
            match select_authorization(conn, org, new.authorization_id, false).await {
                Ok(auth) => ReserveError::Refused(
                    m::refusal(&auth, new, now).unwrap_or_else(|| m::insufficient(auth.balance, new.units)),
                ),
                Err(e) => e,
            }
        }

        /// Checks a balance read before the write: the step `naive` leaves unprotected.
        fn check(auth: &m::Authorization, new: &m::NewReservation, now: time::OffsetDateTime) -> Result<(), ReserveError> {
            if let Some(refused) = m::refusal(auth, new, now) {
                return Err(ReserveError::Refused(refused));
            }
            if auth.balance.available_units < new.units {
                return Err(ReserveError::Refused(m::insufficient(auth.balance, new.units)));
            }
            Ok(())
        }

        async fn insert_reservation(
            conn: &mut <$db as sqlx::Database>::Connection,
            actor: crate::model::Actor,
            new: &m::NewReservation,
            id: uuid::Uuid,
            now: time::OffsetDateTime,
        ) -> Result<(), ReserveError> {
            sqlx::query(
                "INSERT INTO reservations (id, org_id, authorization_id, units, scheduled_for, state, \
                 idempotency_key, created_by, created_at) VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, $7, $8)",
            )
            .bind(id)
            .bind(actor.org.0)
            .bind(new.authorization_id)
            .bind(new.units)
            .bind($to_db(new.scheduled_for))
            .bind(new.idempotency_key.as_deref())
            .bind(actor.user.0)
            .bind($to_db(now))
            .execute(conn)
            .await?;
            Ok(())
        }

        /// Adds the units to the scheduled ones, relative to whatever the row holds now.
        async fn add_scheduled(
            conn: &mut <$db as sqlx::Database>::Connection,
            actor: crate::model::Actor,
            new: &m::NewReservation,
            now: time::OffsetDateTime,
        ) -> Result<m::Balance, ReserveError> {
            let row = sqlx::query(
                "UPDATE authorizations SET scheduled_units = scheduled_units + $3, updated_at = $4 \
                 WHERE org_id = $1 AND id = $2 RETURNING total_units, used_units, scheduled_units",
            )
            .bind(actor.org.0)
            .bind(new.authorization_id)
            .bind(new.units)
            .bind($to_db(now))
            .fetch_one(conn)
            .await?;
            Ok(balance_from_row(&row)?)
        }

        fn booked(actor: crate::model::Actor, new: &m::NewReservation, id: uuid::Uuid, now: time::OffsetDateTime, balance: m::Balance) -> m::Reservation {
            m::Reservation {
                id,
                authorization_id: new.authorization_id,
                units: new.units,
                scheduled_for: new.scheduled_for,
                state: m::ReservationState::Scheduled,
                created_by: actor.user.0,
                created_at: now,
                settled_at: None,
                balance: Some(balance),
            }
        }

        impl $store {
            /// `naive`: every statement commits on its own, and nothing stops two requests from
            /// reading the same balance between this one's check and its write.
            async fn reserve_naive(&self, actor: crate::model::Actor, new: &m::NewReservation, now: time::OffsetDateTime) -> Result<m::Reservation, ReserveError> {
                let mut conn = self.db.acquire().await?;
                let auth = select_authorization(&mut conn, actor.org, new.authorization_id, false).await?;
                check(&auth, new, now)?;
                let id = uuid::Uuid::now_v7();
                // The reservation first: a retried request whose key is taken then writes nothing.
                insert_reservation(&mut conn, actor, new, id, now).await?;
                let balance = add_scheduled(&mut conn, actor, new, now).await?;
                Ok(booked(actor, new, id, now, balance))
            }

            /// `row_lock` and `serializable`: read, check and write in one transaction that
            /// either locks the row or lets the database detect the conflict at commit.
            async fn reserve_in_transaction(&self, serializable: bool, actor: crate::model::Actor, new: &m::NewReservation, now: time::OffsetDateTime) -> Result<m::Reservation, ReserveError> {
                let mut w = if serializable { self.db.begin_serializable().await? } else { self.db.begin_write().await? };
                let auth = select_authorization(&mut w.tx, actor.org, new.authorization_id, !serializable).await?;
                check(&auth, new, now)?;
                let id = uuid::Uuid::now_v7();
                insert_reservation(&mut w.tx, actor, new, id, now).await?;
                let balance = add_scheduled(&mut w.tx, actor, new, now).await?;
                w.tx.commit().await?;
                Ok(booked(actor, new, id, now, balance))
            }
        }

        #[async_trait::async_trait]
        impl crate::authorizations::store::AuthorizationStore for $store {
            async fn page(
                &self,
                org: emrlab_common::auth::OrgId,
                filter: &crate::authorizations::store::AuthorizationFilter,
                after: Option<(time::OffsetDateTime, uuid::Uuid)>,
                limit: u32,
            ) -> Result<Vec<m::Authorization>, crate::error::TaskError> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ", crate::authorizations::sql::authorization_columns!(),
                    " FROM authorizations WHERE org_id = "
                ));
                qb.push_bind(org.0);
                if let Some(patient) = filter.patient_id {
                    qb.push(" AND patient_id = ").push_bind(patient);
                }
                if let Some(code) = &filter.service_code {
                    qb.push(" AND service_code = ").push_bind(code.clone());
                }
                if let Some(total) = filter.total_units {
                    qb.push(" AND total_units = ").push_bind(total);
                }
                if let Some(min) = filter.min_available {
                    qb.push(" AND total_units - used_units - scheduled_units >= ").push_bind(min);
                }
                if let Some((at, id)) = after {
                    qb.push(" AND (created_at < ").push_bind($to_db(at));
                    qb.push(" OR (created_at = ").push_bind($to_db(at)).push(" AND id < ").push_bind(id).push("))");
                }
                qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
                let rows = qb.build().fetch_all(&mut *self.db.acquire().await?).await?;
                Ok(rows.iter().map(authorization_from_row).collect::<Result<_, _>>()?)
            }

            async fn fetch(&self, org: emrlab_common::auth::OrgId, id: uuid::Uuid) -> Result<m::Authorization, crate::error::TaskError> {
                let mut conn = self.db.acquire().await?;
                match select_authorization(&mut conn, org, id, false).await {
                    Ok(auth) => Ok(auth),
                    Err(ReserveError::Refused(e)) => Err(e.into()),
                    Err(ReserveError::Storage(e)) => Err(e.into()),
                    Err(other) => Err(emrlab_common::error::ApiError::internal(&other).into()),
                }
            }

            async fn by_key(&self, org: emrlab_common::auth::OrgId, key: &str) -> Result<Option<m::Reservation>, crate::error::TaskError> {
                let row = sqlx::query(concat!("SELECT ", crate::authorizations::sql::reservation_columns!(),
                                              " FROM reservations WHERE org_id = $1 AND idempotency_key = $2"))
                    .bind(org.0)
                    .bind(key)
                    .fetch_optional(&mut *self.db.acquire().await?)
                    .await?;
                Ok(row.as_ref().map(reservation_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all, fields(mode = mode.as_str(), units = new.units))]
            async fn reserve(
                &self,
                mode: m::Concurrency,
                actor: crate::model::Actor,
                new: &m::NewReservation,
                now: time::OffsetDateTime,
            ) -> Result<m::Reservation, ReserveError> {
                match mode {
                    m::Concurrency::Naive => self.reserve_naive(actor, new, now).await,
                    m::Concurrency::Serializable => self.reserve_in_transaction(true, actor, new, now).await,
                    m::Concurrency::RowLock => self.reserve_in_transaction(false, actor, new, now).await,
                    m::Concurrency::Atomic => $atomic(&self.db, actor, new, now).await,
                }
            }

            #[tracing::instrument(skip_all, fields(to = to.as_str()))]
            async fn settle(
                &self,
                actor: crate::model::Actor,
                id: uuid::Uuid,
                to: m::ReservationState,
            ) -> Result<m::Reservation, crate::error::TaskError> {
                let now = emrlab_common::db::now();
                let mut w = self.db.begin_write().await?;
                // Conditional on `scheduled`: of two concurrent settles, the second finds none.
                let row = sqlx::query(concat!(
                    "UPDATE reservations SET state = $3, settled_at = $4 \
                     WHERE org_id = $1 AND id = $2 AND state = 'scheduled' RETURNING ",
                    crate::authorizations::sql::reservation_columns!()
                ))
                .bind(actor.org.0)
                .bind(id)
                .bind(to.as_str())
                .bind($to_db(now))
                .fetch_optional(&mut *w.tx)
                .await?;
                let Some(row) = row else {
                    drop(w);
                    let current = sqlx::query("SELECT state FROM reservations WHERE org_id = $1 AND id = $2")
                        .bind(actor.org.0)
                        .bind(id)
                        .fetch_optional(&mut *self.db.acquire().await?)
                        .await?;
                    return Err(match current {
                        None => emrlab_common::error::ApiError::not_found(format!("reservation {id} not found")),
                        Some(row) => {
                            use sqlx::Row;
                            let state: String = row.try_get(0)?;
                            emrlab_common::error::ApiError::new(
                                axum::http::StatusCode::CONFLICT,
                                "reservation_not_scheduled",
                                format!("reservation {id} is already {state}"),
                            )
                            .details(serde_json::json!({ "state": state }))
                        }
                    }
                    .into());
                };
                let mut reservation = reservation_from_row(&row)?;
                let used = if to == m::ReservationState::Consumed { reservation.units } else { 0 };
                let balance = sqlx::query(
                    "UPDATE authorizations SET scheduled_units = scheduled_units - $3, used_units = used_units + $4, \
                     updated_at = $5 WHERE org_id = $1 AND id = $2 RETURNING total_units, used_units, scheduled_units",
                )
                .bind(actor.org.0)
                .bind(reservation.authorization_id)
                .bind(reservation.units)
                .bind(used)
                .bind($to_db(now))
                .fetch_one(&mut *w.tx)
                .await?;
                reservation.balance = Some(balance_from_row(&balance)?);
                w.tx.commit().await?;
                Ok(reservation)
            }

            async fn violations(&self) -> Result<(i64, Vec<crate::authorizations::integrity::Violation>), sqlx::Error> {
                let mut conn = self.db.acquire().await?;
                let checked: i64 = sqlx::query_scalar("SELECT count(*) FROM authorizations").fetch_one(&mut *conn).await?;
                let rows = sqlx::query(crate::authorizations::integrity::VIOLATIONS).fetch_all(&mut *conn).await?;
                let violations = rows.iter().map(|row| {
                    use sqlx::Row;
                    Ok(crate::authorizations::integrity::Violation::new(
                        row.try_get(0)?, row.try_get(1)?, row.try_get(2)?,
                        m::Balance::new(row.try_get(3)?, row.try_get(4)?, row.try_get(5)?),
                        row.try_get(6)?, row.try_get(7)?,
                    ))
                }).collect::<Result<_, sqlx::Error>>()?;
                Ok((checked, violations))
            }
        }
    };
}
pub(crate) use sql_authorizations;
