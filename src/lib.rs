//! The emrlab platform as one library: [`Platform`] binds every component on its own port, as
//! `emrlab up` does, and the end-to-end tests start it the same way.

use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;

use emrlab_common::{
    auth::JwtKeys,
    cache::Cache,
    db::AnyDb,
    events::{EventBus, EventPublisher},
    server::Server,
};
use emrlab_emr::{Vendor, sim::Simulator};

pub mod config;
mod platform;

pub use config::PlatformConfig;
pub use platform::Platform;

/// Opens the database a configuration names and brings its schema up to date.
pub async fn open_database(cfg: &PlatformConfig, component: &'static str) -> anyhow::Result<AnyDb> {
    if cfg.database_url.is_none() {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    }
    let db = AnyDb::connect(&cfg.database_url(), &cfg.db, component).context("opening the database")?;
    db.migrate().await.context("migrating the database")?;
    Ok(db)
}

/// Seeds an empty database with the configured profile.
pub async fn seed(cfg: &PlatformConfig, db: &AnyDb) -> anyhow::Result<emrlab_task::seed::SeedReport> {
    let cost = cfg.auth.kdf_cost;
    let hash =
        tokio::task::spawn_blocking(move || emrlab_common::auth::hash_password(emrlab_task::seed::DEMO_PASSWORD, cost))
            .await?
            .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?;
    Ok(emrlab_task::seed::seed(db, cfg.seed.profile, cfg.seed.number, &hash).await?)
}

/// The token key: configured, or (for `up` only) kept in the data directory so a restart keeps
/// sessions valid.
pub fn jwt_keys(cfg: &PlatformConfig, may_generate: bool) -> anyhow::Result<Arc<JwtKeys>> {
    let secret = jwt_secret(cfg, may_generate)?;
    Ok(Arc::new(JwtKeys::new(
        secret.as_bytes(),
        &cfg.auth.issuer,
        &cfg.auth.audience,
    )))
}

/// The token key [`jwt_keys`] uses, for handing on to components in other processes.
pub fn jwt_secret(cfg: &PlatformConfig, may_generate: bool) -> anyhow::Result<String> {
    let secret = match &cfg.auth.jwt_secret {
        Some(secret) => secret.expose_secret().to_owned(),
        None if may_generate => {
            let path = cfg.data_dir.join("jwt.key");
            match std::fs::read_to_string(&path) {
                Ok(secret) => secret.trim().to_owned(),
                Err(_) => {
                    std::fs::create_dir_all(&cfg.data_dir)?;
                    let secret: String = rand_hex();
                    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
                    restrict(&path)?;
                    secret
                }
            }
        }
        None => {
            anyhow::bail!("set EMRLAB_AUTH__JWT_SECRET: every component must share the token key")
        }
    };
    anyhow::ensure!(secret.len() >= 32, "auth.jwt_secret must be at least 32 characters");
    Ok(secret)
}

fn rand_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn restrict(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Where a service publishes its events: Redis when configured (every gateway subscribed to the
/// channel fans them out), else the in-process `bus` when the gateway shares this process, else
/// the gateway's `POST /internal/events` at `services.gateway_url`; with none of them, nowhere.
pub async fn event_publisher(
    cfg: &PlatformConfig,
    keys: Arc<JwtKeys>,
    bus: Option<&EventBus>,
    component: &'static str,
) -> anyhow::Result<EventPublisher> {
    let events = &cfg.events;
    if let Some(url) = cfg.redis_url() {
        return EventPublisher::redis(url, &events.redis_channel, component, events.queue)
            .await
            .context("connecting to Redis to publish events");
    }
    if let Some(bus) = bus {
        return Ok(bus.publisher(component));
    }
    match cfg.services.gateway_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => Ok(EventPublisher::http(url, keys, component, events.queue)),
        None => {
            tracing::warn!(
                component,
                "live events are off: set EMRLAB_SERVICES__GATEWAY_URL or a Redis URL so WebSocket clients see changes"
            );
            Ok(EventPublisher::disabled())
        }
    }
}

/// The task service, bound and ready to run, verifying tasks through the EMR service at `emr_url`,
/// publishing its events to `events` and caching the dashboard in `cache`. The handover service's
/// URL (for the dashboard's pending handovers) is `services.handover_url` when set; otherwise the
/// caller gives it to the returned [`HandoverCounts`](emrlab_task::dashboard::HandoverCounts).
pub async fn bind_task(
    cfg: &PlatformConfig,
    keys: Arc<JwtKeys>,
    emr_url: String,
    events: EventPublisher,
    cache: Arc<dyn Cache>,
) -> anyhow::Result<(Server, AnyDb, emrlab_task::dashboard::HandoverCounts)> {
    let db = open_database(cfg, "task").await?;
    let settings = emrlab_task::Settings {
        tasks: cfg.tasks.clone(),
        authorizations: cfg.authorizations.clone(),
        dashboard: cfg.dashboard.clone(),
        audit: cfg.audit.clone(),
        db: cfg.db.clone(),
    };
    let state = emrlab_task::AppState::new(settings, db.clone(), keys, emr_url, events, cache);
    let handovers = state.handover_counts.clone();
    if let Some(url) = cfg.services.handover_url.clone().filter(|u| !u.is_empty()) {
        handovers.set_url(url);
    }
    let server = Server::bind(cfg.tasks.addr, emrlab_task::router(state))
        .await
        .with_context(|| format!("binding the task service to {}", cfg.tasks.addr))?;
    Ok((server, db, handovers))
}

/// The handover service, bound and ready to run, reaching the tasks through the task service at
/// `task_url` and publishing its events to `events`.
pub async fn bind_handover(
    cfg: &PlatformConfig,
    keys: Arc<JwtKeys>,
    task_url: String,
    events: EventPublisher,
) -> anyhow::Result<(Server, AnyDb)> {
    let db = open_database(cfg, "handover").await?;
    let settings = emrlab_handover::Settings {
        handover: cfg.handover.clone(),
        db: cfg.db.clone(),
    };
    let app = emrlab_handover::router(emrlab_handover::AppState::new(
        settings,
        db.clone(),
        keys,
        task_url,
        events,
    ));
    let server = Server::bind(cfg.handover.addr, app)
        .await
        .with_context(|| format!("binding the handover service to {}", cfg.handover.addr))?;
    Ok((server, db))
}

/// The EMR service, bound and ready to run, calling the vendors whose root URLs are given.
pub async fn bind_emr(
    cfg: &PlatformConfig,
    keys: Arc<JwtKeys>,
    redis: Option<Arc<dyn Cache>>,
    epic_url: &str,
    cerner_url: &str,
) -> anyhow::Result<(Server, AnyDb)> {
    let db = open_database(cfg, "emr").await?;
    let mut settings = emrlab_emr::Settings {
        emr: cfg.emr.clone(),
        db: cfg.db.clone(),
    };
    // The seed fix was a Redis cache: with Redis configured, the default cache is Redis.
    if redis.is_some() && settings.emr.cache == emrlab_emr::CacheMode::Memory {
        settings.emr.cache = emrlab_emr::CacheMode::Redis;
    }
    let urls = emrlab_emr::VendorUrls {
        epic: format!(
            "{}{}",
            epic_url.trim_end_matches('/'),
            emrlab_emr::sim::fhir_base(Vendor::Epic)
        ),
        cerner: format!(
            "{}{}",
            cerner_url.trim_end_matches('/'),
            emrlab_emr::sim::fhir_base(Vendor::Cerner)
        ),
    };
    let app = emrlab_emr::router(emrlab_emr::AppState::new(settings, db.clone(), keys, redis, urls)?);
    let server = Server::bind(cfg.emr.addr, app)
        .await
        .with_context(|| format!("binding the EMR service to {}", cfg.emr.addr))?;
    Ok((server, db))
}

/// The sync service, bound and ready to run, writing task rows through the task service at
/// `task_url`; `cache` serves `sync.clock_store = cached`, `events` takes `sync.conflict`.
pub async fn bind_sync(
    cfg: &PlatformConfig,
    keys: Arc<JwtKeys>,
    cache: Arc<dyn Cache>,
    task_url: String,
    events: EventPublisher,
) -> anyhow::Result<(Server, AnyDb)> {
    let db = open_database(cfg, "sync").await?;
    let settings = emrlab_sync::Settings {
        sync: cfg.sync.clone(),
        db: cfg.db.clone(),
    };
    let app = emrlab_sync::router(emrlab_sync::AppState::new(
        settings,
        db.clone(),
        keys,
        cache,
        task_url,
        events,
    )?);
    let server = Server::bind(cfg.sync.addr, app)
        .await
        .with_context(|| format!("binding the sync service to {}", cfg.sync.addr))?;
    Ok((server, db))
}

/// A simulated vendor, bound and ready to run, serving the configured seed.
pub async fn bind_vendor(cfg: &PlatformConfig, keys: Arc<JwtKeys>, vendor: Vendor) -> anyhow::Result<Simulator> {
    let settings = emrlab_emr::sim::SimSettings {
        vendors: cfg.vendors.clone(),
    };
    Simulator::bind(vendor, settings, cfg.seed.profile, cfg.seed.number, keys)
        .await
        .with_context(|| format!("binding the {vendor} simulator"))
}

/// Where the gateway finds each component.
pub struct Upstreams {
    pub task: String,
    pub emr: String,
    pub sync: String,
    pub handover: String,
    /// The simulators' control ports, for their knobs; absent when the EMR service calls vendors
    /// we do not run.
    pub vendors: Vec<(Vendor, String)>,
}

/// The gateway, bound and ready to run, in front of the services; its WebSocket hub fans out the
/// events arriving on `bus` (in process or over HTTP) and, with Redis configured, on its channel.
pub async fn bind_gateway(
    cfg: &PlatformConfig,
    keys: Arc<JwtKeys>,
    to: Upstreams,
    bus: EventBus,
) -> anyhow::Result<(Server, AnyDb)> {
    let db = open_database(cfg, "gateway").await?;
    let settings = emrlab_gateway::Settings {
        gateway: cfg.gateway.clone(),
        http: cfg.http.clone(),
        auth: cfg.auth.clone(),
        db: cfg.db.clone(),
    };
    let mut upstreams = vec![
        emrlab_gateway::Upstream {
            name: "task",
            url: to.task,
            service: true,
        },
        emrlab_gateway::Upstream {
            name: "emr",
            url: to.emr,
            service: true,
        },
        emrlab_gateway::Upstream {
            name: "sync",
            url: to.sync,
            service: true,
        },
        emrlab_gateway::Upstream {
            name: "handover",
            url: to.handover,
            service: true,
        },
    ];
    upstreams.extend(to.vendors.into_iter().map(|(vendor, url)| emrlab_gateway::Upstream {
        name: vendor.as_str(),
        url,
        service: false,
    }));
    let state = emrlab_gateway::AppState::new(settings, db.clone(), keys, upstreams, bus);
    if let Some(url) = cfg.redis_url() {
        state
            .listen_redis(url, &cfg.events.redis_channel)
            .await
            .context("subscribing to Redis events")?;
    }
    let server = Server::bind(cfg.gateway.addr, emrlab_gateway::router(state))
        .await
        .with_context(|| format!("binding the gateway to {}", cfg.gateway.addr))?
        .max_connections(cfg.gateway.max_connections);
    Ok((server, db))
}
