//! The EMR service's settings (`[emr]`, plus the `db` knobs of its pool) and its knobs. Every
//! resilience layer is a knob that can be switched off to reproduce the seed platform's
//! bottleneck, and on to prove the fix.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use emrlab_common::{
    config::DbConfig,
    knobs::{DB_KNOBS, KnobKind, KnobSpec, OrOff},
};

/// Where patients read through the EMR service are kept (`emr.cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    Off,
    Memory,
    /// Redis when the platform has a Redis URL; otherwise refused at start-up.
    Redis,
}

/// `[emr.breaker]`: one circuit breaker per vendor, as the seed's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Failures, in percent of the calls in the window, that open the breaker.
    pub failure_rate: u32,
    /// Calls the window must hold before the rate counts.
    pub minimum_calls: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long an open breaker refuses calls before letting probes through.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// Probe calls let through while half open; all must succeed to close.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_rate: 50,
            minimum_calls: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(30),
            half_open_probes: 3,
        }
    }
}

/// `[emr]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the EMR service listens (port 0: any free port).
    pub addr: SocketAddr,
    /// Longest wait for one vendor call, body included (the seed platform's was 30 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Further attempts of an idempotent call after a timeout, a 429 or a 5xx.
    pub retries: u32,
    pub breaker: BreakerConfig,
    pub cache: CacheMode,
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Identical patient reads in flight at once share one vendor call.
    pub dedup: bool,
    /// Vendor calls in flight per vendor; more are refused at once with a 503.
    pub max_in_flight: OrOff<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            timeout: Duration::from_secs(10),
            retries: 2,
            breaker: BreakerConfig::default(),
            cache: CacheMode::Memory,
            cache_ttl: Duration::from_secs(300),
            dedup: true,
            max_in_flight: OrOff::On(64),
        }
    }
}

/// The EMR service's live settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub emr: Config,
    pub db: DbConfig,
}

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

/// The knobs the EMR service owns; `emr.cache` may be `redis` only when Redis is configured.
pub const KNOBS: &[KnobSpec] = &knobs(&["off", "memory", "redis"]);
pub const KNOBS_WITHOUT_REDIS: &[KnobSpec] = &knobs(&["off", "memory"]);

const fn knobs(caches: &'static [&'static str]) -> [KnobSpec; 17] {
    [
        KnobSpec {
            name: "emr.timeout",
            kind: KnobKind::Duration {
                min: MS,
                max: Duration::from_secs(120),
            },
            help: "longest wait for one vendor call (the seed platform's was 30s)",
        },
        KnobSpec {
            name: "emr.retries",
            kind: KnobKind::Int { min: 0, max: 5 },
            help: "retries of an idempotent vendor call, with jittered backoff honouring Retry-After; 0 = off",
        },
        KnobSpec {
            name: "emr.breaker.enabled",
            kind: KnobKind::Bool,
            help: "circuit breaker per vendor: fail fast with 503 while a vendor is failing",
        },
        KnobSpec {
            name: "emr.breaker.failure_rate",
            kind: KnobKind::Int { min: 1, max: 100 },
            help: "percent of failed calls in the window that opens the breaker",
        },
        KnobSpec {
            name: "emr.breaker.minimum_calls",
            kind: KnobKind::Int { min: 1, max: 100_000 },
            help: "calls in the window before the failure rate counts",
        },
        KnobSpec {
            name: "emr.breaker.window",
            kind: KnobKind::Duration {
                min: MS,
                max: Duration::from_secs(600),
            },
            help: "rolling window the failure rate is measured over",
        },
        KnobSpec {
            name: "emr.breaker.open_for",
            kind: KnobKind::Duration {
                min: MS,
                max: Duration::from_secs(3_600),
            },
            help: "how long an open breaker refuses calls before probing",
        },
        KnobSpec {
            name: "emr.breaker.half_open_probes",
            kind: KnobKind::Int { min: 1, max: 100 },
            help: "probe calls while half open; all must succeed to close",
        },
        KnobSpec {
            name: "emr.cache",
            kind: KnobKind::OneOf(caches),
            help: "read-through cache of vendor patients (redis needs --redis-url)",
        },
        KnobSpec {
            name: "emr.cache_ttl",
            kind: KnobKind::Duration {
                min: SECOND,
                max: Duration::from_secs(86_400),
            },
            help: "how long a cached patient is served (the seed fix: 300s)",
        },
        KnobSpec {
            name: "emr.dedup",
            kind: KnobKind::Bool,
            help: "identical patient reads in flight share one vendor call (single flight)",
        },
        KnobSpec {
            name: "emr.max_in_flight",
            kind: KnobKind::IntOrOff { min: 1, max: 100_000 },
            help: "bulkhead: vendor calls in flight per vendor, beyond which callers get 503 at once",
        },
        DB_KNOBS[0],
        DB_KNOBS[1],
        DB_KNOBS[2],
        DB_KNOBS[3],
        DB_KNOBS[4],
    ]
}
