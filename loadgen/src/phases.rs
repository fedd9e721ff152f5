//! The phases around a scenario's flows: `[setup]`, run by each VU before its first iteration
//! (or by all before the start), and `[teardown]`, run once after the load.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::Step;

/// Steps a VU runs before its first iteration (log in), again when a captured token is about
/// to expire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Rerun the setup when this long has passed since it ran (refresh before a token expires).
    #[serde(default, with = "humantime_serde")]
    pub rerun_after: Option<Duration>,
    /// Set up every VU the run will need before the clock starts (k6's `setup()`), so a login
    /// storm is not part of what the thresholds judge; it stays a lab of its own.
    #[serde(default)]
    pub before_start: bool,
    /// VUs set up at once before the start.
    #[serde(default = "default_setup_concurrency")]
    pub concurrency: u32,
}

fn default_setup_concurrency() -> u32 {
    8
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            rerun_after: None,
            before_start: false,
            concurrency: default_setup_concurrency(),
        }
    }
}

/// Steps run once after the load has ended (k6's `teardown()`), by one VU of their own, e.g. an
/// integrity check; their requests and checks count in the results and thresholds like any.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Teardown {
    #[serde(default)]
    pub steps: Vec<Step>,
}
