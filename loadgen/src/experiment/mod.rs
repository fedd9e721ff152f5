//! Experiments: one scenario run under a baseline knob set and one or more candidates, in short
//! interleaved rounds (A B A B …) so that a shared machine's noise hits every arm alike, then
//! each deciding metric per arm with the difference, a confidence interval across rounds and a
//! verdict in words. The file format is documented in docs/labs/README.md.
//!
//! Layout: this module (the file) → `runner` (rounds, knobs, faults) over `admin` (the target's
//! admin API) → `decide` (metrics per round, intervals, verdicts) → `outcome` (the result file)
//! → `page` (the HTML report).

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::scenario::{Model, Scenario, Stage};

pub mod admin;
pub mod decide;
pub mod outcome;
pub mod page;
pub mod runner;

/// A knob set: knob name → value, as `PUT /api/v1/admin/knobs` takes it.
pub type Knobs = BTreeMap<String, serde_json::Value>;

/// An experiment file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    /// One line: what is compared.
    pub title: String,
    /// The backends the stack needs: `embedded` (SQLite, in-process cache), `postgres`, `redis`.
    #[serde(default = "embedded")]
    pub backends: Vec<Backend>,
    /// What the load goes to when the experiment starts its own target.
    #[serde(default)]
    pub target: Target,
    /// The stall server's settings, for `target = "stall"`.
    #[serde(default)]
    pub stall: Option<crate::stall::Config>,
    /// A built-in scenario's name, a scenario file's path, or a scenario inline.
    pub scenario: ScenarioRef,
    /// Load applied in every round, replacing the scenario's stages.
    #[serde(default)]
    pub load: LoadOverride,
    /// The full run.
    #[serde(default)]
    pub rounds: Rounds,
    /// The short run of `emrlab labs check` and the demo.
    #[serde(default = "Rounds::short")]
    pub short: Rounds,
    /// Knobs set once before the first round (both arms).
    #[serde(default)]
    pub setup: Knobs,
    pub baseline: Arm,
    #[serde(rename = "candidate")]
    pub candidates: Vec<Arm>,
    /// Knob changes during every round (an outage from 5 s to 20 s of each round).
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The metrics that decide, each with the direction a better arm moves it.
    pub decide: Vec<Decide>,
}

fn embedded() -> Vec<Backend> {
    vec![Backend::Embedded]
}

/// A backend an experiment's stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Embedded,
    Postgres,
    Redis,
}

/// What the experiment drives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The emrlab platform (the stack `emrlab up` runs, or `--url`).
    #[default]
    Platform,
    /// `emrlab serve stall`: a server of known behaviour, no knobs.
    Stall,
}

/// Where the scenario comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScenarioRef {
    Named(String),
    Inline(Box<toml::Table>),
}

/// A constant load for every round of an arm (each field optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadOverride {
    /// Closed model with this many VUs.
    #[serde(default)]
    pub vus: Option<u32>,
    /// Open model at this many iterations/s (`vus` is then the VU pool).
    #[serde(default)]
    pub rate: Option<f64>,
}

/// How many rounds each arm runs and how long each is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rounds {
    /// Measured rounds per arm.
    pub count: u32,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// A round per arm before the first measured one, discarded (caches, JIT of plans, pools).
    #[serde(with = "humantime_serde")]
    pub warmup: Duration,
}

impl Default for Rounds {
    fn default() -> Self {
        Self {
            count: 5,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(5),
        }
    }
}

impl Rounds {
    fn short() -> Self {
        Self {
            count: 3,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(3),
        }
    }
}

/// One arm: a name and the knobs that make it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    pub name: String,
    #[serde(default)]
    pub knobs: Knobs,
    /// Knobs set before this arm's knobs at each of its rounds, to undo what other arms left
    /// (flush a cache by switching it off first).
    #[serde(default)]
    pub reset: Knobs,
    /// This arm's own load (the coordinated-omission lab compares two models).
    #[serde(default)]
    pub load: Option<LoadOverride>,
    /// Backends this arm alone needs (`redis` for a Redis cache); skipped without them.
    #[serde(default)]
    pub requires: Vec<Backend>,
}

/// A knob change from `from` to `to` of every round, undone afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(with = "humantime_serde")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    pub to: Duration,
    pub knobs: Knobs,
}

/// A deciding metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    pub metric: Metric,
    /// The request name (`steps[].name`) it is about; every request when absent.
    #[serde(default)]
    pub request: Option<String>,
    /// For `metric = "rate"`: the Prometheus series whose sum, per second of the round, is the
    /// value; a series counts when its `name{labels}` contains every one of these strings.
    #[serde(default)]
    pub series: Vec<String>,
    /// Which way a better arm moves it.
    pub better: Direction,
}

/// What a deciding metric measures, per round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    P50,
    P95,
    P99,
    /// Requests per second.
    Throughput,
    /// Failed requests ÷ requests.
    ErrorRate,
    /// A server-side counter's increase per second (`series`).
    Rate,
    /// Authorizations whose used + scheduled units exceed the total, after the round
    /// (`GET /api/v1/admin/integrity`).
    IntegrityViolations,
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Lower,
    Higher,
}

impl Experiment {
    /// Parses and checks an experiment file; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> anyhow::Result<Self> {
        let experiment: Self = toml::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        experiment.check().map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        Ok(experiment)
    }

    fn check(&self) -> Result<(), String> {
        if self.candidates.is_empty() {
            return Err("at least one [[candidate]] is needed".into());
        }
        if self.decide.is_empty() {
            return Err("at least one [[decide]] metric is needed".into());
        }
        for rounds in [&self.rounds, &self.short] {
            if rounds.count == 0 || rounds.duration.is_zero() {
                return Err("rounds need a count and a duration above zero".into());
            }
        }
        for d in &self.decide {
            if d.metric == Metric::Rate && d.series.is_empty() {
                return Err("a `rate` metric needs `series`".into());
            }
        }
        let mut names: Vec<_> = self.arms().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err("arm names must differ".into());
        }
        for fault in &self.faults {
            if fault.to <= fault.from {
                return Err(format!(
                    "a fault ends ({:?}) before it starts ({:?})",
                    fault.to, fault.from
                ));
            }
        }
        Ok(())
    }

    /// The baseline, then the candidates.
    pub fn arms(&self) -> impl Iterator<Item = &Arm> {
        std::iter::once(&self.baseline).chain(&self.candidates)
    }

    /// Whether it needs PostgreSQL or Redis for every arm.
    pub fn needs(&self, backend: Backend) -> bool {
        self.backends.contains(&backend)
    }

    /// The scenario as the file names it, before any load override.
    pub fn scenario(&self) -> anyhow::Result<Scenario> {
        match &self.scenario {
            ScenarioRef::Named(name) => {
                let text = match crate::builtin::find(name) {
                    Some(text) => text.to_owned(),
                    None => std::fs::read_to_string(name).map_err(|e| {
                        anyhow::anyhow!("scenario `{name}` is neither built in nor a readable file: {e}")
                    })?,
                };
                Ok(Scenario::parse(&text, name)?)
            }
            ScenarioRef::Inline(table) => {
                let text = toml::to_string(table)?;
                Ok(Scenario::parse(&text, &format!("{} (inline scenario)", self.name))?)
            }
        }
    }
}

/// The scenario one round of an arm runs: the experiment's load, then the arm's, held constant
/// for `duration` (or the scenario's own stages, squeezed into it).
pub fn round_scenario(
    base: &Scenario,
    common: &LoadOverride,
    arm: Option<&LoadOverride>,
    duration: Duration,
) -> Scenario {
    let mut scenario = base.clone();
    scenario.rescale(duration);
    for load in std::iter::once(common).chain(arm) {
        let constant = |target: f64| vec![Stage { duration, target }];
        if let Some(rate) = load.rate {
            scenario.load.model = Model::Open;
            (scenario.load.start, scenario.load.stages) = (rate, constant(rate));
            scenario.load.max_vus = Some(load.vus.unwrap_or(scenario.load.max_vus.unwrap_or(1_000)));
        } else if let Some(vus) = load.vus {
            scenario.load.model = Model::Closed;
            scenario.load.max_vus = None;
            (scenario.load.start, scenario.load.stages) = (f64::from(vus), constant(f64::from(vus)));
        }
    }
    scenario
}
