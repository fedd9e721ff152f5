//! The PostgreSQL half of `emrlab db report`, from the server's statistics views. Every section
//! is read on one connection of the CLI's own pool, which the connection counts leave out.

use sqlx::{PgConnection, Postgres};

use emrlab_common::db::Db;

use super::report::{
    CACHE_HIT_TARGET, CacheHits, ConnectionGroup, Connections, DEAD_TUPLES_MIN, DeadTuples, IndexCandidate,
    MissingIndexes, PgReport, SLOW_MEAN_MS, Statement, Statements, TOP_STATEMENTS,
};

/// The steps that turn pg_stat_statements on, for a report that found it off.
const HOW_TO_ENABLE: [&str; 3] = [
    "in postgresql.conf (or with -c): shared_preload_libraries = 'pg_stat_statements'",
    "restart the server (a preload library cannot be loaded by a reload)",
    "in this database: CREATE EXTENSION pg_stat_statements;",
];

const TOP: &str = "SELECT query, calls, total_exec_time, mean_exec_time, max_exec_time, stddev_exec_time, rows \
     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
     ORDER BY mean_exec_time DESC LIMIT $1";

/// One row of [`TOP`]: query (NULL when another user's and we may not see it), calls, total,
/// mean, max and stddev of the execution time in ms, rows.
type TopRow = (Option<String>, i64, f64, f64, f64, f64, i64);

/// A column is a candidate when it has many distinct values (over 100, or a fraction of the rows),
/// its physical order follows its values poorly (so a range read touches pages all over), and no
/// index of its table starts with it: the seed platform's heuristic.
const CANDIDATES: &str = "SELECT s.tablename::text, s.attname::text, s.n_distinct::float8, s.correlation::float8 \
     FROM pg_stats s \
     WHERE s.schemaname = 'public' AND (s.n_distinct > 100 OR s.n_distinct < 0) AND abs(s.correlation) < 0.5 \
       AND NOT EXISTS ( \
         SELECT 1 FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
         WHERE n.nspname = s.schemaname AND c.relname = s.tablename AND a.attname = s.attname) \
     ORDER BY s.tablename, s.attname";

const DEAD: &str = "SELECT relname::text, n_live_tup, n_dead_tup, pg_total_relation_size(relid), \
     last_autovacuum::text FROM pg_stat_user_tables WHERE n_dead_tup > $1 ORDER BY n_dead_tup DESC";

/// Every client connection but those of this command's own pool, which carry its application
/// name (`emrlab-cli`; other CLI commands running meanwhile are left out with it).
const CONNECTIONS: &str = "SELECT coalesce(application_name, ''), coalesce(state, ''), count(*) \
     FROM pg_stat_activity WHERE backend_type = 'client backend' \
       AND application_name IS DISTINCT FROM current_setting('application_name') \
     GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2";

/// Reads every section.
pub(super) async fn report(db: &Db<Postgres>) -> Result<PgReport, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let server_version: String = sqlx::query_scalar("SELECT current_setting('server_version')")
        .fetch_one(&mut *conn)
        .await?;
    Ok(PgReport {
        server_version,
        statements: statements(&mut conn).await?,
        missing_indexes: missing_indexes(&mut conn).await?,
        dead_tuples: dead_tuples(&mut conn).await?,
        connections: connections(&mut conn).await?,
        cache: cache(&mut conn).await?,
    })
}

fn unavailable(reason: String) -> Statements {
    Statements {
        available: false,
        reason: Some(reason),
        how_to_enable: HOW_TO_ENABLE.iter().map(|s| (*s).to_owned()).collect(),
        top: Vec::new(),
        slow_mean_ms: SLOW_MEAN_MS,
    }
}

/// The top statements. The view exists only with the library preloaded and the extension
/// created in this database; when it is preloaded, creating the extension is tried first.
async fn statements(conn: &mut PgConnection) -> Result<Statements, sqlx::Error> {
    let preload: String = sqlx::query_scalar("SELECT current_setting('shared_preload_libraries')")
        .fetch_one(&mut *conn)
        .await?;
    if !preload.split(',').any(|lib| lib.trim() == "pg_stat_statements") {
        return Ok(unavailable(format!(
            "pg_stat_statements is not preloaded (shared_preload_libraries = '{preload}')"
        )));
    }
    if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut *conn)
        .await
    {
        return Ok(unavailable(format!(
            "pg_stat_statements is preloaded, but the extension could not be created here: {e}"
        )));
    }
    let rows: Vec<TopRow> = sqlx::query_as(TOP).bind(TOP_STATEMENTS).fetch_all(&mut *conn).await?;
    Ok(Statements {
        available: true,
        reason: None,
        how_to_enable: Vec::new(),
        top: rows
            .into_iter()
            .map(|(query, calls, total, mean, max, stddev, rows)| Statement {
                // NULL when the caller may not see other users' statements.
                query: query.map_or_else(|| "<insufficient privilege>".to_owned(), |q| one_line(&q)),
                calls,
                total_ms: total,
                mean_ms: mean,
                max_ms: max,
                stddev_ms: stddev,
                rows,
                slow: mean > SLOW_MEAN_MS,
            })
            .collect(),
        slow_mean_ms: SLOW_MEAN_MS,
    })
}

/// Collapses whitespace, so a statement fits a line of the report.
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn missing_indexes(conn: &mut PgConnection) -> Result<MissingIndexes, sqlx::Error> {
    let analyzed_tables: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT tablename) FROM pg_stats WHERE schemaname = 'public'")
            .fetch_one(&mut *conn)
            .await?;
    let rows: Vec<(String, String, f64, f64)> = sqlx::query_as(CANDIDATES).fetch_all(&mut *conn).await?;
    Ok(MissingIndexes {
        analyzed_tables,
        candidates: rows
            .into_iter()
            .map(|(table, column, n_distinct, correlation)| IndexCandidate {
                table,
                column,
                n_distinct,
                correlation,
            })
            .collect(),
    })
}

async fn dead_tuples(conn: &mut PgConnection) -> Result<Vec<DeadTuples>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64, Option<String>)> =
        sqlx::query_as(DEAD).bind(DEAD_TUPLES_MIN).fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(table, live, dead, total_bytes, last_autovacuum)| DeadTuples {
            table,
            live,
            dead,
            total_bytes,
            last_autovacuum,
        })
        .collect())
}

async fn connections(conn: &mut PgConnection) -> Result<Connections, sqlx::Error> {
    let (max_connections, superuser_reserved, own_application): (i64, i64, String) = sqlx::query_as(
        "SELECT current_setting('max_connections')::bigint, \
         current_setting('superuser_reserved_connections')::bigint, current_setting('application_name')",
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(CONNECTIONS).fetch_all(&mut *conn).await?;
    Ok(Connections {
        own_application,
        max_connections,
        superuser_reserved,
        in_use: rows.iter().map(|(_, _, n)| n).sum(),
        by_application: rows
            .into_iter()
            .map(|(application, state, connections)| ConnectionGroup {
                application,
                state,
                connections,
            })
            .collect(),
    })
}

async fn cache(conn: &mut PgConnection) -> Result<CacheHits, sqlx::Error> {
    let (hit, read): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(blks_hit), 0)::bigint, coalesce(sum(blks_read), 0)::bigint \
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut *conn)
    .await?;
    let ratio = (hit + read > 0).then(|| hit as f64 / (hit + read) as f64);
    Ok(CacheHits {
        blocks_hit: hit,
        blocks_read: read,
        ratio,
        target: CACHE_HIT_TARGET,
        ok: ratio.is_none_or(|r| r >= CACHE_HIT_TARGET),
    })
}
