//! Scenario files: what to send, how hard, and what counts as passing. TOML, so users copy a
//! built-in one and edit it. Parsing reports the line and the field of a mistake.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

/// How load is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// N virtual users, each looping its flow with think time (k6 ramping-vus).
    Closed,
    /// A target arrival rate of iterations per second, independent of response time
    /// (k6 ramping-arrival-rate, wrk2); latency counts from each iteration's intended start.
    Open,
}

/// One stage: move the target (VUs, or iterations/s) linearly to `target` over `duration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub target: f64,
}

/// The `[load]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    pub model: Model,
    /// The target before the first stage (VUs or iterations/s).
    #[serde(default)]
    pub start: f64,
    pub stages: Vec<Stage>,
    /// Open model: the most VUs that may be busy at once; an arrival finding none free is dropped.
    #[serde(default)]
    pub max_vus: Option<u32>,
    /// Open model: arrivals that find every VU busy wait for one, up to this many, and start late
    /// (their latency counts from the intended time); beyond it they are dropped and counted.
    #[serde(default = "default_max_waiting")]
    pub max_waiting: u32,
    /// A request without an answer by then fails (status 0), as k6's 60 s default.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long in-flight iterations may finish after the last stage.
    #[serde(default = "default_graceful_stop", with = "humantime_serde")]
    pub graceful_stop: Duration,
}

fn default_max_waiting() -> u32 {
    10_000
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_graceful_stop() -> Duration {
    Duration::from_secs(10)
}

/// `[users]`: each VU logs in as a different practitioner: VU i is `pattern` with n = first + i mod count.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPool {
    /// `{n}` is replaced by the number, zero-padded to `width` digits (`nurse.{n}` → `nurse.0001`).
    pub pattern: String,
    pub count: u32,
    #[serde(default = "one")]
    pub first: u32,
    #[serde(default = "four")]
    pub width: usize,
    pub password: String,
}

fn one() -> u32 {
    1
}
fn four() -> usize {
    4
}
fn weight_one() -> u32 {
    1
}
fn repeat_one() -> u32 {
    1
}

/// What a response must show; a failed check is counted, not fatal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Expected statuses; when given, other statuses count as failed requests too (so a 409 an
    /// overbooking test expects is not an error).
    #[serde(default)]
    pub status: Vec<u16>,
    /// JSON paths that must be present (`data.verified`, `items[0].id`).
    #[serde(default)]
    pub has: Vec<String>,
    /// JSON paths and the value they must equal.
    #[serde(default)]
    pub equals: BTreeMap<String, toml::Value>,
    /// The request must answer within this.
    #[serde(default, with = "humantime_serde")]
    pub max_latency: Option<Duration>,
}

/// One request (or pause) of a flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The request name in reports and thresholds (`step:NAME`).
    pub name: String,
    /// `"METHOD /path?query"`, with `${variables}`; absent for a pure think step.
    #[serde(default)]
    pub request: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body; strings in it are templates. A string that is exactly one `${var}` takes that
    /// variable's JSON value (a number stays a number).
    #[serde(default)]
    pub json: Option<toml::Value>,
    #[serde(default)]
    pub check: Check,
    /// Variables to capture from the JSON response: name = path (`items[*].id` captures a list).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// A WebSocket path (`/ws?token=${token}`): the VU opens it if it has none open yet.
    #[serde(default)]
    pub ws: Option<String>,
    /// WebSocket: a text message to send (a template).
    #[serde(default)]
    pub send: Option<String>,
    /// WebSocket: the next message containing this text must arrive within `within`.
    #[serde(default)]
    pub expect: Option<String>,
    /// WebSocket: the deadline for `expect` (default 5 s).
    #[serde(default, with = "humantime_serde")]
    pub within: Option<Duration>,
    /// A simulated device's sync step (`crate::device`): `{ action = "init" | "edit" | "push" |
    /// "state", … }`; its requests carry the step's headers.
    #[serde(default)]
    pub sync: Option<crate::device::SyncSpec>,
    /// WebSocket: read event messages for this long, recording each one's latency as its
    /// arrival minus its `time` field (the subscriber's view of mutation-to-event latency; the
    /// clocks must agree, as on one machine).
    #[serde(default, with = "humantime_serde")]
    pub listen: Option<Duration>,
    /// Pause after the step: `"1s"`, `"1s..3s"` (uniform) or `"exp(2s)"` (exponential, that mean).
    #[serde(default)]
    pub think: Option<String>,
    /// Run the step this many times in a row (the seed journey creates 10 tasks).
    #[serde(default = "repeat_one")]
    pub repeat: u32,
    /// Only every Nth VU runs the step (the seed journey syncs on every 5th VU).
    #[serde(default)]
    pub every_nth_vu: Option<u32>,
}

impl Step {
    /// A step with only a name (every other field at its default): how a result file written
    /// outside the HTTP engine (`emrlab db bench`) lists its request names in the scenario, and
    /// the start of an ad-hoc run's one step.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            request: None,
            headers: BTreeMap::new(),
            json: None,
            check: Check::default(),
            capture: BTreeMap::new(),
            ws: None,
            send: None,
            expect: None,
            within: None,
            sync: None,
            listen: None,
            think: None,
            repeat: 1,
            every_nth_vu: None,
        }
    }
}

/// A weighted sequence of steps; each iteration of a VU runs one flow picked by weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub name: String,
    #[serde(default = "weight_one")]
    pub weight: u32,
    pub steps: Vec<Step>,
}

pub use crate::phases::{Setup, Teardown};

/// A whole scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub load: LoadSpec,
    /// Metric → conditions, in k6's spirit: `http_req_duration = ["p95<500ms"]`,
    /// `"step:create_task" = ["p95<1s"]`, `http_req_failed = ["rate<0.01"]`, `checks = ["rate>0.99"]`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub users: Option<UserPool>,
    #[serde(default)]
    pub setup: Setup,
    pub flows: Vec<Flow>,
    #[serde(default)]
    pub teardown: Teardown,
}

/// A scenario that cannot run, with where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{source_name}: {message}")]
    Parse { source_name: String, message: String },
    #[error("{source_name}: {field}: {message}")]
    Invalid {
        source_name: String,
        field: String,
        message: String,
    },
}

impl Scenario {
    /// Parses and checks a scenario; `source_name` (a file name) prefixes every error.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            source_name: source_name.to_owned(),
            message: describe_toml_error(text, &e),
        })?;
        scenario.validate().map_err(|(field, message)| ScenarioError::Invalid {
            source_name: source_name.to_owned(),
            field,
            message,
        })?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: String, message: &str| Err((field, message.to_owned()));
        if self.load.stages.is_empty() {
            return bad("load.stages".into(), "at least one stage is needed");
        }
        for (i, stage) in self.load.stages.iter().enumerate() {
            if !(stage.target.is_finite() && stage.target >= 0.0) {
                return bad(format!("load.stages[{i}].target"), "must be a number ≥ 0");
            }
        }
        if self.flows.is_empty() || self.flows.iter().all(|f| f.weight == 0) {
            return bad("flows".into(), "at least one flow with a weight above 0 is needed");
        }
        let steps = self
            .setup
            .steps
            .iter()
            .map(|s| ("setup.steps", s))
            .chain(
                self.flows
                    .iter()
                    .flat_map(|f| f.steps.iter().map(|s| ("flows.steps", s))),
            )
            .chain(self.teardown.steps.iter().map(|s| ("teardown.steps", s)));
        for (section, step) in steps {
            if let Some(request) = &step.request {
                crate::template::parse_request_line(request)
                    .map_err(|m| (format!("{section}[{}].request", step.name), m))?;
            }
            if let Some(think) = &step.think {
                crate::think::Think::parse(think).map_err(|m| (format!("{section}[{}].think", step.name), m))?;
            }
            let at = format!("{section}[{}]", step.name);
            if step.request.is_some() && step.ws.is_some() {
                return bad(at, "a step is either a request or a WebSocket step");
            }
            if (step.send.is_some() || step.expect.is_some() || step.listen.is_some()) && step.ws.is_none() {
                return bad(at, "send, expect and listen need ws = \"/path\"");
            }
            if step.expect.is_some() && step.listen.is_some() {
                return bad(at, "a WebSocket step either expects one message or listens for a while");
            }
            if step.sync.is_some() && (step.request.is_some() || step.ws.is_some()) {
                return bad(at, "a sync step sends its own requests: no request or ws");
            }
            if let Some(changes) = step.sync.as_ref().and_then(|s| s.changes.as_deref()) {
                crate::device::parse_count(changes).map_err(|m| (format!("{at}.sync.changes"), m))?;
            }
            if step.request.is_none() && step.ws.is_none() && step.sync.is_none() && step.think.is_none() {
                return bad(at, "a step needs a request, a ws path, a sync action or a think pause");
            }
        }
        for (metric, conditions) in &self.thresholds {
            for condition in conditions {
                crate::thresholds::Threshold::parse(metric, condition)
                    .map_err(|m| (format!("thresholds.{metric}"), m))?;
            }
        }
        Ok(())
    }

    /// The highest target any stage reaches (VUs in the closed model).
    pub fn peak(&self) -> f64 {
        self.load
            .stages
            .iter()
            .map(|s| s.target)
            .fold(self.load.start, f64::max)
    }

    /// The whole run's length (stages only).
    pub fn duration(&self) -> Duration {
        self.load.stages.iter().map(|s| s.duration).sum()
    }

    /// Stretches or shrinks every stage so the run lasts `total` (`--duration`).
    pub fn rescale(&mut self, total: Duration) {
        let current = self.duration().as_secs_f64();
        if current > 0.0 {
            let factor = total.as_secs_f64() / current;
            for stage in &mut self.load.stages {
                stage.duration = stage.duration.mul_f64(factor);
            }
        }
    }

    /// Multiplies every target (VUs or rate) and the VU pool (`--scale`).
    pub fn scale(&mut self, factor: f64) {
        self.load.start *= factor;
        for stage in &mut self.load.stages {
            stage.target *= factor;
        }
        if let Some(max) = &mut self.load.max_vus {
            *max = ((*max as f64) * factor).ceil() as u32;
        }
    }
}

/// toml's message already names the line, column and field; keep it and show the line itself.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().to_owned();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let content = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line}: {message} (at `{content}`)")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;
