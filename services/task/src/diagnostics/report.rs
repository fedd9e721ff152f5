//! `emrlab db report`: the report's shape (one JSON document with `--format json`) and the
//! dispatch to the backend that takes it.

use serde::{Deserialize, Serialize};

use emrlab_common::db::AnyDb;

use super::DiagnosticsError;

/// The seed platform's slow-query scan flagged statements whose mean was above this.
pub const SLOW_MEAN_MS: f64 = 100.0;
/// The seed platform's target for the buffer cache hit ratio.
pub const CACHE_HIT_TARGET: f64 = 0.95;
/// Tables with more dead tuples than this are listed.
pub const DEAD_TUPLES_MIN: i64 = 1_000;
/// How many statements the report lists, by mean execution time.
pub const TOP_STATEMENTS: i64 = 20;

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `postgres` or `sqlite`.
    pub backend: String,
    /// When it was taken, RFC 3339 UTC.
    pub taken_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PgReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<SqliteReport>,
}

/// What PostgreSQL's statistics views say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgReport {
    pub server_version: String,
    pub statements: Statements,
    pub missing_indexes: MissingIndexes,
    pub dead_tuples: Vec<DeadTuples>,
    pub connections: Connections,
    pub cache: CacheHits,
}

/// The top statements of `pg_stat_statements`, or why there are none and how to get them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Statements {
    pub available: bool,
    /// Why not, when not available.
    pub reason: Option<String>,
    /// What to do to enable it, step by step; empty when available.
    pub how_to_enable: Vec<String>,
    /// The statements with the highest mean execution time, at most [`TOP_STATEMENTS`].
    pub top: Vec<Statement>,
    /// The mean above which a statement is flagged slow.
    pub slow_mean_ms: f64,
}

/// One normalised statement of `pg_stat_statements`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Statement {
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub stddev_ms: f64,
    pub rows: i64,
    /// Mean above [`SLOW_MEAN_MS`].
    pub slow: bool,
}

/// Columns that look like they want an index: many distinct values, stored out of order, and
/// not the leading column of any index of their table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MissingIndexes {
    /// The tables of schema `public` that have planner statistics; none means ANALYZE has not run.
    pub analyzed_tables: i64,
    pub candidates: Vec<IndexCandidate>,
}

/// One column of [`MissingIndexes`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexCandidate {
    pub table: String,
    pub column: String,
    /// As `pg_stats` has it: negative is a fraction of the rows (-1: every row differs).
    pub n_distinct: f64,
    pub correlation: f64,
}

/// A table with many dead tuples, most first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadTuples {
    pub table: String,
    pub live: i64,
    pub dead: i64,
    /// Table, indexes and TOAST.
    pub total_bytes: i64,
    pub last_autovacuum: Option<String>,
}

/// Who holds the server's connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connections {
    /// The report's own `application_name`, whose connections are left out.
    pub own_application: String,
    pub max_connections: i64,
    pub superuser_reserved: i64,
    /// Client connections, the report's own pool excluded.
    pub in_use: i64,
    pub by_application: Vec<ConnectionGroup>,
}

/// Client connections of one application in one state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionGroup {
    /// `application_name`, empty when the client set none.
    pub application: String,
    /// `active`, `idle`, `idle in transaction`, …
    pub state: String,
    pub connections: i64,
}

/// The buffer cache hit ratio of this database since its statistics were last reset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheHits {
    pub blocks_hit: i64,
    pub blocks_read: i64,
    /// hit / (hit + read); `None` before any block was read.
    pub ratio: Option<f64>,
    pub target: f64,
    /// `ratio` at or above `target` (true when there is no ratio yet).
    pub ok: bool,
}

/// What SQLite says about the hot queries, and the database's size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SqliteReport {
    pub file: String,
    pub size_bytes: i64,
    pub tables: Vec<TableRows>,
    pub plans: Vec<QueryPlan>,
}

/// A table and its row count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

/// `EXPLAIN QUERY PLAN` of one hot query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryPlan {
    pub name: String,
    /// The statement as the platform runs it (placeholders, not values).
    pub sql: String,
    /// The plan's lines, indented by depth.
    pub plan: Vec<String>,
    /// Lines that read a whole table (`SCAN t` without an index).
    pub full_scans: Vec<String>,
}

/// Takes the report of whichever backend `db` is.
pub async fn take(db: &AnyDb) -> Result<Report, DiagnosticsError> {
    let taken_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(match db {
        AnyDb::Postgres(db) => Report {
            backend: "postgres".into(),
            taken_at,
            postgres: Some(super::postgres::report(db).await?),
            sqlite: None,
        },
        AnyDb::Sqlite(db) => Report {
            backend: "sqlite".into(),
            taken_at,
            postgres: None,
            sqlite: Some(super::sqlite::report(db).await?),
        },
    })
}
