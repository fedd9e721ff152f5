//! The task store's side of a handover: looking tasks up for the handover service and
//! reassigning a handover's tasks in one transaction. SQL written once, like the rest of the
//! store: [`sql_reassign!`] is expanded inside `sql_task_store!`, so it uses that expansion's
//! `task_from_row` and `insert_audit`; it lives apart to keep `sql.rs` readable.

macro_rules! sql_reassign {
    ($store:ident, $db:ty, to_db: $to_db:path, lock: $lock:literal $(,)?) => {
        /// The organisation's tasks among `ids`, in id order; with `lock`, their rows stay locked
        /// (PostgreSQL; on SQLite the write transaction already excludes every other writer).
        /// Id order is the one lock order, so two transactions over overlapping sets cannot
        /// deadlock.
        async fn tasks_among(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            ids: &[uuid::Uuid],
            lock: bool,
        ) -> Result<Vec<crate::model::Task>, sqlx::Error> {
            let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                "SELECT ",
                crate::storage::statements::task_row_columns!(),
                " FROM tasks WHERE org_id = "
            ));
            qb.push_bind(org.0).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            qb.push(") ORDER BY id");
            if lock {
                qb.push($lock);
            }
            let rows = qb.build().fetch_all(conn).await?;
            rows.iter().map(task_from_row).collect()
        }

        #[async_trait::async_trait]
        impl crate::storage::ReassignStore for $store {
            #[tracing::instrument(skip_all, fields(tasks = ids.len()))]
            async fn lookup_tasks(
                &self,
                org: emrlab_common::auth::OrgId,
                ids: &[uuid::Uuid],
            ) -> Result<Vec<crate::internal::TaskSummary>, crate::error::TaskError> {
                let mut conn = self.db.acquire().await?;
                let tasks = tasks_among(&mut conn, org, ids, false).await?;
                Ok(tasks
                    .into_iter()
                    .map(|t| crate::internal::TaskSummary {
                        id: t.id,
                        assignee_id: t.assignee_id,
                        ward_id: t.ward_id,
                        status: t.status,
                        version: t.version,
                    })
                    .collect())
            }

            #[tracing::instrument(skip_all, fields(tasks = wanted.len()))]
            async fn reassign_tasks(
                &self,
                actor: crate::model::Actor,
                handover: uuid::Uuid,
                to: uuid::Uuid,
                wanted: &[crate::internal::Expected],
            ) -> Result<crate::internal::Reassigned, crate::error::TaskError> {
                use crate::internal::{Change, Reassigned};
                // The span has only counts; this names the handover the audit rows belong to.
                tracing::debug!(handover_id = %handover, "reassigning a handover's tasks");
                let ids: Vec<uuid::Uuid> = wanted.iter().map(|w| w.id.0).collect();
                let mut w = self.db.begin_write().await?;
                // The new assignee must be the organisation's (the composite key would refuse it
                // anyway, but as a constraint error rather than a clear answer).
                check_references(&mut w.tx, actor.org, None, Some(to), None).await?;
                let current = tasks_among(&mut w.tx, actor.org, &ids, true).await?;
                let by_id: std::collections::HashMap<uuid::Uuid, &crate::model::Task> =
                    current.iter().map(|t| (t.id.0, t)).collect();
                let mut changes = Vec::new();
                for expected in wanted {
                    let task = by_id
                        .get(&expected.id.0)
                        .ok_or(crate::error::TaskError::NotFound(expected.id))?;
                    // Already with the receiver is no conflict: a retried accept (after a lost
                    // answer) finds its own earlier work here, and the task is where it should be.
                    if task.assignee_id != expected.expected_assignee_id && task.assignee_id != Some(to) {
                        changes.push(Change {
                            task_id: task.id,
                            expected_assignee_id: expected.expected_assignee_id,
                            current_assignee_id: task.assignee_id,
                        });
                    }
                }
                if !changes.is_empty() {
                    // Dropping the transaction rolls it back: nothing was written.
                    return Err(crate::error::TaskError::TasksChanged(changes));
                }
                let now = emrlab_common::db::now();
                let mut done = Reassigned {
                    tasks: Vec::with_capacity(current.len()),
                    unchanged: Vec::new(),
                };
                for expected in wanted {
                    let Some(task) = by_id.get(&expected.id.0) else {
                        continue;
                    };
                    if task.assignee_id == Some(to) || task.status.is_final() {
                        done.unchanged.push(task.id);
                        continue;
                    }
                    let mut next = (*task).clone();
                    next.assignee_id = Some(to);
                    next.version = task.version + 1;
                    next.updated_at = now;
                    sqlx::query(
                        "UPDATE tasks SET assignee_id = $3, version = $4, updated_at = $5 \
                         WHERE org_id = $1 AND id = $2",
                    )
                    .bind(actor.org.0)
                    .bind(task.id.0)
                    .bind(to)
                    .bind(next.version)
                    .bind($to_db(now))
                    .execute(&mut *w.tx)
                    .await?;
                    insert_audit(&mut w.tx, actor, "task.reassigned", Some(task), &next).await?;
                    done.tasks.push(next);
                }
                w.tx.commit().await?;
                Ok(done)
            }
        }
    };
}
pub(crate) use sql_reassign;
