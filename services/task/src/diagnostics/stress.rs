//! The pool stress of `emrlab db bench`: for each level, a pool of exactly that many connections
//! (its own, built with the platform's connect options and pool settings: `db.test_before_acquire`
//! adds a round trip to every acquire), and as many workers, each running a
//! primary-key read in a loop for the given time. Reported per level: throughput, the latency a
//! caller sees (acquire plus query) and the acquire wait alone.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use sqlx::{Pool, Postgres, Sqlite, pool::PoolOptions};
use uuid::Uuid;

use emrlab_common::{config::DbConfig, db::AnyDb};

use super::{histogram, queries::STRESS, record};

/// The seed platform's levels.
pub const LEVELS: [u32; 4] = [10, 25, 50, 100];
/// Ids the workers cycle through, so reads spread over the table.
const SAMPLE_IDS: i64 = 1_000;

/// One level's outcome.
#[derive(Debug, Clone)]
pub struct StressLevel {
    pub connections: u32,
    /// Why the level did not run (the server has too few connections left), if it did not.
    pub skipped: Option<String>,
    /// How long the workers ran.
    pub elapsed: Duration,
    /// Acquire plus query, per successful query (µs).
    pub latency: Histogram<u64>,
    /// The acquire wait alone, per acquire that succeeded (µs).
    pub acquire: Histogram<u64>,
    pub failed: u64,
    pub first_error: Option<String>,
}

impl StressLevel {
    fn skipped(connections: u32, reason: String) -> Self {
        Self {
            skipped: Some(reason),
            ..Self::empty(connections)
        }
    }

    fn empty(connections: u32) -> Self {
        Self {
            connections,
            skipped: None,
            elapsed: Duration::ZERO,
            latency: histogram(),
            acquire: histogram(),
            failed: 0,
            first_error: None,
        }
    }

    /// Successful queries per second.
    pub fn queries_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latency.len() as f64 / secs
        } else {
            0.0
        }
    }
}

/// A stress pool on either backend.
#[derive(Clone)]
enum StressPool {
    Postgres(Pool<Postgres>),
    Sqlite(Pool<Sqlite>),
}

impl StressPool {
    /// A pool of `size` with the platform's settings otherwise; a worker that waits longer than
    /// `db.acquire_timeout` counts a failure and tries again.
    fn new(db: &AnyDb, size: u32, settings: &DbConfig) -> Self {
        fn options<DB: sqlx::Database>(size: u32, settings: &DbConfig) -> PoolOptions<DB> {
            PoolOptions::new()
                .max_connections(size)
                .min_connections(0)
                .acquire_timeout(settings.acquire_timeout)
                .test_before_acquire(settings.test_before_acquire)
        }
        match db {
            AnyDb::Postgres(db) => Self::Postgres(options(size, settings).connect_lazy_with(db.connect_options())),
            AnyDb::Sqlite(db) => Self::Sqlite(options(size, settings).connect_lazy_with(db.connect_options())),
        }
    }

    /// Opens every connection of the pool, so the level measures a warm pool, not connecting.
    async fn fill(&self, size: u32) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(pool) => drop(futures::future::try_join_all((0..size).map(|_| pool.acquire())).await?),
            Self::Sqlite(pool) => drop(futures::future::try_join_all((0..size).map(|_| pool.acquire())).await?),
        }
        Ok(())
    }

    /// One read: the acquire wait, and the whole call's outcome.
    async fn read(&self, id: Uuid) -> (Option<Duration>, Result<(), sqlx::Error>) {
        let started = Instant::now();
        match self {
            Self::Postgres(pool) => match pool.acquire().await {
                Ok(mut conn) => {
                    let waited = started.elapsed();
                    let done = sqlx::query(STRESS).bind(id).fetch_optional(&mut *conn).await;
                    (Some(waited), done.map(drop))
                }
                Err(e) => (None, Err(e)),
            },
            Self::Sqlite(pool) => match pool.acquire().await {
                Ok(mut conn) => {
                    let waited = started.elapsed();
                    let done = sqlx::query(STRESS).bind(id).fetch_optional(&mut *conn).await;
                    (Some(waited), done.map(drop))
                }
                Err(e) => (None, Err(e)),
            },
        }
    }

    async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Runs every level in turn; a level the server cannot hold is skipped with the reason. Once
/// `interrupted` is set, the level under way stops early and no further level starts.
pub(super) async fn run(
    db: &AnyDb,
    levels: &[u32],
    duration: Duration,
    settings: &DbConfig,
    interrupted: &Arc<AtomicBool>,
) -> Result<Vec<StressLevel>, sqlx::Error> {
    let ids = Arc::new(sample_ids(db).await?);
    let mut out = Vec::with_capacity(levels.len());
    for &size in levels {
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        if let Some(reason) = no_room(db, size).await? {
            tracing::warn!(connections = size, %reason, "db bench: pool level skipped");
            out.push(StressLevel::skipped(size, reason));
            continue;
        }
        let pool = StressPool::new(db, size, settings);
        out.push(level(pool, size, duration, ids.clone(), interrupted.clone()).await);
    }
    Ok(out)
}

async fn sample_ids(db: &AnyDb) -> Result<Vec<Uuid>, sqlx::Error> {
    const IDS: &str = "SELECT id FROM tasks ORDER BY id LIMIT $1";
    let ids: Vec<Uuid> = match db {
        AnyDb::Postgres(db) => {
            sqlx::query_scalar(IDS)
                .bind(SAMPLE_IDS)
                .fetch_all(&mut *db.acquire().await?)
                .await?
        }
        AnyDb::Sqlite(db) => {
            sqlx::query_scalar(IDS)
                .bind(SAMPLE_IDS)
                .fetch_all(&mut *db.acquire().await?)
                .await?
        }
    };
    // An empty table still exercises the pool: the read then finds nothing, through the index.
    Ok(if ids.is_empty() { vec![Uuid::nil()] } else { ids })
}

/// On PostgreSQL, why `size` more connections would not fit under max_connections; SQLite has
/// no such limit.
async fn no_room(db: &AnyDb, size: u32) -> Result<Option<String>, sqlx::Error> {
    let AnyDb::Postgres(db) = db else {
        return Ok(None);
    };
    let (max, reserved, used): (i64, i64, i64) = sqlx::query_as(
        "SELECT current_setting('max_connections')::bigint, current_setting('superuser_reserved_connections')::bigint, \
         (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
    )
    .fetch_one(&mut *db.acquire().await?)
    .await?;
    let free = max - reserved - used;
    Ok((i64::from(size) > free).then(|| {
        format!("max_connections is {max} ({reserved} reserved, {used} in use): {free} free, fewer than {size}")
    }))
}

async fn level(
    pool: StressPool,
    size: u32,
    duration: Duration,
    ids: Arc<Vec<Uuid>>,
    interrupted: Arc<AtomicBool>,
) -> StressLevel {
    if let Err(e) = pool.fill(size).await {
        pool.close().await;
        return StressLevel::skipped(size, format!("could not open {size} connections: {e}"));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..size as usize)
        .map(|worker| {
            let (pool, ids, interrupted) = (pool.clone(), ids.clone(), interrupted.clone());
            tokio::spawn(async move {
                let mut mine = StressLevel::empty(size);
                // Each worker starts at its own place in the ids, so they do not read in lockstep.
                let mut next = worker * ids.len() / size as usize;
                while Instant::now() < deadline && !interrupted.load(Ordering::Relaxed) {
                    let id = ids[next % ids.len()];
                    next += 1;
                    let began = Instant::now();
                    let (waited, done) = pool.read(id).await;
                    if let Some(waited) = waited {
                        record(&mut mine.acquire, waited);
                    }
                    match done {
                        Ok(()) => record(&mut mine.latency, began.elapsed()),
                        Err(e) => {
                            mine.failed += 1;
                            mine.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut total = StressLevel::empty(size);
    for worker in futures::future::join_all(workers).await {
        match worker {
            Ok(w) => {
                // Same bounds everywhere, so adding cannot fail; a failure would only lose counts.
                let _ = total.latency.add(&w.latency);
                let _ = total.acquire.add(&w.acquire);
                total.failed += w.failed;
                if total.first_error.is_none() {
                    total.first_error = w.first_error;
                }
            }
            Err(e) => {
                total.failed += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("a worker stopped: {e}"));
            }
        }
    }
    total.elapsed = started.elapsed();
    pool.close().await;
    total
}
