//! A virtual user: its connection, its variables, and how it runs one iteration of a flow,
//! checking, capturing and thinking as the steps say.

use std::{cell::RefCell, collections::BTreeMap, sync::Arc};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;
use tokio::time::Instant;

use crate::{
    client::Connection,
    plan::{Plan, PlanStep},
    stats::{Outcome, Recorder},
    template::{Vars, json_path},
};

/// Distinct reasons iterations were cut short, kept to this many so a broken run stays small.
const MAX_ABORT_REASONS: usize = 20;

/// Why iterations stopped early (a missing variable, an unreachable target), with counts.
pub type Aborts = BTreeMap<String, u64>;

/// One virtual user.
pub struct Vu {
    pub index: u64,
    pub(crate) vars: Vars,
    pub(crate) conn: Connection,
    pub(crate) rng: StdRng,
    set_up_at: Option<Instant>,
    socket: Option<crate::ws::Socket>,
    pub(crate) device: crate::device::Device,
}

impl Vu {
    /// VU `index` (global across workers), with its user from the pool.
    pub fn new(plan: &Plan, index: u64) -> Self {
        let mut vars = Vars {
            vu: index,
            ..Vars::default()
        };
        if let Some(users) = &plan.users {
            let n = users.first as u64 + index % u64::from(users.count.max(1));
            let name = users
                .pattern
                .replace("{n}", &format!("{n:0width$}", width = users.width));
            vars.values.insert("user.username".into(), Value::String(name));
            vars.values
                .insert("user.password".into(), Value::String(users.password.clone()));
        }
        Self {
            index,
            vars,
            conn: Connection::new(plan.target.addr.clone()),
            rng: StdRng::seed_from_u64(index),
            set_up_at: None,
            socket: None,
            device: crate::device::Device::default(),
        }
    }

    /// Runs one iteration that was meant to start at `intended` (its first request's corrected
    /// latency counts from then); whether it sent anything.
    pub async fn iteration(
        &mut self,
        plan: &Arc<Plan>,
        recorder: &RefCell<Recorder>,
        aborts: &RefCell<Aborts>,
        intended: Instant,
    ) -> bool {
        let sent_before = recorder.borrow().requests;
        let mut intended = Some(intended);
        // Each VU reruns at its own point in the last tenth of the period, so VUs set up together
        // do not all log in again at the same moment.
        let jitter = 0.9 + 0.1 * (self.index % 97) as f64 / 97.0;
        let rerun = plan
            .scenario
            .setup
            .rerun_after
            .is_some_and(|every| self.set_up_at.is_some_and(|at| at.elapsed() >= every.mul_f64(jitter)));
        if !plan.setup.is_empty() && (self.set_up_at.is_none() || rerun) {
            if let Err(reason) = self.run_steps(plan, &plan.setup, recorder, &mut intended).await {
                note_abort(aborts, reason);
                return recorder.borrow().requests > sent_before;
            }
            self.set_up_at = Some(Instant::now());
        }
        self.run_flow(plan, recorder, aborts, intended).await;
        recorder.borrow().requests > sent_before
    }

    /// Runs the setup steps now (before the run starts); false if they failed.
    pub async fn set_up(&mut self, plan: &Plan, recorder: &RefCell<Recorder>, aborts: &RefCell<Aborts>) -> bool {
        match self.run_steps(plan, &plan.setup, recorder, &mut None).await {
            Ok(()) => {
                self.set_up_at = Some(Instant::now());
                true
            }
            Err(reason) => {
                note_abort(aborts, reason);
                false
            }
        }
    }

    /// Runs the teardown steps (after the load); a failure is noted as an abort.
    pub async fn tear_down(&mut self, plan: &Plan, recorder: &RefCell<Recorder>, aborts: &RefCell<Aborts>) {
        if let Err(reason) = self.run_steps(plan, &plan.teardown, recorder, &mut None).await {
            note_abort(aborts, reason);
        }
    }

    async fn run_flow(
        &mut self,
        plan: &Plan,
        recorder: &RefCell<Recorder>,
        aborts: &RefCell<Aborts>,
        mut intended: Option<Instant>,
    ) {
        let flow = plan.flow_for(self.rng.random_range(0..plan.total_weight()));
        let result = self.run_steps(plan, &flow.steps, recorder, &mut intended).await;
        if let Err(reason) = result {
            note_abort(aborts, reason);
        }
        self.vars.iteration += 1;
        recorder.borrow_mut().iteration_done();
    }

    async fn run_steps(
        &mut self,
        plan: &Plan,
        steps: &[PlanStep],
        recorder: &RefCell<Recorder>,
        intended: &mut Option<Instant>,
    ) -> Result<(), String> {
        for step in steps {
            if step
                .every_nth_vu
                .is_some_and(|n| !self.index.is_multiple_of(u64::from(n)))
            {
                continue;
            }
            for _ in 0..step.repeat {
                if let Some(sync) = &step.sync {
                    self.sync_step(plan, step, sync, intended, recorder).await?;
                } else if step.ws.is_some() {
                    self.ws_step(plan, step, intended.take(), recorder).await?;
                } else if step.request.is_some() {
                    let outcome = self.request(plan, step, intended.take()).await?;
                    recorder.borrow_mut().record(outcome);
                    if outcome.status == 0 {
                        return Err(format!("{}: the target did not answer", step.name));
                    }
                }
                if let Some(think) = step.think {
                    let pause = think.sample(&mut self.rng);
                    tokio::time::sleep(pause).await;
                    // A pause is not latency: a request not sent yet (after a step that sends
                    // none) was meant to go that much later.
                    if let Some(at) = intended.as_mut() {
                        *at += pause;
                    }
                }
            }
        }
        Ok(())
    }

    async fn request(&mut self, plan: &Plan, step: &PlanStep, intended: Option<Instant>) -> Result<Outcome, String> {
        let Some((method, path)) = &step.request else {
            return Err("no request".into());
        };
        let context = |e: String| format!("{}: {e}", step.name);
        let uri = match &step.fixed_uri {
            Some(uri) => uri.clone(),
            None => {
                let path = path.render(&self.vars, &mut self.rng).map_err(context)?;
                path.parse::<http::Uri>()
                    .map_err(|e| context(format!("`{path}` is not a valid path: {e}")))?
            }
        };
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::HOST, plan.target.host.clone());
        for (name, value) in &step.headers {
            builder = builder.header(name, value.render(&self.vars, &mut self.rng).map_err(context)?);
        }
        let body = match &step.body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                let value = body.render(&self.vars, &mut self.rng).map_err(context)?;
                Bytes::from(serde_json::to_vec(&value).map_err(|e| context(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let request = builder.body(Full::new(body)).map_err(|e| context(e.to_string()))?;
        let sent = Instant::now();
        let timeout = plan.scenario.load.request_timeout;
        let response = tokio::time::timeout(timeout, self.conn.send(request, step.reads_body)).await;
        if response.is_err() {
            // The connection may still carry the late answer; start afresh next time.
            self.conn.reset();
        }
        let response = response.unwrap_or(Err(crate::client::SendError::TimedOut));
        let uncorrected = sent.elapsed();
        let corrected = intended.map_or(uncorrected, |i| i.elapsed());
        let (status, body) = match response {
            Ok((status, body)) => (status.as_u16(), body),
            Err(_) => (0, Bytes::new()),
        };
        let failed = status == 0
            || if step.check.status.is_empty() {
                status >= 400
            } else {
                !step.check.status.contains(&status)
            };
        let (passed, failed_checks) = self.check_and_capture(step, status, &body, uncorrected);
        Ok(Outcome {
            step: step.id,
            status,
            uncorrected,
            corrected,
            failed,
            checks_passed: passed,
            checks_failed: failed_checks,
        })
    }

    /// A WebSocket step: connect when needed, send, expect; recorded with status 101 when it
    /// worked, 0 (and the reason returned) when not.
    async fn ws_step(
        &mut self,
        plan: &Plan,
        step: &PlanStep,
        intended: Option<Instant>,
        recorder: &RefCell<Recorder>,
    ) -> Result<(), String> {
        let Some(ws) = &step.ws else {
            return Err("no ws step".into());
        };
        let context = |e: String| format!("{}: {e}", step.name);
        let path = ws.path.render(&self.vars, &mut self.rng).map_err(context)?;
        let message = ws
            .send
            .as_ref()
            .map(|t| t.render(&self.vars, &mut self.rng))
            .transpose()
            .map_err(context)?;
        let expected = ws
            .expect
            .as_ref()
            .map(|t| t.render(&self.vars, &mut self.rng))
            .transpose()
            .map_err(context)?;
        // Rendered only when a socket is to be opened: `Authorization = "Bearer ${token}"`.
        let headers = if self.socket.is_none() {
            step.headers
                .iter()
                .map(|(name, value)| Ok((name.clone(), value.render(&self.vars, &mut self.rng)?)))
                .collect::<Result<Vec<_>, String>>()
                .map_err(context)?
        } else {
            Vec::new()
        };
        let started = Instant::now();
        let result = async {
            if self.socket.is_none() {
                let host = plan.target.host.to_str().map_err(|e| e.to_string())?;
                self.socket = Some(crate::ws::Socket::connect(&plan.target.addr, host, &path, &headers).await?);
            }
            let socket = self.socket.as_mut().ok_or("no socket")?;
            if let Some(message) = message {
                socket.send(message).await?;
            }
            if let Some(expected) = &expected {
                socket.expect(expected, ws.within).await?;
            }
            if let Some(period) = ws.listen {
                socket
                    .listen(period, |latency| {
                        recorder.borrow_mut().record(Outcome {
                            step: step.id,
                            status: 101,
                            uncorrected: latency,
                            corrected: latency,
                            failed: false,
                            checks_passed: 0,
                            checks_failed: 0,
                        });
                    })
                    .await?;
            }
            Ok::<_, String>(())
        }
        .await;
        let uncorrected = started.elapsed();
        let corrected = intended.map_or(uncorrected, |i| i.elapsed());
        let ok = result.is_ok();
        // A listening step's samples are its events' latencies, recorded as they arrived; the
        // listening period itself is no latency.
        if ok && ws.listen.is_some() {
            return Ok(());
        }
        recorder.borrow_mut().record(Outcome {
            step: step.id,
            status: if ok { 101 } else { 0 },
            uncorrected,
            corrected,
            failed: !ok,
            checks_passed: u32::from(ok && ws.expect.is_some()),
            checks_failed: u32::from(!ok && ws.expect.is_some()),
        });
        if result.is_err() {
            self.socket = None;
        }
        result.map_err(context)
    }

    /// Runs the step's checks and captures; returns (passed, failed) check counts.
    fn check_and_capture(
        &mut self,
        step: &PlanStep,
        status: u16,
        body: &[u8],
        latency: std::time::Duration,
    ) -> (u32, u32) {
        let check = &step.check;
        let mut results = Vec::new();
        if !check.status.is_empty() {
            results.push(check.status.contains(&status));
        }
        if let Some(max) = check.max_latency {
            results.push(latency <= max);
        }
        if step.reads_body {
            let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            results.extend(check.has.iter().map(|path| json_path(&json, path).is_some()));
            results.extend(
                check
                    .equals
                    .iter()
                    .map(|(path, want)| json_path(&json, path) == serde_json::to_value(want).ok()),
            );
            for (var, path) in &step.captures {
                match json_path(&json, path) {
                    Some(value) => {
                        self.vars.values.insert(var.clone(), value);
                    }
                    // A stale value from an earlier iteration must not be sent as this one's:
                    // a step that needs it now ends the iteration, naming the variable.
                    None => {
                        self.vars.values.remove(var);
                        results.push(false);
                    }
                }
            }
        }
        let passed = results.iter().filter(|ok| **ok).count() as u32;
        (passed, results.len() as u32 - passed)
    }
}

fn note_abort(aborts: &RefCell<Aborts>, reason: String) {
    let mut aborts = aborts.borrow_mut();
    if aborts.len() < MAX_ABORT_REASONS || aborts.contains_key(&reason) {
        *aborts.entry(reason).or_default() += 1;
    }
}
