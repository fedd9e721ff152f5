//! The sync service's SQL, written once and expanded per backend by [`sql_sync_store!`].

macro_rules! sql_sync_store {
    ($store:ident, $db:ty, instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path $(,)?) => {
        /// The sync store on this backend.
        pub struct $store {
            db: std::sync::Arc<emrlab_common::db::Db<$db>>,
        }

        impl $store {
            /// A store over this pool handle.
            pub fn new(db: std::sync::Arc<emrlab_common::db::Db<$db>>) -> Self {
                Self { db }
            }
        }

        const DOC_COLUMNS: &str = "task_id, doc, row_version, doc_version, position";

        fn doc_from_row(row: &<$db as sqlx::Database>::Row) -> Result<crate::storage::StoredDoc, sqlx::Error> {
            use sqlx::Row;
            Ok(crate::storage::StoredDoc {
                task_id: row.try_get(0)?,
                doc: crate::storage::doc_from_text(row.try_get::<&str, _>(1)?)?,
                row_version: row.try_get(2)?,
                doc_version: row.try_get(3)?,
                position: row.try_get(4)?,
            })
        }

        #[async_trait::async_trait]
        impl crate::storage::SyncStore for $store {
            async fn register_device(
                &self,
                org: emrlab_common::auth::OrgId,
                device: &crate::ReplicaId,
                practitioner: uuid::Uuid,
            ) -> Result<(), crate::error::ServiceError> {
                let now = $to_db(emrlab_common::db::now());
                let mut w = self.db.begin_write().await?;
                sqlx::query(
                    "INSERT INTO sync_devices (org_id, device_id, practitioner_id, registered_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (org_id, device_id) \
                     DO UPDATE SET practitioner_id = $3, last_seen_at = $4",
                )
                .bind(org.0)
                .bind(device.as_str())
                .bind(practitioner)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn touch_device(
                &self,
                org: emrlab_common::auth::OrgId,
                device: &crate::ReplicaId,
            ) -> Result<bool, crate::error::ServiceError> {
                let mut w = self.db.begin_write().await?;
                let done = sqlx::query("UPDATE sync_devices SET last_seen_at = $3 WHERE org_id = $1 AND device_id = $2")
                    .bind(org.0)
                    .bind(device.as_str())
                    .bind($to_db(emrlab_common::db::now()))
                    .execute(&mut *w.tx)
                    .await?;
                w.tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all, fields(tasks = ids.len()))]
            async fn load_docs(
                &self,
                org: emrlab_common::auth::OrgId,
                ids: &[uuid::Uuid],
            ) -> Result<Vec<crate::storage::StoredDoc>, crate::error::ServiceError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut conn = self.db.acquire().await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push(DOC_COLUMNS).push(" FROM sync_docs WHERE org_id = ").push_bind(org.0);
                qb.push(" AND task_id IN (");
                let mut list = qb.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                qb.push(")");
                let rows = qb.build().fetch_all(&mut *conn).await?;
                Ok(rows.iter().map(doc_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all, fields(tasks = docs.len()))]
            async fn save_docs(
                &self,
                org: emrlab_common::auth::OrgId,
                docs: &[crate::storage::DocWrite],
            ) -> Result<Result<Vec<crate::storage::StoredDoc>, crate::storage::Raced>, crate::error::ServiceError> {
                if docs.is_empty() {
                    return Ok(Ok(Vec::new()));
                }
                let now = $to_db(emrlab_common::db::now());
                let count = i64::try_from(docs.len()).unwrap_or(i64::MAX);
                let mut w = self.db.begin_write().await?;
                // The organisation's counter row is locked until commit, so positions become
                // visible in the order they were handed out (see the migration).
                let last: i64 = sqlx::query_scalar(
                    "INSERT INTO sync_positions (org_id, position) VALUES ($1, $2) ON CONFLICT (org_id) \
                     DO UPDATE SET position = sync_positions.position + $2 RETURNING position",
                )
                .bind(org.0)
                .bind(count)
                .fetch_one(&mut *w.tx)
                .await?;
                let mut stored = Vec::with_capacity(docs.len());
                for (i, write) in docs.iter().enumerate() {
                    let position = last - count + 1 + i64::try_from(i).unwrap_or(0);
                    let text = crate::storage::doc_to_text(&write.doc)?;
                    let conflict = !write.doc.conflicts().is_empty();
                    let done = match write.expected_doc_version {
                        None => sqlx::query(
                            "INSERT INTO sync_docs (task_id, org_id, doc, row_version, doc_version, position, conflict, \
                             updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7) ON CONFLICT (task_id) DO NOTHING",
                        )
                        .bind(write.task_id)
                        .bind(org.0)
                        .bind(&text)
                        .bind(write.row_version)
                        .bind(position)
                        .bind(conflict)
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await?,
                        Some(expected) => sqlx::query(
                            "UPDATE sync_docs SET doc = $3, row_version = $4, doc_version = doc_version + 1, \
                             position = $5, conflict = $6, updated_at = $7 \
                             WHERE org_id = $1 AND task_id = $2 AND doc_version = $8",
                        )
                        .bind(org.0)
                        .bind(write.task_id)
                        .bind(&text)
                        .bind(write.row_version)
                        .bind(position)
                        .bind(conflict)
                        .bind(now)
                        .bind(expected)
                        .execute(&mut *w.tx)
                        .await?,
                    };
                    if done.rows_affected() == 0 {
                        return Ok(Err(crate::storage::Raced));
                    }
                    stored.push(crate::storage::StoredDoc {
                        task_id: write.task_id,
                        doc: write.doc.clone(),
                        row_version: write.row_version,
                        doc_version: write.expected_doc_version.map_or(1, |v| v + 1),
                        position,
                    });
                }
                w.tx.commit().await?;
                Ok(Ok(stored))
            }

            async fn docs_since(
                &self,
                org: emrlab_common::auth::OrgId,
                since: i64,
                limit: u32,
            ) -> Result<Vec<crate::storage::StoredDoc>, crate::error::ServiceError> {
                let mut conn = self.db.acquire().await?;
                let rows = sqlx::query(
                    "SELECT task_id, doc, row_version, doc_version, position FROM sync_docs \
                     WHERE org_id = $1 AND position > $2 ORDER BY position LIMIT $3",
                )
                .bind(org.0)
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                Ok(rows.iter().map(doc_from_row).collect::<Result<_, _>>()?)
            }

            async fn conflicted_docs(
                &self,
                org: emrlab_common::auth::OrgId,
                limit: u32,
            ) -> Result<Vec<crate::storage::StoredDoc>, crate::error::ServiceError> {
                let mut conn = self.db.acquire().await?;
                let rows = sqlx::query(
                    "SELECT task_id, doc, row_version, doc_version, position FROM sync_docs \
                     WHERE org_id = $1 AND conflict ORDER BY position LIMIT $2",
                )
                .bind(org.0)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                Ok(rows.iter().map(doc_from_row).collect::<Result<_, _>>()?)
            }

            async fn position(&self, org: emrlab_common::auth::OrgId) -> Result<i64, crate::error::ServiceError> {
                let mut conn = self.db.acquire().await?;
                let position: Option<i64> = sqlx::query_scalar("SELECT position FROM sync_positions WHERE org_id = $1")
                    .bind(org.0)
                    .fetch_optional(&mut *conn)
                    .await?;
                Ok(position.unwrap_or(0))
            }

            async fn insert_job(&self, job: &crate::storage::QueuedJob) -> Result<(), crate::error::ServiceError> {
                let mut w = self.db.begin_write().await?;
                sqlx::query(
                    "INSERT INTO sync_jobs (id, org_id, device_id, actor_id, status, request, submitted_at) \
                     VALUES ($1, $2, $3, $4, 'queued', $5, $6)",
                )
                .bind(job.id)
                .bind(job.org.0)
                .bind(&job.device)
                .bind(job.actor)
                .bind(&job.request)
                .bind($to_db(emrlab_common::db::now()))
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn finish_job(
                &self,
                id: uuid::Uuid,
                failed: bool,
                result: &serde_json::Value,
            ) -> Result<(), crate::error::ServiceError> {
                let mut w = self.db.begin_write().await?;
                sqlx::query(
                    "UPDATE sync_jobs SET status = $2, result = $3, finished_at = $4, request = '' WHERE id = $1",
                )
                .bind(id)
                .bind(if failed { "failed" } else { "done" })
                .bind(result.to_string())
                .bind($to_db(emrlab_common::db::now()))
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn fetch_job(
                &self,
                org: emrlab_common::auth::OrgId,
                id: uuid::Uuid,
            ) -> Result<Option<crate::storage::JobRow>, crate::error::ServiceError> {
                use sqlx::Row;
                let mut conn = self.db.acquire().await?;
                let row = sqlx::query(
                    "SELECT id, status, result, submitted_at, finished_at FROM sync_jobs WHERE org_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let result: Option<String> = row.try_get(2)?;
                Ok(Some(crate::storage::JobRow {
                    id: row.try_get(0)?,
                    status: row.try_get(1)?,
                    result: result.and_then(|r| serde_json::from_str(&r).ok()),
                    submitted_at: $from_db(row.try_get::<$instant, _>(3)?),
                    finished_at: row.try_get::<Option<$instant>, _>(4)?.map($from_db),
                }))
            }

            async fn queued_jobs(&self, limit: u32) -> Result<Vec<crate::storage::QueuedJob>, crate::error::ServiceError> {
                use sqlx::Row;
                let mut conn = self.db.acquire().await?;
                let rows = sqlx::query(
                    "SELECT id, org_id, device_id, actor_id, request FROM sync_jobs WHERE status = 'queued' \
                     ORDER BY submitted_at LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(crate::storage::QueuedJob {
                            id: row.try_get(0)?,
                            org: emrlab_common::auth::OrgId(row.try_get(1)?),
                            device: row.try_get(2)?,
                            actor: row.try_get(3)?,
                            request: row.try_get(4)?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Into::into)
            }
        }
    };
}
pub(crate) use sql_sync_store;
