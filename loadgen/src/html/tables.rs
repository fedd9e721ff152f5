//! The report's tables of facts: the run and its machine, one row per request name and arm, and
//! the knobs in effect. Every string from a result file passes through [`esc`].

use std::collections::BTreeSet;

use super::{Arm, esc};
use crate::result::{RunResult, StepResult};

/// A text cell.
pub fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

/// A right-aligned number cell.
pub fn num(text: &str) -> String {
    format!("<td class=\"n\">{}</td>", esc(text))
}

/// A header row.
pub fn head(cells: &[&str]) -> String {
    let cells: String = cells.iter().map(|c| format!("<th>{}</th>", esc(c))).collect();
    format!("<tr>{cells}</tr>\n")
}

/// A row of [`facts`]: its label, and its value in a run.
type Fact<'f> = (&'f str, &'f dyn Fn(&RunResult) -> String);

/// `label | arm 1 | arm 2 …` rows, one value per arm.
fn facts(arms: &[Arm<'_>], rows: &[Fact<'_>]) -> String {
    let mut header = vec![""];
    header.extend(arms.iter().map(|a| a.label.as_str()));
    let mut out = format!("<table>\n{}", head(&header));
    for (label, value) in rows {
        let cells: String = arms.iter().map(|a| td(&value(a.result))).collect();
        out.push_str(&format!("<tr><th>{}</th>{cells}</tr>\n", esc(label)));
    }
    out.push_str("</table>\n");
    out
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// The run (scenario, target, when, how long, totals) and, beside it, the machine of each arm.
pub fn run(arms: &[Arm<'_>]) -> String {
    if arms.is_empty() {
        return "<p class=\"missing\">No result files.</p>\n".to_owned();
    }
    // The highest target of any stage: what the run worked up to, in the model's unit.
    let peak = |r: &RunResult| {
        r.scenario
            .load
            .stages
            .iter()
            .map(|s| s.target)
            .fold(r.scenario.load.start, f64::max)
    };
    let run = facts(
        arms,
        &[
            ("scenario", &|r| r.scenario.name.clone()),
            ("description", &|r| r.scenario.description.clone()),
            ("load", &|r| {
                let unit = match r.scenario.load.model {
                    crate::Model::Closed => "VUs",
                    crate::Model::Open => "iterations/s",
                };
                format!(
                    "{} model, peak {} {unit}",
                    crate::model_name(r.scenario.load.model),
                    peak(r)
                )
            }),
            ("target", &|r| r.target.clone()),
            ("started at", &|r| r.started_at.clone()),
            ("duration", &|r| format!("{:.1} s", r.elapsed_s)),
            ("requests", &|r| {
                format!("{} ({:.1}/s)", r.totals.requests, r.totals.requests_per_second)
            }),
            ("failed", &|r| {
                format!(
                    "{} ({:.2}%)",
                    r.totals.failed,
                    percent(r.totals.failed, r.totals.requests)
                )
            }),
            ("iterations", &|r| {
                format!("{} ({} dropped)", r.totals.iterations, r.totals.dropped_iterations)
            }),
        ],
    );
    let machine = facts(
        arms,
        &[
            ("machine", &|r| r.machine.hostname.clone()),
            ("cores", &|r| r.machine.cpus.to_string()),
            ("memory", &|r| match r.machine.memory_bytes {
                // A file from before the field existed, or a machine without /proc/meminfo.
                0 => "unknown".to_owned(),
                bytes => format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30)),
            }),
            ("OS", &|r| {
                if r.machine.os_release.is_empty() {
                    r.machine.os.clone()
                } else {
                    format!("{} ({})", r.machine.os_release, r.machine.os)
                }
            }),
            ("load generator threads", &|r| r.workers.to_string()),
            ("checks passed", &|r| {
                let all = r.totals.checks_passed + r.totals.checks_failed;
                format!("{} of {all}", r.totals.checks_passed)
            }),
        ],
    );
    format!("<div class=\"facts\">\n{run}{machine}</div>\n")
}

/// Request names in order of first appearance over the arms, then `all`.
pub fn names(arms: &[Arm<'_>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for step in arms.iter().flat_map(|a| &a.result.steps) {
        if !names.contains(&step.name) {
            names.push(step.name.clone());
        }
    }
    names.push("all".to_owned());
    names
}

/// The step of that name in a run (`all` is the total).
pub fn step<'r>(r: &'r RunResult, name: &str) -> Option<&'r StepResult> {
    if name == "all" {
        Some(&r.all)
    } else {
        r.steps.iter().find(|s| s.name == name)
    }
}

/// One row per request name and arm: counts, statuses, corrected percentiles, the uncorrected
/// p99 and the rate.
pub fn requests(arms: &[Arm<'_>]) -> String {
    let several = arms.len() > 1;
    let mut header = vec!["request"];
    if several {
        header.push("run");
    }
    header.extend([
        "requests",
        "failed",
        "statuses",
        "p50",
        "p95",
        "p99",
        "max",
        "p99 uncorrected",
        "req/s",
    ]);
    let mut out = format!("<table>\n{}", head(&header));
    // Grouped by name, one row per arm, so the arms of one request read as one block.
    for name in names(arms) {
        for (i, arm) in arms.iter().enumerate() {
            let class = if several && i == 0 { " class=\"group\"" } else { "" };
            let mut row = format!("<tr{class}>{}", td(&name));
            if several {
                row.push_str(&td(&arm.label));
            }
            match step(arm.result, &name) {
                Some(s) => row.push_str(&request_cells(arm.result, s)),
                None => row.push_str("<td colspan=\"9\" class=\"missing\">not in this run</td>"),
            }
            out.push_str(&row);
            out.push_str("</tr>\n");
        }
    }
    out.push_str("</table>\n");
    out
}

fn request_cells(r: &RunResult, s: &StepResult) -> String {
    let statuses: Vec<String> = s.statuses.iter().map(|(code, n)| format!("{code}: {n}")).collect();
    // A name's share of the run's rate, so the per-name rates add up to the run's (and use the
    // same measured time, whatever wrote the file).
    let rate = r.totals.requests_per_second * s.requests as f64 / r.totals.requests.max(1) as f64;
    let ms = |v: f64| num(&format!("{v:.2}"));
    [
        num(&s.requests.to_string()),
        num(&format!("{} ({:.2}%)", s.failed, percent(s.failed, s.requests))),
        td(&statuses.join(", ")),
        ms(s.corrected.p50_ms),
        ms(s.corrected.p95_ms),
        ms(s.corrected.p99_ms),
        ms(s.corrected.max_ms),
        ms(s.uncorrected.p99_ms),
        num(&format!("{rate:.1}")),
    ]
    .concat()
}

/// Name → value per arm; a row whose value differs between arms is highlighted.
pub fn knobs(arms: &[Arm<'_>]) -> String {
    let names: BTreeSet<&String> = arms.iter().flat_map(|a| a.result.knobs.keys()).collect();
    if names.is_empty() {
        return "<p class=\"missing\">Not recorded: <code>emrlab load</code> alone does not know the \
                target's knobs; result files written by an experiment carry them.</p>\n"
            .to_owned();
    }
    let mut header = vec!["knob"];
    header.extend(arms.iter().map(|a| a.label.as_str()));
    let mut out = format!("<table>\n{}", head(&header));
    for name in names {
        let values: Vec<String> = arms
            .iter()
            .map(|a| match a.result.knobs.get(name) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                // The file did not record this knob: not a value, so not compared as one.
                None => "—".to_owned(),
            })
            .collect();
        let differs = values.iter().any(|v| Some(v) != values.first());
        let class = if differs { " class=\"differs\"" } else { "" };
        let cells: String = values.iter().map(|v| td(v)).collect();
        out.push_str(&format!("<tr{class}>{}{cells}</tr>\n", td(name)));
    }
    out.push_str("</table>\n");
    out
}
