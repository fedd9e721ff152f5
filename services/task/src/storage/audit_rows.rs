//! The audit rows the task store writes, in the transaction of the change they record:
//! [`sql_audit_rows!`] is expanded inside `sql_task_store!`, for tasks (`insert_audit`) and for
//! the patients' admissions and discharges (`insert_audit_row`).

macro_rules! sql_audit_rows {
    ($db:ty, to_db: $to_db:path, json: $json:path) => {
        async fn insert_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            actor: crate::model::Actor,
            action: &'static str,
            before: Option<&crate::model::Task>,
            after: &crate::model::Task,
        ) -> Result<(), sqlx::Error> {
            insert_audit_row(
                conn,
                actor,
                action,
                "task",
                after.id.0,
                before,
                after,
                after.updated_at,
            )
            .await
        }

        /// One audit row: `before` and `after` are stored as JSON documents.
        #[allow(clippy::too_many_arguments)] // the row's columns, each its own meaning
        async fn insert_audit_row<T: serde::Serialize + Sync>(
            conn: &mut <$db as sqlx::Database>::Connection,
            actor: crate::model::Actor,
            action: &'static str,
            entity: &'static str,
            entity_id: uuid::Uuid,
            before: Option<&T>,
            after: &T,
            at: time::OffsetDateTime,
        ) -> Result<(), sqlx::Error> {
            let doc = |value: &T| {
                serde_json::to_value(value)
                    .map($json)
                    .map_err(|e| sqlx::Error::Encode(e.into()))
            };
            sqlx::query(
                "INSERT INTO audit_log (id, org_id, actor_id, action, entity, entity_id, before, after, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(actor.org.0)
            .bind(actor.user.0)
            .bind(action)
            .bind(entity)
            .bind(entity_id)
            .bind(before.map(doc).transpose()?)
            .bind(doc(after)?)
            .bind($to_db(at))
            .execute(conn)
            .await
            .map(drop)
        }
    };
}
pub(crate) use sql_audit_rows;
