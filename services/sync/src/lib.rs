//! Offline sync of clinical tasks: nurses' devices edit tasks while offline and send their
//! changes when they come back; every edit survives and concurrent edits of one field become a
//! conflict for a person to resolve. A library only: `emrlab up` and `emrlab serve sync` own the
//! listener and mount [`router`].
//!
//! Layout: [`merge`] (the replicated task document and its merge rules, pure data with property
//! tests), `wire` (the API's JSON), `handlers`, `engine` (a batch from request to stored
//! documents), `reconcile` (documents and task rows in step), `doc_cache` (`sync.clock_store`),
//! `jobs` (`sync.mode = async`), `tasks` (the task service it writes rows through), `storage`.

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};

use emrlab_common::{auth::JwtKeys, cache::Cache, db::AnyDb, knobs::KnobCell};

mod config;
mod doc_cache;
mod engine;
pub mod error;
mod handlers;
mod jobs;
pub mod merge;
mod metrics;
mod reconcile;
pub mod storage;
mod tasks;
pub mod wire;

pub use config::{ClockStore, Config, KNOBS, Mode, Settings};
pub use merge::*;
pub use metrics::names;

/// The routes, for metrics registration and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/sync/init"),
    ("POST", "/sync/changes"),
    ("GET", "/sync/state"),
    ("GET", "/sync/conflicts"),
    ("POST", "/sync/conflicts/{id}/resolve"),
    ("GET", "/sync/jobs/{id}"),
];

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub knobs: Arc<KnobCell<Settings>>,
    pub keys: Arc<JwtKeys>,
    pub db: AnyDb,
    engine: Arc<engine::Engine>,
    jobs: jobs::Jobs,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// State over the platform's database, writing task rows through the task service at
    /// `task_url`; `cache` serves `sync.clock_store = cached` (Redis when configured); `events`
    /// takes `sync.conflict`. Starts the async workers, so it must run inside a tokio runtime.
    pub fn new(
        settings: Settings,
        db: AnyDb,
        keys: Arc<JwtKeys>,
        cache: Arc<dyn Cache>,
        task_url: String,
        events: emrlab_common::events::EventPublisher,
    ) -> anyhow::Result<Self> {
        let workers = settings.sync.workers;
        let knobs = Arc::new(KnobCell::new("sync", KNOBS, settings));
        let docs = doc_cache::DocStore::new(storage::open(&db), cache, knobs.clone());
        let tasks = tasks::TaskClient::new(task_url, keys.clone())?;
        let engine = Arc::new(engine::Engine::new(docs, tasks, events));
        let jobs = jobs::Jobs::start(engine.clone(), knobs.clone(), workers);
        db.follow_knobs(&knobs, |s| &s.db);
        Ok(Self {
            knobs,
            keys,
            db,
            engine,
            jobs,
        })
    }
}

/// The sync service: its API, health, metrics and internal knob endpoints.
pub fn router(state: AppState) -> Router {
    emrlab_common::metrics::register("sync", ROUTES);
    metrics::register();
    let api = Router::new()
        .route("/sync/init", post(handlers::init))
        .route("/sync/changes", post(handlers::changes))
        .route("/sync/state", get(handlers::state))
        .route("/sync/conflicts", get(handlers::conflicts))
        .route("/sync/conflicts/{id}/resolve", post(handlers::resolve))
        .route("/sync/jobs/{id}", get(handlers::job))
        .with_state(state.clone())
        .merge(emrlab_common::server::operational_routes(
            state.db.clone(),
            state.knobs.clone(),
            state.keys.clone(),
        ));
    emrlab_common::server::with_common_layers(api, "sync", ROUTES)
}
