//! What a run measured: per request name, HdrHistograms of latency counted from the intended
//! send time (corrected) and from the actual one (uncorrected), status counts and checks; per
//! second, a timeline. Each worker records into its own [`Recorder`]; [`Summary::merge`] adds them
//! exactly (histograms add bucket by bucket), which is what makes several workers, processes or
//! machines one run.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, at 3 significant digits.
const MAX_MICROS: u64 = 600_000_000;

/// An empty histogram with the bounds every result file uses.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; the fallback only satisfies the type.
    Histogram::new_with_bounds(1, MAX_MICROS, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS)
}

/// Everything measured about one request name.
#[derive(Debug, Clone)]
pub struct StepStats {
    pub name: String,
    pub corrected: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
    /// Status code → count; 0 counts transport errors (refused, reset, timed out).
    pub statuses: BTreeMap<u16, u64>,
    pub failed: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
    /// Corrected latency by status class (`2xx`, `4xx`, `error`, …): a fast 429 or 503 must not
    /// flatter the latency of the requests that were served.
    pub by_class: BTreeMap<&'static str, Histogram<u64>>,
}

/// The status class label of a status (0: no answer).
pub fn status_class(status: u16) -> &'static str {
    match status {
        0 => "error",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl StepStats {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            corrected: histogram(),
            uncorrected: histogram(),
            statuses: BTreeMap::new(),
            failed: 0,
            checks_passed: 0,
            checks_failed: 0,
            by_class: BTreeMap::new(),
        }
    }

    /// Requests sent.
    pub fn count(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn merge(&mut self, other: &StepStats) {
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.failed += other.failed;
        self.checks_passed += other.checks_passed;
        self.checks_failed += other.checks_failed;
        for (class, h) in &other.by_class {
            let _ = self.by_class.entry(class).or_insert_with(histogram).add(h);
        }
    }
}

/// One second of the run, as the progress line and the timeline show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start.
    pub t: u64,
    pub requests: u64,
    pub failed: u64,
    pub iterations: u64,
    pub dropped: u64,
    /// VUs busy or waiting at the end of the second.
    pub vus: u64,
    /// Requests per request name this second, in the order of the result's `steps`.
    pub steps: Vec<u64>,
    /// Corrected latency percentiles of this second's requests, in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// One outcome, as a VU reports it.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub step: usize,
    /// 0 for a transport error.
    pub status: u16,
    pub uncorrected: Duration,
    pub corrected: Duration,
    pub failed: bool,
    pub checks_passed: u32,
    pub checks_failed: u32,
}

/// A worker's recording state; one per worker thread, so recording needs no lock.
pub struct Recorder {
    pub steps: Vec<StepStats>,
    /// Requests recorded so far.
    pub requests: u64,
    pub iterations: u64,
    pub dropped: u64,
    interval: Histogram<u64>,
    interval_requests: u64,
    interval_failed: u64,
    interval_iterations: u64,
    interval_dropped: u64,
    interval_steps: Vec<u64>,
}

impl Recorder {
    /// A recorder for these request names (indexes are the `step` of an [`Outcome`]).
    pub fn new(step_names: &[String]) -> Self {
        Self {
            steps: step_names.iter().map(|n| StepStats::new(n)).collect(),
            requests: 0,
            iterations: 0,
            dropped: 0,
            interval: histogram(),
            interval_requests: 0,
            interval_failed: 0,
            interval_iterations: 0,
            interval_dropped: 0,
            interval_steps: vec![0; step_names.len()],
        }
    }

    /// Records one request.
    pub fn record(&mut self, o: Outcome) {
        let Some(step) = self.steps.get_mut(o.step) else { return };
        let corrected = micros(o.corrected.max(o.uncorrected));
        let _ = step.corrected.record(corrected);
        let _ = step.uncorrected.record(micros(o.uncorrected));
        *step.statuses.entry(o.status).or_default() += 1;
        let _ = step
            .by_class
            .entry(status_class(o.status))
            .or_insert_with(histogram)
            .record(corrected);
        step.failed += u64::from(o.failed);
        step.checks_passed += u64::from(o.checks_passed);
        step.checks_failed += u64::from(o.checks_failed);
        let _ = self.interval.record(corrected);
        self.requests += 1;
        self.interval_requests += 1;
        self.interval_failed += u64::from(o.failed);
        if let Some(count) = self.interval_steps.get_mut(o.step) {
            *count += 1;
        }
    }

    pub fn iteration_done(&mut self) {
        self.iterations += 1;
        self.interval_iterations += 1;
    }

    pub fn iteration_dropped(&mut self) {
        self.dropped += 1;
        self.interval_dropped += 1;
    }

    /// The second just ended, as far as this worker saw it; resets the interval counters.
    pub fn take_second(&mut self, t: u64, vus: u64) -> (Second, Histogram<u64>) {
        let second = Second {
            t,
            requests: self.interval_requests,
            failed: self.interval_failed,
            iterations: self.interval_iterations,
            dropped: self.interval_dropped,
            vus,
            steps: self.interval_steps.clone(),
            ..Second::default()
        };
        self.interval_steps.iter_mut().for_each(|n| *n = 0);
        let histogram = std::mem::replace(&mut self.interval, histogram());
        (
            self.interval_requests,
            self.interval_failed,
            self.interval_iterations,
            self.interval_dropped,
        ) = (0, 0, 0, 0);
        (second, histogram)
    }

    /// Forgets everything recorded so far but the current second's counters: the warm-up is over.
    pub fn discard_totals(&mut self) {
        for step in &mut self.steps {
            *step = StepStats::new(&step.name);
        }
        (self.requests, self.iterations, self.dropped) = (0, 0, 0);
    }

    /// What this worker measured, for merging.
    pub fn into_summary(self) -> Summary {
        Summary {
            steps: self.steps,
            iterations: self.iterations,
            dropped: self.dropped,
            timeline: Vec::new(),
        }
    }
}

/// A run's (or a worker's) totals.
#[derive(Debug, Clone)]
pub struct Summary {
    pub steps: Vec<StepStats>,
    pub iterations: u64,
    pub dropped: u64,
    pub timeline: Vec<Second>,
}

impl Summary {
    /// Adds another summary of the same scenario (same request names in the same order).
    pub fn merge(&mut self, other: &Summary) {
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            mine.merge(theirs);
        }
        self.iterations += other.iterations;
        self.dropped += other.dropped;
    }

    /// All requests together.
    pub fn total(&self) -> StepStats {
        let mut total = StepStats::new("all");
        for step in &self.steps {
            total.merge(step);
        }
        total
    }

    /// The stats of a request name.
    pub fn step(&self, name: &str) -> Option<&StepStats> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// Milliseconds at a percentile of a microsecond histogram.
pub fn percentile_ms(h: &Histogram<u64>, p: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(p / 100.0) as f64 / 1_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(step: usize, ms: u64, status: u16) -> Outcome {
        let d = Duration::from_millis(ms);
        Outcome {
            step,
            status,
            uncorrected: d,
            corrected: d,
            failed: status >= 400,
            checks_passed: 1,
            checks_failed: 0,
        }
    }

    #[test]
    fn merged_workers_equal_one_recorder_that_saw_everything() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let (mut one, mut two, mut both) = (Recorder::new(&names), Recorder::new(&names), Recorder::new(&names));
        for i in 0..1_000u64 {
            let o = outcome((i % 2) as usize, 1 + i % 97, if i % 10 == 0 { 500 } else { 200 });
            if i % 3 == 0 {
                one.record(o)
            } else {
                two.record(o)
            }
            both.record(o);
        }
        let mut merged = one.into_summary();
        merged.merge(&two.into_summary());
        let both = both.into_summary();
        for (m, b) in merged.steps.iter().zip(&both.steps) {
            assert_eq!(m.corrected, b.corrected);
            assert_eq!(m.by_class, b.by_class);
            assert_eq!(
                (m.statuses.clone(), m.failed, m.checks_passed),
                (b.statuses.clone(), b.failed, b.checks_passed)
            );
        }
    }

    #[test]
    fn corrected_latency_is_never_below_the_uncorrected() {
        let mut r = Recorder::new(&["a".to_owned()]);
        r.record(Outcome {
            corrected: Duration::from_millis(1),
            uncorrected: Duration::from_millis(9),
            ..outcome(0, 0, 200)
        });
        let s = r.into_summary();
        assert!(percentile_ms(&s.steps[0].corrected, 50.0) >= 8.9);
    }
}
