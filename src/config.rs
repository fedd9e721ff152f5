//! The platform's configuration: every component's section in one file, loaded in layers
//! (defaults < `--config` TOML < `EMRLAB_*` environment < flags). docs/configuration.md lists it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use emrlab_common::{
    config::{AuthConfig, DbConfig},
    events::EventsConfig,
};
use emrlab_task::seed::Profile;

/// `[seed]`: what `up` and `seed` put in an empty database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedConfig {
    /// `small` (≈1,000 tasks), `default` (10,000 active tasks) or `large` (≈1,000,000).
    pub profile: Profile,
    /// The seed number: the same number gives the same data.
    pub number: u64,
}

impl Default for SeedConfig {
    fn default() -> Self {
        Self {
            profile: Profile::Default,
            number: 42,
        }
    }
}

/// `[services]`: where components find each other when they run in other processes; `up` fills
/// these in itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    /// Base URL of the task service (`EMRLAB_SERVICES__TASK_URL`), for the gateway and the
    /// handover service (which reassigns tasks through it).
    pub task_url: Option<String>,
    /// Base URL of the EMR service, for the gateway and the task service (verification).
    pub emr_url: Option<String>,
    /// Base URL of the sync service, for the gateway.
    pub sync_url: Option<String>,
    /// Base URL of the handover service (`EMRLAB_SERVICES__HANDOVER_URL`), for the gateway.
    pub handover_url: Option<String>,
    /// Base URLs of the simulated vendors' FHIR ports, for the EMR service.
    pub epic_url: Option<String>,
    pub cerner_url: Option<String>,
    /// Base URLs of their control ports (knobs), for the gateway.
    pub epic_control_url: Option<String>,
    pub cerner_control_url: Option<String>,
    /// Base URL of the gateway (`EMRLAB_SERVICES__GATEWAY_URL`), where a service without Redis
    /// posts its events (`POST /internal/events`).
    pub gateway_url: Option<String>,
}

/// Everything, as `emrlab config show` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformConfig {
    /// Where the embedded SQLite database and the generated token key live.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite in `data_dir` (also `DATABASE_URL`).
    pub database_url: Option<String>,
    /// `redis://…` for the Redis cache; unset means the in-process cache (also `REDIS_URL`).
    pub redis_url: Option<String>,
    /// Prepended to every cache key in Redis, so deployments (or test runs) can share a server.
    pub cache_prefix: String,
    pub seed: SeedConfig,
    pub db: DbConfig,
    pub auth: AuthConfig,
    pub gateway: emrlab_gateway::Config,
    pub http: emrlab_gateway::compression::HttpConfig,
    pub tasks: emrlab_task::Config,
    pub authorizations: emrlab_task::authorizations::Config,
    pub dashboard: emrlab_task::dashboard::Config,
    pub audit: emrlab_task::audit::retention::Config,
    pub emr: emrlab_emr::Config,
    pub sync: emrlab_sync::Config,
    pub handover: emrlab_handover::Config,
    pub vendors: emrlab_emr::sim::VendorsConfig,
    pub services: ServicesConfig,
    pub events: EventsConfig,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".emrlab"),
            database_url: None,
            redis_url: None,
            cache_prefix: "emrlab:".to_owned(),
            seed: SeedConfig::default(),
            db: DbConfig::default(),
            auth: AuthConfig::default(),
            gateway: emrlab_gateway::Config::default(),
            http: emrlab_gateway::compression::HttpConfig::default(),
            tasks: emrlab_task::Config::default(),
            authorizations: emrlab_task::authorizations::Config::default(),
            dashboard: emrlab_task::dashboard::Config::default(),
            audit: emrlab_task::audit::retention::Config::default(),
            emr: emrlab_emr::Config::default(),
            sync: emrlab_sync::Config::default(),
            handover: emrlab_handover::Config::default(),
            vendors: emrlab_emr::sim::VendorsConfig::default(),
            services: ServicesConfig::default(),
            events: EventsConfig::default(),
        }
    }
}

impl PlatformConfig {
    /// The database URL in force: the configured one, else the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("emrlab.db").display()),
        }
    }

    /// The Redis URL, if one is configured.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_deref().filter(|u| !u.is_empty())
    }

    /// A configuration for tests: everything on port 0 in `dir`, the small profile, a cheap KDF.
    pub fn for_tests(dir: &std::path::Path) -> Self {
        let mut cfg = Self {
            data_dir: dir.to_path_buf(),
            ..Self::default()
        };
        cfg.seed.profile = Profile::Small;
        cfg.gateway.addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        // 64 KiB keeps a test login in the low milliseconds; production cost is a knob.
        cfg.auth.kdf_cost = 64;
        cfg.auth.jwt_secret = Some(TEST_JWT_SECRET.to_owned().into());
        // Tests switch vendor latency on where they measure it; elsewhere it only slows them.
        for vendor in [&mut cfg.vendors.epic, &mut cfg.vendors.cerner] {
            vendor.latency.kind = emrlab_emr::sim::config::LatencyKind::Fixed;
            vendor.latency.median = std::time::Duration::ZERO;
        }
        cfg
    }
}

/// The key `for_tests` signs with, so tests can forge tokens on purpose.
pub const TEST_JWT_SECRET: &str = "emrlab-test-secret-emrlab-test-secret";
