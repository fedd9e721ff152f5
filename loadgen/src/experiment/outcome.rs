//! An experiment's result: each arm's rounds merged into one load result (so reports and
//! `emrlab compare` read it), the deciding metrics per round, and each candidate's verdict.
//! Written as JSON (`emrlab-experiment-result/1`) and as text for the terminal.

use serde::{Deserialize, Serialize};

use super::{
    Arm, Experiment, Knobs, Metric, Rounds,
    admin::show,
    decide::{self, Difference, Finding},
};
use crate::{plan::Plan, result::RunResult, run::Outcome};

/// The format tag of the experiment result file.
pub const FORMAT: &str = "emrlab-experiment-result/1";

/// An arm's rounds as they finish.
pub struct ArmRounds {
    name: String,
    knobs: Knobs,
    results: Vec<RunResult>,
    outcomes: Vec<Outcome>,
    values: Vec<Vec<f64>>,
}

impl ArmRounds {
    pub fn new(arm: &Arm, experiment: &Experiment) -> Self {
        let mut knobs = experiment.setup.clone();
        knobs.extend(arm.reset.clone());
        knobs.extend(arm.knobs.clone());
        Self {
            name: arm.name.clone(),
            knobs,
            results: Vec::new(),
            outcomes: Vec::new(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, result: RunResult, outcome: Outcome, values: Vec<f64>) {
        self.results.push(result);
        self.outcomes.push(outcome);
        self.values.push(values);
    }

    /// Every round merged into one run: histograms added exactly, timelines and scrapes laid
    /// end to end.
    fn merged(&self, base: &str) -> Option<RunResult> {
        let first = self.results.first()?;
        let mut scenario = first.scenario.clone();
        scenario.rescale(first.scenario.duration() * self.results.len() as u32);
        let mut outcomes = self.outcomes.iter();
        let mut merged = outcomes.next()?.clone();
        for outcome in outcomes {
            // Each round's timeline counts from 0 and has one entry per second.
            let offset = merged.summary.timeline.len() as u64;
            let seconds = offset as f64;
            merged.summary.merge(&outcome.summary);
            merged
                .summary
                .timeline
                .extend(outcome.summary.timeline.iter().cloned().map(|mut s| {
                    s.t += offset;
                    s
                }));
            merged.scraped.extend(outcome.scraped.iter().cloned().map(|mut s| {
                s.t += seconds;
                s
            }));
            for (reason, n) in &outcome.aborts {
                *merged.aborts.entry(reason.clone()).or_default() += n;
            }
            merged.elapsed += outcome.elapsed;
        }
        if let Ok(plan) = Plan::compile(scenario.clone(), base) {
            let measured = scenario.duration().min(merged.elapsed);
            merged.verdicts = plan
                .thresholds
                .iter()
                .map(|t| t.evaluate(&merged.summary, measured))
                .collect();
        }
        let started = time::OffsetDateTime::parse(&first.started_at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let mut result = RunResult::new(&scenario, base, &merged, started);
        result.knobs = self.knobs.clone();
        Some(result)
    }
}

/// The experiment result file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentResult {
    pub format: String,
    pub name: String,
    pub title: String,
    pub target: String,
    pub started_at: String,
    /// Whether the short rounds ran (`emrlab labs check`, the demo).
    pub short: bool,
    pub rounds: Rounds,
    /// The deciding metrics, in the order of each arm's `rounds` values.
    pub metrics: Vec<String>,
    pub arms: Vec<ArmResult>,
    /// Arms that did not run, and why.
    pub skipped: Vec<(String, String)>,
    pub candidates: Vec<CandidateResult>,
}

/// One arm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmResult {
    pub name: String,
    /// Every knob the arm set (setup, reset, its own).
    pub knobs: Knobs,
    /// Per measured round, the deciding metrics' values.
    pub rounds: Vec<Vec<f64>>,
    /// The rounds merged into one load result.
    pub result: RunResult,
}

/// One candidate against the baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CandidateResult {
    pub arm: String,
    pub differences: Vec<Difference>,
    /// Better only when every deciding metric is confidently better; worse when any is
    /// confidently worse.
    pub verdict: Finding,
    pub sentence: String,
}

impl ExperimentResult {
    pub fn new(
        experiment: &Experiment,
        base: &str,
        short: bool,
        rounds: &Rounds,
        started_at: time::OffsetDateTime,
        per_arm: Vec<ArmRounds>,
        skipped: Vec<(String, String)>,
    ) -> Self {
        let arms: Vec<ArmResult> = per_arm
            .iter()
            .filter_map(|a| {
                Some(ArmResult {
                    name: a.name.clone(),
                    knobs: a.knobs.clone(),
                    rounds: a.values.clone(),
                    result: a.merged(base)?,
                })
            })
            .collect();
        let candidates = match arms.split_first() {
            Some((baseline, rest)) => rest.iter().map(|c| judge(experiment, baseline, c)).collect(),
            None => Vec::new(),
        };
        Self {
            format: FORMAT.to_owned(),
            name: experiment.name.clone(),
            title: experiment.title.clone(),
            target: base.to_owned(),
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            short,
            rounds: rounds.clone(),
            metrics: experiment.decide.iter().map(|d| d.label()).collect(),
            arms,
            skipped,
            candidates,
        }
    }

    /// Whether every candidate that ran came out better: the lab shows its expected direction.
    pub fn as_expected(&self) -> bool {
        !self.candidates.is_empty() && self.candidates.iter().all(|c| c.verdict == Finding::Better)
    }

    /// The verdicts, one paragraph per candidate, for the terminal.
    pub fn text(&self) -> String {
        let mut out = format!("{} — {}\n", self.name, self.title);
        for c in &self.candidates {
            out.push_str(&format!("  {}\n", c.sentence));
        }
        for (arm, why) in &self.skipped {
            out.push_str(&format!("  {arm}: not run ({why})\n"));
        }
        out
    }
}

/// A candidate's differences from the baseline, metric by metric, over the paired rounds.
fn judge(experiment: &Experiment, baseline: &ArmResult, candidate: &ArmResult) -> CandidateResult {
    let differences: Vec<Difference> = experiment
        .decide
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let series = |arm: &ArmResult| arm.rounds.iter().filter_map(|r| r.get(i).copied()).collect::<Vec<_>>();
            let (b, c) = (series(baseline), series(candidate));
            let whole = |arm: &ArmResult, rounds: &[f64]| match d.metric {
                Metric::Rate => decide::mean(rounds),
                Metric::IntegrityViolations => rounds.iter().sum(),
                _ => decide::value(d, &arm.result, None),
            };
            decide::difference(d, (whole(baseline, &b), whole(candidate, &c)), &b, &c)
        })
        .collect();
    let verdict = if differences.iter().any(|d| d.outcome == Finding::Worse) {
        Finding::Worse
    } else if differences.iter().all(|d| d.outcome == Finding::Better) {
        Finding::Better
    } else {
        Finding::Unclear
    };
    let words = match verdict {
        Finding::Better => "better, confident",
        Finding::Worse => "worse, confident",
        Finding::Unclear => "no clear difference",
    };
    let own = experiment.arms().find(|a| a.name == candidate.name).map(|a| &a.knobs);
    let knobs = match own {
        Some(knobs) if !knobs.is_empty() => show(knobs),
        _ => candidate.name.clone(),
    };
    let sentence = format!(
        "{knobs}: {}; {words}",
        differences
            .iter()
            .map(Difference::sentence)
            .collect::<Vec<_>>()
            .join(", ")
    );
    CandidateResult {
        arm: candidate.name.clone(),
        differences,
        verdict,
        sentence,
    }
}
