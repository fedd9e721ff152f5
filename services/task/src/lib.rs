//! Clinical tasks: create, assign, update and complete the work items of a ward.
//! A library only: `emrlab up` and `emrlab serve task` own the listener and mount [`router`].
//!
//! Layout: `model` (validated input and the task shape), `listing` (filters and pagination),
//! `handlers`, `storage` (one SQL implementation for both backends), `seed` (deterministic data).

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use emrlab_common::{
    auth::JwtKeys,
    config::DbConfig,
    db::AnyDb,
    knobs::{DB_KNOBS, KnobCell, KnobKind, KnobSpec},
};

pub mod error;
mod handlers;
pub mod listing;
pub mod model;
pub mod seed;
pub mod storage;

pub use listing::Pagination;

/// The `[tasks]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the task service listens (port 0: any free port).
    pub addr: SocketAddr,
    /// How `GET /tasks` pages (`tasks.pagination`): unbounded, offset or cursor.
    pub pagination: Pagination,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pagination: Pagination::Cursor,
        }
    }
}

/// The task service's live settings: its section and the pool it shares the knobs of.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub tasks: Config,
    pub db: DbConfig,
}

/// The knobs the task service owns.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "tasks.pagination",
        kind: KnobKind::OneOf(&["unbounded", "offset", "cursor"]),
        help: "GET /tasks paging: unbounded (everything, the seed bottleneck), offset, or cursor (keyset)",
    },
    DB_KNOBS[0],
    DB_KNOBS[1],
    DB_KNOBS[2],
    DB_KNOBS[3],
];

/// The routes, for metrics registration and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
    ("PUT", "/tasks/{id}"),
    ("POST", "/tasks/{id}/complete"),
];

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn storage::TaskStore>,
    pub knobs: Arc<KnobCell<Settings>>,
    pub keys: Arc<JwtKeys>,
    pub db: AnyDb,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// State over an open database; a `db.*` knob change swaps the pool in.
    pub fn new(settings: Settings, db: AnyDb, keys: Arc<JwtKeys>) -> Self {
        let knobs = Arc::new(KnobCell::new("task", KNOBS, settings));
        let mut changes = knobs.subscribe();
        let pool = db.clone();
        tokio::spawn(async move {
            let mut current = changes.borrow().db.clone();
            // Ends when the knob cell (and with it the service) is dropped.
            while changes.changed().await.is_ok() {
                let next = changes.borrow().db.clone();
                if next != current {
                    pool.reconfigure(&next);
                    current = next;
                }
            }
        });
        Self {
            store: storage::open(&db),
            knobs,
            keys,
            db,
        }
    }
}

/// The task service: its API, health, metrics and internal knob endpoints.
pub fn router(state: AppState) -> Router {
    emrlab_common::metrics::register("task", ROUTES);
    let api = Router::new()
        .route("/tasks", post(handlers::create_task).get(handlers::list_tasks))
        .route("/tasks/{id}", get(handlers::get_task).put(handlers::update_task))
        .route("/tasks/{id}/complete", post(handlers::complete_task))
        .route("/health", get(handlers::health))
        .route("/ready", get(handlers::ready))
        .route("/metrics", get(handlers::metrics))
        .with_state(state.clone())
        .merge(emrlab_common::internal::knob_router(
            state.knobs.clone(),
            state.keys.clone(),
        ));
    emrlab_common::server::with_common_layers(api, "task", ROUTES)
}
