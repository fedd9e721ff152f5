//! Shift handover in the SBAR form (situation, background, assessment, recommendation): a
//! practitioner hands a ward's tasks to another, who accepts (and takes them) or rejects.
//! A library only: `emrlab up` and `emrlab serve handover` own the listener and mount [`router`].
//!
//! Layout: `model` (validated input and the handover shape), `listing` (filters and pages),
//! `handlers` (create, list, read, reject), `accept` (the claim → reassign → settle protocol),
//! `tasks` (the task service's internal endpoints, over HTTP: this service never reads the tasks
//! table), `events` (where `handover.*` events leave), `storage` (one SQL implementation for both
//! backends), `config`, `error`.

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};

use emrlab_common::{auth::JwtKeys, db::AnyDb, knobs::KnobCell};

pub mod accept;
pub mod config;
pub mod error;
pub mod events;
mod handlers;
pub mod listing;
pub mod model;
pub mod storage;
pub mod tasks;

pub use config::{Config, KNOBS, Settings};

/// The routes, for metrics registration and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/handovers"),
    ("GET", "/handovers"),
    ("GET", "/handovers/{id}"),
    ("POST", "/handovers/{id}/accept"),
    ("POST", "/handovers/{id}/reject"),
];

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn storage::HandoverStore>,
    pub knobs: Arc<KnobCell<Settings>>,
    pub keys: Arc<JwtKeys>,
    pub db: AnyDb,
    /// The task service, which owns the tasks a handover names.
    pub tasks: tasks::TaskClient,
    /// Where `handover.requested` and `handover.accepted` go: the platform's event bus.
    pub events: emrlab_common::events::EventPublisher,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// State over an open database; a `db.*` knob change swaps the pool in. `task_url` is the
    /// task service's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn new(
        settings: Settings,
        db: AnyDb,
        keys: Arc<JwtKeys>,
        task_url: String,
        events: emrlab_common::events::EventPublisher,
    ) -> Self {
        let knobs = Arc::new(KnobCell::new("handover", KNOBS, settings));
        db.follow_knobs(&knobs, |s| &s.db);
        Self {
            store: storage::open(&db),
            knobs,
            tasks: tasks::TaskClient::new(task_url, keys.clone()),
            keys,
            db,
            events,
        }
    }
}

/// The handover service: its API, health, metrics and internal knob endpoints.
pub fn router(state: AppState) -> Router {
    emrlab_common::metrics::register("handover", ROUTES);
    let api = Router::new()
        .route(
            "/handovers",
            post(handlers::create_handover).get(handlers::list_handovers),
        )
        .route("/handovers/{id}", get(handlers::get_handover))
        .route("/handovers/{id}/accept", post(accept::accept_handover))
        .route("/handovers/{id}/reject", post(handlers::reject_handover))
        // Internal: the task service's dashboard asks; the gateway routes no `/internal` path.
        .route("/internal/handovers/pending", get(handlers::count_pending))
        .with_state(state.clone())
        .merge(emrlab_common::server::operational_routes(
            state.db.clone(),
            state.knobs.clone(),
            state.keys.clone(),
        ));
    emrlab_common::server::with_common_layers(api, "handover", ROUTES)
}
