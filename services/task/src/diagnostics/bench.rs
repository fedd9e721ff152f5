//! `emrlab db bench`: the ten heavy queries timed with the seed indexes and without them, then
//! the pool stress. The indexes are switched with the `db.indexes` machinery
//! (`emrlab_common::indexes`), and whatever set was there before is put back at the end, also
//! when a query fails or the run is interrupted with Ctrl-C.
//!
//! Ctrl-C is noticed between statements, never by dropping one half way: an index switch
//! dropped half way would leave its statement running on the server while the restore starts.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use sqlx::{ConnectOptions, Connection};
use time::OffsetDateTime;

use emrlab_common::{
    db::AnyDb,
    indexes::{self, IndexSet},
};

use super::{
    DiagnosticsError, histogram,
    queries::{BenchQuery, QUERIES},
    record,
    stress::{self, StressLevel},
};

/// How the bench runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Timed runs of each query per index set, after one untimed warm-up run.
    pub iterations: u32,
    /// How long each pool level runs.
    pub stress_duration: Duration,
    /// Pool sizes to stress, each its own pool.
    pub pool_levels: Vec<u32>,
    /// The platform's pool settings, which the stress pools follow except for their size.
    pub pool_settings: emrlab_common::config::DbConfig,
}

/// One query under one index set.
#[derive(Debug, Clone)]
pub struct QueryTiming {
    pub name: &'static str,
    pub what: &'static str,
    pub indexes: IndexSet,
    /// Every successful timed run, in microseconds.
    pub histogram: Histogram<u64>,
    pub failed: u64,
    /// Rows the last successful run returned.
    pub rows: usize,
    /// The first failure's message, if any run failed.
    pub error: Option<String>,
}

/// The whole bench.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub backend: &'static str,
    pub started_at: OffsetDateTime,
    pub elapsed: Duration,
    pub iterations: u32,
    /// The seed indexes found before the run (and left after it), by name.
    pub indexes_before: Vec<String>,
    pub queries: Vec<QueryTiming>,
    pub stress: Vec<StressLevel>,
}

/// Runs the bench and restores the index set it found, whatever happens in between.
pub async fn run(db: &AnyDb, opts: &BenchOptions) -> Result<BenchReport, DiagnosticsError> {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let before = indexes::present(db).await?;
    // Start with the set already there (one switch fewer), then the other.
    let modes = if before.is_empty() {
        [IndexSet::None, IndexSet::Seed]
    } else {
        [IndexSet::Seed, IndexSet::None]
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let _listener = CtrlC::listen(interrupted.clone());
    let outcome = async {
        let mut queries = Vec::new();
        for mode in modes {
            let switch = Instant::now();
            indexes::apply(db, mode).await?;
            tracing::info!(indexes = ?mode, took = ?switch.elapsed(), "db bench: index set applied");
            for query in &QUERIES {
                if interrupted.load(Ordering::Relaxed) {
                    return Err(DiagnosticsError::Interrupted);
                }
                queries.push(time_query(db, query, mode, opts.iterations).await?);
            }
        }
        Ok::<_, DiagnosticsError>(queries)
    }
    .await;
    let restored = restore(db, &before).await;
    let queries = match (outcome, restored) {
        (Ok(queries), Ok(())) => queries,
        (Err(e), Ok(())) => return Err(e),
        (outcome, Err(e)) => {
            // The indexes being off is what the user must hear about; the cause goes to the log.
            if let Err(cause) = outcome {
                tracing::error!(error = %cause, "db bench: failed, and then the restore failed too");
            }
            return Err(restore_failed(&before, &e));
        }
    };
    // The stress runs on the restored indexes: its query is a primary key read, but the
    // database under stress should be the one the platform runs on.
    let stress = stress::run(
        db,
        &opts.pool_levels,
        opts.stress_duration,
        &opts.pool_settings,
        &interrupted,
    )
    .await?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(DiagnosticsError::Interrupted);
    }
    Ok(BenchReport {
        backend: db.backend(),
        started_at,
        elapsed: started.elapsed(),
        iterations: opts.iterations,
        indexes_before: before,
        queries,
        stress,
    })
}

/// Sets a flag on Ctrl-C for as long as it lives. Once tokio handles SIGINT the process no longer
/// dies of it, so everything that runs meanwhile checks the flag.
struct CtrlC(tokio::task::JoinHandle<()>);

impl CtrlC {
    fn listen(flag: Arc<AtomicBool>) -> Self {
        Self(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("db bench: interrupted; finishing the statement under way, then restoring the indexes");
                flag.store(true, Ordering::Relaxed);
            }
        }))
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Puts back exactly the indexes of the set that were there: none, or the whole set built again
/// less any that were missing before.
async fn restore(db: &AnyDb, before: &[String]) -> Result<(), sqlx::Error> {
    if before.is_empty() {
        return indexes::apply(db, IndexSet::None).await;
    }
    indexes::apply(db, IndexSet::Seed).await?;
    let missing = indexes::definitions()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !before.iter().any(|b| b == name));
    for name in missing {
        // The name is one of the set's own, from migrations/indexes.sql, never input.
        let drop = sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}"));
        match db {
            AnyDb::Postgres(db) => {
                sqlx::query(drop).execute(&mut *db.acquire().await?).await?;
            }
            AnyDb::Sqlite(db) => {
                let mut w = db.begin_write().await?;
                sqlx::query(drop).execute(&mut *w.tx).await?;
                w.tx.commit().await?;
            }
        }
    }
    Ok(())
}

fn restore_failed(before: &[String], e: &sqlx::Error) -> DiagnosticsError {
    DiagnosticsError::Restore(format!(
        "the seed indexes could not be put back as they were ({e}); before the bench these existed: [{}]. \
         Set the knob db.indexes (seed or none) or run migrations/indexes.sql to repair",
        before.join(", ")
    ))
}

/// One warm-up run, then `iterations` timed runs, on a connection of its own: the pool's acquire
/// is not timed, and sqlx's statement logging is off on it, since these queries are slow on
/// purpose and a warning per run would bury the table.
async fn time_query(
    db: &AnyDb,
    query: &BenchQuery,
    indexes: IndexSet,
    iterations: u32,
) -> Result<QueryTiming, sqlx::Error> {
    let mut timing = QueryTiming {
        name: query.name,
        what: query.what,
        indexes,
        histogram: histogram(),
        failed: 0,
        rows: 0,
        error: None,
    };
    match db {
        AnyDb::Postgres(db) => {
            let mut conn = db.connect_options().disable_statement_logging().connect().await?;
            for run in 0..=iterations {
                let started = Instant::now();
                let result = sqlx::query(query.postgres).fetch_all(&mut conn).await;
                timing.observe(run > 0, started.elapsed(), result.map(|rows| rows.len()));
            }
            conn.close().await?;
        }
        AnyDb::Sqlite(db) => {
            let mut conn = db.connect_options().disable_statement_logging().connect().await?;
            for run in 0..=iterations {
                let started = Instant::now();
                let result = sqlx::query(query.sqlite).fetch_all(&mut conn).await;
                timing.observe(run > 0, started.elapsed(), result.map(|rows| rows.len()));
            }
            conn.close().await?;
        }
    }
    Ok(timing)
}

impl QueryTiming {
    fn observe(&mut self, timed: bool, elapsed: Duration, result: Result<usize, sqlx::Error>) {
        match result {
            Ok(rows) => {
                self.rows = rows;
                if timed {
                    record(&mut self.histogram, elapsed);
                }
            }
            Err(e) => {
                // A query that fails is reported, not fatal: the other nine still say something.
                self.failed += u64::from(timed);
                self.error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}
