//! The gateway: the only public entry point. It logs users in and issues tokens, checks every
//! request's token, rate-limits, answers the admin knob API and proxies the rest to the services
//! over pooled HTTP. It depends on no service crate: services are URLs to it.
//!
//! It also hosts the WebSocket hub that fans the services' events out to clients (`ws`).
//!
//! Layout: `config` (settings and knobs), `login` (login and refresh), `credentials` (their SQL),
//! `limit` (rate limiters), `guard` (token check and rate limit middleware), `proxy`, `admin`,
//! `ws` (live events).

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::FromRef,
    middleware,
    routing::{any, get, post},
};

use emrlab_common::{auth::JwtKeys, db::AnyDb, events::EventBus, knobs::KnobCell};

mod admin;
pub mod compression;
pub mod config;
mod credentials;
mod guard;
mod limit;
mod login;
mod metrics;
mod openapi;
mod proxy;
pub mod ws;

pub use config::{Config, KNOBS, Settings, Upstream, WsConfig};

/// Everything the gateway's handlers share. Cheap to clone: one reference count, because axum
/// clones the state for every middleware and extractor of every request, and a dozen separate
/// `Arc`s cost a dozen contended atomic increments (and decrements) each time.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
pub struct Shared {
    pub knobs: Arc<KnobCell<Settings>>,
    pub keys: Arc<JwtKeys>,
    pub db: AnyDb,
    credentials: Arc<dyn credentials::CredentialStore>,
    limits: Arc<limit::Limits>,
    hashing: Arc<login::Hashing>,
    proxy: proxy::Proxy,
    http: reqwest::Client,
    upstreams: Arc<HashMap<&'static str, Upstream>>,
    /// Where every transport's events arrive; the hub reads it.
    bus: EventBus,
    hub: ws::Hub,
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

/// The routes, for metrics registration.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/admin/knobs"),
    ("PUT", "/api/v1/admin/knobs"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{*rest}"),
    ("GET", "/api/v1/authorizations"),
    ("GET", "/api/v1/authorizations/{*rest}"),
    ("GET", "/api/v1/reservations/{*rest}"),
    ("GET", "/api/v1/dashboard/{*rest}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/{*rest}"),
    ("GET", "/api/v1/patients"),
    ("GET", "/api/v1/patients/{*rest}"),
    ("GET", "/api/v1/admin/integrity"),
    ("GET", "/api/v1/emr/{*rest}"),
    ("GET", "/api/v1/sync/{*rest}"),
    ("GET", "/api/v1/handovers"),
    ("GET", "/api/v1/handovers/{*rest}"),
    ("GET", "/api/v1/ws"),
    ("POST", "/api/v1/ws/ticket"),
];

impl AppState {
    /// The gateway over its database (credentials) and the services it fronts; its WebSocket hub
    /// fans out what arrives on `bus`.
    pub fn new(settings: Settings, db: AnyDb, keys: Arc<JwtKeys>, upstreams: Vec<Upstream>, bus: EventBus) -> Self {
        let limits = Arc::new(limit::Limits::new(&settings.gateway));
        let hashing = Arc::new(login::Hashing::new(settings.auth.max_concurrent_hashes));
        let knobs = Arc::new(KnobCell::new("gateway", KNOBS, settings));
        let hub = ws::Hub::new(&bus, knobs.clone());
        let state = Self(Arc::new(Shared {
            bus,
            hub,
            credentials: credentials::open(&db),
            knobs,
            keys,
            db,
            limits,
            hashing,
            proxy: proxy::Proxy::new(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            upstreams: Arc::new(upstreams.into_iter().map(|u| (u.name, u)).collect()),
        }));
        state.follow_knobs();
        state
    }

    /// Also delivers the events published on `channel` of the Redis at `url` (several gateways
    /// then fan out the same events); stops when the gateway is dropped.
    pub async fn listen_redis(&self, url: &str, channel: &str) -> Result<(), emrlab_common::cache::CacheError> {
        emrlab_common::events::redis::listen(url, channel, self.bus.clone(), self.hub.stop_token()).await?;
        Ok(())
    }

    /// Rebuilds limiters, the hashing semaphore and the pool when their knobs change.
    fn follow_knobs(&self) {
        let mut changes = self.knobs.subscribe();
        let (limits, hashing, db) = (
            Arc::downgrade(&self.limits),
            Arc::downgrade(&self.hashing),
            self.db.clone(),
        );
        tokio::spawn(async move {
            let mut current = changes.borrow().clone();
            while changes.changed().await.is_ok() {
                let next = changes.borrow().clone();
                let (Some(limits), Some(hashing)) = (limits.upgrade(), hashing.upgrade()) else {
                    break;
                };
                if next.gateway.rate_limit != current.gateway.rate_limit
                    || next.gateway.login_rate_limit != current.gateway.login_rate_limit
                {
                    limits.rebuild(&next.gateway);
                }
                if next.auth.max_concurrent_hashes != current.auth.max_concurrent_hashes {
                    hashing.resize(next.auth.max_concurrent_hashes);
                }
                if next.db != current.db {
                    db.reconfigure(&next.db);
                }
                current = next;
            }
        });
        limit::spawn_sweeper(Arc::downgrade(&self.limits));
    }
}

/// The gateway's router: public routes, then everything behind a token and the rate limiter.
pub fn router(state: AppState) -> Router {
    emrlab_common::metrics::register("gateway", ROUTES);
    metrics::register();
    let protected = Router::new()
        .route("/api/v1/admin/knobs", get(admin::list_knobs).put(admin::change_knobs))
        .route("/api/v1/tasks", any(proxy::to_tasks))
        .route("/api/v1/tasks/{*rest}", any(proxy::to_tasks))
        .route("/api/v1/authorizations", any(proxy::to_tasks))
        .route("/api/v1/authorizations/{*rest}", any(proxy::to_tasks))
        .route("/api/v1/reservations/{*rest}", any(proxy::to_tasks))
        .route("/api/v1/dashboard/{*rest}", any(proxy::to_tasks))
        .route("/api/v1/audit", any(proxy::to_tasks))
        .route("/api/v1/audit/{*rest}", any(proxy::to_tasks))
        .route("/api/v1/patients", any(proxy::to_tasks))
        .route("/api/v1/patients/{*rest}", any(proxy::to_tasks))
        .route("/api/v1/admin/integrity", get(admin::integrity))
        .route("/api/v1/emr/{*rest}", any(proxy::to_emr))
        .route("/api/v1/sync/{*rest}", any(proxy::to_sync))
        .route("/api/v1/handovers", any(proxy::to_handovers))
        .route("/api/v1/handovers/{*rest}", any(proxy::to_handovers))
        .route("/api/v1/ws/ticket", post(ws::issue_ticket))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::rate_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::authenticate))
        .layer(compression::layer(state.knobs.clone()));
    let public = Router::new()
        .route("/api/v1/auth/login", post(login::login))
        .route("/api/v1/auth/refresh", post(login::refresh))
        .route("/api/v1/openapi.json", get(openapi::document))
        // Its own check (header or ticket) and no request rate limit: see `ws`.
        .route("/api/v1/ws", get(ws::connect))
        .route("/internal/events", post(ws::publish_events))
        .route("/health", get(emrlab_common::server::health))
        .route("/ready", get(admin::ready))
        .route("/metrics", get(emrlab_common::metrics::endpoint));
    emrlab_common::server::with_common_layers(public.merge(protected).with_state(state), "gateway", ROUTES)
}
