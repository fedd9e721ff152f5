//! Configuration sections shared by several components, and the layered loader
//! (defaults < TOML file < `EMRLAB_*` environment < flags) that every binary uses.

use std::{path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Database pool settings; every field is a knob owned by every component with a pool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DbConfig {
    /// Connections per pool, per component (`db.pool_size`). The seed platform's per-instance limit was 10.
    pub pool_size: u32,
    /// How long a request waits for a pooled connection before failing with 503 (`db.acquire_timeout`).
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Log every SQL statement at INFO (`db.log_statements`); costly, for diagnosis only.
    pub log_statements: bool,
    /// Ping a pooled connection before handing it out (`db.test_before_acquire`): catches a
    /// connection a database restart killed, at one extra round trip per request.
    pub test_before_acquire: bool,
    /// SQLite only (`db.sqlite_writer`): every write of the component goes through one connection
    /// of its own, beside the pool (see `db`). Off, writes take pooled connections, as on
    /// PostgreSQL, and a write transaction held open takes one from the readers.
    pub sqlite_writer: bool,
    /// SQLite only (`db.sqlite_inline_reads`): point reads (a task by id) run on the request's
    /// own thread on read-only connections beside the pool (see `sqlite_inline`). Off, they take a
    /// pooled connection like every other statement.
    pub sqlite_inline_reads: bool,
    /// The seed platform's performance indexes (`db.indexes`): `seed` or `none`; the task service
    /// builds or drops them when it changes (see `indexes`).
    pub indexes: crate::indexes::IndexSet,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            pool_size: 10,
            acquire_timeout: Duration::from_secs(5),
            log_statements: false,
            test_before_acquire: false,
            sqlite_writer: true,
            sqlite_inline_reads: true,
            indexes: crate::indexes::IndexSet::Seed,
        }
    }
}

/// Token and password settings, shared by the gateway (which issues) and the services (which verify).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` claim written and required.
    pub issuer: String,
    /// `aud` claim of user tokens, written and required.
    pub audience: String,
    /// Lifetime of an access token (`auth.token_ttl`); 15 min as in the seed platform.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Lifetime of a refresh token.
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// Argon2id memory cost in KiB (`auth.kdf_cost`); 19,456 KiB is OWASP's argon2id baseline.
    pub kdf_cost: u32,
    /// Password hashes computed at once (`auth.max_concurrent_hashes`); caps a login storm's memory.
    pub max_concurrent_hashes: u32,
    /// HMAC key for tokens (HS256). When unset, `emrlab up` keeps a random one in the data directory.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "emrlab".into(),
            audience: "emrlab-api".into(),
            token_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(12 * 3600),
            kdf_cost: 19_456,
            max_concurrent_hashes: 2,
            jwt_secret: None,
        }
    }
}

/// Loads a typed configuration: `defaults`, then the optional TOML file, then `EMRLAB_*`
/// variables (`.` → `__`), then `overrides` (the flags that were given).
pub fn load<T: Serialize + DeserializeOwned>(
    defaults: &T,
    file: Option<&Path>,
    overrides: impl Serialize,
) -> Result<T, Box<figment::Error>> {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Env::prefixed("EMRLAB_").split("__"))
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(Box::new)
}
