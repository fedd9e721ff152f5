//! The simulated vendors' behaviour (`[vendors.epic]`, `[vendors.cerner]`), every part of it a
//! knob so a lab can slow a vendor down, make it fail or take it away while the platform runs.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use emrlab_common::knobs::{KnobKind, KnobSpec};

/// How long a vendor takes to answer (`vendors.<v>.latency.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// Always `median`.
    Fixed,
    /// Evenly between `min` and `max`.
    Uniform,
    /// Log-normal with the given `median` and `p95`: a long right tail, as real EMRs have.
    Lognormal,
}

/// `[vendors.<v>.latency]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    pub kind: LatencyKind,
    #[serde(with = "humantime_serde")]
    pub median: Duration,
    #[serde(with = "humantime_serde")]
    pub p95: Duration,
    #[serde(with = "humantime_serde")]
    pub min: Duration,
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl Default for Latency {
    fn default() -> Self {
        // The seed report's estimate for an Epic patient fetch.
        Self {
            kind: LatencyKind::Lognormal,
            median: Duration::from_millis(600),
            p95: Duration::from_millis(1_200),
            min: Duration::from_millis(200),
            max: Duration::from_millis(1_000),
        }
    }
}

/// Which cap a throttling vendor applies (`vendors.<v>.throttle.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleKind {
    Off,
    /// At most `limit` requests in progress.
    Concurrency,
    /// At most `limit` requests per second.
    Rate,
}

/// `[vendors.<v>.throttle]`: beyond the cap, 429 with Retry-After and OperationOutcome `throttled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Throttle {
    pub kind: ThrottleKind,
    pub limit: u32,
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            kind: ThrottleKind::Off,
            limit: 100,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// What a vendor in an outage does (`vendors.<v>.outage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outage {
    None,
    /// The port is closed: connections are refused.
    Refuse,
    /// Requests are read and never answered, until the caller gives up.
    Hang,
    /// Answers start, then the body arrives a byte at a time.
    Trickle,
}

/// `[vendors.<v>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VendorConfig {
    /// Where the simulator listens (port 0: any free port).
    pub addr: SocketAddr,
    /// Where its control plane (`/health`, `/metrics`, knobs) listens: a port that stays open
    /// during an outage, so the outage can be ended through the knob API.
    pub control_addr: SocketAddr,
    pub latency: Latency,
    /// Fraction of requests answered 500 with an OperationOutcome.
    pub error_rate: f64,
    pub throttle: Throttle,
    pub outage: Outage,
    /// Fraction of successful answers whose body is cut off mid-JSON.
    pub malformed_rate: f64,
}

impl VendorConfig {
    fn with_latency(latency: Latency) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            control_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            latency,
            error_rate: 0.0,
            throttle: Throttle::default(),
            outage: Outage::None,
            malformed_rate: 0.0,
        }
    }

    pub fn epic() -> Self {
        Self::with_latency(Latency::default())
    }

    /// A little faster in the middle and with a longer tail than Epic.
    pub fn cerner() -> Self {
        Self::with_latency(Latency {
            median: Duration::from_millis(500),
            p95: Duration::from_millis(1_500),
            ..Latency::default()
        })
    }
}

impl Default for VendorConfig {
    fn default() -> Self {
        Self::epic()
    }
}

/// `[vendors]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VendorsConfig {
    pub epic: VendorConfig,
    pub cerner: VendorConfig,
}

impl Default for VendorsConfig {
    fn default() -> Self {
        Self {
            epic: VendorConfig::epic(),
            cerner: VendorConfig::cerner(),
        }
    }
}

impl VendorsConfig {
    /// The section of `vendor`.
    pub fn get(&self, vendor: emrlab_seed::Vendor) -> &VendorConfig {
        match vendor {
            emrlab_seed::Vendor::Epic => &self.epic,
            emrlab_seed::Vendor::Cerner => &self.cerner,
        }
    }
}

/// A simulator's live settings: both vendors' sections, of which it owns its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimSettings {
    pub vendors: VendorsConfig,
}

const LATENCY: KnobKind = KnobKind::Duration {
    min: Duration::ZERO,
    max: Duration::from_secs(600),
};
const FRACTION: KnobKind = KnobKind::Float { min: 0.0, max: 1.0 };

macro_rules! vendor_knobs {
    ($name:ident, $v:literal) => {
        /// The knobs this vendor's simulator owns.
        pub const $name: &[KnobSpec] = &[
            KnobSpec {
                name: concat!("vendors.", $v, ".latency.kind"),
                kind: KnobKind::OneOf(&["fixed", "uniform", "lognormal"]),
                help: "response time: fixed (median), uniform (min..max) or lognormal (median, p95)",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".latency.median"),
                kind: LATENCY,
                help: "median response time (fixed and lognormal)",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".latency.p95"),
                kind: LATENCY,
                help: "95th percentile response time (lognormal)",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".latency.min"),
                kind: LATENCY,
                help: "shortest response time (uniform)",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".latency.max"),
                kind: LATENCY,
                help: "longest response time (uniform)",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".error_rate"),
                kind: FRACTION,
                help: "fraction of requests answered 500",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".throttle.kind"),
                kind: KnobKind::OneOf(&["off", "concurrency", "rate"]),
                help: "throttling: off, a cap on requests in progress, or on requests per second",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".throttle.limit"),
                kind: KnobKind::Int {
                    min: 1,
                    max: 1_000_000,
                },
                help: "the throttling cap",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".throttle.retry_after"),
                kind: KnobKind::Duration {
                    min: Duration::from_secs(1),
                    max: Duration::from_secs(3_600),
                },
                help: "Retry-After sent with a 429",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".outage"),
                kind: KnobKind::OneOf(&["none", "refuse", "hang", "trickle"]),
                help: "outage: none, refuse connections, hang until the caller gives up, or trickle bytes",
            },
            KnobSpec {
                name: concat!("vendors.", $v, ".malformed_rate"),
                kind: FRACTION,
                help: "fraction of answers cut off mid-JSON",
            },
        ];
    };
}

vendor_knobs!(EPIC_KNOBS, "epic");
vendor_knobs!(CERNER_KNOBS, "cerner");
