//! Database pools for both backends, behind one handle per component.
//!
//! PostgreSQL is the production backend; SQLite (a file in the data directory, WAL mode) is the
//! embedded default. Each component owns its pool, so `db.pool_size` means "per component" on both.
//! A pool is replaced, not resized, when a knob changes: the new pool serves new requests at once
//! and the old one closes after its checked-out connections come back. On SQLite each component
//! also writes through one connection of its own beside the pool (`db.sqlite_writer`).
//!
//! Layout: this module (pools, knobs, gauges), `write` (the write lock, the writer and write
//! transactions), `migrate` (the embedded migrations).

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::{ArcSwap, ArcSwapOption};
use sqlx::{
    ConnectOptions, Database, Pool, Postgres, Sqlite,
    pool::{PoolConnection, PoolOptions},
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::{config::DbConfig, metrics::names, sqlite_inline::InlineReader};

mod migrate;
mod write;

pub use write::WriteTx;

/// How long a SQLite connection waits for another process's write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool that can be swapped at run time, with acquire-wait metrics.
pub struct Db<DB: Database> {
    component: &'static str,
    options: <DB::Connection as sqlx::Connection>::Options,
    pool: ArcSwap<Pool<DB>>,
    /// SQLite only: writers in one process queue here instead of failing with SQLITE_BUSY.
    write_lock: Option<Arc<Mutex<()>>>,
    /// SQLite with `db.sqlite_writer` on: a pool of one connection that every write of this
    /// component goes through. SQLite commits one transaction at a time anyway, and a connection
    /// empties its page cache whenever another connection has committed: writes rotating through
    /// the pool re-read the tables' B-tree pages on most of them (~25 % less CPU per create with
    /// it, benches/README.md). Queued writes then take no connection from the readers either.
    writer: ArcSwapOption<Pool<DB>>,
    /// SQLite only: read-only connections for point reads on the calling thread, used while
    /// `db.sqlite_inline_reads` is on (see [`crate::sqlite_inline`]).
    inline: Option<InlineReader>,
    inline_on: AtomicBool,
}

impl<DB: Database> Db<DB> {
    fn build_pool(options: &<DB::Connection as sqlx::Connection>::Options, cfg: &DbConfig) -> Pool<DB> {
        let level = if cfg.log_statements {
            log::LevelFilter::Info
        } else {
            log::LevelFilter::Off
        };
        PoolOptions::<DB>::new()
            .max_connections(cfg.pool_size)
            .min_connections(0)
            .acquire_timeout(cfg.acquire_timeout)
            .test_before_acquire(cfg.test_before_acquire)
            .connect_lazy_with(options.clone().log_statements(level))
    }

    /// How this database is connected to, for a caller that needs a pool of its own with the
    /// same settings (`emrlab db bench`'s pool stress).
    pub fn connect_options(&self) -> <DB::Connection as sqlx::Connection>::Options {
        self.options.clone()
    }

    /// The pool now in service.
    pub fn pool(&self) -> Pool<DB> {
        Pool::clone(&self.pool.load())
    }

    /// The writer `cfg` asks for: on SQLite (`sqlite`) with `db.sqlite_writer` on, else none.
    fn build_writer(
        options: &<DB::Connection as sqlx::Connection>::Options,
        cfg: &DbConfig,
        sqlite: bool,
    ) -> Option<Arc<Pool<DB>>> {
        let one = DbConfig {
            pool_size: 1,
            ..cfg.clone()
        };
        (sqlite && cfg.sqlite_writer).then(|| Arc::new(Self::build_pool(options, &one)))
    }

    /// Replaces the pool (and the writer) with ones built from `cfg`; the old ones drain in the
    /// background.
    pub fn reconfigure(&self, cfg: &DbConfig) {
        let writer = Self::build_writer(&self.options, cfg, self.write_lock.is_some());
        let old_writer = self.writer.swap(writer);
        self.set_inline_reads(cfg.sqlite_inline_reads);
        let old = self.pool.swap(Arc::new(Self::build_pool(&self.options, cfg)));
        tracing::info!(
            component = self.component,
            pool_size = cfg.pool_size,
            sqlite_writer = self.writer.load().is_some(),
            "database pool replaced"
        );
        tokio::spawn(async move {
            if let Some(writer) = old_writer {
                writer.close().await;
            }
            old.close().await
        });
    }

    /// `db.sqlite_inline_reads`: a flag, so switching it keeps the pool.
    fn set_inline_reads(&self, on: bool) {
        self.inline_on.store(on, Ordering::Relaxed);
    }

    /// SQLite with `db.sqlite_inline_reads` on: where a point read may run on the calling thread.
    pub fn inline_reader(&self) -> Option<&InlineReader> {
        self.inline.as_ref().filter(|_| self.inline_on.load(Ordering::Relaxed))
    }

    /// A pooled connection; the wait is recorded as `emrlab_db_pool_acquire_duration_seconds`.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.timed_acquire(&self.pool()).await
    }

    async fn timed_acquire(&self, pool: &Pool<DB>) -> Result<PoolConnection<DB>, sqlx::Error> {
        let started = Instant::now();
        let conn = pool.acquire().await;
        metrics::histogram!(names::DB_ACQUIRE, "component" => self.component).record(started.elapsed());
        conn
    }

    /// Closes the pool and the writer (at shutdown).
    async fn close(&self) {
        if let Some(writer) = self.writer.load_full() {
            writer.close().await;
        }
        self.pool().close().await
    }

    /// Records pool gauges (in use, idle, max).
    fn record_gauges(&self) {
        let pool = self.pool();
        let idle = pool.num_idle() as f64;
        let size = f64::from(pool.size());
        let max = f64::from(pool.options().get_max_connections());
        metrics::gauge!(names::DB_IN_USE, "component" => self.component).set(size - idle);
        metrics::gauge!(names::DB_IDLE, "component" => self.component).set(idle);
        metrics::gauge!(names::DB_MAX, "component" => self.component).set(max);
    }
}

/// A component's database, whichever backend the URL names.
#[derive(Clone)]
pub enum AnyDb {
    Postgres(Arc<Db<Postgres>>),
    Sqlite(Arc<Db<Sqlite>>),
}

/// The database URL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL (use postgres://… or sqlite://…)")]
    UnsupportedUrl,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Keeps this pool's gauges current at every scrape, for as long as the pool lives.
fn watch_gauges<DB: Database>(db: &Arc<Db<DB>>) {
    db.record_gauges();
    let weak = Arc::downgrade(db);
    crate::metrics::on_scrape(move || weak.upgrade().map(|db| db.record_gauges()).is_some());
}

impl AnyDb {
    /// Opens a lazily connecting pool; nothing touches the database until first use.
    pub fn connect(url: &str, cfg: &DbConfig, component: &'static str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = PgConnectOptions::from_str(url)?;
            // Named per component, so pg_stat_activity (and `emrlab db report`) tells whose
            // pool holds the server's connections; a name given in the URL wins.
            if options.get_application_name().is_none() {
                options = options.application_name(&format!("emrlab-{component}"));
            }
            let pool = Db::<Postgres>::build_pool(&options, cfg);
            let db = Arc::new(Db {
                component,
                options,
                pool: ArcSwap::from_pointee(pool),
                write_lock: None,
                writer: ArcSwapOption::empty(),
                inline: None,
                inline_on: AtomicBool::new(false),
            });
            watch_gauges(&db);
            Ok(Self::Postgres(db))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = Db::<Sqlite>::build_pool(&options, cfg);
            let writer = Db::<Sqlite>::build_writer(&options, cfg, true);
            let inline = InlineReader::beside(url, options.get_filename());
            let lock = Some(write::sqlite_write_lock(url));
            let db = Arc::new(Db {
                component,
                options,
                pool: ArcSwap::from_pointee(pool),
                write_lock: lock,
                writer: ArcSwapOption::new(writer),
                inline,
                inline_on: AtomicBool::new(cfg.sqlite_inline_reads),
            });
            watch_gauges(&db);
            Ok(Self::Sqlite(db))
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }

    /// `postgres` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// A trivial round trip, for `/ready`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(db) => sqlx::query("SELECT 1")
                .execute(&mut *db.acquire().await?)
                .await
                .map(drop),
            Self::Sqlite(db) => sqlx::query("SELECT 1")
                .execute(&mut *db.acquire().await?)
                .await
                .map(drop),
        }
    }

    /// Swaps in a pool built from new settings.
    pub fn reconfigure(&self, cfg: &DbConfig) {
        match self {
            Self::Postgres(db) => db.reconfigure(cfg),
            Self::Sqlite(db) => db.reconfigure(cfg),
        }
    }

    fn set_inline_reads(&self, on: bool) {
        match self {
            Self::Postgres(db) => db.set_inline_reads(on),
            Self::Sqlite(db) => db.set_inline_reads(on),
        }
    }

    /// Swaps in a new pool whenever the `db.*` knobs of a component (`pool` picks them out of
    /// its settings) change; the watcher ends when the knob cell, and so the service, is dropped.
    pub fn follow_knobs<T>(&self, knobs: &crate::knobs::KnobCell<T>, pool: fn(&T) -> &DbConfig)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default + Send + Sync + 'static,
    {
        // `db.indexes` changes the schema and `db.sqlite_inline_reads` a flag, not the pool: a
        // change of either alone keeps the pool (a lab comparing them measures no new pool).
        let pool_part = |cfg: &DbConfig| DbConfig {
            indexes: Default::default(),
            sqlite_inline_reads: false,
            ..cfg.clone()
        };
        let mut changes = knobs.subscribe();
        let db = self.clone();
        tokio::spawn(async move {
            let mut current = pool_part(pool(&changes.borrow()));
            while changes.changed().await.is_ok() {
                let cfg = pool(&changes.borrow()).clone();
                let next = pool_part(&cfg);
                if next != current {
                    db.reconfigure(&cfg);
                    current = next;
                } else {
                    db.set_inline_reads(cfg.sqlite_inline_reads);
                }
            }
        });
    }

    /// Closes the pool, and the writer on SQLite (at shutdown).
    pub async fn close(&self) {
        match self {
            Self::Postgres(db) => db.close().await,
            Self::Sqlite(db) => db.close().await,
        }
    }
}

/// Now, truncated to the microseconds both backends store, so a value reads back equal.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

/// SQLite keeps instants as integer microseconds since the epoch: they sort as numbers, where
/// RFC 3339 text with a varying number of fraction digits would not.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`to_micros`].
pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
