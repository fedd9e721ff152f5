//! `GET /dashboard/stats`: the dashboard a nurse opens first. `dashboard.source` picks where its
//! aggregates come from, reproducing the seed platform's dashboard bottleneck and its two fixes:
//! `live` aggregates on every request, `cached` keeps an answer on the cache interface for
//! `dashboard.cache_ttl`, `materialized` reads summaries refreshed every
//! `dashboard.refresh_interval`. Every answer says how old it is.
//!
//! Layout: `model` (the answer), `store` (the queries on both databases), `handlers` (the route
//! and the pending-handover count it asks the handover service for).

use std::time::Duration;

use axum::{Router, routing::get};
use serde::{Deserialize, Serialize};

use emrlab_common::knobs::{KnobKind, KnobSpec};

use crate::AppState;

mod handlers;
pub mod model;
pub mod store;

pub use handlers::HandoverCounts;

/// Where the dashboard's aggregates come from (`dashboard.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Aggregated on every request: the seed's bottleneck.
    #[default]
    Live,
    /// The last live answer, for `dashboard.cache_ttl`.
    Cached,
    /// Summaries refreshed on a schedule (PostgreSQL materialized views; SQLite summary tables).
    Materialized,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Cached => "cached",
            Self::Materialized => "materialized",
        }
    }
}

/// The `[dashboard]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub source: Source,
    /// How long a cached answer is served (the seed guide's 5 minutes).
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// How often the `materialized` summaries are recomputed.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: Source::Live,
            cache_ttl: Duration::from_secs(300),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

/// The dashboard's knobs (part of the task service's).
pub const KNOBS: [KnobSpec; 3] = [
    KnobSpec {
        name: "dashboard.source",
        kind: KnobKind::OneOf(&["live", "cached", "materialized"]),
        help: "GET /dashboard/stats: live (aggregate every request), cached (dashboard.cache_ttl on the cache) or \
               materialized (summaries refreshed every dashboard.refresh_interval)",
    },
    KnobSpec {
        name: "dashboard.cache_ttl",
        kind: KnobKind::Duration {
            min: Duration::from_millis(10),
            max: Duration::from_secs(3_600),
        },
        help: "cached source: how long an answer is served",
    },
    KnobSpec {
        name: "dashboard.refresh_interval",
        kind: KnobKind::Duration {
            min: Duration::from_millis(10),
            max: Duration::from_secs(3_600),
        },
        help: "materialized source: how often the summaries are recomputed",
    },
];

/// The dashboard's route, mounted by the task service's router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard/stats", get(handlers::stats))
}

/// Refreshes the summaries while `dashboard.source` is `materialized`: at once when it becomes
/// so, then every `dashboard.refresh_interval`. Ends with the service (when its knobs go).
pub fn spawn_refresher(
    store: std::sync::Arc<dyn store::DashboardStore>,
    mut changes: tokio::sync::watch::Receiver<std::sync::Arc<crate::Settings>>,
) {
    tokio::spawn(async move {
        loop {
            let dashboard = changes.borrow().dashboard.clone();
            if dashboard.source == Source::Materialized
                && let Err(error) = store.refresh(emrlab_common::db::now()).await
            {
                tracing::warn!(%error, "dashboard refresh failed; serving the previous summaries");
            }
            tokio::select! {
                () = tokio::time::sleep(dashboard.refresh_interval) => {}
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
    });
}
