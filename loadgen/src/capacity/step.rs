//! One capacity step: the scenario at one constant load for a warm-up and a measured part, the
//! warm-up left out of the summary; the SLO judged on the measured requests; the CPU of each
//! watched process sampled over exactly the measured part; the platform's signals from the
//! scrapes taken during it; and whether the generator itself was the limit.

use std::{
    sync::mpsc::{self, RecvTimeoutError},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{
    Options,
    cpu::{self, GENERATOR, Usage, Watch},
    signals::{self, Signal},
    slo::{Slo, TermVerdict},
};
use crate::{
    RunOptions, Scenario,
    experiment::{LoadOverride, round_scenario},
    plan::Plan,
    result::{Latency, RunResult},
    scenario::Model,
};

/// What one step measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// VUs (closed model) or iterations per second (open model).
    pub load: f64,
    /// This load's run number, from 1 (the search repeats its answer).
    pub run: u32,
    /// Whether every SLO term held and the generator was not the limit.
    pub ok: bool,
    pub slo: Vec<TermVerdict>,
    /// Why the generator, not the platform, limited this step; `null` when it did not.
    pub generator_limit: Option<String>,
    /// Requests per second over the measured part.
    pub throughput_rps: f64,
    /// Iterations per second over the measured part.
    pub iterations_per_s: f64,
    /// Every measured request's corrected latency.
    pub latency: Latency,
    pub dropped_iterations: u64,
    /// Saturation signals, highest pressure first.
    pub signals: Vec<Signal>,
    /// CPU of each watched process over the measured part, in cores.
    pub cpu: Vec<Usage>,
    /// The step as a load result file (docs/result-format.md): `emrlab report` and `compare`
    /// read it, and steps merge as any results do.
    pub result: RunResult,
}

impl Step {
    /// The saturated signal with the highest pressure, if any.
    pub fn saturated(&self) -> Option<&Signal> {
        self.signals.iter().find(|s| s.saturated())
    }
}

/// The constant-load variant of `base` a step runs.
pub fn scenario(base: &Scenario, model: Model, load: f64, length: Duration) -> Scenario {
    let over = match model {
        Model::Closed => LoadOverride {
            vus: Some(load.round().max(1.0) as u32),
            rate: None,
        },
        Model::Open => LoadOverride {
            vus: None,
            rate: Some(load),
        },
    };
    let mut scenario = round_scenario(base, &over, None, length);
    // The measured part is over when the stages end; waiting out iterations mid-think (the
    // clinical workflow allows 30 s) would spend a third of every step's time on nothing.
    scenario.load.graceful_stop = scenario.load.graceful_stop.min(GRACEFUL_STOP);
    scenario
}

/// The longest a step waits for its in-flight iterations after the stages.
const GRACEFUL_STOP: Duration = Duration::from_secs(5);

/// Runs one step at `load`.
pub fn run(
    base: &Scenario,
    target: &str,
    options: &Options,
    slo: &Slo,
    watch: &Watch,
    load: f64,
    run: u32,
) -> anyhow::Result<Step> {
    let scenario = scenario(base, options.model, load, options.warmup + options.measured);
    let mut plan = Plan::compile(scenario.clone(), target).map_err(|e| anyhow::anyhow!(e))?;
    plan.warmup = options.warmup;
    let (started_tx, started_rx) = mpsc::sync_channel(1);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (watch_copy, warmup, measured) = (watch.clone(), options.warmup, options.measured);
    // CPU over the measured part only: a sample when the warm-up ends and one when the
    // stages end (or the run, if it ends sooner).
    let sampler = std::thread::spawn(move || {
        let start = started_rx.recv().ok()?;
        let wait = |until: Instant| stop_rx.recv_timeout(until.saturating_duration_since(Instant::now()));
        if wait(start + warmup) != Err(RecvTimeoutError::Timeout) {
            return None;
        }
        let (from, first) = (Instant::now(), watch_copy.sample());
        let _ = wait(start + warmup + measured);
        let seconds = from.elapsed().as_secs_f64();
        Some(cpu::usage(&first, &watch_copy.sample(), seconds))
    });
    let run_options = RunOptions {
        workers: options.workers,
        progress: false,
        scrape: options.scrape.clone(),
        scrape_every: options.scrape_every,
        started: Some(started_tx),
    };
    let started_at = time::OffsetDateTime::now_utc();
    let outcome = crate::run(plan, &run_options).context("running a capacity step");
    let _ = stop_tx.send(());
    let usage = sampler.join().ok().flatten().unwrap_or_default();
    let outcome = outcome?;
    let result = RunResult::new(&scenario, target, &outcome, started_at);
    let span = outcome.measured(&scenario);
    let seconds = span.as_secs_f64();
    let verdicts = slo.judge(&outcome.summary, span);
    let generator_cores = options
        .workers
        .min(std::thread::available_parallelism().map_or(1, usize::from)) as f64;
    let mut all_signals = signals::cpu(&usage, generator_cores);
    all_signals.extend(signals::scraped(&outcome.scraped, warmup.as_secs_f64(), seconds));
    all_signals.sort_by(|a, b| b.pressure.total_cmp(&a.pressure));
    let generator = all_signals.iter().find(|s| s.resource == format!("cpu {GENERATOR}"));
    // A busy generator delays its own requests, so its latencies say nothing of the platform.
    // Dropped arrivals with the SLO met mean the VU pool, not the platform, capped the rate;
    // with the SLO broken they are the platform's slowness keeping every VU busy.
    let met = verdicts.iter().all(|v| v.ok);
    let generator_limit = match generator.filter(|s| s.saturated()) {
        Some(cpu) => Some(format!("the generator's own CPU was saturated ({})", cpu.shown)),
        None if met && outcome.summary.dropped > 0 => Some(format!(
            "{} iterations dropped with the SLO met: every VU of the pool was busy (raise the \
             scenario's max_vus)",
            outcome.summary.dropped
        )),
        None => None,
    };
    Ok(Step {
        load,
        run,
        ok: met && generator_limit.is_none(),
        slo: verdicts,
        generator_limit,
        throughput_rps: result.totals.requests_per_second,
        iterations_per_s: outcome.summary.iterations as f64 / seconds.max(1e-9),
        latency: result.all.corrected.clone(),
        dropped_iterations: outcome.summary.dropped,
        signals: all_signals,
        cpu: usage,
        result,
    })
}
