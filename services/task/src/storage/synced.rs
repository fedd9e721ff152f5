//! What the sync service asks of the task rows: read a set of them, and write a merge result to
//! many of them in one transaction. [`sql_synced_rows!`] is expanded next to `sql_task_store!`
//! in each backend's module, whose `task_from_row` and `insert_audit` it uses.

use async_trait::async_trait;

use emrlab_common::auth::OrgId;

use crate::{
    error::TaskError,
    model::{Actor, Task, TaskId},
};

/// One task row as a sync merge leaves it, written only if the row is still at
/// `expected_version`: the sync service computed the merge from that version.
#[derive(Debug, Clone)]
pub struct MergedRow {
    pub id: TaskId,
    pub expected_version: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: crate::model::Status,
    pub priority: crate::model::Priority,
    pub assignee_id: Option<uuid::Uuid>,
    pub ward_id: Option<uuid::Uuid>,
    pub due_at: Option<time::OffsetDateTime>,
    pub conflict: bool,
}

/// Task rows as the sync service reads and writes them.
#[async_trait]
pub trait SyncedRows: Send + Sync + 'static {
    /// The organisation's tasks among `ids`; ids of other organisations or of no task are absent.
    async fn fetch_tasks(&self, org: OrgId, ids: &[TaskId]) -> Result<Vec<Task>, TaskError>;
    /// Writes every row, each with its audit row, in one transaction. If any row is no longer at
    /// its expected version, nothing is written and the answer is a 409 `stale_rows` naming them.
    async fn write_merged(&self, actor: Actor, rows: &[MergedRow]) -> Result<Vec<Task>, TaskError>;
}

macro_rules! sql_synced_rows {
    ($store:ident, $db:ty, to_db: $to_db:path, lock: $lock:literal $(,)?) => {
        async fn select_tasks(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            ids: &[crate::model::TaskId],
            lock: bool,
        ) -> Result<Vec<crate::model::Task>, sqlx::Error> {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                "SELECT ",
                crate::storage::statements::task_row_columns!(),
                " FROM tasks WHERE org_id = "
            ));
            qb.push_bind(org.0).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(id.0);
            }
            // A fixed order: two merges locking overlapping rows cannot deadlock on PostgreSQL.
            qb.push(") ORDER BY id");
            if lock {
                qb.push($lock);
            }
            let rows = qb.build().fetch_all(conn).await?;
            rows.iter().map(task_from_row).collect()
        }

        #[async_trait::async_trait]
        impl crate::storage::synced::SyncedRows for $store {
            #[tracing::instrument(skip_all, fields(tasks = ids.len()))]
            async fn fetch_tasks(
                &self,
                org: emrlab_common::auth::OrgId,
                ids: &[crate::model::TaskId],
            ) -> Result<Vec<crate::model::Task>, crate::error::TaskError> {
                let mut conn = self.db.acquire().await?;
                Ok(select_tasks(&mut conn, org, ids, false).await?)
            }

            #[tracing::instrument(skip_all, fields(tasks = rows.len()))]
            async fn write_merged(
                &self,
                actor: crate::model::Actor,
                rows: &[crate::storage::synced::MergedRow],
            ) -> Result<Vec<crate::model::Task>, crate::error::TaskError> {
                let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
                let mut w = self.db.begin_write().await?;
                let current: std::collections::HashMap<_, _> = select_tasks(&mut w.tx, actor.org, &ids, true)
                    .await?
                    .into_iter()
                    .map(|t| (t.id, t))
                    .collect();
                let stale: Vec<_> = rows
                    .iter()
                    .filter(|r| current.get(&r.id).is_none_or(|t| t.version != r.expected_version))
                    .map(|r| serde_json::json!({"id": r.id, "version": current.get(&r.id).map(|t| t.version)}))
                    .collect();
                if !stale.is_empty() {
                    return Err(emrlab_common::error::ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "stale_rows",
                        "tasks changed since the merge read them; read them again",
                    )
                    .details(serde_json::json!({ "stale": stale }))
                    .into());
                }
                let now = emrlab_common::db::now();
                let mut written = Vec::with_capacity(rows.len());
                for row in rows {
                    let Some(before) = current.get(&row.id) else { continue };
                    let after = crate::model::Task {
                        title: row.title.clone(),
                        description: row.description.clone(),
                        status: row.status,
                        priority: row.priority,
                        assignee_id: row.assignee_id,
                        ward_id: row.ward_id,
                        due_at: row.due_at,
                        conflict: row.conflict,
                        updated_at: now,
                        version: before.version + 1,
                        ..before.clone()
                    };
                    let updated = sqlx::query(
                        "UPDATE tasks SET title = $3, description = $4, status = $5, priority = $6, \
                         assignee_id = $7, ward_id = $8, due_at = $9, conflict = $10, updated_at = $11, \
                         version = $12 WHERE org_id = $1 AND id = $2",
                    )
                    .bind(actor.org.0)
                    .bind(row.id.0)
                    .bind(&after.title)
                    .bind(&after.description)
                    .bind(after.status.as_str())
                    .bind(after.priority.as_str())
                    .bind(after.assignee_id)
                    .bind(after.ward_id)
                    .bind(after.due_at.map($to_db))
                    .bind(after.conflict)
                    .bind($to_db(now))
                    .bind(after.version)
                    .execute(&mut *w.tx)
                    .await;
                    match updated {
                        // The composite foreign keys keep an assignee or ward in the organisation.
                        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                            return Err(emrlab_common::error::ApiError::invalid(
                                "assignee_id",
                                format!("task {}: the assignee or ward is not in your organisation", row.id),
                            )
                            .into());
                        }
                        other => other?,
                    };
                    insert_audit(&mut w.tx, actor, "task.sync", Some(before), &after).await?;
                    written.push(after);
                }
                w.tx.commit().await?;
                Ok(written)
            }
        }
    };
}
pub(crate) use sql_synced_rows;
