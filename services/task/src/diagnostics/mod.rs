//! Database diagnostics for `emrlab db report` and `emrlab db bench`: what the seed platform's
//! slow-query scan and database benchmark measured, on the live schema. It lives in the task
//! service because the task service owns the tables it reads (tasks, patients, the audit log) and
//! the statements it explains. Not a monitoring system: each call is one look, taken now.
//!
//! Layout: `report` (the report's shape and its dispatch), `postgres` (pg_stat_statements,
//! index candidates, dead tuples, connections, cache hits), `sqlite` (query plans of the hot
//! queries, row counts, file size), `hot` (those hot queries, built by the storage modules' own
//! builders), `queries` (the ten heavy benchmark queries), `bench` (timing them with and without
//! the seed indexes), `stress` (the pool stress), `render` (the terminal tables).

pub mod bench;
mod hot;
mod postgres;
pub mod queries;
pub mod render;
pub mod report;
mod sqlite;
pub mod stress;

/// Why a diagnostic could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    #[error("database: {0}")]
    Storage(#[from] sqlx::Error),
    /// The benchmark's indexes could not be put back as they were; the message says how to.
    #[error("{0}")]
    Restore(String),
    /// Ctrl-C during the bench (after the indexes were put back).
    #[error("interrupted; the indexes are as they were before the bench")]
    Interrupted,
}

/// The histogram every timing is recorded in: microseconds, 1 µs to 10 minutes, 3 significant
/// digits; the same bounds as the load generator's, so its result file can hold them unchanged.
pub fn histogram() -> hdrhistogram::Histogram<u64> {
    #[expect(clippy::expect_used, reason = "constant bounds that hdrhistogram accepts")]
    hdrhistogram::Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records a duration, clamped into the histogram's range.
pub(crate) fn record(h: &mut hdrhistogram::Histogram<u64>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 600_000_000);
    h.saturating_record(micros);
}
