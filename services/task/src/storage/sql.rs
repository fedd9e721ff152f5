//! The task service's SQL, written once. [`sql_task_store!`] expands it for one backend; the
//! backends differ only in how an instant and a JSON document are stored, how text is matched
//! case-insensitively and how a row is locked for update, which the caller passes in.

macro_rules! sql_task_store {
    (
        $store:ident, $db:ty,
        instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path,
        json: $json:path, like: $like:literal, lock: $lock:literal, create: $create:expr $(,)?
    ) => {
        /// The task store on this backend.
        pub struct $store {
            db: std::sync::Arc<emrlab_common::db::Db<$db>>,
        }

        impl $store {
            /// A store over this pool handle.
            pub fn new(db: std::sync::Arc<emrlab_common::db::Db<$db>>) -> Self {
                Self { db }
            }
        }

        fn status_of(s: &str) -> Result<crate::model::Status, sqlx::Error> {
            crate::model::Status::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("unknown status {s}").into()))
        }

        fn priority_of(s: &str) -> Result<crate::model::Priority, sqlx::Error> {
            crate::model::Priority::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("unknown priority {s}").into()))
        }

        fn verification_of(s: &str) -> Result<crate::model::Verification, sqlx::Error> {
            crate::model::Verification::parse(s)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown verification {s}").into()))
        }

        fn task_from_row(row: &<$db as sqlx::Database>::Row) -> Result<crate::model::Task, sqlx::Error> {
            use sqlx::Row;
            Ok(crate::model::Task {
                id: crate::model::TaskId(row.try_get(0)?),
                patient_id: row.try_get(1)?,
                title: row.try_get(2)?,
                description: row.try_get(3)?,
                status: status_of(row.try_get::<&str, _>(4)?)?,
                priority: priority_of(row.try_get::<&str, _>(5)?)?,
                assignee_id: row.try_get(6)?,
                ward_id: row.try_get(7)?,
                due_at: row.try_get::<Option<$instant>, _>(8)?.map($from_db),
                created_at: $from_db(row.try_get::<$instant, _>(9)?),
                updated_at: $from_db(row.try_get::<$instant, _>(10)?),
                version: row.try_get(11)?,
                verification: verification_of(row.try_get::<&str, _>(12)?)?,
                verified_at: row.try_get::<Option<$instant>, _>(13)?.map($from_db),
                conflict: row.try_get(14)?,
            })
        }

        crate::storage::locked::sql_locked_task!($db, to_db: $to_db, lock: $lock);
        crate::storage::reassign::sql_reassign!($store, $db, to_db: $to_db, lock: $lock);

        crate::storage::audit_rows::sql_audit_rows!($db, to_db: $to_db, json: $json);

        /// Proves, in one round trip, that every reference given is in the caller's organisation,
        /// so a foreign id is a clear 422 on both backends rather than a constraint error.
        async fn check_references(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            patient: Option<uuid::Uuid>,
            assignee: Option<uuid::Uuid>,
            ward: Option<uuid::Uuid>,
        ) -> Result<(), crate::error::TaskError> {
            use emrlab_common::error::ApiError;
            if patient.is_none() && assignee.is_none() && ward.is_none() {
                return Ok(());
            }
            let (patients, assignees, wards): (i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM patients WHERE org_id = $1 AND id = $2), \
                        (SELECT count(*) FROM practitioners WHERE org_id = $1 AND id = $3), \
                        (SELECT count(*) FROM wards WHERE org_id = $1 AND id = $4)",
            )
            .bind(org.0)
            .bind(patient)
            .bind(assignee)
            .bind(ward)
            .fetch_one(conn)
            .await?;
            let missing = [
                (
                    patient.is_some() && patients == 0,
                    "patient_id",
                    "no such patient in your organisation",
                ),
                (
                    assignee.is_some() && assignees == 0,
                    "assignee_id",
                    "no such practitioner in your organisation",
                ),
                (
                    ward.is_some() && wards == 0,
                    "ward_id",
                    "no such ward in your organisation",
                ),
            ];
            match missing.into_iter().find(|(missing, _, _)| *missing) {
                Some((_, field, message)) => Err(ApiError::invalid(field, message).into()),
                None => Ok(()),
            }
        }

        /// The query of one page of tasks (up to `limit + 1` rows in cursor mode), newest first.
        /// Crate-visible so `diagnostics` explains the very statement the list runs.
        pub(crate) fn push_page(
            qb: &mut sqlx::QueryBuilder<$db>,
            org: emrlab_common::auth::OrgId,
            filter: &crate::listing::TaskFilter,
            page: crate::listing::PageRequest,
        ) {
            use crate::listing::PageRequest;
            qb.push(concat!("SELECT ", crate::storage::statements::task_row_columns!(), " FROM tasks"));
            push_filters(qb, org, filter);
            if let PageRequest::Cursor { after: Some((at, id)), .. } = page {
                qb.push(" AND (created_at, id) < (").push_bind($to_db(at)).push(", ").push_bind(id).push(")");
            }
            qb.push(" ORDER BY created_at DESC, id DESC");
            match page {
                PageRequest::Unbounded => {}
                PageRequest::Offset { offset, limit } => {
                    qb.push(" LIMIT ").push_bind(i64::from(limit));
                    qb.push(" OFFSET ").push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
                }
                PageRequest::Cursor { limit, .. } => {
                    qb.push(" LIMIT ").push_bind(i64::from(limit) + 1);
                }
            }
        }

        fn push_filters(
            qb: &mut sqlx::QueryBuilder<$db>,
            org: emrlab_common::auth::OrgId,
            f: &crate::listing::TaskFilter,
        ) {
            qb.push(" WHERE org_id = ").push_bind(org.0);
            if let Some(status) = f.status {
                qb.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(priority) = f.priority {
                qb.push(" AND priority = ").push_bind(priority.as_str());
            }
            if let Some(assignee) = f.assignee_id {
                qb.push(" AND assignee_id = ").push_bind(assignee);
            }
            if let Some(patient) = f.patient_id {
                qb.push(" AND patient_id = ").push_bind(patient);
            }
            if let Some(ward) = f.ward_id {
                qb.push(" AND ward_id = ").push_bind(ward);
            }
            if let Some(after) = f.created_after {
                qb.push(" AND created_at > ").push_bind($to_db(after));
            }
            if let Some(before) = f.created_before {
                qb.push(" AND created_at < ").push_bind($to_db(before));
            }
            for term in &f.terms {
                let pattern = crate::listing::like_pattern(term);
                qb.push(concat!(" AND (title ", $like, " "))
                    .push_bind(pattern.clone())
                    .push(concat!(" ESCAPE '\\' OR coalesce(description, '') ", $like, " "))
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
        }

        #[async_trait::async_trait]
        impl crate::storage::TaskStore for $store {
            #[tracing::instrument(skip_all)]
            async fn insert_task(
                &self,
                actor: crate::model::Actor,
                new: crate::model::NewTask,
            ) -> Result<crate::model::Task, crate::error::TaskError> {
                let references = (new.patient_id, new.assignee_id, new.ward_id);
                let task = new.into_task(
                    crate::model::TaskId(uuid::Uuid::now_v7()),
                    emrlab_common::db::now(),
                );
                // The audit document is built before the write lock is taken: on SQLite every
                // writer of the process queues behind the holder, so the lock covers SQL only.
                let after = serde_json::to_value(&task)
                    .map($json)
                    .map_err(|e| sqlx::Error::Encode(e.into()))?;
                let audit_id = uuid::Uuid::now_v7();
                // The composite foreign keys prove the references are in the caller's
                // organisation; only when one fails is it worth a query to say which.
                // The task and its audit row in one call that is a transaction by itself
                // (`create`): one round trip, and one hand-off to SQLite's connection thread
                // while the write lock is held, instead of three.
                let query = sqlx::query($create)
                    .bind(actor.org.0)
                    .bind(task.id.0)
                    .bind(task.patient_id)
                    .bind(task.title.clone())
                    .bind(task.description.clone())
                    .bind(task.status.as_str())
                    .bind(task.priority.as_str())
                    .bind(task.assignee_id)
                    .bind(task.ward_id)
                    .bind(task.due_at.map($to_db))
                    .bind($to_db(task.created_at))
                    .bind($to_db(task.updated_at))
                    .bind(task.version)
                    .bind(audit_id)
                    .bind(actor.user.0)
                    .bind(after);
                let inserted = self.db.execute_atomic(query).await;
                match inserted {
                    Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                        let mut conn = self.db.acquire().await?;
                        let (patient, assignee, ward) = references;
                        check_references(&mut conn, actor.org, Some(patient), assignee, ward).await?;
                        return Err(emrlab_common::error::ApiError::invalid(
                            "patient_id",
                            "a referenced patient, practitioner or ward is not in your organisation",
                        )
                        .into());
                    }
                    other => other?,
                };
                Ok(task)
            }

            #[tracing::instrument(skip_all, fields(task_id = %id))]
            async fn fetch_task(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::TaskId,
            ) -> Result<crate::model::Task, crate::error::TaskError> {
                if let Some(reader) = self.db.inline_reader() {
                    match crate::storage::inline::fetch_task(reader, org, id) {
                        Ok(task) => return task.ok_or(crate::error::TaskError::NotFound(id)),
                        Err(error) => tracing::debug!(%error, "inline read failed; reading through the pool"),
                    }
                }
                let mut conn = self.db.acquire().await?;
                let row = sqlx::query(crate::storage::statements::FETCH_TASK)
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(crate::error::TaskError::NotFound(id))?;
                Ok(task_from_row(&row)?)
            }

            #[tracing::instrument(skip_all, fields(task_id = %id))]
            async fn update_task(
                &self,
                actor: crate::model::Actor,
                id: crate::model::TaskId,
                expected: Option<i64>,
                change: &crate::model::TaskChange,
            ) -> Result<crate::model::Task, crate::error::TaskError> {
                let mut w = self.db.begin_write().await?;
                let current = fetch_locked(&mut w.tx, actor.org, id).await?;
                if let Some(expected) = expected {
                    if expected != current.version {
                        return Err(crate::error::TaskError::StaleVersion {
                            id,
                            current: current.version,
                        });
                    }
                }
                check_references(
                    &mut w.tx,
                    actor.org,
                    None,
                    change.assignee_id.flatten(),
                    change.ward_id.flatten(),
                )
                .await?;
                let next = change.apply(&current, emrlab_common::db::now())?;
                sqlx::query(
                    "UPDATE tasks SET title = $3, description = $4, status = $5, priority = $6, assignee_id = $7, \
                     ward_id = $8, due_at = $9, updated_at = $10, version = $11 WHERE org_id = $1 AND id = $2",
                )
                .bind(actor.org.0)
                .bind(id.0)
                .bind(&next.title)
                .bind(&next.description)
                .bind(next.status.as_str())
                .bind(next.priority.as_str())
                .bind(next.assignee_id)
                .bind(next.ward_id)
                .bind(next.due_at.map($to_db))
                .bind($to_db(next.updated_at))
                .bind(next.version)
                .execute(&mut *w.tx)
                .await?;
                let action = if next.status == crate::model::Status::Completed && current.status != next.status {
                    "task.complete"
                } else {
                    "task.update"
                };
                insert_audit(&mut w.tx, actor, action, Some(&current), &next).await?;
                w.tx.commit().await?;
                Ok(next)
            }

            #[tracing::instrument(skip_all)]
            async fn page_tasks(
                &self,
                org: emrlab_common::auth::OrgId,
                filter: &crate::listing::TaskFilter,
                page: crate::listing::PageRequest,
            ) -> Result<(Vec<crate::model::Task>, Option<i64>), crate::error::TaskError> {
                use crate::listing::PageRequest;
                let mut conn = self.db.acquire().await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("");
                push_page(&mut qb, org, filter, page);
                let rows = qb.build().fetch_all(&mut *conn).await?;
                let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>, _>>()?;
                let total = if let PageRequest::Offset { .. } = page {
                    let mut count = sqlx::QueryBuilder::<$db>::new("SELECT count(*) FROM tasks");
                    push_filters(&mut count, org, filter);
                    Some(count.build_query_scalar::<i64>().fetch_one(&mut *conn).await?)
                } else {
                    None
                };
                Ok((tasks, total))
            }

            async fn audit_actions(
                &self,
                org: emrlab_common::auth::OrgId,
                entity_id: uuid::Uuid,
            ) -> Result<Vec<String>, crate::error::TaskError> {
                let mut conn = self.db.acquire().await?;
                Ok(sqlx::query_scalar(
                    "SELECT action FROM audit_log WHERE org_id = $1 AND entity_id = $2 ORDER BY at, id",
                )
                .bind(org.0)
                .bind(entity_id)
                .fetch_all(&mut *conn)
                .await?)
            }

            #[tracing::instrument(skip_all, fields(task_id = %id, state = state.as_str()))]
            async fn record_verification(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::TaskId,
                state: crate::model::Verification,
                at: time::OffsetDateTime,
            ) -> Result<crate::model::Task, crate::error::TaskError> {
                let mut w = self.db.begin_write().await?;
                let task = write_verification(&mut w.tx, org, id, state, at).await?;
                w.tx.commit().await?;
                Ok(task)
            }

            #[tracing::instrument(skip_all, fields(task_id = %id))]
            async fn lock_task(
                &self,
                org: emrlab_common::auth::OrgId,
                id: crate::model::TaskId,
            ) -> Result<Box<dyn crate::storage::LockedTask>, crate::error::TaskError> {
                let mut w = self.db.begin_write().await?;
                let task = fetch_locked(&mut w.tx, org, id).await?;
                Ok(Box::new(LockedRow { w, org, task }))
            }
        }
    };
}
pub(crate) use sql_task_store;
