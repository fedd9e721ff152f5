//! Runs an experiment against a target: a discarded warm-up round per arm, then measured rounds
//! interleaved (A B A B …), knobs flipped through the admin API before each, faults scheduled
//! inside each, the deciding probes read around each; the knobs are put back at the end.

use std::{
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::Context;

use super::{
    Arm, Backend, Experiment, Fault, Knobs, Metric, Target,
    admin::{self, Admin},
    decide,
    outcome::{ArmRounds, ExperimentResult},
    round_scenario,
};
use crate::{RunOptions, plan::Plan, result::RunResult, run::Outcome};

/// How to run an experiment.
pub struct Options {
    /// The short rounds of `emrlab labs check` and the demo.
    pub short: bool,
    /// Backends the target has; arms requiring others are skipped.
    pub available: Vec<Backend>,
    /// Engine threads.
    pub workers: usize,
    /// Prometheus endpoints to scrape during each round.
    pub scrape: Vec<String>,
    /// The operator's credentials on the target.
    pub operator: (String, String),
}

/// One line per round and per step of the run, for the terminal.
pub type Log<'a> = &'a mut dyn FnMut(&str);

/// Runs `experiment` against the target at `base`.
pub fn run(experiment: &Experiment, base: &str, options: &Options, log: Log) -> anyhow::Result<ExperimentResult> {
    let started_at = time::OffsetDateTime::now_utc();
    let scenario = experiment.scenario()?;
    let rounds = if options.short {
        &experiment.short
    } else {
        &experiment.rounds
    };
    let mut admin = match experiment.target {
        Target::Platform => Some(Admin::connect(base, &options.operator.0, &options.operator.1)?),
        Target::Stall => None,
    };
    let (arms, skipped): (Vec<&Arm>, Vec<&Arm>) = experiment
        .arms()
        .partition(|arm| arm.requires.iter().all(|b| options.available.contains(b)));
    let skipped = skipped
        .into_iter()
        .map(|arm| {
            let names: Vec<String> = arm.requires.iter().map(|b| format!("{b:?}")).collect();
            let why = format!("needs {}, which this run does not have", names.join(" and "));
            (arm.name.clone(), why)
        })
        .collect();
    let original = match &mut admin {
        Some(admin) => admin.knobs()?,
        None => Knobs::new(),
    };
    let mut session = Session {
        experiment,
        base,
        options,
        admin,
        scenario,
        round_length: rounds.duration,
    };
    let measured = session.rounds(&arms, rounds, log);
    let restored = session.restore(&original, &arms);
    let per_arm = measured?;
    restored?;
    Ok(ExperimentResult::new(
        experiment,
        base,
        options.short,
        rounds,
        started_at,
        per_arm,
        skipped,
    ))
}

struct Session<'a> {
    experiment: &'a Experiment,
    base: &'a str,
    options: &'a Options,
    admin: Option<Admin>,
    scenario: crate::Scenario,
    /// The measured rounds' length (full or short).
    round_length: Duration,
}

impl Session<'_> {
    fn rounds(&mut self, arms: &[&Arm], rounds: &super::Rounds, log: Log) -> anyhow::Result<Vec<ArmRounds>> {
        if let Some(admin) = &mut self.admin {
            admin.set(&self.experiment.setup)?;
        }
        if !rounds.warmup.is_zero() {
            for arm in arms {
                log(&format!("warm-up  {:<24} {:?} (discarded)", arm.name, rounds.warmup));
                self.round(arm, rounds.warmup, false)?;
            }
        }
        let mut per_arm: Vec<ArmRounds> = arms.iter().map(|arm| ArmRounds::new(arm, self.experiment)).collect();
        for r in 0..rounds.count {
            for (arm, into) in arms.iter().zip(&mut per_arm) {
                let (result, outcome, values) = self.round(arm, rounds.duration, true)?;
                log(&format!(
                    "round {}/{}  {:<24} {:>8.0} req/s  p95 {:>9}  errors {:.2}%",
                    r + 1,
                    rounds.count,
                    arm.name,
                    result.totals.requests_per_second,
                    decide::show_value(result.all.corrected.p95_ms, "ms"),
                    100.0 * result.totals.failed as f64 / result.totals.requests.max(1) as f64,
                ));
                into.push(result, outcome, values);
            }
        }
        Ok(per_arm)
    }

    /// One round of `arm`: its knobs, the load, the faults inside it (not in a warm-up), the
    /// probes around it.
    fn round(
        &mut self,
        arm: &Arm,
        duration: Duration,
        with_faults: bool,
    ) -> anyhow::Result<(RunResult, Outcome, Vec<f64>)> {
        let scenario = round_scenario(&self.scenario, &self.experiment.load, arm.load.as_ref(), duration);
        let before = match &mut self.admin {
            Some(admin) => {
                admin.set(&arm.reset)?;
                admin.set(&arm.knobs)?;
                self.probes(None)?
            }
            None => Vec::new(),
        };
        let plan = Plan::compile(scenario.clone(), self.base).map_err(|e| anyhow::anyhow!(e))?;
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let options = RunOptions {
            workers: self.options.workers,
            progress: false,
            scrape: self.options.scrape.clone(),
            scrape_every: Duration::from_secs(1),
            started: Some(started_tx),
        };
        let faults = if with_faults {
            self.schedule_faults(started_rx)?
        } else {
            None
        };
        let started_at = time::OffsetDateTime::now_utc();
        let outcome = crate::run(plan, &options).context("running a round")?;
        if let Some(faults) = faults {
            faults
                .join()
                .map_err(|_| anyhow::anyhow!("the fault scheduler panicked"))??;
        }
        let after = match self.admin {
            Some(_) => self.probes(Some((&before, duration)))?,
            None => Vec::new(),
        };
        let result = RunResult::new(&scenario, self.base, &outcome, started_at);
        let values = self
            .experiment
            .decide
            .iter()
            .enumerate()
            .map(|(i, d)| decide::value(d, &result, after.get(i).copied()))
            .collect();
        Ok((result, outcome, values))
    }

    /// The probe of each deciding metric that needs one: counters now (before a round), or
    /// their increase per second since `before` (after it); integrity violations likewise.
    fn probes(&mut self, before: Option<(&[f64], Duration)>) -> anyhow::Result<Vec<f64>> {
        let Some(admin) = &mut self.admin else {
            return Ok(Vec::new());
        };
        let mut values = Vec::new();
        for (i, d) in self.experiment.decide.iter().enumerate() {
            let now = match d.metric {
                Metric::Rate => admin.counter(&d.series)?,
                Metric::IntegrityViolations => admin.integrity_violations()?,
                _ => 0.0,
            };
            values.push(match before {
                None => now,
                // Per second of the load's own clock, not of the probes'.
                Some((before, duration)) if d.metric == Metric::Rate => {
                    (now - before.get(i).copied().unwrap_or(0.0)) / duration.as_secs_f64().max(1e-9)
                }
                Some((before, _)) => (now - before.get(i).copied().unwrap_or(0.0)).max(0.0),
            });
        }
        Ok(values)
    }

    /// Starts a thread that applies each fault at its time after the round's clock starts and
    /// undoes it at its end, on a session of its own.
    fn schedule_faults(
        &self,
        started: mpsc::Receiver<Instant>,
    ) -> anyhow::Result<Option<std::thread::JoinHandle<anyhow::Result<()>>>> {
        if self.experiment.faults.is_empty() || self.admin.is_none() {
            return Ok(None);
        }
        let mut admin = Admin::connect(self.base, &self.options.operator.0, &self.options.operator.1)?;
        // Faults are written for the full rounds; a short round squeezes them alike.
        let factor = self.round_length.as_secs_f64() / self.experiment.rounds.duration.as_secs_f64().max(1e-9);
        let faults: Vec<Fault> = self
            .experiment
            .faults
            .iter()
            .map(|f| Fault {
                from: f.from.mul_f64(factor),
                to: f.to.mul_f64(factor),
                knobs: f.knobs.clone(),
            })
            .collect();
        Ok(Some(std::thread::spawn(move || {
            let Ok(start) = started.recv() else {
                return Ok(());
            };
            apply_faults(&mut admin, &faults, start)
        })))
    }

    /// Puts back every knob an arm, a reset or the setup changed.
    fn restore(&mut self, original: &Knobs, arms: &[&Arm]) -> anyhow::Result<()> {
        let Some(admin) = &mut self.admin else {
            return Ok(());
        };
        let touched: Knobs = arms
            .iter()
            .flat_map(|a| a.knobs.keys().chain(a.reset.keys()))
            .chain(self.experiment.setup.keys())
            .chain(self.experiment.faults.iter().flat_map(|f| f.knobs.keys()))
            .filter_map(|k| Some((k.clone(), original.get(k)?.clone())))
            .collect();
        admin
            .set(&touched)
            .with_context(|| format!("putting the knobs back ({})", admin::show(&touched)))
    }
}

/// Each fault's knobs at `start + from`, the values before it at `start + to`, in time order.
fn apply_faults(admin: &mut Admin, faults: &[Fault], start: Instant) -> anyhow::Result<()> {
    let mut events: Vec<(Duration, usize, bool)> = faults
        .iter()
        .enumerate()
        .flat_map(|(i, f)| [(f.from, i, true), (f.to, i, false)])
        .collect();
    events.sort_by_key(|(at, _, _)| *at);
    let mut saved: Vec<Knobs> = vec![Knobs::new(); faults.len()];
    for (at, i, begin) in events {
        std::thread::sleep((start + at).saturating_duration_since(Instant::now()));
        if begin {
            let current = admin.knobs()?;
            saved[i] = faults[i]
                .knobs
                .keys()
                .filter_map(|k| Some((k.clone(), current.get(k)?.clone())))
                .collect();
            admin.set(&faults[i].knobs)?;
        } else {
            admin.set(&saved[i])?;
        }
    }
    Ok(())
}
