//! The handover service's settings (`[handover]`, plus the `db` knobs it shares) and its knobs.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use emrlab_common::{
    config::DbConfig,
    knobs::{DB_KNOBS, KnobKind, KnobSpec},
};

/// The `[handover]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the handover service listens (port 0: any free port).
    pub addr: SocketAddr,
    /// Longest wait for the task service's answer (`handover.task_timeout`): the lookup when a
    /// handover is created, the reassignment when one is accepted.
    #[serde(with = "humantime_serde")]
    pub task_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            // A reassignment is one transaction over at most 200 rows; 10 s is generous even on
            // a loaded database, and well inside the 30 s a service may spend on a request.
            task_timeout: Duration::from_secs(10),
        }
    }
}

/// The handover service's live settings: its section and the pool it shares the knobs of.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub handover: Config,
    pub db: DbConfig,
}

/// The knobs the handover service owns.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "handover.task_timeout",
        kind: KnobKind::Duration {
            min: Duration::from_millis(1),
            // Below the claim lifetime (`accept::CLAIM_TTL`), so a live accept never loses its
            // claim to a retry while it still waits on the task service.
            max: Duration::from_secs(60),
        },
        help: "longest wait for the task service (lookup on create, reassignment on accept)",
    },
    DB_KNOBS[0],
    DB_KNOBS[1],
    DB_KNOBS[2],
    DB_KNOBS[3],
    DB_KNOBS[4],
];
