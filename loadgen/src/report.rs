//! The summary printed at the end of a run.

use std::fmt::Write;

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
    let statuses: Vec<String> = r.all.statuses.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(out, "statuses: {}", statuses.join(", "));
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

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}
