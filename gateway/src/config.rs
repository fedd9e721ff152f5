//! The gateway's settings (`[gateway]`, plus the `auth` and `db` knobs it owns) and its knobs.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use emrlab_common::{
    config::{AuthConfig, DbConfig},
    knobs::{DB_KNOBS, KnobKind, KnobSpec},
};

/// Which limiter guards authenticated requests (`gateway.rate_limit.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// GCRA (governor): `per_second` sustained, `burst` at once.
    TokenBucket,
    /// At most `max` requests per `window`, counted from each window's first request.
    FixedWindow,
    Off,
}

/// What a limit is counted per (`gateway.rate_limit.key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// Each access token separately.
    Token,
    /// Each client address.
    Client,
}

/// `[gateway.rate_limit]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    pub kind: LimitKind,
    pub key: LimitKey,
    pub per_second: u32,
    pub burst: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    pub max: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        // 50/s as the seed platform; the fixed window reproduces its 100-then-429 quota.
        Self {
            kind: LimitKind::TokenBucket,
            key: LimitKey::Token,
            per_second: 50,
            burst: 100,
            window: Duration::from_secs(60),
            max: 100,
        }
    }
}

/// `[gateway.login_rate_limit]`: per client address, token bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginRateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for LoginRateLimit {
    fn default() -> Self {
        // The built-in scenarios log 1,000 users in from one address during a ramp; let them.
        Self {
            per_second: 200,
            burst: 1_500,
        }
    }
}

/// `[gateway.ws]`: the WebSocket hub (docs/api.md, "Live events"). Every field is a knob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Event messages waiting for one client (`gateway.ws.queue`); a client whose queue is full
    /// is closed with 1013 and resumes with `last_event_id`. Read when a client connects.
    pub queue: usize,
    /// Ping period (`gateway.ws.heartbeat`); a client silent for twice this is dropped.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Events kept per organisation for resuming clients (`gateway.ws.replay`).
    pub replay: usize,
    /// Open connections per access token (`gateway.ws.max_per_token`); high by default because
    /// load tests hold thousands of sockets on a few tokens.
    pub max_per_token: u32,
    /// Open WebSocket connections in this gateway (`gateway.ws.max_connections`); keep it under
    /// `gateway.max_connections`, which counts HTTP connections too.
    pub max_connections: usize,
    /// Messages per second a client may send (`gateway.ws.inbound_per_second`), as a burst too.
    /// Read when a client connects.
    pub inbound_per_second: u32,
    /// Lifetime of a connection ticket (`gateway.ws.ticket_ttl`).
    #[serde(with = "humantime_serde")]
    pub ticket_ttl: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            queue: 256,
            heartbeat: Duration::from_secs(30),
            replay: 1_000,
            max_per_token: 20_000,
            // Leaves 192 of the listener's default 8,192 connections for HTTP.
            max_connections: 8_000,
            inbound_per_second: 10,
            ticket_ttl: Duration::from_secs(30),
        }
    }
}

/// `[gateway]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// Longest wait for a service's answer before a 504 (`gateway.upstream_timeout`).
    #[serde(with = "humantime_serde")]
    pub upstream_timeout: Duration,
    pub rate_limit: RateLimit,
    pub login_rate_limit: LoginRateLimit,
    /// Connections the gateway's listener holds at once, HTTP and WebSocket together
    /// (`gateway.max_connections`, read at start-up); more wait in the accept backlog.
    pub max_connections: usize,
    pub ws: WsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream_timeout: Duration::from_secs(60),
            rate_limit: RateLimit::default(),
            login_rate_limit: LoginRateLimit::default(),
            max_connections: emrlab_common::server::MAX_CONNECTIONS,
            ws: WsConfig::default(),
        }
    }
}

/// The gateway's live settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub gateway: Config,
    pub http: crate::compression::HttpConfig,
    pub auth: AuthConfig,
    pub db: DbConfig,
}

/// A component the gateway reaches: a service it proxies to, or a simulated vendor it reaches
/// for knobs only.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Component name, as in knob owners.
    pub name: &'static str,
    /// Base URL, e.g. `http://127.0.0.1:3001`.
    pub url: String,
    /// A platform service, whose readiness is the gateway's; a vendor's outage is not.
    pub service: bool,
}

const SECOND: Duration = Duration::from_secs(1);

/// The knobs the gateway owns.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "gateway.rate_limit.kind",
        kind: KnobKind::OneOf(&["token_bucket", "fixed_window", "off"]),
        help: "limiter for authenticated requests",
    },
    KnobSpec {
        name: "gateway.rate_limit.key",
        kind: KnobKind::OneOf(&["token", "client"]),
        help: "count per access token or per client address",
    },
    KnobSpec {
        name: "gateway.rate_limit.per_second",
        kind: KnobKind::Int { min: 1, max: 1_000_000 },
        help: "token bucket: sustained requests per second",
    },
    KnobSpec {
        name: "gateway.rate_limit.burst",
        kind: KnobKind::Int { min: 1, max: 1_000_000 },
        help: "token bucket: requests allowed at once",
    },
    KnobSpec {
        name: "gateway.rate_limit.window",
        kind: KnobKind::Duration {
            min: SECOND,
            max: Duration::from_secs(86_400),
        },
        help: "fixed window: window length",
    },
    KnobSpec {
        name: "gateway.rate_limit.max",
        kind: KnobKind::Int {
            min: 1,
            max: 100_000_000,
        },
        help: "fixed window: requests per window",
    },
    KnobSpec {
        name: "gateway.login_rate_limit.per_second",
        kind: KnobKind::Int { min: 1, max: 1_000_000 },
        help: "logins per second per client address",
    },
    KnobSpec {
        name: "gateway.login_rate_limit.burst",
        kind: KnobKind::Int { min: 1, max: 1_000_000 },
        help: "logins at once per client address",
    },
    KnobSpec {
        name: "gateway.upstream_timeout",
        kind: KnobKind::Duration {
            min: Duration::from_millis(10),
            max: Duration::from_secs(600),
        },
        help: "wait for a service before answering 504",
    },
    KnobSpec {
        name: "gateway.ws.queue",
        kind: KnobKind::Int { min: 1, max: 65_536 },
        help: "event messages queued per WebSocket client; a full queue closes it with 1013 (new connections)",
    },
    KnobSpec {
        name: "gateway.ws.heartbeat",
        kind: KnobKind::Duration {
            min: Duration::from_millis(100),
            max: Duration::from_secs(600),
        },
        help: "WebSocket ping period; a client silent for twice this is dropped",
    },
    KnobSpec {
        name: "gateway.ws.replay",
        kind: KnobKind::Int { min: 0, max: 100_000 },
        help: "events kept per organisation for clients resuming with last_event_id",
    },
    KnobSpec {
        name: "gateway.ws.max_per_token",
        kind: KnobKind::Int { min: 1, max: 1_000_000 },
        help: "open WebSocket connections per access token",
    },
    KnobSpec {
        name: "gateway.ws.max_connections",
        kind: KnobKind::Int { min: 1, max: 1_000_000 },
        help: "open WebSocket connections in this gateway",
    },
    KnobSpec {
        name: "gateway.ws.inbound_per_second",
        kind: KnobKind::Int { min: 1, max: 10_000 },
        help: "messages per second one WebSocket client may send (new connections)",
    },
    KnobSpec {
        name: "gateway.ws.ticket_ttl",
        kind: KnobKind::Duration {
            min: SECOND,
            max: Duration::from_secs(600),
        },
        help: "lifetime of a single-use WebSocket ticket",
    },
    KnobSpec {
        name: "auth.token_ttl",
        kind: KnobKind::Duration {
            min: SECOND,
            max: Duration::from_secs(7 * 86_400),
        },
        help: "access token lifetime",
    },
    KnobSpec {
        name: "auth.kdf_cost",
        kind: KnobKind::Int { min: 8, max: 1_048_576 },
        help: "argon2id memory cost in KiB; a password is rehashed at its next login",
    },
    KnobSpec {
        name: "auth.max_concurrent_hashes",
        kind: KnobKind::Int { min: 1, max: 256 },
        help: "password hashes computed at once; the rest queue",
    },
    DB_KNOBS[0],
    DB_KNOBS[1],
    DB_KNOBS[2],
    DB_KNOBS[3],
    DB_KNOBS[4],
    crate::compression::KNOB,
];
