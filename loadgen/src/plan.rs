//! A scenario compiled for running: templates parsed once, request names numbered, the target's
//! address resolved. Everything a VU reads per request is here, shared and immutable.

use std::{collections::BTreeMap, sync::Arc};

use http::{HeaderName, Method};

use crate::{
    scenario::{Check, Scenario, UserPool},
    template::{JsonTemplate, Template, parse_request_line},
    think::Think,
    thresholds::Threshold,
};

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: Arc<str>,
    /// The `Host` header.
    pub host: http::HeaderValue,
    /// The base URL as given.
    pub base_url: String,
}

impl Target {
    /// Parses a base URL such as `http://127.0.0.1:8080` (plain HTTP only).
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("`{url}`: only http:// targets are supported"));
        }
        let authority = uri.authority().ok_or_else(|| format!("`{url}` has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = format!("{}:{port}", authority.host());
        Ok(Self {
            addr: addr.into(),
            host: http::HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
            base_url: url.trim_end_matches('/').to_owned(),
        })
    }
}

/// A step ready to run.
#[derive(Debug)]
pub struct PlanStep {
    /// Index of its request name in [`Plan::step_names`].
    pub id: usize,
    pub name: String,
    pub request: Option<(Method, Template)>,
    /// The request's URI, parsed once, when its path has no variables (the hot path of a plain
    /// GET then allocates nothing for it).
    pub fixed_uri: Option<http::Uri>,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<JsonTemplate>,
    pub check: Check,
    pub captures: Vec<(String, String)>,
    /// Whether checks or captures read the body (otherwise it is drained unread).
    pub reads_body: bool,
    /// A WebSocket step: the path, the message to send, the text to expect and its deadline.
    pub ws: Option<WsStep>,
    pub sync: Option<SyncStep>,
    pub think: Option<Think>,
    pub repeat: u32,
    pub every_nth_vu: Option<u32>,
}

/// What a WebSocket step does.
#[derive(Debug)]
pub struct WsStep {
    pub path: Template,
    pub send: Option<Template>,
    /// A template, so a VU can wait for the event of the task it just created (`${task_id}`).
    pub expect: Option<Template>,
    pub within: std::time::Duration,
    /// Read events for this long, recording each one's latency.
    pub listen: Option<std::time::Duration>,
}

/// What a sync step does, its templates parsed.
#[derive(Debug)]
pub struct SyncStep {
    pub action: crate::device::SyncAction,
    pub device: Template,
    pub ward: Option<Template>,
    pub changes: std::ops::RangeInclusive<u32>,
    pub tasks: u32,
    pub overlap: f64,
    pub fields: Vec<crate::device::EditField>,
    pub again: bool,
    /// The request name a push that put a task in conflict is recorded under (`NAME conflicted`),
    /// so the conflict rate and those syncs' latency stand apart.
    pub conflicted_id: usize,
}

/// A weighted flow.
#[derive(Debug)]
pub struct PlanFlow {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<PlanStep>,
}

/// A compiled scenario.
#[derive(Debug)]
pub struct Plan {
    pub scenario: Scenario,
    pub target: Target,
    pub setup: Vec<PlanStep>,
    pub flows: Vec<PlanFlow>,
    pub teardown: Vec<PlanStep>,
    pub step_names: Vec<String>,
    pub thresholds: Vec<Threshold>,
    pub users: Option<UserPool>,
    /// The first part of the run, whose requests the summary leaves out (a capacity step's
    /// warm-up); the timeline keeps every second. Zero unless the caller sets it.
    pub warmup: std::time::Duration,
}

impl Plan {
    /// Compiles a (validated) scenario against a base URL.
    pub fn compile(scenario: Scenario, base_url: &str) -> Result<Self, String> {
        let target = Target::parse(base_url)?;
        let mut names: Vec<String> = Vec::new();
        let mut compile = |step: &crate::scenario::Step| -> Result<PlanStep, String> {
            let id = names.iter().position(|n| n == &step.name).unwrap_or_else(|| {
                names.push(step.name.clone());
                names.len() - 1
            });
            let context = |e: String| format!("step {}: {e}", step.name);
            let sync = match &step.sync {
                Some(spec) => {
                    // Only a push can meet a conflict; other actions never record under this name.
                    let conflicted_id = if spec.action == crate::device::SyncAction::Push {
                        let conflicted = format!("{} conflicted", step.name);
                        names.iter().position(|n| *n == conflicted).unwrap_or_else(|| {
                            names.push(conflicted);
                            names.len() - 1
                        })
                    } else {
                        id
                    };
                    use crate::device::EditField;
                    Some(SyncStep {
                        action: spec.action,
                        device: Template::parse(spec.device.as_deref().unwrap_or("device-${vu}")).map_err(context)?,
                        ward: spec.ward.as_deref().map(Template::parse).transpose().map_err(context)?,
                        changes: crate::device::parse_count(spec.changes.as_deref().unwrap_or("1")).map_err(context)?,
                        tasks: spec.tasks.unwrap_or(10),
                        overlap: spec.overlap.unwrap_or(0.0),
                        fields: if spec.fields.is_empty() {
                            vec![
                                EditField::Title,
                                EditField::Description,
                                EditField::Priority,
                                EditField::Note,
                            ]
                        } else {
                            spec.fields.clone()
                        },
                        again: spec.again,
                        conflicted_id,
                    })
                }
                None => None,
            };
            let headers = step
                .headers
                .iter()
                .map(|(k, v)| {
                    let name =
                        HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("`{k}` is not a header name"))?;
                    Ok((name, Template::parse(v)?))
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(context)?;
            let request = step
                .request
                .as_deref()
                .map(parse_request_line)
                .transpose()
                .map_err(context)?;
            let fixed_uri = request
                .as_ref()
                .and_then(|(_, path)| path.literal())
                .and_then(|p| p.parse().ok());
            Ok(PlanStep {
                id,
                fixed_uri,
                name: step.name.clone(),
                request,
                headers,
                body: step
                    .json
                    .as_ref()
                    .map(JsonTemplate::compile)
                    .transpose()
                    .map_err(context)?,
                ws: step
                    .ws
                    .as_deref()
                    .map(|path| {
                        Ok::<_, String>(WsStep {
                            path: Template::parse(path)?,
                            send: step.send.as_deref().map(Template::parse).transpose()?,
                            expect: step.expect.as_deref().map(Template::parse).transpose()?,
                            within: step.within.unwrap_or(std::time::Duration::from_secs(5)),
                            listen: step.listen,
                        })
                    })
                    .transpose()
                    .map_err(context)?,
                sync,
                reads_body: !step.capture.is_empty() || !step.check.has.is_empty() || !step.check.equals.is_empty(),
                check: step.check.clone(),
                captures: step
                    .capture
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
                think: step.think.as_deref().map(Think::parse).transpose().map_err(context)?,
                repeat: step.repeat.max(1),
                every_nth_vu: step.every_nth_vu.filter(|n| *n > 1),
            })
        };
        let setup = scenario
            .setup
            .steps
            .iter()
            .map(&mut compile)
            .collect::<Result<Vec<_>, _>>()?;
        let flows = scenario
            .flows
            .iter()
            .map(|f| {
                Ok(PlanFlow {
                    name: f.name.clone(),
                    weight: f.weight,
                    steps: f.steps.iter().map(&mut compile).collect::<Result<_, String>>()?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let teardown = scenario
            .teardown
            .steps
            .iter()
            .map(&mut compile)
            .collect::<Result<Vec<_>, _>>()?;
        let thresholds = scenario
            .thresholds
            .iter()
            .flat_map(|(metric, exprs)| exprs.iter().map(move |e| Threshold::parse(metric, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            users: scenario.users.clone(),
            scenario,
            target,
            setup,
            flows,
            teardown,
            step_names: names,
            thresholds,
            warmup: std::time::Duration::ZERO,
        })
    }

    /// The flow for a draw in `0..total_weight()`.
    pub fn flow_for(&self, mut draw: u32) -> &PlanFlow {
        for flow in &self.flows {
            if draw < flow.weight {
                return flow;
            }
            draw -= flow.weight;
        }
        &self.flows[0]
    }

    /// The sum of flow weights.
    pub fn total_weight(&self) -> u32 {
        self.flows.iter().map(|f| f.weight).sum::<u32>().max(1)
    }
}
