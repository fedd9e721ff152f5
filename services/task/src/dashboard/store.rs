//! The dashboard's queries on both databases: the live aggregate, the refresh of the
//! `materialized` source (PostgreSQL materialized views; summary tables on SQLite) and its read.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{auth::OrgId, db::AnyDb};

use super::model::Stats;

/// A NULL ward's key in the summaries (a unique index cannot hold NULLs as one group).
const NO_WARD: Uuid = Uuid::nil();

#[async_trait]
pub trait DashboardStore: Send + Sync + 'static {
    /// Aggregates the tasks and admissions now.
    async fn live(&self, org: OrgId, ward: Option<Uuid>, now: OffsetDateTime) -> Result<Stats, sqlx::Error>;
    /// Reads the summaries, and when they were refreshed.
    async fn materialized(&self, org: OrgId, ward: Option<Uuid>) -> Result<(Stats, OffsetDateTime), sqlx::Error>;
    /// Recomputes the summaries for every organisation.
    async fn refresh(&self, now: OffsetDateTime) -> Result<(), sqlx::Error>;
}

macro_rules! sql_dashboard {
    ($store:ident, $db:ty, instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path, refresh: $refresh:path) => {
        pub struct $store(pub std::sync::Arc<emrlab_common::db::Db<$db>>);

        fn rows(found: Vec<<$db as sqlx::Database>::Row>) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
            use sqlx::Row;
            found
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                .collect()
        }

        /// The live source's task counts by status and priority. Crate-visible, as the next one,
        /// so `diagnostics` explains the statement the dashboard runs.
        pub(crate) fn push_live_counts(
            qb: &mut sqlx::QueryBuilder<$db>,
            org: OrgId,
            ward: Option<Uuid>,
            now: OffsetDateTime,
        ) {
            qb.push(
                "SELECT status, priority, count(*), CAST(COALESCE(SUM(CASE WHEN status IN ('pending', 'in_progress') \
                 AND due_at < ",
            );
            qb.push_bind($to_db(now));
            qb.push(" THEN 1 ELSE 0 END), 0) AS BIGINT) FROM tasks WHERE org_id = ")
                .push_bind(org.0);
            if let Some(ward) = ward {
                qb.push(" AND ward_id = ").push_bind(ward);
            }
            qb.push(" GROUP BY status, priority");
        }

        /// The live source's admissions of the last 24 hours.
        pub(crate) fn push_live_admissions(
            qb: &mut sqlx::QueryBuilder<$db>,
            org: OrgId,
            ward: Option<Uuid>,
            now: OffsetDateTime,
        ) {
            qb.push("SELECT count(*) FROM patients WHERE org_id = ");
            qb.push_bind(org.0)
                .push(" AND admitted_at >= ")
                .push_bind($to_db(now - time::Duration::DAY));
            if let Some(ward) = ward {
                qb.push(" AND ward_id = ").push_bind(ward);
            }
        }

        #[async_trait]
        impl DashboardStore for $store {
            async fn live(&self, org: OrgId, ward: Option<Uuid>, now: OffsetDateTime) -> Result<Stats, sqlx::Error> {
                let mut conn = self.0.acquire().await?;
                let mut counts = sqlx::QueryBuilder::<$db>::new("");
                push_live_counts(&mut counts, org, ward, now);
                let counts = rows(counts.build().fetch_all(&mut *conn).await?)?;
                let mut admitted = sqlx::QueryBuilder::<$db>::new("");
                push_live_admissions(&mut admitted, org, ward, now);
                let admissions: i64 = admitted.build_query_scalar().fetch_one(&mut *conn).await?;
                Ok(Stats::fold(ward, &counts, admissions))
            }

            async fn materialized(
                &self,
                org: OrgId,
                ward: Option<Uuid>,
            ) -> Result<(Stats, OffsetDateTime), sqlx::Error> {
                let mut conn = self.0.acquire().await?;
                let mut counts = sqlx::QueryBuilder::<$db>::new(
                    "SELECT status, priority, CAST(SUM(tasks) AS BIGINT), CAST(SUM(overdue) AS BIGINT) \
                     FROM dashboard_task_counts WHERE org_id = ",
                );
                counts.push_bind(org.0);
                if let Some(ward) = ward {
                    counts.push(" AND ward_key = ").push_bind(ward);
                }
                counts.push(" GROUP BY status, priority");
                let counts = rows(counts.build().fetch_all(&mut *conn).await?)?;
                let mut admitted = sqlx::QueryBuilder::<$db>::new(
                    "SELECT CAST(COALESCE(SUM(admissions), 0) AS BIGINT) FROM dashboard_admissions WHERE org_id = ",
                );
                admitted.push_bind(org.0);
                if let Some(ward) = ward {
                    admitted.push(" AND ward_key = ").push_bind(ward);
                }
                let admissions: i64 = admitted.build_query_scalar().fetch_one(&mut *conn).await?;
                let at: $instant = sqlx::query_scalar("SELECT refreshed_at FROM dashboard_refreshes WHERE id = 1")
                    .fetch_one(&mut *conn)
                    .await?;
                Ok((Stats::fold(ward, &counts, admissions), $from_db(at)))
            }

            async fn refresh(&self, now: OffsetDateTime) -> Result<(), sqlx::Error> {
                $refresh(&self.0, now).await
            }
        }
    };
}

mod postgres {
    use super::*;
    use sqlx::Postgres;

    fn same(t: OffsetDateTime) -> OffsetDateTime {
        t
    }

    /// CONCURRENTLY: readers keep the old rows while the new ones are computed. The views use the
    /// database's `now()`, so the refresh instant recorded is the database's too.
    async fn refresh(db: &emrlab_common::db::Db<Postgres>, _now: OffsetDateTime) -> Result<(), sqlx::Error> {
        let mut conn = db.acquire().await?;
        sqlx::query("REFRESH MATERIALIZED VIEW CONCURRENTLY dashboard_task_counts")
            .execute(&mut *conn)
            .await?;
        sqlx::query("REFRESH MATERIALIZED VIEW CONCURRENTLY dashboard_admissions")
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE dashboard_refreshes SET refreshed_at = now() WHERE id = 1")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    sql_dashboard!(PgDashboard, Postgres, instant: OffsetDateTime, to_db: same, from_db: same, refresh: refresh);
}

pub(crate) mod sqlite {
    use super::*;
    use emrlab_common::db::{from_micros, to_micros};
    use sqlx::Sqlite;

    /// Rebuilt in one write transaction: a reader sees the old summary or the new one.
    async fn refresh(db: &emrlab_common::db::Db<Sqlite>, now: OffsetDateTime) -> Result<(), sqlx::Error> {
        let mut w = db.begin_write().await?;
        sqlx::query("DELETE FROM dashboard_task_counts")
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO dashboard_task_counts (org_id, ward_key, status, priority, tasks, overdue) \
             SELECT org_id, COALESCE(ward_id, $1), status, priority, count(*), \
                    SUM(CASE WHEN status IN ('pending', 'in_progress') AND due_at < $2 THEN 1 ELSE 0 END) \
             FROM tasks GROUP BY org_id, COALESCE(ward_id, $1), status, priority",
        )
        .bind(NO_WARD)
        .bind(to_micros(now))
        .execute(&mut *w.tx)
        .await?;
        sqlx::query("DELETE FROM dashboard_admissions")
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO dashboard_admissions (org_id, ward_key, admissions) \
             SELECT org_id, COALESCE(ward_id, $1), count(*) FROM patients WHERE admitted_at >= $2 \
             GROUP BY org_id, COALESCE(ward_id, $1)",
        )
        .bind(NO_WARD)
        .bind(to_micros(now - time::Duration::DAY))
        .execute(&mut *w.tx)
        .await?;
        sqlx::query("UPDATE dashboard_refreshes SET refreshed_at = $1 WHERE id = 1")
            .bind(to_micros(now))
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await
    }

    sql_dashboard!(SqliteDashboard, Sqlite, instant: i64, to_db: to_micros, from_db: from_micros, refresh: refresh);
}

/// The store for a component's database.
pub fn open(db: &AnyDb) -> std::sync::Arc<dyn DashboardStore> {
    match db {
        AnyDb::Postgres(db) => std::sync::Arc::new(postgres::PgDashboard(db.clone())),
        AnyDb::Sqlite(db) => std::sync::Arc::new(sqlite::SqliteDashboard(db.clone())),
    }
}
