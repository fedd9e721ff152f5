//! The handover service's SQL, written once. [`sql_handover_store!`] expands it for one backend;
//! the backends differ only in how an instant is stored, which the caller passes in. (A macro
//! rather than generics for the reason the task store gives: sqlx's generic bounds outgrow
//! readability.)

/// A handover's columns in the order `handover_from_row` reads them.
macro_rules! handover_columns {
    () => {
        "id, from_practitioner_id, to_practitioner_id, ward_id, status, situation, background, assessment, \
         recommendation, notes, created_at, decided_at, decided_by, reject_reason"
    };
}
pub(crate) use handover_columns;

macro_rules! sql_handover_store {
    ($store:ident, $db:ty, instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path $(,)?) => {
        /// The handover store on this backend.
        pub struct $store {
            db: std::sync::Arc<emrlab_common::db::Db<$db>>,
        }

        impl $store {
            /// A store over this pool handle.
            pub fn new(db: std::sync::Arc<emrlab_common::db::Db<$db>>) -> Self {
                Self { db }
            }
        }

        fn handover_from_row(
            row: &<$db as sqlx::Database>::Row,
            tasks: Vec<crate::model::HandoverTask>,
        ) -> Result<crate::model::Handover, sqlx::Error> {
            use sqlx::Row;
            let status: &str = row.try_get(4)?;
            Ok(crate::model::Handover {
                id: crate::model::HandoverId(row.try_get(0)?),
                status: crate::model::Status::parse(status)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown handover status {status}").into()))?,
                from_practitioner_id: row.try_get(1)?,
                to_practitioner_id: row.try_get(2)?,
                ward_id: row.try_get(3)?,
                tasks,
                sbar: crate::model::Sbar {
                    situation: row.try_get(5)?,
                    background: row.try_get(6)?,
                    assessment: row.try_get(7)?,
                    recommendation: row.try_get(8)?,
                },
                notes: row.try_get(9)?,
                created_at: $from_db(row.try_get::<$instant, _>(10)?),
                decided_at: row.try_get::<Option<$instant>, _>(11)?.map($from_db),
                decided_by: row.try_get(12)?,
                reject_reason: row.try_get(13)?,
            })
        }

        /// The tasks of each handover among `ids`, in the order each request listed them.
        async fn tasks_of(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            ids: &[uuid::Uuid],
        ) -> Result<std::collections::HashMap<uuid::Uuid, Vec<crate::model::HandoverTask>>, sqlx::Error> {
            use sqlx::Row;
            let mut by_handover: std::collections::HashMap<uuid::Uuid, Vec<crate::model::HandoverTask>> =
                std::collections::HashMap::new();
            if ids.is_empty() {
                return Ok(by_handover);
            }
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT handover_id, task_id, expected_assignee_id FROM handover_tasks WHERE org_id = ",
            );
            qb.push_bind(org.0).push(" AND handover_id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            qb.push(") ORDER BY handover_id, position");
            for row in qb.build().fetch_all(conn).await? {
                by_handover
                    .entry(row.try_get(0)?)
                    .or_default()
                    .push(crate::model::HandoverTask {
                        task_id: row.try_get(1)?,
                        expected_assignee_id: row.try_get(2)?,
                    });
            }
            Ok(by_handover)
        }

        /// Proves, in one round trip, that the receiver and the ward are the organisation's, so
        /// a foreign id is a clear 422 on both backends rather than a constraint error.
        async fn check_references(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            to: uuid::Uuid,
            ward: uuid::Uuid,
        ) -> Result<(), crate::error::HandoverError> {
            use emrlab_common::error::ApiError;
            let (receivers, wards): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM practitioners WHERE org_id = $1 AND id = $2), \
                        (SELECT count(*) FROM wards WHERE org_id = $1 AND id = $3)",
            )
            .bind(org.0)
            .bind(to)
            .bind(ward)
            .fetch_one(conn)
            .await?;
            if receivers == 0 {
                return Err(
                    ApiError::invalid("to_practitioner_id", "no such practitioner in your organisation").into(),
                );
            }
            if wards == 0 {
                return Err(ApiError::invalid("ward_id", "no such ward in your organisation").into());
            }
            Ok(())
        }

        /// Runs one conditional update in a write transaction; whether it changed the row.
        async fn changed(
            db: &emrlab_common::db::Db<$db>,
            query: sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments>,
        ) -> Result<bool, sqlx::Error> {
            let mut w = db.begin_write().await?;
            let rows = query.execute(&mut *w.tx).await?.rows_affected();
            w.tx.commit().await?;
            Ok(rows == 1)
        }

        #[async_trait::async_trait]
        impl crate::storage::HandoverStore for $store {
            #[tracing::instrument(skip_all, fields(tasks = tasks.len()))]
            async fn insert_handover(
                &self,
                org: emrlab_common::auth::OrgId,
                new: &crate::model::NewHandover,
                tasks: &[crate::model::HandoverTask],
            ) -> Result<crate::model::Handover, crate::error::HandoverError> {
                let handover = crate::model::Handover {
                    id: crate::model::HandoverId(uuid::Uuid::now_v7()),
                    status: crate::model::Status::Requested,
                    from_practitioner_id: new.from.0,
                    to_practitioner_id: new.to,
                    ward_id: new.ward_id,
                    tasks: tasks.to_vec(),
                    sbar: new.sbar.clone(),
                    notes: new.notes.clone(),
                    created_at: emrlab_common::db::now(),
                    decided_at: None,
                    decided_by: None,
                    reject_reason: None,
                };
                let mut w = self.db.begin_write().await?;
                check_references(&mut w.tx, org, new.to, new.ward_id).await?;
                sqlx::query(
                    "INSERT INTO handovers (id, org_id, from_practitioner_id, to_practitioner_id, ward_id, status, \
                     situation, background, assessment, recommendation, notes, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8, $9, $10, $11)",
                )
                .bind(handover.id.0)
                .bind(org.0)
                .bind(handover.from_practitioner_id)
                .bind(handover.to_practitioner_id)
                .bind(handover.ward_id)
                .bind(&handover.sbar.situation)
                .bind(&handover.sbar.background)
                .bind(&handover.sbar.assessment)
                .bind(&handover.sbar.recommendation)
                .bind(&handover.notes)
                .bind($to_db(handover.created_at))
                .execute(&mut *w.tx)
                .await?;
                // One statement for every task: at most 200 rows of 5 values, far below either
                // backend's limit on bound parameters.
                sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO handover_tasks (handover_id, org_id, position, task_id, expected_assignee_id) ",
                )
                .push_values(tasks.iter().enumerate(), |mut b, (position, task)| {
                    b.push_bind(handover.id.0)
                        .push_bind(org.0)
                        .push_bind(i32::try_from(position).unwrap_or(i32::MAX))
                        .push_bind(task.task_id)
                        .push_bind(task.expected_assignee_id);
                })
                .build()
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(handover)
            }

            #[tracing::instrument(skip_all, fields(handover_id = %id))]
            async fn fetch_handover(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::HandoverId,
            ) -> Result<crate::model::Handover, crate::error::HandoverError> {
                let mut conn = self.db.acquire().await?;
                let row = sqlx::query(concat!(
                    "SELECT ",
                    crate::storage::sql::handover_columns!(),
                    " FROM handovers WHERE org_id = $1 AND id = $2"
                ))
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(crate::error::HandoverError::NotFound(id))?;
                let mut tasks = tasks_of(&mut conn, org, &[id.0]).await?;
                Ok(handover_from_row(&row, tasks.remove(&id.0).unwrap_or_default())?)
            }

            #[tracing::instrument(skip_all)]
            async fn page_handovers(
                &self,
                org: emrlab_common::auth::OrgId,
                filter: &crate::listing::HandoverFilter,
                page: crate::listing::PageRequest,
            ) -> Result<Vec<crate::model::Handover>, crate::error::HandoverError> {
                use sqlx::Row;
                let mut conn = self.db.acquire().await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    crate::storage::sql::handover_columns!(),
                    " FROM handovers WHERE org_id = "
                ));
                qb.push_bind(org.0);
                if let Some(status) = filter.status {
                    qb.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(ward) = filter.ward_id {
                    qb.push(" AND ward_id = ").push_bind(ward);
                }
                emrlab_common::cursor::push_page_after(
                    &mut qb,
                    page.after.map(|(at, id)| ($to_db(at), id)),
                    page.limit,
                );
                let rows = qb.build().fetch_all(&mut *conn).await?;
                let ids = rows
                    .iter()
                    .map(|row| row.try_get::<uuid::Uuid, _>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut tasks = tasks_of(&mut conn, org, &ids).await?;
                let handovers = rows
                    .iter()
                    .zip(&ids)
                    .map(|(row, id)| handover_from_row(row, tasks.remove(id).unwrap_or_default()))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(handovers)
            }

            #[tracing::instrument(skip_all, fields(handover_id = %id))]
            async fn claim_handover(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::HandoverId,
                now: time::OffsetDateTime,
                stale_before: time::OffsetDateTime,
            ) -> Result<bool, crate::error::HandoverError> {
                let query = sqlx::query(
                    "UPDATE handovers SET status = 'accepting', claimed_at = $3 WHERE org_id = $1 AND id = $2 \
                     AND (status = 'requested' OR (status = 'accepting' AND claimed_at < $4))",
                )
                .bind(org.0)
                .bind(id.0)
                .bind($to_db(now))
                .bind($to_db(stale_before));
                Ok(changed(&self.db, query).await?)
            }

            #[tracing::instrument(skip_all, fields(handover_id = %id))]
            async fn release_claim(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::HandoverId,
            ) -> Result<(), crate::error::HandoverError> {
                let query = sqlx::query(
                    "UPDATE handovers SET status = 'requested', claimed_at = NULL \
                     WHERE org_id = $1 AND id = $2 AND status = 'accepting'",
                )
                .bind(org.0)
                .bind(id.0);
                changed(&self.db, query).await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, fields(handover_id = %id))]
            async fn mark_accepted(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::HandoverId,
                by: emrlab_common::auth::UserId,
                at: time::OffsetDateTime,
            ) -> Result<bool, crate::error::HandoverError> {
                let query = sqlx::query(
                    "UPDATE handovers SET status = 'accepted', claimed_at = NULL, decided_at = $3, decided_by = $4 \
                     WHERE org_id = $1 AND id = $2 AND status = 'accepting'",
                )
                .bind(org.0)
                .bind(id.0)
                .bind($to_db(at))
                .bind(by.0);
                Ok(changed(&self.db, query).await?)
            }

            async fn count_pending(
                &self,
                org: emrlab_common::auth::OrgId,
                ward: Option<uuid::Uuid>,
            ) -> Result<i64, crate::error::HandoverError> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT count(*) FROM handovers WHERE status IN ('requested', 'accepting') AND org_id = ",
                );
                qb.push_bind(org.0);
                if let Some(ward) = ward {
                    qb.push(" AND ward_id = ").push_bind(ward);
                }
                Ok(qb
                    .build_query_scalar()
                    .fetch_one(&mut *self.db.acquire().await?)
                    .await?)
            }

            #[tracing::instrument(skip_all, fields(handover_id = %id))]
            async fn mark_rejected(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::HandoverId,
                by: emrlab_common::auth::UserId,
                reason: &str,
                at: time::OffsetDateTime,
            ) -> Result<bool, crate::error::HandoverError> {
                let query = sqlx::query(
                    "UPDATE handovers SET status = 'rejected', decided_at = $3, decided_by = $4, reject_reason = $5 \
                     WHERE org_id = $1 AND id = $2 AND status = 'requested'",
                )
                .bind(org.0)
                .bind(id.0)
                .bind($to_db(at))
                .bind(by.0)
                .bind(reason.to_owned());
                Ok(changed(&self.db, query).await?)
            }
        }
    };
}
pub(crate) use sql_handover_store;
