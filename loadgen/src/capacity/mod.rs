//! Capacity: how far a platform goes under a scenario, and what gives first. Steps of constant,
//! increasing load (VUs in the closed model, iterations/s in the open one), each warmed up and
//! then measured, judged against an SLO; a sweep runs given loads, a search finds the breaking
//! point. Each step records the saturation signals, so the verdict names the first resource to
//! saturate, and whether the generator itself was the limit. docs/capacity.md.
//!
//! Layout: this module (options, the loop, the result and its table) → `search` (the next load)
//! → `step` (one step) over `slo` (the objective), `cpu` (/proc) and `signals` (saturation);
//! the HTML page is `crate::html::capacity`.

use std::{
    fmt::Write,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

pub mod cpu;
pub mod search;
pub mod signals;
pub mod slo;
pub mod step;

pub use search::Mode;
pub use step::Step;

use crate::{Scenario, scenario::Model};

/// The result file's format tag.
pub const FORMAT: &str = "emrlab-capacity-result/1";

/// How to run a capacity search or sweep.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// Closed (VUs) or open (iterations/s).
    pub model: Model,
    /// Discarded at the start of every step.
    pub warmup: Duration,
    /// Measured after the warm-up.
    pub measured: Duration,
    /// Runs that must meet the SLO at the answer.
    pub repeats: u32,
    /// No step starts that would end after this much time since the first began.
    pub budget: Duration,
    pub workers: usize,
    /// Prometheus endpoints scraped during each step.
    pub scrape: Vec<String>,
    pub scrape_every: Duration,
}

/// Why the steps stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Stop {
    /// The search found the breaking point (the SLO broke above the answer).
    Found,
    /// The sweep ran every load.
    SweepDone,
    /// The search reached its maximum load without breaking the SLO.
    Ceiling,
    /// The SLO broke at the first load: there is no sustainable load in range.
    BrokenAtFirstStep,
    /// The generator, not the platform, limited a step: the answer is a lower bound.
    GeneratorLimit { load: f64, reason: String },
    /// The time budget ran out before the search converged.
    Budget,
}

/// The highest load that met the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sustainable {
    pub load: f64,
    /// Its runs that met the SLO, all of its runs (a failed one would have moved the answer down).
    pub runs: u32,
    /// Mean throughput of those runs, requests/s.
    pub throughput_rps: f64,
}

/// The resource that saturated first: at the lowest load where any did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstSaturated {
    pub load: f64,
    pub resource: String,
    pub shown: String,
    /// The knobs to try next against this resource, and where to look for its cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The capacity result file (`--out`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityResult {
    pub format: String,
    pub scenario: String,
    pub target: String,
    /// `closed` (loads are VUs) or `open` (iterations/s).
    pub model: String,
    pub slo: String,
    pub mode: Mode,
    pub warmup_s: f64,
    pub measured_s: f64,
    pub started_at: String,
    pub elapsed_s: f64,
    pub stop: Stop,
    pub sustainable: Option<Sustainable>,
    pub first_saturated: Option<FirstSaturated>,
    /// What the reader should know about the measurement (processes watched, shared CPU).
    pub notes: Vec<String>,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
}

/// Runs steps at `target` until the mode is done, the SLO breaks at the first step, the generator
/// limits a step, or the budget runs out; `log` gets one line per step.
pub fn run(
    scenario: &Scenario,
    target: &str,
    slo: &slo::Slo,
    options: &Options,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<CapacityResult> {
    let started_at = time::OffsetDateTime::now_utc();
    let began = Instant::now();
    let watch = cpu::Watch::discover(target);
    let mut steps: Vec<Step> = Vec::new();
    let stop = loop {
        let history: Vec<search::Tried> = steps.iter().map(|s| (s.load, s.ok)).collect();
        let Some(load) = search::next(&options.mode, &history, options.repeats) else {
            break match (&options.mode, search::sustainable(&history)) {
                (Mode::Sweep(_), _) => Stop::SweepDone,
                (_, None) => Stop::BrokenAtFirstStep,
                (Mode::Search { max, .. }, Some((best, _))) if best >= *max => Stop::Ceiling,
                _ => Stop::Found,
            };
        };
        let longest = steps
            .iter()
            .map(|s| Duration::from_secs_f64(s.result.elapsed_s))
            .max()
            .unwrap_or(options.warmup + options.measured);
        if !steps.is_empty() && began.elapsed() + longest > options.budget {
            break Stop::Budget;
        }
        let run = 1 + steps.iter().filter(|s| s.load == load).count() as u32;
        let step = step::run(scenario, target, options, slo, &watch, load, run)?;
        log(&row(&step));
        let limited = step.generator_limit.clone();
        let broken_first = steps.is_empty() && !step.ok;
        steps.push(step);
        if let Some(reason) = limited {
            break Stop::GeneratorLimit { load, reason };
        }
        // Nothing below the first load is tried, in a sweep or a search: there is no answer.
        if broken_first {
            break Stop::BrokenAtFirstStep;
        }
    };
    let history: Vec<search::Tried> = steps.iter().map(|s| (s.load, s.ok)).collect();
    let sustainable = search::sustainable(&history).map(|(load, runs)| {
        let at: Vec<&Step> = steps.iter().filter(|s| s.load == load).collect();
        Sustainable {
            load,
            runs,
            throughput_rps: at.iter().map(|s| s.throughput_rps).sum::<f64>() / at.len().max(1) as f64,
        }
    });
    let mut by_load: Vec<&Step> = steps.iter().collect();
    by_load.sort_by(|a, b| a.load.total_cmp(&b.load));
    let first_saturated = by_load.iter().find_map(|s| {
        s.saturated().map(|signal| FirstSaturated {
            load: s.load,
            resource: signal.resource.clone(),
            shown: signal.shown.clone(),
            next: signals::next_step(&signal.resource).map(str::to_owned),
        })
    });
    Ok(CapacityResult {
        format: FORMAT.into(),
        scenario: scenario.name.clone(),
        target: target.to_owned(),
        model: crate::model_name(options.model).into(),
        slo: slo.text.clone(),
        mode: options.mode.clone(),
        warmup_s: options.warmup.as_secs_f64(),
        measured_s: options.measured.as_secs_f64(),
        started_at: started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        elapsed_s: began.elapsed().as_secs_f64(),
        stop,
        sustainable,
        first_saturated,
        notes: notes(&watch, &steps),
        steps,
    })
}

fn notes(watch: &cpu::Watch, steps: &[Step]) -> Vec<String> {
    let platform = watch.platform_names();
    let mut notes = Vec::new();
    let others = steps
        .iter()
        .map(|s| cpu::watched_and_others(&s.cpu).1)
        .fold(0.0, f64::max);
    // Half a core is more than this tool's own noise: someone else's work shared the machine.
    if others > 0.5 {
        notes.push(format!(
            "processes outside the run used up to {others:.2} cores of this machine during a step: \
             the figures are this shared machine's at that time"
        ));
    }
    if watch.target_in_process {
        notes.push("the target runs in the generator's process: its CPU is the generator's entry, as a whole".into());
    } else if platform.is_empty() {
        notes.push("no platform process found on this machine: CPU is the generator's and the machine's only".into());
    } else if platform.len() == 1 {
        notes.push(format!(
            "one platform process ({}): its CPU is every component's together",
            platform.join("")
        ));
    } else {
        notes.push(format!("platform processes: {}", platform.join(", ")));
    }
    notes
}

/// The unit of a load in words.
pub fn unit(model: &str) -> &'static str {
    if model == "open" { "iterations/s" } else { "VUs" }
}

/// A step's line on the terminal.
fn row(s: &Step) -> String {
    let verdict = match (&s.generator_limit, s.ok) {
        (Some(_), _) => "GENERATOR",
        (None, true) => "ok",
        (None, false) => "BROKEN",
    };
    let broken: Vec<&str> = s.slo.iter().filter(|v| !v.ok).map(|v| v.term.as_str()).collect();
    let top = s
        .signals
        .first()
        .map(|g| format!("{} {} ({:.0}%)", g.resource, g.shown, 100.0 * g.pressure))
        .unwrap_or_default();
    format!(
        "{:>8.0} #{}  {:>8.1} req/s  p50 {:>8.1}  p95 {:>8.1}  p99 {:>8.1} ms  {:<9} {:<28} {top}",
        s.load,
        s.run,
        s.throughput_rps,
        s.latency.p50_ms,
        s.latency.p95_ms,
        s.latency.p99_ms,
        verdict,
        broken.join(" "),
    )
}

impl CapacityResult {
    /// The terminal table and the verdict.
    pub fn text(&self) -> String {
        let unit = unit(&self.model);
        let mut out = format!(
            "\n{} against {} ({} model, loads in {unit}), SLO {}\n{:>8} {:>2}  {:>14}  {:>12}  {:>12}  {:>15}  {:<9} {:<28} top saturation signal\n",
            self.scenario,
            self.target,
            self.model,
            self.slo,
            "load",
            "run",
            "throughput",
            "p50",
            "p95",
            "p99",
            "verdict",
            "broken terms"
        );
        let mut by_load: Vec<&Step> = self.steps.iter().collect();
        by_load.sort_by(|a, b| a.load.total_cmp(&b.load).then(a.run.cmp(&b.run)));
        for s in by_load {
            let _ = writeln!(out, "{}", row(s));
        }
        let _ = writeln!(out, "\n{}", self.verdict());
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// The answer in words.
    pub fn verdict(&self) -> String {
        let unit = unit(&self.model);
        let mut words = match &self.sustainable {
            Some(s) => format!(
                "max sustainable load: {:.0} {unit} ({:.1} req/s), the SLO met in {} of {} runs there",
                s.load, s.throughput_rps, s.runs, s.runs
            ),
            None => "no load met the SLO".to_owned(),
        };
        words.push_str(&match &self.stop {
            Stop::Found => String::new(),
            Stop::SweepDone => "; every load of the sweep ran".into(),
            Stop::Ceiling => "; the search reached its maximum load without breaking the SLO (raise --max)".into(),
            Stop::BrokenAtFirstStep => {
                "; the SLO broke at the first step already: start lower (--start) or check the target".into()
            }
            Stop::GeneratorLimit { load, reason } => format!(
                "; at {load:.0} {unit} the GENERATOR was the limit, not the platform ({reason}): \
                 the answer is a lower bound"
            ),
            Stop::Budget => "; the time budget ran out before the search converged (raise --budget)".into(),
        });
        match &self.first_saturated {
            Some(f) => {
                let _ = write!(
                    words,
                    "\nfirst saturated resource: {} ({}) at {:.0} {unit}",
                    f.resource, f.shown, f.load
                );
                if let Some(next) = &f.next {
                    let _ = write!(words, "\nto try next: {next}");
                }
            }
            None => words.push_str("\nno resource saturated in the loads tried"),
        }
        let _ = write!(
            words,
            "\nelapsed: {:.0} s over {} steps",
            self.elapsed_s,
            self.steps.len()
        );
        words
    }
}
