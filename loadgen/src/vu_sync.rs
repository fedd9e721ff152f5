//! How a VU runs a `sync` step: the device logic is in [`crate::device`]; this sends its
//! requests on the VU's connection and records them like any other request.

use std::{cell::RefCell, time::Duration};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use rand::Rng;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    device::{SyncAction, made_conflict},
    plan::{Plan, PlanStep, SyncStep},
    stats::{Outcome, Recorder},
    vu::Vu,
};

/// An answer: status (0: none), JSON body (null if none or not JSON), and the latencies.
struct Answer {
    status: u16,
    json: Value,
    uncorrected: Duration,
    corrected: Duration,
}

impl Vu {
    /// Runs one sync action; an action that cannot go on (edit before init, a failed init) ends
    /// the iteration like any failed step.
    pub(crate) async fn sync_step(
        &mut self,
        plan: &Plan,
        step: &PlanStep,
        sync: &SyncStep,
        intended: &mut Option<Instant>,
        recorder: &RefCell<Recorder>,
    ) -> Result<(), String> {
        let context = |e: String| format!("{}: {e}", step.name);
        match sync.action {
            SyncAction::Edit => {
                if !self.device.registered() {
                    return Err(context(
                        "edit before the device registered (an init step must come first)".into(),
                    ));
                }
                let count = self.rng.random_range(sync.changes.clone());
                self.device.edit(count, &sync.fields, sync.overlap, &mut self.rng);
                Ok(())
            }
            SyncAction::Init => {
                if self.device.registered() && !sync.again {
                    return Ok(());
                }
                let id = sync.device.render(&self.vars, &mut self.rng).map_err(context)?;
                let ward = sync
                    .ward
                    .as_ref()
                    .map(|w| w.render(&self.vars, &mut self.rng))
                    .transpose()
                    .map_err(context)?;
                let body = json!({"device_id": id, "ward_id": ward});
                let answer = self
                    .send(
                        plan,
                        step,
                        Method::POST,
                        "/api/v1/sync/init",
                        Some(body),
                        intended.take(),
                    )
                    .await?;
                record(recorder, step.id, &answer);
                match answer.status {
                    200 => self
                        .device
                        .take_snapshot(id, &answer.json, sync.tasks, self.index)
                        .map_err(context),
                    0 => Err(context("the target did not answer".into())),
                    status => Err(context(format!("init answered {status}"))),
                }
            }
            SyncAction::Push => {
                if !self.device.registered() {
                    return Err(context("push before the device registered".into()));
                }
                if self.device.pending() == 0 {
                    return Ok(());
                }
                let body = self.device.push_body();
                let answer = self
                    .send(
                        plan,
                        step,
                        Method::POST,
                        "/api/v1/sync/changes",
                        Some(body),
                        intended.take(),
                    )
                    .await?;
                let id = if answer.status == 200 && made_conflict(&answer.json) {
                    sync.conflicted_id
                } else {
                    step.id
                };
                record(recorder, id, &answer);
                self.device.pushed(answer.status, &answer.json);
                Ok(())
            }
            SyncAction::State => {
                if !self.device.registered() {
                    return Err(context("state before the device registered".into()));
                }
                let path = format!("/api/v1/sync/state?since={}", self.device.clock);
                let answer = self.send(plan, step, Method::GET, &path, None, intended.take()).await?;
                record(recorder, step.id, &answer);
                if answer.status == 200 {
                    self.device.took_state(&answer.json);
                }
                Ok(())
            }
        }
    }

    async fn send(
        &mut self,
        plan: &Plan,
        step: &PlanStep,
        method: Method,
        path: &str,
        body: Option<Value>,
        intended: Option<Instant>,
    ) -> Result<Answer, String> {
        let context = |e: String| format!("{}: {e}", step.name);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, plan.target.host.clone());
        for (name, value) in &step.headers {
            builder = builder.header(name, value.render(&self.vars, &mut self.rng).map_err(context)?);
        }
        let bytes = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&body).map_err(|e| context(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let request = builder.body(Full::new(bytes)).map_err(|e| context(e.to_string()))?;
        let sent = Instant::now();
        let response = tokio::time::timeout(plan.scenario.load.request_timeout, self.conn.send(request, true)).await;
        if response.is_err() {
            self.conn.reset();
        }
        let uncorrected = sent.elapsed();
        let (status, json) = match response {
            Ok(Ok((status, body))) => (status.as_u16(), serde_json::from_slice(&body).unwrap_or(Value::Null)),
            _ => (0, Value::Null),
        };
        Ok(Answer {
            status,
            json,
            uncorrected,
            corrected: intended.map_or(uncorrected, |i| i.elapsed()),
        })
    }
}

fn record(recorder: &RefCell<Recorder>, step: usize, answer: &Answer) {
    recorder.borrow_mut().record(Outcome {
        step,
        status: answer.status,
        uncorrected: answer.uncorrected,
        corrected: answer.corrected,
        failed: answer.status == 0 || answer.status >= 400,
        checks_passed: 0,
        checks_failed: 0,
    });
}
