//! The sync service's settings (`[sync]`, plus the `db` knobs of its pool) and its knobs, two of
//! which reproduce the seed platform's sync bottleneck and its two fixes.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use emrlab_common::{
    config::DbConfig,
    knobs::{DB_KNOBS, KnobKind, KnobSpec},
};

/// Where a batch is merged (`sync.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// In the request: the device waits for the merge (the seed platform's bottleneck).
    Inline,
    /// By a worker: the request answers 202 with a job id at once (the seed's first fix).
    Async,
}

/// Where documents and their version vectors are read from (`sync.clock_store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStore {
    /// The database on every read.
    Database,
    /// The cache (Redis when configured, else in process), written through on every store, with
    /// the database still the source of truth (the seed's second fix, without its data loss).
    Cached,
}

/// `[sync]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the sync service listens (port 0: any free port).
    pub addr: SocketAddr,
    pub mode: Mode,
    pub clock_store: ClockStore,
    /// Most changes in one `POST /sync/changes`; more get a 413 (the seed's tests went to 1,000).
    pub max_batch: u32,
    /// Batches waiting for a worker in async mode; when full, 503 with Retry-After.
    pub queue_capacity: u32,
    /// Workers merging queued batches in async mode.
    pub workers: u32,
    /// Most tasks in the snapshot `POST /sync/init` returns.
    pub snapshot_limit: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: Mode::Inline,
            clock_store: ClockStore::Database,
            max_batch: 1_000,
            queue_capacity: 256,
            workers: 2,
            snapshot_limit: 200,
        }
    }
}

/// The sync service's live settings: its section and its pool's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub sync: Config,
    pub db: DbConfig,
}

/// The knobs the sync service owns.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "sync.mode",
        kind: KnobKind::OneOf(&["inline", "async"]),
        help: "POST /sync/changes: inline (merge before answering) or async (202 and a job id; a worker merges)",
    },
    KnobSpec {
        name: "sync.clock_store",
        kind: KnobKind::OneOf(&["database", "cached"]),
        help: "read documents and their clocks from the database, or from the cache written through on every store",
    },
    KnobSpec {
        name: "sync.max_batch",
        kind: KnobKind::Int { min: 1, max: 10_000 },
        help: "most changes in one POST /sync/changes; more get 413",
    },
    KnobSpec {
        name: "sync.queue_capacity",
        kind: KnobKind::Int { min: 1, max: 100_000 },
        help: "async mode: batches waiting for a worker before 503 + Retry-After",
    },
    KnobSpec {
        name: "sync.snapshot_limit",
        kind: KnobKind::Int { min: 1, max: 1_000 },
        help: "most tasks in the snapshot POST /sync/init returns",
    },
    DB_KNOBS[0],
    DB_KNOBS[1],
    DB_KNOBS[2],
    DB_KNOBS[3],
    DB_KNOBS[4],
];
