//! The summary printed at the end of a run: totals, a line per request name, the statuses (in
//! all and per request name), the aborts and the thresholds.

use std::{collections::BTreeMap, fmt::Write};

use crate::{model_name, result::RunResult};

/// The terminal summary: totals, one line per request name, thresholds.
pub fn summary(r: &RunResult) -> String {
    let mut out = String::new();
    let t = &r.totals;
    let _ = writeln!(
        out,
        "\n{} ({} model) against {} — {:.1} s, {} workers",
        r.scenario.name,
        model_name(r.scenario.load.model),
        r.target,
        r.elapsed_s,
        r.workers
    );
    let _ = writeln!(
        out,
        "requests {}  ({:.1}/s)  failed {} ({:.2}%)  iterations {}  dropped {}  checks {}/{}",
        t.requests,
        t.requests_per_second,
        t.failed,
        100.0 * t.failed as f64 / t.requests.max(1) as f64,
        t.iterations,
        t.dropped_iterations,
        t.checks_passed,
        t.checks_passed + t.checks_failed
    );
    let _ = writeln!(
        out,
        "\n{:<28} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "request (ms)", "count", "failed", "p50", "p95", "p99", "max", "p99 uncorr"
    );
    for s in r.steps.iter().chain(std::iter::once(&r.all)) {
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>11.2}",
            truncate(&s.name, 28),
            s.requests,
            s.failed,
            s.corrected.p50_ms,
            s.corrected.p95_ms,
            s.corrected.p99_ms,
            s.corrected.max_ms,
            s.uncorrected.p99_ms
        );
    }
    for conflicted in r.steps.iter().filter(|s| s.name.ends_with(" conflicted")) {
        let name = conflicted.name.trim_end_matches(" conflicted");
        let plain = r.steps.iter().find(|s| s.name == name).map_or(0, |s| s.requests);
        let all = (plain + conflicted.requests).max(1);
        let _ = writeln!(
            out,
            "{name}: {} of {all} syncs put a task in conflict ({:.2}%)",
            conflicted.requests,
            100.0 * conflicted.requests as f64 / all as f64
        );
    }
    let _ = writeln!(out, "statuses: {}", statuses(&r.all.statuses));
    // Per step too: the total hides which request got the 409s, and an exact-count threshold
    // (`status:reserve:201`) is checked against these numbers. One step's would repeat the total.
    let sent: Vec<_> = r.steps.iter().filter(|s| s.requests > 0).collect();
    if sent.len() > 1 {
        for s in sent {
            let _ = writeln!(out, "  {:<28} {}", truncate(&s.name, 28), statuses(&s.statuses));
        }
    }
    for (reason, n) in &r.aborts {
        let _ = writeln!(out, "iterations cut short {n}×: {reason}");
    }
    if !r.thresholds.is_empty() {
        let _ = writeln!(out, "\nthresholds:");
        for v in &r.thresholds {
            let actual = v.actual.map_or("no data".to_owned(), |a| format!("{a:.3}"));
            let _ = writeln!(
                out,
                "  {} {:<24} {:<16} actual {actual}",
                if v.ok { "✓" } else { "✗" },
                v.metric,
                v.condition
            );
        }
    }
    out
}

/// `201: 5, 409: 2995`, in status order.
fn statuses(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    parts.join(", ")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        run::Outcome,
        stats::{Outcome as Sent, Recorder},
    };

    #[test]
    fn the_summary_prints_each_request_names_statuses() {
        let names = ["login".to_owned(), "reserve".to_owned(), "unused".to_owned()];
        let mut recorder = Recorder::new(&names);
        for (step, status, n) in [(0, 200, 10), (1, 201, 5), (1, 409, 45)] {
            for _ in 0..n {
                recorder.record(Sent {
                    step,
                    status,
                    uncorrected: Duration::from_millis(2),
                    corrected: Duration::from_millis(2),
                    failed: false,
                    checks_passed: 1,
                    checks_failed: 0,
                });
            }
        }
        let outcome = Outcome {
            summary: recorder.into_summary(),
            elapsed: Duration::from_secs(1),
            verdicts: Vec::new(),
            aborts: Default::default(),
            scraped: Vec::new(),
            workers: 1,
            warmup: Duration::ZERO,
        };
        let scenario = crate::ad_hoc("/", None, Some(1), Duration::from_secs(1));
        let result = RunResult::new(&scenario, "http://x", &outcome, time::OffsetDateTime::UNIX_EPOCH);
        let text = summary(&result);
        assert!(text.contains("statuses: 200: 10, 201: 5, 409: 45\n"), "{text}");
        // The status lines are indented under `statuses:`; the table's rows are not.
        let line = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("  {name} ")))
                .map(str::to_owned)
        };
        assert!(
            line("reserve").is_some_and(|l| l.ends_with(" 201: 5, 409: 45")),
            "{text}"
        );
        assert!(line("login").is_some_and(|l| l.ends_with(" 200: 10")), "{text}");
        assert_eq!(
            text.matches("unused").count(),
            1,
            "a step that sent nothing has no statuses: {text}"
        );
    }
}
