//! The platform's hot queries, as SQLite runs them: each is built by the storage module that
//! runs it (the same builder, constant or macro expansion), so a plan explained here is the plan
//! of the statement the service sends. Values come from the database's newest task, so the
//! filters select real rows.

use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use emrlab_common::auth::OrgId;

use crate::{
    audit::{Filter, SqliteAudit},
    dashboard::store::sqlite as dashboard,
    listing::{PageRequest, TaskFilter},
    model::{Priority, Status},
    patients::model::PatientFilter,
    storage::{patients::PATIENT_REF, sqlite as tasks, statements::FETCH_TASK},
};

/// What `EXPLAIN QUERY PLAN` is prefixed with; the report shows the statement without it.
pub(super) const EXPLAIN: &str = "EXPLAIN QUERY PLAN ";

/// Ids of one real task, to fill the statements' parameters with.
struct Sample {
    org: OrgId,
    task: Uuid,
    patient: Uuid,
    assignee: Option<Uuid>,
}

async fn sample(conn: &mut SqliteConnection) -> Result<Sample, sqlx::Error> {
    let row: Option<(Uuid, Uuid, Uuid, Option<Uuid>)> =
        sqlx::query_as("SELECT org_id, id, patient_id, assignee_id FROM tasks ORDER BY created_at DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    // An empty database still has plans; the nil ids then match nothing, which is fine.
    let (org, task, patient, assignee) = row.unwrap_or((Uuid::nil(), Uuid::nil(), Uuid::nil(), None));
    Ok(Sample {
        org: OrgId(org),
        task,
        patient,
        assignee,
    })
}

/// One row of `EXPLAIN QUERY PLAN`: id, parent, (unused), detail.
pub(super) type PlanRow = (i64, i64, i64, String);

/// Each hot query's name, statement (without the EXPLAIN prefix) and plan rows.
pub(super) async fn explain(
    conn: &mut SqliteConnection,
) -> Result<Vec<(&'static str, String, Vec<PlanRow>)>, sqlx::Error> {
    let s = sample(conn).await?;
    let mut explained = Vec::new();
    for (name, mut qb) in built(&s) {
        let sql = qb.sql().as_str().trim_start_matches(EXPLAIN).to_owned();
        let rows = qb.build_query_as::<PlanRow>().fetch_all(&mut *conn).await?;
        explained.push((name, sql, rows));
    }
    // Constant statements with `$1, $2` (org, id). The text spliced is two constants of this
    // crate, never input.
    let by_id = [
        ("task by id", FETCH_TASK, s.task),
        // Once per task of a page under `tasks.patient_loading = n_plus_one`.
        ("patient by id (include=patient)", PATIENT_REF, s.patient),
    ];
    for (name, sql, id) in by_id {
        let rows = sqlx::query_as::<_, PlanRow>(AssertSqlSafe(format!("{EXPLAIN}{sql}")))
            .bind(s.org.0)
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        explained.push((name, sql.to_owned(), rows));
    }
    Ok(explained)
}

/// `EXPLAIN QUERY PLAN` builders of the dynamically built hot queries, by name.
fn built(s: &Sample) -> Vec<(&'static str, QueryBuilder<Sqlite>)> {
    let now = emrlab_common::db::now();
    let first_page = PageRequest::Cursor { after: None, limit: 50 };
    let mut out = Vec::new();

    let mut qb = QueryBuilder::new(EXPLAIN);
    tasks::push_page(&mut qb, s.org, &TaskFilter::default(), first_page);
    out.push(("task list (first page, no filter)", qb));

    let filtered = TaskFilter {
        status: Some(Status::Pending),
        priority: Some(Priority::Urgent),
        assignee_id: s.assignee,
        ..TaskFilter::default()
    };
    let mut qb = QueryBuilder::new(EXPLAIN);
    tasks::push_page(&mut qb, s.org, &filtered, first_page);
    out.push(("task list (status, priority, assignee)", qb));

    let searched = TaskFilter {
        terms: vec!["vital".to_owned()],
        ..TaskFilter::default()
    };
    let mut qb = QueryBuilder::new(EXPLAIN);
    tasks::push_page(&mut qb, s.org, &searched, first_page);
    out.push(("task list (search q=vital)", qb));

    let census = PatientFilter {
        q: Some("smith".to_owned()),
        admitted: Some(true),
        ..PatientFilter::default()
    };
    let mut qb = QueryBuilder::new(EXPLAIN);
    tasks::push_patient_search(&mut qb, s.org, &census, None, 50);
    out.push(("patient search (q=smith, admitted)", qb));

    let mut qb = QueryBuilder::new(EXPLAIN);
    dashboard::push_live_counts(&mut qb, s.org, None, now);
    out.push(("dashboard: task counts", qb));

    let mut qb = QueryBuilder::new(EXPLAIN);
    dashboard::push_live_admissions(&mut qb, s.org, None, now);
    out.push(("dashboard: admissions", qb));

    let last_day = Filter::default_range(now);
    let mut qb = QueryBuilder::new(EXPLAIN);
    SqliteAudit::push_events(&mut qb, s.org, &last_day, None, 51);
    out.push(("audit events (last day)", qb));

    let mut qb = QueryBuilder::new(EXPLAIN);
    SqliteAudit::push_series(&mut qb, s.org, &last_day, 3_600_000_000);
    out.push(("audit series (hourly, last day)", qb));
    out
}
