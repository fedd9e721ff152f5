//! Pass/fail and what went wrong: threshold verdicts, checks per request name, the share of each
//! status class (with a bar), and why iterations were cut short.

use std::collections::BTreeSet;

use super::{
    Arm, esc,
    tables::{head, names, num, step, td},
};

/// Every verdict table, in the order a reader asks "did it pass, and if not, why".
pub fn all(arms: &[Arm<'_>]) -> String {
    [thresholds(arms), checks(arms), status_classes(arms), aborts(arms)].concat()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "<td class=\"pass\">✓ pass</td>"
    } else {
        "<td class=\"fail\">✗ fail</td>"
    }
}

/// The first column of a row: the arm's label, when there are several.
fn arm_cell(arms: &[Arm<'_>], arm: &Arm<'_>) -> String {
    if arms.len() > 1 { td(&arm.label) } else { String::new() }
}

fn header(arms: &[Arm<'_>], rest: &[&str]) -> String {
    let mut cells = if arms.len() > 1 { vec!["run"] } else { Vec::new() };
    cells.extend(rest);
    head(&cells)
}

fn thresholds(arms: &[Arm<'_>]) -> String {
    let mut out = "<h3>Thresholds</h3>\n".to_owned();
    if arms.iter().all(|a| a.result.thresholds.is_empty()) {
        out.push_str("<p class=\"missing\">The scenario set no thresholds.</p>\n");
        return out;
    }
    out.push_str("<table>\n");
    out.push_str(&header(arms, &["metric", "condition", "actual", "verdict"]));
    for arm in arms {
        for t in &arm.result.thresholds {
            // No value when the metric had no data (a `step:` name not in the scenario); 0 would lie.
            let actual = t.actual.map_or_else(|| "no data".to_owned(), |v| format!("{v:.3}"));
            out.push_str(&format!(
                "<tr>{}{}{}{}{}</tr>\n",
                arm_cell(arms, arm),
                td(&t.metric),
                td(&t.condition),
                num(&actual),
                verdict(t.ok)
            ));
        }
    }
    out.push_str("</table>\n");
    out
}

fn checks(arms: &[Arm<'_>]) -> String {
    let mut out = "<h3>Checks</h3>\n".to_owned();
    let any = |s: &crate::result::StepResult| s.checks_passed + s.checks_failed > 0;
    if !arms.iter().any(|a| any(&a.result.all)) {
        out.push_str("<p class=\"missing\">No checks ran.</p>\n");
        return out;
    }
    out.push_str("<table>\n");
    out.push_str(&header(arms, &["request", "passed", "failed", "verdict"]));
    for name in names(arms) {
        for arm in arms {
            // Only names that ran checks: a row of zeros says nothing.
            let Some(s) = step(arm.result, &name).filter(|s| any(s)) else {
                continue;
            };
            out.push_str(&format!(
                "<tr>{}{}{}{}{}</tr>\n",
                arm_cell(arms, arm),
                td(&name),
                num(&s.checks_passed.to_string()),
                num(&s.checks_failed.to_string()),
                verdict(s.checks_failed == 0)
            ));
        }
    }
    out.push_str("</table>\n");
    out
}

/// A status class's colour in the bar: served green, client errors amber, server errors red.
fn class_colour(class: &str) -> &'static str {
    match class {
        "2xx" | "ok" => "#59a14f",
        "1xx" => "#76b7b2",
        "3xx" => "#4e79a7",
        "4xx" => "#f28e2b",
        "5xx" => "#e15759",
        _ => "#555555",
    }
}

/// Statuses are totals per request name (the timeline has only requests and failures per
/// second), so their breakdown is a table of the whole run with a bar per arm.
fn status_classes(arms: &[Arm<'_>]) -> String {
    let classes: BTreeSet<&String> = arms.iter().flat_map(|a| a.result.all.by_status_class.keys()).collect();
    let mut out = "<h3>Status classes (all requests)</h3>\n".to_owned();
    if classes.is_empty() {
        out.push_str("<p class=\"missing\">No requests.</p>\n");
        return out;
    }
    let mut cells: Vec<&str> = classes.iter().map(|c| c.as_str()).collect();
    cells.push("share");
    out.push_str("<table>\n");
    out.push_str(&header(arms, &cells));
    for arm in arms {
        let by_class = &arm.result.all.by_status_class;
        let total: u64 = by_class.values().map(|c| c.requests).sum();
        let mut row = arm_cell(arms, arm);
        let mut bar = String::new();
        for class in &classes {
            let n = by_class.get(*class).map_or(0, |c| c.requests);
            let share = 100.0 * n as f64 / total.max(1) as f64;
            row.push_str(&num(&format!("{n} ({share:.1}%)")));
            // The colour comes from our table, never from the file: a class name is only text here.
            if n > 0 {
                bar.push_str(&format!(
                    "<span style=\"width:{share:.2}%;background:{}\" title=\"{}: {share:.1}%\"></span>",
                    class_colour(class),
                    esc(class)
                ));
            }
        }
        out.push_str(&format!("<tr>{row}<td><div class=\"bar\">{bar}</div></td></tr>\n"));
    }
    out.push_str("</table>\n");
    out
}

fn aborts(arms: &[Arm<'_>]) -> String {
    let mut out = "<h3>Iterations cut short</h3>\n".to_owned();
    if arms.iter().all(|a| a.result.aborts.is_empty()) {
        out.push_str("<p class=\"missing\">None: every iteration ran to its last step.</p>\n");
        return out;
    }
    out.push_str("<table>\n");
    out.push_str(&header(arms, &["reason", "times"]));
    for arm in arms {
        for (reason, n) in &arm.result.aborts {
            out.push_str(&format!(
                "<tr>{}{}{}</tr>\n",
                arm_cell(arms, arm),
                td(reason),
                num(&n.to_string())
            ));
        }
    }
    out.push_str("</table>\n");
    out
}
