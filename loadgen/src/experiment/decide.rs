//! The deciding metrics: their value in one round, the difference between a candidate and the
//! baseline across paired rounds with a 95% confidence interval, and a verdict in words.

use serde::{Deserialize, Serialize};

use super::{Decide, Direction, Metric};
use crate::result::RunResult;

/// A deciding metric's value in a round.
pub fn value(decide: &Decide, round: &RunResult, probe: Option<f64>) -> f64 {
    let step = match &decide.request {
        Some(name) => round.steps.iter().find(|s| &s.name == name),
        None => Some(&round.all),
    };
    let seconds = round.scenario.duration().as_secs_f64().max(1e-9);
    match (decide.metric, step) {
        (Metric::Rate | Metric::IntegrityViolations, _) => probe.unwrap_or(0.0),
        (_, None) => 0.0,
        (Metric::P50, Some(s)) => s.corrected.p50_ms,
        (Metric::P95, Some(s)) => s.corrected.p95_ms,
        (Metric::P99, Some(s)) => s.corrected.p99_ms,
        (Metric::Throughput, Some(s)) => (s.requests - s.failed) as f64 / seconds,
        (Metric::ErrorRate, Some(s)) => s.failed as f64 / (s.requests.max(1)) as f64,
    }
}

/// One deciding metric, one candidate against the baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Difference {
    /// `p95 of GET patient`.
    pub metric: String,
    pub better: Direction,
    /// The arms' values over every round: latencies from the merged histograms, the rest the
    /// mean of the rounds (violations: their sum).
    pub baseline: f64,
    pub candidate: f64,
    /// Candidate − baseline, relative to the baseline (−0.997 is −99.7%).
    pub change: f64,
    /// 95% confidence interval of that relative change, from the paired rounds.
    pub ci_low: f64,
    pub ci_high: f64,
    /// `better`, `worse` or `no clear difference`.
    pub outcome: Finding,
    pub unit: String,
}

/// How a candidate fared on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Better,
    Worse,
    Unclear,
}

impl Decide {
    /// `p95 of GET patient`, `throughput`, `rate of emrlab_vendor_requests_total`.
    pub fn label(&self) -> String {
        let what = match self.metric {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::Throughput => "throughput",
            Metric::ErrorRate => "error rate",
            Metric::Rate => return format!("{}/s", self.series.join(" ")),
            Metric::IntegrityViolations => return "overbooked authorizations".into(),
        };
        match &self.request {
            Some(request) => format!("{what} of {request}"),
            None => what.to_owned(),
        }
    }

    fn unit(&self) -> &'static str {
        match self.metric {
            Metric::P50 | Metric::P95 | Metric::P99 => "ms",
            Metric::Throughput | Metric::Rate => "/s",
            Metric::ErrorRate => "%",
            Metric::IntegrityViolations => "",
        }
    }
}

/// The difference between paired rounds: `baseline[i]` and `candidate[i]` ran back to back.
/// The interval is of the ratio candidate ÷ baseline (the mean of the rounds' log ratios, so it
/// never crosses −100%); with a zero in some round (no errors, no violations) it is of the
/// difference, relative to the baseline's mean.
pub fn difference(decide: &Decide, whole: (f64, f64), baseline: &[f64], candidate: &[f64]) -> Difference {
    let n = baseline.len().min(candidate.len());
    let (baseline, candidate) = (&baseline[..n], &candidate[..n]);
    let (ci_low, ci_high) = if baseline.iter().chain(candidate).all(|v| *v > 0.0) {
        let logs: Vec<f64> = (0..n).map(|i| (candidate[i] / baseline[i]).ln()).collect();
        let (m, half) = (mean(&logs), half_width(&logs));
        ((m - half).exp() - 1.0, (m + half).exp() - 1.0)
    } else {
        let diffs: Vec<f64> = (0..n).map(|i| candidate[i] - baseline[i]).collect();
        let (m, half) = (mean(&diffs), half_width(&diffs));
        let scale = mean(baseline).abs();
        let scale = if scale > f64::EPSILON { scale } else { 1.0 };
        ((m - half) / scale, (m + half) / scale)
    };
    let (b, c) = whole;
    let change = if b.abs() > f64::EPSILON {
        (c - b) / b.abs()
    } else {
        ci_low.midpoint(ci_high)
    };
    let lower = decide.better == Direction::Lower;
    let outcome = if n < 2 || (ci_low <= 0.0 && ci_high >= 0.0) {
        Finding::Unclear
    } else if (ci_high < 0.0) == lower {
        Finding::Better
    } else {
        Finding::Worse
    };
    Difference {
        metric: decide.label(),
        better: decide.better,
        baseline: b,
        candidate: c,
        change,
        ci_low,
        ci_high,
        outcome,
        unit: decide.unit().to_owned(),
    }
}

pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Half the width of the 95% confidence interval of the mean (Student's t; 0 below two values).
fn half_width(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let variance = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    t_975(n - 1) * (variance / n as f64).sqrt()
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom. A table rather than a
/// statistics crate: it is the one quantile needed, and experiments run a handful of rounds.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    TABLE.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// `1.19 s`, `3.8 ms`, `1,234/s`, `0.4%`.
pub fn show_value(value: f64, unit: &str) -> String {
    match unit {
        "ms" if value >= 1_000.0 => format!("{:.2} s", value / 1_000.0),
        "ms" if value >= 100.0 => format!("{value:.0} ms"),
        "ms" if value >= 10.0 => format!("{value:.1} ms"),
        "ms" => format!("{value:.2} ms"),
        "%" => format!("{:.2}%", value * 100.0),
        "/s" if value >= 100.0 => format!("{value:.0}/s"),
        "/s" => format!("{value:.1}/s"),
        _ => format!("{value:.0}"),
    }
}

impl Difference {
    /// A relative change as this difference shows them all: a factor (`×41.0`) when the
    /// candidate more than doubled the metric, else a percentage (`-99.7%`).
    pub fn show_change(&self, change: f64) -> String {
        if self.change >= 1.0 {
            format!("×{:.1}", 1.0 + change)
        } else {
            format!("{:+.1}%", change * 100.0)
        }
    }

    /// `p95 of GET patient 1.19 s → 3.80 ms (-99.7%; 95% CI -99.8% … -99.6%)`, or a factor
    /// (`×41`) for what grew more than twofold.
    pub fn sentence(&self) -> String {
        let show = |change: f64| self.show_change(change);
        format!(
            "{} {} → {} ({}; 95% CI {} … {})",
            self.metric,
            show_value(self.baseline, &self.unit),
            show_value(self.candidate, &self.unit),
            show(self.change),
            show(self.ci_low),
            show(self.ci_high)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(better: Direction) -> Decide {
        Decide {
            metric: Metric::P95,
            request: Some("GET patient".into()),
            series: vec![],
            better,
        }
    }

    #[test]
    fn a_clear_drop_is_better_when_lower_is_better() {
        let d = difference(
            &decide(Direction::Lower),
            (1_190.0, 3.8),
            &[1_200.0, 1_180.0, 1_210.0],
            &[3.9, 3.7, 4.0],
        );
        assert_eq!(d.outcome, Finding::Better);
        assert!(d.ci_high < 0.0 && d.ci_low > -1.01, "{d:?}");
        assert!(
            d.sentence().starts_with("p95 of GET patient 1.19 s → 3.80 ms (-99.7%"),
            "{}",
            d.sentence()
        );
    }

    #[test]
    fn the_same_drop_is_worse_when_higher_is_better() {
        let d = difference(
            &decide(Direction::Higher),
            (100.0, 50.0),
            &[100.0, 101.0, 99.0],
            &[50.0, 51.0, 49.0],
        );
        assert_eq!(d.outcome, Finding::Worse);
    }

    #[test]
    fn noise_that_straddles_zero_is_unclear() {
        let d = difference(
            &decide(Direction::Lower),
            (100.0, 99.0),
            &[100.0, 90.0, 110.0],
            &[95.0, 112.0, 90.0],
        );
        assert_eq!(d.outcome, Finding::Unclear);
        let one = difference(&decide(Direction::Lower), (100.0, 1.0), &[100.0], &[1.0]);
        assert_eq!(one.outcome, Finding::Unclear, "one round gives no interval");
    }

    #[test]
    fn t_quantiles_follow_the_table_then_the_normal() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(4), 2.776);
        assert_eq!(t_975(200), 1.96);
    }
}
