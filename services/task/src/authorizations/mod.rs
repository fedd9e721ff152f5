//! Insurance authorizations: a payer's budget of units per patient and service code, and the
//! reservations therapy sessions book against it. Two schedulers booking the last units at once
//! must never overbook; `authorizations.concurrency` picks how that is guarded (four modes, one
//! of them unsafe on purpose) so a lab can compare them under contention.
//!
//! Layout: `model` (the shapes and the checks), `handlers`, `store` (the interface), `sql` (one
//! implementation, expanded by `postgres` and `sqlite`), `integrity` (the invariant check),
//! `metrics`.

use std::time::Duration;

use axum::{
    Router,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use emrlab_common::knobs::{KnobKind, KnobSpec};

use crate::AppState;

mod handlers;
pub mod integrity;
mod metrics;
pub mod model;
mod postgres;
mod sql;
mod sqlite;
pub mod store;

pub use model::Concurrency;

/// The `[authorizations]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How a reservation guards its read-check-write (`authorizations.concurrency`).
    pub concurrency: Concurrency,
    /// Retries after a serialization failure before a 503 (`authorizations.serializable_retries`).
    pub serializable_retries: u32,
    /// The first retry's longest wait; each later one doubles it, up to 32× (full jitter).
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            concurrency: Concurrency::Atomic,
            // Sized so 50 concurrent reservations on one authorization all get an answer
            // (`tests/authorizations_concurrency.rs`): each round of conflicts lets one commit.
            serializable_retries: 30,
            retry_backoff: Duration::from_millis(2),
        }
    }
}

/// The knobs of the authorizations (part of the task service's).
pub const KNOBS: [KnobSpec; 3] = [
    KnobSpec {
        name: "authorizations.concurrency",
        kind: KnobKind::OneOf(&["naive", "serializable", "row_lock", "atomic"]),
        help: "how a reservation guards its balance: atomic (one conditional UPDATE), row_lock (SELECT … FOR UPDATE), \
               serializable (SERIALIZABLE with retries) or naive (unprotected read-check-write: overbooks, for the lab)",
    },
    KnobSpec {
        name: "authorizations.serializable_retries",
        kind: KnobKind::Int { min: 0, max: 1_000 },
        help: "serializable mode: retries after a serialization failure (SQLSTATE 40001) before a 503",
    },
    KnobSpec {
        name: "authorizations.retry_backoff",
        kind: KnobKind::Duration {
            min: Duration::ZERO,
            max: Duration::from_secs(1),
        },
        help: "serializable mode: the first retry's longest wait; doubled per retry up to 32x, full jitter",
    },
];

/// The authorization routes, mounted by the task service's router.
pub fn routes() -> Router<AppState> {
    metrics::register();
    Router::new()
        .route("/authorizations", get(handlers::list))
        .route("/authorizations/{id}", get(handlers::get))
        .route("/authorizations/{id}/reservations", post(handlers::reserve))
        .route("/reservations/{id}/release", post(handlers::release))
        .route("/reservations/{id}/consume", post(handlers::consume))
        // Internal: the gateway's `/api/v1/admin/integrity` calls it for the operator.
        .route("/internal/authorizations/integrity", get(integrity::integrity))
}
