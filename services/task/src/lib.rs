//! Clinical tasks: create, assign, update and complete the work items of a ward.
//! A library only: `emrlab up` and `emrlab serve task` own the listener and mount [`router`].
//!
//! Layout: `model` (validated input and the task shape), `listing` (filters and pagination),
//! `handlers`, `verify` (checking a task against the vendor's copy) and `emr` (the EMR service it
//! asks), `replica` (the rows the sync service merges into), `internal` (the endpoints the
//! handover service calls), `storage` (one SQL implementation for both backends), `seed`
//! (deterministic data), `patients` (admission, discharge and the census), `authorizations` (insurance units and their reservations), `events` (what it publishes on the event bus for the gateway's
//! WebSocket clients).

use std::{net::SocketAddr, sync::Arc, time::Duration};

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
    events::EventPublisher,
    knobs::{DB_KNOBS, KnobCell, KnobKind, KnobSpec},
};

pub mod audit;
pub mod authorizations;
pub mod dashboard;
pub mod diagnostics;
pub mod emr;
pub mod error;
pub mod events;
mod handlers;
pub mod include;
pub mod internal;
pub mod listing;
mod metrics;
pub mod model;
pub mod patients;
mod replica;
pub mod seed;
mod stats;
pub mod storage;
mod verify;

pub use listing::Pagination;
pub use verify::VerifyMode;

/// The `[tasks]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the task service listens (port 0: any free port).
    pub addr: SocketAddr,
    /// How `GET /tasks` pages (`tasks.pagination`): unbounded, offset or cursor.
    pub pagination: Pagination,
    /// How `POST /tasks/{id}/verify` waits for the EMR service (`tasks.verify_mode`):
    /// `release_first` reads the task, releases the connection, calls, then writes;
    /// `in_transaction` holds a write transaction, and so a pooled connection, through the call.
    pub verify_mode: VerifyMode,
    /// Longest wait for the EMR service's answer to a verification (`tasks.verify_timeout`).
    #[serde(with = "humantime_serde")]
    pub verify_timeout: Duration,
    /// How `GET /tasks?include=patient` loads the patients (`tasks.patient_loading`).
    pub patient_loading: include::PatientLoading,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pagination: Pagination::Cursor,
            verify_mode: VerifyMode::ReleaseFirst,
            // Longer than the EMR service's 10 s vendor timeout (`emr.timeout`), so its own clear
            // answer (vendor_timeout, breaker_open) normally arrives before we give up on it.
            verify_timeout: Duration::from_secs(15),
            patient_loading: include::PatientLoading::Batch,
        }
    }
}

/// The task service's live settings: its section and the pool it shares the knobs of.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub tasks: Config,
    pub authorizations: authorizations::Config,
    pub dashboard: dashboard::Config,
    pub audit: audit::retention::Config,
    pub db: DbConfig,
}

/// The knobs the task service owns.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "tasks.pagination",
        kind: KnobKind::OneOf(&["unbounded", "offset", "cursor"]),
        help: "GET /tasks paging: unbounded (everything, the seed bottleneck), offset, or cursor (keyset)",
    },
    KnobSpec {
        name: "tasks.verify_mode",
        kind: KnobKind::OneOf(&["in_transaction", "release_first"]),
        help: "POST /tasks/{id}/verify: release_first (read, release the connection, call the EMR, write) or \
               in_transaction (hold a write transaction and its connection through the call: drains the pool)",
    },
    KnobSpec {
        name: "tasks.verify_timeout",
        kind: KnobKind::Duration {
            min: Duration::from_millis(1),
            max: Duration::from_secs(120),
        },
        help: "longest wait for the EMR service's verification answer; keep it above emr.timeout",
    },
    KnobSpec {
        name: "tasks.patient_loading",
        kind: KnobKind::OneOf(&["n_plus_one", "join", "batch"]),
        help: "GET /tasks?include=patient: n_plus_one (a query per task, the seed bottleneck), join (one query) \
               or batch (one IN query for the page's patients)",
    },
    authorizations::KNOBS[0],
    authorizations::KNOBS[1],
    authorizations::KNOBS[2],
    dashboard::KNOBS[0],
    dashboard::KNOBS[1],
    dashboard::KNOBS[2],
    audit::retention::KNOBS[0],
    DB_KNOBS[0],
    DB_KNOBS[1],
    DB_KNOBS[2],
    DB_KNOBS[3],
    DB_KNOBS[4],
    DB_KNOBS[5],
    DB_KNOBS[6],
];

/// The routes, for metrics registration and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("GET", "/tasks/stats"),
    ("GET", "/tasks/{id}"),
    ("PUT", "/tasks/{id}"),
    ("POST", "/tasks/{id}/complete"),
    ("POST", "/tasks/{id}/verify"),
    ("GET", "/authorizations"),
    ("GET", "/authorizations/{id}"),
    ("POST", "/authorizations/{id}/reservations"),
    ("POST", "/reservations/{id}/release"),
    ("POST", "/reservations/{id}/consume"),
    ("GET", "/dashboard/stats"),
    ("GET", "/audit"),
    ("GET", "/audit/series"),
    ("GET", "/patients"),
    ("POST", "/patients"),
    ("GET", "/patients/{id}"),
    ("POST", "/patients/{id}/discharge"),
];

/// What every handler can reach. Cheap to clone: one reference count, because axum clones the
/// state for every extractor of every request, and ten separate `Arc`s cost ten contended atomic
/// increments (and decrements) each time.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
pub struct Shared {
    pub store: Arc<dyn storage::TaskStore>,
    pub authorizations: Arc<dyn authorizations::store::AuthorizationStore>,
    pub dashboard: Arc<dyn dashboard::store::DashboardStore>,
    /// Where `dashboard.source = cached` keeps its answers.
    pub cache: Arc<dyn emrlab_common::cache::Cache>,
    /// The handover service, asked for the dashboard's pending handovers.
    pub handover_counts: dashboard::HandoverCounts,
    pub knobs: Arc<KnobCell<Settings>>,
    pub keys: Arc<JwtKeys>,
    pub db: AnyDb,
    /// The EMR service, asked to compare a task with the vendor's copy.
    pub emr: emr::EmrClient,
    /// Where task events go (the gateway's hub, in process, over Redis or over HTTP).
    pub events: EventPublisher,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// State over an open database; a `db.*` knob change swaps the pool in. `emr_url` is the EMR
    /// service's base URL, e.g. `http://127.0.0.1:41234`; `events` receives every change; `cache`
    /// keeps the cached dashboard. The handover service's URL is given to `handover_counts` once
    /// known.
    pub fn new(
        settings: Settings,
        db: AnyDb,
        keys: Arc<JwtKeys>,
        emr_url: String,
        events: EventPublisher,
        cache: Arc<dyn emrlab_common::cache::Cache>,
    ) -> Self {
        let knobs = Arc::new(KnobCell::new("task", KNOBS, settings));
        db.follow_knobs(&knobs, |s| &s.db);
        // The task service owns the tables the indexes are on, so it alone applies the knob.
        emrlab_common::indexes::follow(db.clone(), knobs.subscribe(), |s| s.db.indexes);
        let dashboard = dashboard::store::open(&db);
        dashboard::spawn_refresher(dashboard.clone(), knobs.subscribe());
        audit::retention::spawn_purger(db.clone(), knobs.subscribe());
        Self(Arc::new(Shared {
            store: storage::open(&db),
            authorizations: authorizations::store::open(&db),
            dashboard,
            cache,
            handover_counts: dashboard::HandoverCounts::new(keys.clone()),
            knobs,
            keys,
            db,
            emr: emr::EmrClient::new(emr_url),
            events,
        }))
    }
}

/// The task service: its API, health, metrics and internal knob endpoints.
pub fn router(state: AppState) -> Router {
    emrlab_common::metrics::register("task", ROUTES);
    metrics::register();
    include::register();
    let api = Router::new()
        .route("/tasks", post(handlers::create_task).get(handlers::list_tasks))
        .route("/tasks/stats", get(stats::task_stats))
        .route("/tasks/{id}", get(handlers::get_task).put(handlers::update_task))
        .route("/tasks/{id}/complete", post(handlers::complete_task))
        .route("/tasks/{id}/verify", post(verify::verify_task))
        .merge(authorizations::routes())
        .merge(dashboard::routes())
        .merge(patients::routes())
        .route("/audit", get(audit::events))
        .route("/audit/series", get(audit::series))
        .route("/internal/sync/tasks", post(replica::sync_tasks))
        .route("/internal/sync/merge", post(replica::merge_tasks))
        // Internal: for the handover service; the gateway routes no `/internal` path.
        .route("/internal/tasks/lookup", post(internal::lookup_tasks))
        .route("/internal/tasks/reassign", post(internal::reassign_tasks))
        .with_state(state.clone())
        .merge(emrlab_common::server::operational_routes(
            state.db.clone(),
            state.knobs.clone(),
            state.keys.clone(),
        ));
    emrlab_common::server::with_common_layers(api, "task", ROUTES)
}
