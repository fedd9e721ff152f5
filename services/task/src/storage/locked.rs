//! Reading a task under its write lock, and recording a verification's outcome: SQL written once
//! like the rest of the store. [`sql_locked_task!`] is expanded inside `sql_task_store!`, so it
//! uses that expansion's `task_from_row`; it lives apart because its guard hands an open
//! transaction to the caller, which nothing else in the store does.

macro_rules! sql_locked_task {
    ($db:ty, to_db: $to_db:path, lock: $lock:literal $(,)?) => {
        /// Reads a task in a write transaction, locking its row where the backend locks rows.
        async fn fetch_locked(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            id: crate::model::TaskId,
        ) -> Result<crate::model::Task, crate::error::TaskError> {
            let row = sqlx::query(concat!(
                "SELECT ",
                crate::storage::statements::task_row_columns!(),
                " FROM tasks WHERE org_id = $1 AND id = $2",
                $lock
            ))
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(conn)
            .await?
            .ok_or(crate::error::TaskError::NotFound(id))?;
            Ok(task_from_row(&row)?)
        }

        /// Stores a verification's state and instant and returns the task as it now reads.
        /// Neither `version` nor `updated_at` moves: a client's next PUT must not turn stale
        /// because someone checked the vendor's copy.
        async fn write_verification(
            conn: &mut <$db as sqlx::Database>::Connection,
            org: emrlab_common::auth::OrgId,
            id: crate::model::TaskId,
            state: crate::model::Verification,
            at: time::OffsetDateTime,
        ) -> Result<crate::model::Task, crate::error::TaskError> {
            let row = sqlx::query(concat!(
                "UPDATE tasks SET verification = $3, verified_at = $4 WHERE org_id = $1 AND id = $2 RETURNING ",
                crate::storage::statements::task_row_columns!()
            ))
            .bind(org.0)
            .bind(id.0)
            .bind(state.as_str())
            .bind($to_db(at))
            .fetch_optional(conn)
            .await?
            .ok_or(crate::error::TaskError::NotFound(id))?;
            Ok(task_from_row(&row)?)
        }

        /// The guard `lock_task` returns on this backend: the open transaction and what it read.
        struct LockedRow {
            w: emrlab_common::db::WriteTx<$db>,
            org: emrlab_common::auth::OrgId,
            task: crate::model::Task,
        }

        #[async_trait::async_trait]
        impl crate::storage::LockedTask for LockedRow {
            fn task(&self) -> &crate::model::Task {
                &self.task
            }

            #[tracing::instrument(skip_all, fields(task_id = %self.task.id, state = state.as_str()))]
            async fn record_verification(
                self: Box<Self>,
                state: crate::model::Verification,
                at: time::OffsetDateTime,
            ) -> Result<crate::model::Task, crate::error::TaskError> {
                let Self { mut w, org, task } = *self;
                let recorded = write_verification(&mut w.tx, org, task.id, state, at).await?;
                w.tx.commit().await?;
                Ok(recorded)
            }
        }
    };
}
pub(crate) use sql_locked_task;
