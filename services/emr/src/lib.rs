//! The EMR service: patient reads and task pushes to the simulated Epic and Cerner through a
//! resilience stack whose every layer is a knob, and the simulators themselves ([`sim`]).
//!
//! Layout: `config` (settings and knobs), `patients` and `tasks` (handlers), `directory` (what
//! it reads from the platform's database), `vendor` (adapters, FHIR, the resilient client),
//! `resilience` (breaker, bulkhead, retry, single flight), `error`.

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRef,
    routing::{get, post, put},
};
use bytes::Bytes;

use emrlab_common::{
    auth::JwtKeys,
    cache::{Cache, MemoryCache},
    db::AnyDb,
    knobs::KnobCell,
};

pub mod config;
mod directory;
pub mod error;
mod metrics;
mod patients;
pub mod resilience;
pub mod sim;
mod tasks;
pub mod vendor;

pub use crate::metrics::names;
pub use config::{CacheMode, Config, KNOBS, KNOBS_WITHOUT_REDIS, Settings};
pub use emrlab_seed::Vendor;

/// The routes, for metrics registration and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/emr/patients/{id}"),
    ("POST", "/emr/tasks"),
    ("PUT", "/emr/tasks/{id}"),
    ("POST", "/emr/tasks/{id}/verify"),
];

/// In-process cache size: patients are a few hundred bytes, so this holds every seeded one.
const MEMORY_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub knobs: Arc<KnobCell<Settings>>,
    pub keys: Arc<JwtKeys>,
    pub db: AnyDb,
    vendors: Arc<vendor::Vendors>,
    memory: Arc<MemoryCache>,
    redis: Option<Arc<dyn Cache>>,
    flights: Arc<resilience::single_flight::SingleFlight<Bytes, error::EmrError>>,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// Where the vendors are: their FHIR bases.
#[derive(Debug, Clone)]
pub struct VendorUrls {
    pub epic: String,
    pub cerner: String,
}

impl AppState {
    /// State over the platform's database and the vendors; `redis` enables `emr.cache = redis`.
    pub fn new(
        settings: Settings,
        db: AnyDb,
        keys: Arc<JwtKeys>,
        redis: Option<Arc<dyn Cache>>,
        urls: VendorUrls,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            redis.is_some() || settings.emr.cache != CacheMode::Redis,
            "emr.cache = redis needs a Redis URL (--redis-url)"
        );
        let specs = if redis.is_some() { KNOBS } else { KNOBS_WITHOUT_REDIS };
        let knobs = Arc::new(KnobCell::new("emr", specs, settings));
        let vendors = Arc::new(vendor::Vendors::new(knobs.clone(), urls.epic, urls.cerner));
        let state = Self {
            knobs,
            keys,
            db,
            vendors,
            memory: Arc::new(MemoryCache::new(MEMORY_CACHE_BYTES)),
            redis,
            flights: Arc::default(),
        };
        state.follow_knobs();
        Ok(state)
    }

    /// The cache `emr.cache` names, if any.
    fn cache(&self, mode: CacheMode) -> Option<Arc<dyn Cache>> {
        match mode {
            CacheMode::Off => None,
            CacheMode::Memory => Some(self.memory.clone()),
            CacheMode::Redis => self.redis.clone(),
        }
    }

    fn follow_knobs(&self) {
        let mut changes = self.knobs.subscribe();
        let (vendors, db) = (Arc::downgrade(&self.vendors), self.db.clone());
        tokio::spawn(async move {
            let mut current = changes.borrow().clone();
            while changes.changed().await.is_ok() {
                let next = changes.borrow().clone();
                let Some(vendors) = vendors.upgrade() else { break };
                vendors.reconfigure(&current.emr, &next.emr);
                if next.db != current.db {
                    db.reconfigure(&next.db);
                }
                current = next;
            }
        });
    }
}

/// The EMR service: its API, health, metrics and internal knob endpoints.
pub fn router(state: AppState) -> Router {
    emrlab_common::metrics::register("emr", ROUTES);
    let memory: &dyn Cache = state.memory.as_ref();
    match &state.redis {
        Some(redis) => metrics::register(&[memory, redis.as_ref()]),
        None => metrics::register(&[memory]),
    }
    let api = Router::new()
        .route("/emr/patients/{id}", get(patients::read))
        .route("/emr/tasks", post(tasks::push))
        .route("/emr/tasks/{id}", put(tasks::update))
        .route("/emr/tasks/{id}/verify", post(tasks::verify))
        .with_state(state.clone())
        // Ready when the database answers: a vendor being down is what the EMR service is for.
        .merge(emrlab_common::server::operational_routes(
            state.db.clone(),
            state.knobs.clone(),
            state.keys.clone(),
        ));
    emrlab_common::server::with_common_layers(api, "emr", ROUTES)
}
