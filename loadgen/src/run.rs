//! The coordinator: starts the workers on their own threads, follows their per-second reports
//! (progress, timeline), scrapes the target's metrics, then merges the workers' summaries and
//! judges the thresholds.

use std::{
    sync::{Arc, Barrier, OnceLock, mpsc},
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use crate::{
    plan::Plan,
    progress::Progress,
    scrape::Scraper,
    stats::{Second, Summary, percentile_ms},
    thresholds::Verdict,
    vu::Aborts,
    worker::{self, StartLine, Tick},
};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads (default: one per core).
    pub workers: usize,
    /// Show live progress.
    pub progress: bool,
    /// Prometheus endpoints to scrape while running.
    pub scrape: Vec<String>,
    pub scrape_every: Duration,
    /// Told the instant the stages' clock starts (after any `before_start` setup), so that
    /// something can be timed against the run (an experiment's faults).
    pub started: Option<mpsc::SyncSender<Instant>>,
}

/// A finished run.
#[derive(Clone)]
pub struct Outcome {
    pub summary: Summary,
    pub elapsed: Duration,
    pub verdicts: Vec<Verdict>,
    pub aborts: Aborts,
    pub scraped: Vec<crate::scrape::Scrape>,
    pub workers: usize,
    /// The plan's warm-up, left out of the summary.
    pub warmup: Duration,
}

impl Outcome {
    /// Whether every threshold held.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.ok)
    }

    /// The stages' time the summary covers: the scenario's length (or less, if the run ended
    /// early) after the warm-up.
    pub fn measured(&self, scenario: &crate::Scenario) -> Duration {
        scenario.duration().min(self.elapsed).saturating_sub(self.warmup)
    }
}

/// Runs a plan to the end (blocking the calling thread).
pub fn run(plan: Plan, options: &RunOptions) -> std::io::Result<Outcome> {
    let plan = Arc::new(plan);
    let workers = options.workers.max(1);
    let (tx, rx) = mpsc::channel::<Tick>();
    let line = Arc::new(StartLine {
        ready: Barrier::new(workers + 1),
        go: Barrier::new(workers + 1),
        start: OnceLock::new(),
    });
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let (plan, tx, line) = (plan.clone(), tx.clone(), line.clone());
            std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn(move || worker::run(plan, i as u64, workers as u64, line, tx))
        })
        .collect::<Result<_, _>>()?;
    drop(tx);
    if plan.scenario.setup.before_start && options.progress {
        eprintln!(
            "setting up {} VUs before the start…",
            plan.scenario
                .peak()
                .max(plan.scenario.load.max_vus.map_or(0.0, f64::from))
        );
    }
    line.ready.wait();
    let start = Instant::now();
    let _ = line.start.set(start);
    if let Some(started) = &options.started {
        let _ = started.try_send(start);
    }
    line.go.wait();
    let scraper = Scraper::start(options.scrape.clone(), options.scrape_every);
    let mut progress = Progress::new(options.progress, plan.scenario.duration());
    let mut timeline: Vec<(Second, Histogram<u64>, usize)> = Vec::new();
    // Each worker reports every second; a second is complete when all have reported it.
    while let Ok(tick) = rx.recv() {
        let t = tick.second.t as usize;
        if timeline.len() <= t {
            timeline.resize_with(t + 1, || {
                (
                    Second {
                        t: 0,
                        ..Second::default()
                    },
                    Histogram::new(3).unwrap_or_else(|_| unreachable!()),
                    0,
                )
            });
        }
        let (second, histogram, reported) = &mut timeline[t];
        second.t = t as u64;
        add(second, &tick.second);
        let _ = histogram.add(&tick.histogram);
        *reported += 1;
        if *reported == workers {
            progress.second(second, histogram, start.elapsed());
        }
    }
    let elapsed = start.elapsed();
    let mut outputs = Vec::with_capacity(workers);
    for handle in handles {
        outputs.push(
            handle
                .join()
                .map_err(|_| std::io::Error::other("a load worker panicked"))??,
        );
    }
    progress.finish();
    let mut parts = outputs.into_iter();
    let first = parts.next().ok_or_else(|| std::io::Error::other("no workers ran"))?;
    let (mut summary, mut aborts) = (first.summary, first.aborts);
    for part in parts {
        summary.merge(&part.summary);
        for (reason, n) in part.aborts {
            *aborts.entry(reason).or_default() += n;
        }
    }
    if !plan.teardown.is_empty() {
        let (ended, ended_aborts) = tear_down(&plan)?;
        summary.merge(&ended);
        for (reason, n) in ended_aborts {
            *aborts.entry(reason).or_default() += n;
        }
    }
    summary.timeline = timeline
        .into_iter()
        .map(|(mut second, histogram, _)| {
            (second.p50_ms, second.p95_ms, second.p99_ms) = (
                percentile_ms(&histogram, 50.0),
                percentile_ms(&histogram, 95.0),
                percentile_ms(&histogram, 99.0),
            );
            second
        })
        .collect();
    let mut outcome = Outcome {
        summary,
        elapsed,
        verdicts: Vec::new(),
        aborts,
        scraped: scraper.finish(),
        workers,
        warmup: plan.warmup,
    };
    let measured = outcome.measured(&plan.scenario);
    outcome.verdicts = plan
        .thresholds
        .iter()
        .map(|t| t.evaluate(&outcome.summary, measured))
        .collect();
    Ok(outcome)
}

/// Runs the scenario's teardown steps once, as a VU of their own, on a runtime of their own: the
/// workers (and their runtimes) are gone by now.
fn tear_down(plan: &Plan) -> std::io::Result<(Summary, Aborts)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let recorder = std::cell::RefCell::new(crate::stats::Recorder::new(&plan.step_names));
    let aborts = std::cell::RefCell::new(Aborts::new());
    tokio::task::LocalSet::new().block_on(&runtime, async {
        let mut vu = crate::vu::Vu::new(plan, 0);
        vu.tear_down(plan, &recorder, &aborts).await;
    });
    Ok((recorder.into_inner().into_summary(), aborts.into_inner()))
}

fn add(into: &mut Second, from: &Second) {
    into.requests += from.requests;
    into.failed += from.failed;
    into.iterations += from.iterations;
    into.dropped += from.dropped;
    into.vus += from.vus;
    if into.steps.len() < from.steps.len() {
        into.steps.resize(from.steps.len(), 0);
    }
    for (total, n) in into.steps.iter_mut().zip(&from.steps) {
        *total += n;
    }
}
