//! Pass/fail conditions in k6's spirit: `p95<500ms`, `p(99)<1s`, `avg<200ms`, `rate<0.01`,
//! `rate>1000`, `count<10`, on `http_req_duration`, `step:NAME`, `http_req_failed`, `checks`,
//! `checks:NAME` (a step's checks, a rate), `http_reqs`, `iterations`, `dropped_iterations`,
//! `conflicts:NAME` (the share of a sync step's pushes that put a task in conflict, a rate) and
//! `status:NAME:CODE` (a step's answers with that status: `count==5`, or their share,
//! `rate>0.9`). `==` compares exactly.
//! A broken one makes `emrlab load` exit 99.

use std::time::Duration;

use serde::Serialize;

use crate::stats::{StepStats, Summary, percentile_ms};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stat {
    Percentile(f64),
    Avg,
    Min,
    Max,
    Rate,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One condition on one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: String,
    pub expr: String,
    stat: Stat,
    cmp: Cmp,
    /// Milliseconds for latency statistics; a plain number otherwise.
    value: f64,
}

/// A threshold's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub metric: String,
    pub condition: String,
    /// The measured value (milliseconds for latencies), if the metric exists.
    pub actual: Option<f64>,
    pub ok: bool,
}

/// The step and status of `status:NAME:CODE`.
fn status_metric(metric: &str) -> Option<(&str, u16)> {
    let (name, code) = metric.strip_prefix("status:")?.rsplit_once(':')?;
    let code = code.parse::<u16>().ok().filter(|c| (100..600).contains(c))?;
    (!name.is_empty()).then_some((name, code))
}

fn is_latency(metric: &str) -> bool {
    metric == "http_req_duration" || metric.starts_with("step:")
}

fn parse_value(text: &str, latency: bool) -> Result<f64, String> {
    let text = text.trim();
    if let Some(percent) = text.strip_suffix('%') {
        return percent
            .trim()
            .parse::<f64>()
            .map(|p| p / 100.0)
            .map_err(|_| format!("`{text}` is not a percentage"));
    }
    if let Ok(number) = text.parse::<f64>() {
        return Ok(number);
    }
    if latency {
        return humantime::parse_duration(text)
            .map(|d| d.as_secs_f64() * 1_000.0)
            .map_err(|_| format!("`{text}` is not a duration such as 500ms"));
    }
    Err(format!("`{text}` is not a number"))
}

impl Threshold {
    /// Parses `expr` for `metric`.
    pub fn parse(metric: &str, expr: &str) -> Result<Self, String> {
        let known = matches!(
            metric,
            "http_req_duration" | "http_req_failed" | "checks" | "http_reqs" | "iterations" | "dropped_iterations"
        ) || ["step:", "conflicts:", "checks:"]
            .iter()
            .any(|p| metric.strip_prefix(p).is_some_and(|s| !s.is_empty()))
            || status_metric(metric).is_some();
        if !known {
            return Err(format!("unknown metric `{metric}`"));
        }
        let at = expr
            .find(['<', '>', '='])
            .ok_or_else(|| format!("`{expr}`: write e.g. p95<500ms or rate<0.01"))?;
        let (stat, rest) = expr.split_at(at);
        let (cmp, value) = if let Some(v) = rest.strip_prefix("==") {
            (Cmp::Eq, v)
        } else if rest.starts_with('=') {
            return Err(format!("`{expr}`: write == for an exact value"));
        } else if let Some(v) = rest.strip_prefix("<=") {
            (Cmp::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Cmp::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Cmp::Lt, v)
        } else {
            (Cmp::Gt, &rest[1..])
        };
        let stat = match stat.trim() {
            "avg" => Stat::Avg,
            "min" => Stat::Min,
            "max" => Stat::Max,
            "med" => Stat::Percentile(50.0),
            "rate" => Stat::Rate,
            "count" => Stat::Count,
            other => {
                let p = other
                    .strip_prefix("p(")
                    .and_then(|p| p.strip_suffix(')'))
                    .or_else(|| other.strip_prefix('p'));
                match p.and_then(|p| p.parse::<f64>().ok()) {
                    Some(p) if (0.0..=100.0).contains(&p) => Stat::Percentile(p),
                    _ => {
                        return Err(format!(
                            "`{other}` is not a statistic (p95, p(99.9), avg, min, max, med, rate, count)"
                        ));
                    }
                }
            }
        };
        let latency_stat = matches!(stat, Stat::Percentile(_) | Stat::Avg | Stat::Min | Stat::Max);
        let rate_only = matches!(metric, "http_req_failed" | "checks")
            || metric.starts_with("conflicts:")
            || metric.starts_with("checks:");
        if stat == Stat::Count && rate_only {
            return Err(format!("{metric} is a rate: write rate<0.01 or rate>0.99"));
        }
        if latency_stat != is_latency(metric) && !(metric == "http_reqs" && stat == Stat::Count) {
            return Err(format!("`{}` does not apply to {metric}", expr.trim()));
        }
        Ok(Self {
            metric: metric.to_owned(),
            expr: expr.trim().to_owned(),
            stat,
            cmp,
            value: parse_value(value, latency_stat)?,
        })
    }

    fn measure(&self, summary: &Summary, elapsed: Duration) -> Option<f64> {
        let total = summary.total();
        let per_second = |n: u64| n as f64 / elapsed.as_secs_f64().max(1e-9);
        let ratio = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
        Some(match self.metric.as_str() {
            "http_req_failed" => ratio(total.failed, total.count()),
            "checks" => ratio(total.checks_passed, total.checks_passed + total.checks_failed),
            "http_reqs" if self.stat == Stat::Count => total.count() as f64,
            "http_reqs" => per_second(total.count()),
            "iterations" if self.stat == Stat::Count => summary.iterations as f64,
            "iterations" => per_second(summary.iterations),
            "dropped_iterations" if self.stat == Stat::Count => summary.dropped as f64,
            "dropped_iterations" => per_second(summary.dropped),
            // A step's answers with one status: how many, or their share of the step's answers.
            metric if status_metric(metric).is_some() => {
                let (name, code) = status_metric(metric)?;
                let step = summary.step(name)?;
                let n = step.statuses.get(&code).copied().unwrap_or(0);
                if self.stat == Stat::Count {
                    n as f64
                } else {
                    ratio(n, step.count())
                }
            }
            // One step's checks: a single failed check (an integrity report with `ok: false`)
            // among thousands of others' still shows. No checks ran, no data: it cannot pass.
            metric if metric.starts_with("checks:") => {
                let step = summary.step(metric.trim_start_matches("checks:"))?;
                let all = step.checks_passed + step.checks_failed;
                if all == 0 {
                    return None;
                }
                ratio(step.checks_passed, all)
            }
            // A sync step's pushes that put a task in conflict, among all its pushes.
            metric if metric.starts_with("conflicts:") => {
                let name = metric.trim_start_matches("conflicts:");
                let count = |n: &str| summary.step(n).map_or(0, StepStats::count);
                let conflicted = count(&format!("{name} conflicted"));
                ratio(conflicted, conflicted + count(name))
            }
            metric => {
                let step = match metric.strip_prefix("step:") {
                    Some(name) => summary.step(name)?.clone(),
                    None => total,
                };
                // No requests, no latency: a condition on it cannot hold.
                if step.count() == 0 {
                    return None;
                }
                let h = &step.corrected;
                match self.stat {
                    Stat::Percentile(p) => percentile_ms(h, p),
                    Stat::Avg => h.mean() / 1_000.0,
                    Stat::Min => h.min() as f64 / 1_000.0,
                    Stat::Max => h.max() as f64 / 1_000.0,
                    Stat::Rate | Stat::Count => return None,
                }
            }
        })
    }

    /// Judges the run.
    pub fn evaluate(&self, summary: &Summary, elapsed: Duration) -> Verdict {
        let actual = self.measure(summary, elapsed);
        let ok = actual.is_some_and(|a| match self.cmp {
            Cmp::Eq => (a - self.value).abs() < 1e-9,
            Cmp::Lt => a < self.value,
            Cmp::Le => a <= self.value,
            Cmp::Gt => a > self.value,
            Cmp::Ge => a >= self.value,
        });
        Verdict {
            metric: self.metric.clone(),
            condition: self.expr.clone(),
            actual,
            ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Recorder};

    fn summary() -> Summary {
        let mut r = Recorder::new(&["login".to_owned(), "list".to_owned()]);
        for i in 0..100u64 {
            let d = Duration::from_millis(i + 1);
            r.record(Outcome {
                step: (i % 2) as usize,
                status: if i < 2 { 500 } else { 200 },
                uncorrected: d,
                corrected: d,
                failed: i < 2,
                checks_passed: 1,
                checks_failed: u32::from(i == 0),
            });
        }
        r.into_summary()
    }

    fn judge(metric: &str, expr: &str) -> bool {
        Threshold::parse(metric, expr)
            .unwrap()
            .evaluate(&summary(), Duration::from_secs(10))
            .ok
    }

    #[test]
    fn latency_rate_and_count_conditions_judge_the_run() {
        assert!(judge("http_req_duration", "p95<100ms") && !judge("http_req_duration", "p(95)<90"));
        assert!(judge("step:list", "max<=101ms") && !judge("step:list", "avg<10ms"));
        assert!(judge("http_req_failed", "rate<0.03") && !judge("http_req_failed", "rate<1%"));
        assert!(judge("checks", "rate>0.98") && judge("http_reqs", "rate>=10") && judge("http_reqs", "count>99"));
        assert!(!judge("step:missing", "p95<1s"), "a step that never ran cannot pass");
    }

    #[test]
    fn a_step_status_is_counted_exactly_or_as_a_share() {
        assert!(judge("status:login:500", "count==1") && !judge("status:login:500", "count==2"));
        assert!(judge("status:list:200", "rate>0.97") && judge("status:list:404", "count==0"));
        assert!(
            !judge("status:missing:200", "count==0"),
            "a step that never ran cannot pass"
        );
        assert!(Threshold::parse("status:login", "count==1").is_err());
        assert!(Threshold::parse("status:login:200", "p95<1s").is_err());
        assert!(Threshold::parse("status:login:200", "count=5").is_err());
    }

    #[test]
    fn a_steps_checks_are_judged_apart_from_the_others() {
        // login: 50 checks passed and 1 failed; list: 50 passed; the run: 100 of 101.
        assert!(judge("checks", "rate>0.99"));
        assert!(!judge("checks:login", "rate==1") && judge("checks:login", "rate>0.98"));
        assert!(judge("checks:list", "rate==1"));
        assert!(!judge("checks:missing", "rate>=0"), "a step without checks cannot pass");
        assert!(Threshold::parse("checks:login", "count<1").is_err());
        assert!(Threshold::parse("checks:login", "p95<1s").is_err());
    }

    #[test]
    fn the_conflict_rate_is_the_share_of_pushes_recorded_as_conflicted() {
        let names = ["sync batch".to_owned(), "sync batch conflicted".to_owned()];
        let mut r = Recorder::new(&names);
        for i in 0..40u64 {
            let d = Duration::from_millis(5);
            let step = usize::from(i % 10 == 0);
            r.record(Outcome {
                step,
                status: 200,
                uncorrected: d,
                corrected: d,
                failed: false,
                checks_passed: 0,
                checks_failed: 0,
            });
        }
        let summary = r.into_summary();
        let judge = |expr: &str| {
            Threshold::parse("conflicts:sync batch", expr)
                .unwrap()
                .evaluate(&summary, Duration::from_secs(1))
        };
        let verdict = judge("rate<0.11");
        assert!(
            verdict.ok && (verdict.actual.unwrap() - 0.1).abs() < 1e-9,
            "{:?}",
            verdict.actual
        );
        assert!(!judge("rate<0.05").ok);
        assert!(Threshold::parse("conflicts:sync batch", "p95<1s").is_err());
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        assert!(Threshold::parse("http_req_duration", "p95<soon").is_err());
        assert!(Threshold::parse("http_req_failed", "p95<1s").is_err());
        assert!(Threshold::parse("latency", "p95<1s").is_err());
        assert!(Threshold::parse("checks", "rate=1").is_err());
        assert!(Threshold::parse("http_req_failed", "count<10").is_err());
    }
}
