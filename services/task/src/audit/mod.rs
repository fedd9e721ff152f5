//! `GET /audit` and `GET /audit/series`: the organisation's audit events, filtered and keyset
//! paged, and their counts per minute, hour or day. For admins and charge nurses only: the log
//! shows who did what to every task. On PostgreSQL the table is partitioned by month
//! (migrations/postgres/0003), so a time range reads only its months; `retention` deletes what
//! is older than `audit.retention`.

use async_trait::async_trait;
use axum::{extract::State, response::IntoResponse};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use emrlab_common::{
    auth::{Caller, OrgId, Role},
    db::AnyDb,
    error::ApiError,
    extract::Query,
};

use crate::{AppState, error::TaskError};

pub mod retention;

const DEFAULT_RANGE: Duration = Duration::DAY;
/// The most buckets one series may have.
const MAX_BUCKETS: i64 = 10_000;

/// Filters and the range shared by both routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor_id: Option<Uuid>,
    action: Option<String>,
    entity: Option<String>,
    entity_id: Option<Uuid>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
    limit: Option<u32>,
    cursor: Option<String>,
    bucket: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Filter {
    actor_id: Option<Uuid>,
    action: Option<String>,
    entity: Option<String>,
    entity_id: Option<Uuid>,
    from: OffsetDateTime,
    to: OffsetDateTime,
}

impl Filter {
    /// The default range (the day before `to`) with no other filter, as a plain `GET /audit`.
    pub(crate) fn default_range(to: OffsetDateTime) -> Self {
        Self {
            actor_id: None,
            action: None,
            entity: None,
            entity_id: None,
            from: to - DEFAULT_RANGE,
            to,
        }
    }
}

/// One audit event.
#[derive(Debug, Serialize)]
pub struct Event {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub action: String,
    pub entity: String,
    pub entity_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub events: i64,
}

#[async_trait]
trait AuditStore: Send + Sync {
    async fn events(
        &self,
        org: OrgId,
        f: &Filter,
        after: Option<(OffsetDateTime, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Event>, sqlx::Error>;
    async fn series(&self, org: OrgId, f: &Filter, bucket_micros: i64) -> Result<Vec<Bucket>, sqlx::Error>;
}

macro_rules! sql_audit {
    ($store:ident, $db:ty, instant: $instant:ty, to_db: $to_db:path, from_db: $from_db:path, bucket: $bucket:literal) => {
        pub(crate) struct $store(std::sync::Arc<emrlab_common::db::Db<$db>>);

        impl $store {
        fn push_filter(qb: &mut sqlx::QueryBuilder<$db>, org: OrgId, f: &Filter) {
            qb.push(" WHERE org_id = ").push_bind(org.0);
            qb.push(" AND at >= ").push_bind($to_db(f.from)).push(" AND at < ").push_bind($to_db(f.to));
            if let Some(actor) = f.actor_id {
                qb.push(" AND actor_id = ").push_bind(actor);
            }
            if let Some(action) = &f.action {
                qb.push(" AND action = ").push_bind(action.clone());
            }
            if let Some(entity) = &f.entity {
                qb.push(" AND entity = ").push_bind(entity.clone());
            }
            if let Some(id) = f.entity_id {
                qb.push(" AND entity_id = ").push_bind(id);
            }
        }

        /// A page of events, newest first. Crate-visible, as the series, so `diagnostics`
        /// explains the statements the routes run.
        pub(crate) fn push_events(
            qb: &mut sqlx::QueryBuilder<$db>,
            org: OrgId,
            f: &Filter,
            after: Option<(OffsetDateTime, Uuid)>,
            limit: u32,
        ) {
            qb.push("SELECT id, actor_id, action, entity, entity_id, at, CAST(before AS TEXT), CAST(after AS TEXT) FROM audit_log");
            Self::push_filter(qb, org, f);
            if let Some((at, id)) = after {
                qb.push(" AND (at < ").push_bind($to_db(at));
                qb.push(" OR (at = ").push_bind($to_db(at)).push(" AND id < ").push_bind(id).push("))");
            }
            qb.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
        }

        /// Events per bucket of `bucket_micros`.
        pub(crate) fn push_series(qb: &mut sqlx::QueryBuilder<$db>, org: OrgId, f: &Filter, bucket_micros: i64) {
            qb.push("SELECT b, count(*) FROM (SELECT ");
            qb.push(format!($bucket, bucket_micros)).push(" AS b FROM audit_log");
            Self::push_filter(qb, org, f);
            qb.push(") buckets GROUP BY b ORDER BY b");
        }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn events(&self, org: OrgId, f: &Filter, after: Option<(OffsetDateTime, Uuid)>, limit: u32)
            -> Result<Vec<Event>, sqlx::Error> {
                use sqlx::Row;
                let mut qb = sqlx::QueryBuilder::<$db>::new("");
                Self::push_events(&mut qb, org, f, after, limit);
                let rows = qb.build().fetch_all(&mut *self.0.acquire().await?).await?;
                let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
                rows.iter()
                    .map(|r| {
                        Ok(Event {
                            id: r.try_get(0)?,
                            actor_id: r.try_get(1)?,
                            action: r.try_get(2)?,
                            entity: r.try_get(3)?,
                            entity_id: r.try_get(4)?,
                            at: $from_db(r.try_get::<$instant, _>(5)?),
                            before: json(r.try_get(6)?),
                            after: json(r.try_get(7)?),
                        })
                    })
                    .collect()
            }

            async fn series(&self, org: OrgId, f: &Filter, bucket_micros: i64) -> Result<Vec<Bucket>, sqlx::Error> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("");
                Self::push_series(&mut qb, org, f, bucket_micros);
                let rows: Vec<(i64, i64)> = qb.build_query_as().fetch_all(&mut *self.0.acquire().await?).await?;
                Ok(rows
                    .into_iter()
                    .map(|(start, events)| Bucket { start: emrlab_common::db::from_micros(start), events })
                    .collect())
            }
        }
    };
}

fn same(t: OffsetDateTime) -> OffsetDateTime {
    t
}

// The bucket width is a whole number of microseconds chosen from three constants, never input.
sql_audit!(PgAudit, sqlx::Postgres, instant: OffsetDateTime, to_db: same, from_db: same,
    bucket: "CAST(FLOOR(EXTRACT(EPOCH FROM at) * 1000000 / {0}) AS BIGINT) * {0}");
sql_audit!(SqliteAudit, sqlx::Sqlite, instant: i64, to_db: emrlab_common::db::to_micros,
    from_db: emrlab_common::db::from_micros, bucket: "(at / {0}) * {0}");

fn store(db: &AnyDb) -> Box<dyn AuditStore> {
    match db {
        AnyDb::Postgres(db) => Box::new(PgAudit(db.clone())),
        AnyDb::Sqlite(db) => Box::new(SqliteAudit(db.clone())),
    }
}

/// The caller's organisation, if an admin or a charge nurse.
fn auditor(caller: &Caller) -> Result<OrgId, ApiError> {
    match caller.0.role {
        Role::Admin | Role::ChargeNurse => Ok(caller.0.org),
        _ => Err(ApiError::forbidden("the audit log is for admins and charge nurses")),
    }
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, ApiError> {
        let to = self.to.unwrap_or_else(emrlab_common::db::now);
        let from = self.from.unwrap_or(to - DEFAULT_RANGE);
        if from >= to {
            return Err(ApiError::invalid("from", "from must be before to"));
        }
        Ok(Filter {
            actor_id: self.actor_id,
            action: self.action.clone(),
            entity: self.entity.clone(),
            entity_id: self.entity_id,
            from,
            to,
        })
    }
}

/// `GET /audit`: newest first, keyset paged; the last 24 hours unless `from`/`to` say otherwise.
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, TaskError> {
    let org = auditor(&caller)?;
    if query.bucket.is_some() {
        return Err(ApiError::invalid("bucket", "bucket is for /audit/series").into());
    }
    let filter = query.filter()?;
    let limit = crate::listing::page_limit(query.limit)?;
    let after = query.cursor.as_deref().map(emrlab_common::cursor::decode).transpose()?;
    let rows = store(&state.db).events(org, &filter, after, limit + 1).await?;
    Ok(axum::Json(crate::listing::KeysetPage::new(rows, limit, |e| {
        (e.at, e.id)
    })))
}

/// `GET /audit/series?bucket=1m|1h|1d`: events per bucket in the range (empty buckets left out).
pub async fn series(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, TaskError> {
    let org = auditor(&caller)?;
    if query.limit.is_some() || query.cursor.is_some() {
        return Err(ApiError::invalid("limit", "a series is not paged").into());
    }
    let bucket: i64 = match query.bucket.as_deref() {
        Some("1m") => 60_000_000,
        Some("1h") => 3_600_000_000,
        Some("1d") => 86_400_000_000,
        _ => return Err(ApiError::invalid("bucket", "bucket must be 1m, 1h or 1d").into()),
    };
    let filter = query.filter()?;
    let span = emrlab_common::db::to_micros(filter.to) - emrlab_common::db::to_micros(filter.from);
    if span / bucket > MAX_BUCKETS {
        return Err(ApiError::invalid(
            "bucket",
            format!("at most {MAX_BUCKETS} buckets: widen the bucket or narrow the range"),
        )
        .into());
    }
    let buckets = store(&state.db).series(org, &filter, bucket).await?;
    let total: i64 = buckets.iter().map(|b| b.events).sum();
    Ok(axum::Json(serde_json::json!({
        "bucket": query.bucket,
        "from": filter.from.format(&time::format_description::well_known::Rfc3339).ok(),
        "to": filter.to.format(&time::format_description::well_known::Rfc3339).ok(),
        "total": total,
        "buckets": buckets,
    })))
}
