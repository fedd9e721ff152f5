//! `emrlab compare`: two result files, request name by request name, with a regression threshold
//! (the seed's compare script flagged changes above 10%). Latency (p50, p95, p99, corrected) and
//! the error rate may not rise by more than the threshold, throughput may not fall by more.

use std::fmt::Write as _;

use crate::result::{RunResult, StepResult};

/// Below this many failed requests in a hundred, an error-rate change is noise, whatever its
/// relative size (0 → 1 failure in 10,000 requests is not a regression).
const ERROR_RATE_FLOOR_PCT: f64 = 0.1;

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
}

/// One metric of one request name in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub metric: &'static str,
    pub baseline: f64,
    pub candidate: f64,
    /// Relative change in percent (`None` when the baseline is 0).
    pub change_pct: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Same,
    Better,
    Regression,
    /// The request name is in one file only.
    Missing,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::Same => "ok",
            Self::Better => "better",
            Self::Regression => "REGRESSION",
            Self::Missing => "missing",
        }
    }
}

/// The comparison of two runs.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub threshold_pct: f64,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict == Verdict::Regression).count()
    }
}

/// Requests per second of one name: its share of the run's requests at the run's rate.
fn rate(run: &RunResult, step: &StepResult) -> f64 {
    if run.totals.requests == 0 {
        return 0.0;
    }
    run.totals.requests_per_second * step.requests as f64 / run.totals.requests as f64
}

fn error_pct(step: &StepResult) -> f64 {
    if step.requests == 0 {
        0.0
    } else {
        100.0 * step.failed as f64 / step.requests as f64
    }
}

fn judge(
    metric: &'static str,
    better: Better,
    baseline: f64,
    candidate: f64,
    threshold_pct: f64,
) -> (Option<f64>, Verdict) {
    let change_pct = (baseline != 0.0).then(|| 100.0 * (candidate - baseline) / baseline);
    let worse_by = match better {
        Better::Lower => candidate - baseline,
        Better::Higher => baseline - candidate,
    };
    let limit = if metric == "errors %" {
        (baseline * threshold_pct / 100.0).max(ERROR_RATE_FLOOR_PCT)
    } else {
        baseline.abs() * threshold_pct / 100.0
    };
    let verdict = if worse_by > limit {
        Verdict::Regression
    } else if -worse_by > limit {
        Verdict::Better
    } else {
        Verdict::Same
    };
    (change_pct, verdict)
}

fn metrics(run: &RunResult, step: &StepResult) -> [(&'static str, Better, f64); 5] {
    [
        ("p50 ms", Better::Lower, step.corrected.p50_ms),
        ("p95 ms", Better::Lower, step.corrected.p95_ms),
        ("p99 ms", Better::Lower, step.corrected.p99_ms),
        ("req/s", Better::Higher, rate(run, step)),
        ("errors %", Better::Lower, error_pct(step)),
    ]
}

/// Compares every request name of either run (the baseline's order, then the candidate's new
/// names), and `all` last.
pub fn compare(baseline: &RunResult, candidate: &RunResult, threshold_pct: f64) -> Comparison {
    let mut names: Vec<&str> = baseline.steps.iter().map(|s| s.name.as_str()).collect();
    for step in &candidate.steps {
        if !names.contains(&step.name.as_str()) {
            names.push(&step.name);
        }
    }
    let find = |run: &'_ RunResult, name: &str| -> Option<StepResult> {
        if name == "all" {
            return Some(run.all.clone());
        }
        run.steps.iter().find(|s| s.name == name).cloned()
    };
    names.push("all");
    let mut rows = Vec::new();
    for name in names {
        match (find(baseline, name), find(candidate, name)) {
            (Some(b), Some(c)) => {
                for ((metric, better, base), (_, _, cand)) in
                    metrics(baseline, &b).into_iter().zip(metrics(candidate, &c))
                {
                    let (change_pct, verdict) = judge(metric, better, base, cand, threshold_pct);
                    rows.push(Row {
                        name: name.to_owned(),
                        metric,
                        baseline: base,
                        candidate: cand,
                        change_pct,
                        verdict,
                    });
                }
            }
            (b, c) => {
                let (base, cand) = (
                    b.map_or(f64::NAN, |s| s.requests as f64),
                    c.map_or(f64::NAN, |s| s.requests as f64),
                );
                rows.push(Row {
                    name: name.to_owned(),
                    metric: "requests",
                    baseline: base,
                    candidate: cand,
                    change_pct: None,
                    verdict: Verdict::Missing,
                });
            }
        }
    }
    Comparison { threshold_pct, rows }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "-".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn change(row: &Row) -> String {
    row.change_pct.map_or_else(|| "-".to_owned(), |c| format!("{c:+.1}%"))
}

fn summary(c: &Comparison) -> String {
    match c.regressions() {
        0 => format!("no regression beyond {}%", c.threshold_pct),
        n => format!("{n} regression(s) beyond {}%", c.threshold_pct),
    }
}

/// A plain-text table for the terminal.
pub fn text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<9} {:>12} {:>12} {:>9}  verdict",
        "request", "metric", "baseline", "candidate", "change"
    );
    for r in &c.rows {
        let _ = writeln!(
            out,
            "{:<32} {:<9} {:>12} {:>12} {:>9}  {}",
            r.name,
            r.metric,
            number(r.baseline),
            number(r.candidate),
            change(r),
            r.verdict.as_str()
        );
    }
    let _ = writeln!(out, "\n{}", summary(c));
    out
}

/// A GitHub-flavoured Markdown table, for a pull-request comment.
pub fn markdown(c: &Comparison) -> String {
    let mut out =
        String::from("| request | metric | baseline | candidate | change | verdict |\n|---|---|---:|---:|---:|---|\n");
    for r in &c.rows {
        let verdict = match r.verdict {
            Verdict::Regression => "**REGRESSION**",
            v => v.as_str(),
        };
        let name = r.name.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {verdict} |",
            r.metric,
            number(r.baseline),
            number(r.candidate),
            change(r)
        );
    }
    let _ = writeln!(out, "\n{}", summary(c));
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::result::Group;

    fn run(groups: &[(&str, u64, u64)]) -> RunResult {
        let groups: Vec<Group> = groups
            .iter()
            .map(|(name, micros, failed)| {
                let mut histogram = crate::stats::histogram();
                for _ in 0..1_000 {
                    histogram.record(*micros).unwrap();
                }
                Group {
                    name: (*name).to_owned(),
                    histogram,
                    failed: *failed,
                }
            })
            .collect();
        RunResult::from_groups(
            "t",
            "",
            "http://x",
            time::OffsetDateTime::UNIX_EPOCH,
            Duration::from_secs(10),
            &groups,
        )
    }

    fn row<'a>(c: &'a Comparison, name: &str, metric: &str) -> &'a Row {
        c.rows.iter().find(|r| r.name == name && r.metric == metric).unwrap()
    }

    #[test]
    fn a_slower_request_beyond_the_threshold_is_a_regression_and_within_it_is_not() {
        let base = run(&[("GET task", 10_000, 0), ("POST task", 20_000, 0)]);
        let cand = run(&[("GET task", 11_500, 0), ("POST task", 21_000, 0)]);
        let c = compare(&base, &cand, 10.0);
        assert_eq!(row(&c, "GET task", "p95 ms").verdict, Verdict::Regression);
        assert_eq!(row(&c, "POST task", "p95 ms").verdict, Verdict::Same);
        // GET task's p50, p95 and p99; of `all` (half GET, half POST) only the p50 moves by 15%.
        assert_eq!(c.regressions(), 3 + 1);
        let faster = compare(&cand, &base, 10.0);
        assert_eq!(row(&faster, "GET task", "p95 ms").verdict, Verdict::Better);
        assert_eq!(faster.regressions(), 0);
    }

    #[test]
    fn error_rates_regress_past_the_floor_and_names_in_one_run_are_marked() {
        let base = run(&[("GET task", 10_000, 0), ("gone", 10_000, 0)]);
        let cand = run(&[("GET task", 10_000, 50), ("new", 10_000, 0)]);
        let c = compare(&base, &cand, 10.0);
        let errors = row(&c, "GET task", "errors %");
        assert_eq!((errors.verdict, errors.baseline), (Verdict::Regression, 0.0));
        assert!((errors.candidate - 100.0 * 50.0 / 1_050.0).abs() < 1e-9);
        assert_eq!(row(&c, "gone", "requests").verdict, Verdict::Missing);
        assert_eq!(row(&c, "new", "requests").verdict, Verdict::Missing);
        let one_in_ten_thousand = run(&[("GET task", 10_000, 0)]);
        let mut nearly = run(&[("GET task", 10_000, 1)]);
        nearly.steps[0].requests = 10_000;
        assert_eq!(
            row(&compare(&one_in_ten_thousand, &nearly, 10.0), "GET task", "errors %").verdict,
            Verdict::Same
        );
    }

    #[test]
    fn markdown_is_a_table_with_regressions_in_bold() {
        let c = compare(&run(&[("a|b", 10_000, 0)]), &run(&[("a|b", 20_000, 0)]), 10.0);
        let md = markdown(&c);
        assert!(md.starts_with("| request | metric | baseline | candidate | change | verdict |\n|---|"));
        assert!(
            md.contains("| a\\|b | p95 ms | 10.01 | 20.02 | +100.0% | **REGRESSION** |"),
            "{md}"
        );
        assert!(md.trim_end().ends_with("regression(s) beyond 10%"));
        assert!(text(&c).contains("REGRESSION"));
    }
}
