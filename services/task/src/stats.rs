//! `GET /tasks/stats`: counts of the tasks created in a period by status, priority, ward and
//! assignee, and how long the completed ones took (created to last update, which for a completed
//! task is its completion), as nearest-rank percentiles computed in the database.

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::{extract::State, response::IntoResponse};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use emrlab_common::{auth::Caller, db::AnyDb, error::ApiError, extract::Query};

use crate::{
    AppState,
    error::TaskError,
    handlers::clinical_actor,
    model::{Priority, Status},
};

/// The period when none is given, and the longest accepted.
const DEFAULT_PERIOD: Duration = Duration::days(7);
const MAX_PERIOD: Duration = Duration::days(400);
/// The percentiles of completion time reported.
const PERCENTILES: [(&str, f64); 4] = [("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99)];

/// The query string: the period (`from` ≤ created_at < `to`), default the last seven days.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    #[serde(default, with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Counted {
    pub id: Option<Uuid>,
    pub tasks: i64,
}

/// How long completed tasks took, in minutes; null percentiles when none completed.
#[derive(Debug, Serialize, PartialEq)]
pub struct Completion {
    pub completed: i64,
    pub minutes: BTreeMap<&'static str, Option<f64>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TaskStats {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_priority: BTreeMap<String, i64>,
    /// Every ward with tasks in the period (null: tasks without a ward), most tasks first.
    pub by_ward: Vec<Counted>,
    /// Every assignee with tasks in the period (null: unassigned), most tasks first.
    pub by_assignee: Vec<Counted>,
    pub completion: Completion,
}

#[async_trait]
trait StatsStore: Send + Sync {
    /// (key, count) per value of `column` (`status`, `priority`, `ward_id` as text or uuid…).
    async fn counts_text(
        &self,
        org: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
        column: &'static str,
    ) -> Result<Vec<(String, i64)>, sqlx::Error>;
    async fn counts_id(
        &self,
        org: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
        column: &'static str,
    ) -> Result<Vec<(Option<Uuid>, i64)>, sqlx::Error>;
    /// The completed tasks' durations in microseconds at the given nearest ranks, and how many.
    async fn completion(
        &self,
        org: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<(i64, Vec<Option<i64>>), sqlx::Error>;
}

macro_rules! sql_stats {
    ($store:ident, $db:ty, to_db: $to_db:path, micros: $micros:literal) => {
        struct $store(std::sync::Arc<emrlab_common::db::Db<$db>>);

        impl $store {
            fn grouped(
                column: &'static str,
                from: OffsetDateTime,
                to: OffsetDateTime,
                org: Uuid,
            ) -> sqlx::QueryBuilder<$db> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                // `column` is one of this module's constants, never input.
                qb.push(column)
                    .push(", count(*) FROM tasks WHERE org_id = ")
                    .push_bind(org);
                qb.push(" AND created_at >= ").push_bind($to_db(from));
                qb.push(" AND created_at < ").push_bind($to_db(to));
                qb.push(" GROUP BY ")
                    .push(column)
                    .push(" ORDER BY count(*) DESC, ")
                    .push(column);
                qb
            }
        }

        #[async_trait]
        impl StatsStore for $store {
            async fn counts_text(
                &self,
                org: Uuid,
                from: OffsetDateTime,
                to: OffsetDateTime,
                column: &'static str,
            ) -> Result<Vec<(String, i64)>, sqlx::Error> {
                let mut conn = self.0.acquire().await?;
                Self::grouped(column, from, to, org)
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
            }

            async fn counts_id(
                &self,
                org: Uuid,
                from: OffsetDateTime,
                to: OffsetDateTime,
                column: &'static str,
            ) -> Result<Vec<(Option<Uuid>, i64)>, sqlx::Error> {
                let mut conn = self.0.acquire().await?;
                Self::grouped(column, from, to, org)
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
            }

            async fn completion(
                &self,
                org: Uuid,
                from: OffsetDateTime,
                to: OffsetDateTime,
            ) -> Result<(i64, Vec<Option<i64>>), sqlx::Error> {
                let mut conn = self.0.acquire().await?;
                let completed: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM tasks WHERE org_id = $1 AND status = 'completed' \
                     AND created_at >= $2 AND created_at < $3",
                )
                .bind(org)
                .bind($to_db(from))
                .bind($to_db(to))
                .fetch_one(&mut *conn)
                .await?;
                let mut ranked = Vec::with_capacity(PERCENTILES.len());
                for (_, p) in PERCENTILES {
                    if completed == 0 {
                        ranked.push(None);
                        continue;
                    }
                    let rank = ((p * completed as f64).ceil() as i64 - 1).max(0);
                    let at: Option<i64> = sqlx::query_scalar(concat!(
                        "SELECT ",
                        $micros,
                        " AS took FROM tasks WHERE org_id = $1 AND status = 'completed' \
                         AND created_at >= $2 AND created_at < $3 ORDER BY took LIMIT 1 OFFSET $4"
                    ))
                    .bind(org)
                    .bind($to_db(from))
                    .bind($to_db(to))
                    .bind(rank)
                    .fetch_optional(&mut *conn)
                    .await?;
                    ranked.push(at);
                }
                Ok((completed, ranked))
            }
        }
    };
}

fn same(t: OffsetDateTime) -> OffsetDateTime {
    t
}

sql_stats!(PgStats, sqlx::Postgres, to_db: same,
    micros: "CAST(EXTRACT(EPOCH FROM (updated_at - created_at)) * 1000000 AS BIGINT)");
sql_stats!(SqliteStats, sqlx::Sqlite, to_db: emrlab_common::db::to_micros, micros: "(updated_at - created_at)");

fn store(db: &AnyDb) -> Box<dyn StatsStore> {
    match db {
        AnyDb::Postgres(db) => Box::new(PgStats(db.clone())),
        AnyDb::Sqlite(db) => Box::new(SqliteStats(db.clone())),
    }
}

fn every(keys: &[&str], found: Vec<(String, i64)>) -> BTreeMap<String, i64> {
    let mut map: BTreeMap<String, i64> = keys.iter().map(|k| ((*k).to_owned(), 0)).collect();
    map.extend(found);
    map
}

fn counted(found: Vec<(Option<Uuid>, i64)>) -> Vec<Counted> {
    found.into_iter().map(|(id, tasks)| Counted { id, tasks }).collect()
}

/// `GET /tasks/stats[?from=…&to=…]`.
pub async fn task_stats(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<StatsQuery>,
) -> Result<impl IntoResponse, TaskError> {
    let actor = clinical_actor(&caller)?;
    let to = query.to.unwrap_or_else(emrlab_common::db::now);
    let from = query.from.unwrap_or(to - DEFAULT_PERIOD);
    if from >= to || to - from > MAX_PERIOD {
        return Err(ApiError::invalid("from", "from must be before to, at most 400 days apart").into());
    }
    let (org, db) = (actor.org.0, store(&state.db));
    let by_status = every(Status::ALL, db.counts_text(org, from, to, "status").await?);
    let by_priority = every(Priority::ALL, db.counts_text(org, from, to, "priority").await?);
    let by_ward = counted(db.counts_id(org, from, to, "ward_id").await?);
    let by_assignee = counted(db.counts_id(org, from, to, "assignee_id").await?);
    let (completed, ranked) = db.completion(org, from, to).await?;
    let minutes = PERCENTILES
        .iter()
        .zip(ranked)
        .map(|((name, _), micros)| (*name, micros.map(|m| m as f64 / 60_000_000.0)))
        .collect();
    Ok(axum::Json(TaskStats {
        from,
        to,
        total: by_status.values().sum(),
        by_status,
        by_priority,
        by_ward,
        by_assignee,
        completion: Completion { completed, minutes },
    }))
}
