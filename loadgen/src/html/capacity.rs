//! A capacity run as an HTML report: the verdict and the steps on top, then three curves with the
//! knee (the highest load that met the SLO) marked: latency against throughput, latency
//! percentiles and throughput against load, and each saturation signal against load; below them every step as
//! the load report shows runs side by side.

use std::collections::BTreeMap;

use super::{
    Arm, Report,
    charts::{Chart, Rgb, Series, XAxis, YAxis, figure},
    esc, render,
    tables::{head, num, td},
};
use crate::capacity::{CapacityResult, Step, unit};

/// The whole page.
pub fn page(result: &CapacityResult) -> String {
    let unit = unit(&result.model);
    render(&Report {
        title: format!("Capacity of {} against {}", result.scenario, result.target),
        summary_html: summary(result),
        arms: result
            .steps
            .iter()
            .map(|s| Arm {
                label: format!("{:.0} {unit} #{}", s.load, s.run),
                result: &s.result,
            })
            .collect(),
    })
}

fn by_load(result: &CapacityResult) -> Vec<&Step> {
    let mut steps: Vec<&Step> = result.steps.iter().collect();
    steps.sort_by(|a, b| a.load.total_cmp(&b.load).then(a.run.cmp(&b.run)));
    steps
}

/// A vertical line at the knee, as tall as the chart's highest point.
fn knee(x: Option<f64>, series: &[Series], what: &str) -> Option<Series> {
    let x = x?;
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    Some(Series {
        label: format!("knee: {what}"),
        colour: Rgb(0x33, 0x33, 0x33),
        width: 1,
        points: vec![(x, 0.0), (x, top)],
    })
}

fn summary(result: &CapacityResult) -> String {
    let unit = unit(&result.model);
    let steps = by_load(result);
    let verdict: String = result.verdict().lines().map(|l| format!("<p>{}</p>", esc(l))).collect();
    let notes: String = result
        .notes
        .iter()
        .map(|n| format!("<p class=\"sub\">{}</p>", esc(n)))
        .collect();
    let mut table = format!(
        "<table>\n{}",
        head(&[
            unit,
            "run",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "SLO",
            "first saturated signal"
        ])
    );
    for s in &steps {
        let verdict = match (&s.generator_limit, s.ok) {
            (Some(why), _) => format!("generator limit: {why}"),
            (None, true) => "met".into(),
            (None, false) => {
                let broken: Vec<&str> = s.slo.iter().filter(|v| !v.ok).map(|v| v.term.as_str()).collect();
                format!("broken: {}", broken.join(", "))
            }
        };
        let signal = s
            .saturated()
            .map_or(String::new(), |g| format!("{} ({})", g.resource, g.shown));
        table.push_str(&format!(
            "<tr>{}{}{}{}{}{}{}{}</tr>\n",
            num(&format!("{:.0}", s.load)),
            num(&s.run.to_string()),
            num(&format!("{:.1}", s.throughput_rps)),
            num(&format!("{:.1}", s.latency.p50_ms)),
            num(&format!("{:.1}", s.latency.p95_ms)),
            num(&format!("{:.1}", s.latency.p99_ms)),
            td(&verdict),
            td(&signal)
        ));
    }
    table.push_str("</table>\n");
    format!(
        "<section id=\"capacity\"><h2>Capacity</h2><p>SLO <code>{}</code>; each step {:.0} s warm-up (discarded) \
         and {:.0} s measured.</p>{verdict}{notes}{table}<div class=\"charts\">\n{}</div></section>\n",
        esc(&result.slo),
        result.warmup_s,
        result.measured_s,
        curves(result, &steps)
    )
}

fn curves(result: &CapacityResult, steps: &[&Step]) -> String {
    let unit = unit(&result.model);
    let sustainable = result.sustainable.as_ref();
    let at_knee = sustainable.map(|s| format!("{:.0} {unit}", s.load)).unwrap_or_default();
    let percentile = |label: &str, k: usize, pick: fn(&Step) -> f64, x: fn(&Step) -> f64| Series {
        label: label.into(),
        colour: Rgb::nth(k),
        width: 2,
        points: steps.iter().map(|s| (x(s), pick(s))).collect(),
    };
    let throughput = |s: &Step| s.throughput_rps;
    let load = |s: &Step| s.load;
    let mut latency_vs_throughput = vec![
        percentile("p50", 0, |s| s.latency.p50_ms, throughput),
        percentile("p95", 1, |s| s.latency.p95_ms, throughput),
        percentile("p99", 2, |s| s.latency.p99_ms, throughput),
    ];
    latency_vs_throughput.extend(knee(
        sustainable.map(|s| s.throughput_rps),
        &latency_vs_throughput,
        &format!(
            "{:.1} req/s at {at_knee}",
            sustainable.map_or(0.0, |s| s.throughput_rps)
        ),
    ));
    let mut latency_vs_load = vec![
        percentile("p50", 0, |s| s.latency.p50_ms, load),
        percentile("p95", 1, |s| s.latency.p95_ms, load),
        percentile("p99", 2, |s| s.latency.p99_ms, load),
    ];
    latency_vs_load.extend(knee(sustainable.map(|s| s.load), &latency_vs_load, &at_knee));
    let mut throughput_vs_load = vec![percentile("requests/s", 0, throughput, load)];
    throughput_vs_load.extend(knee(sustainable.map(|s| s.load), &throughput_vs_load, &at_knee));
    // Each signal's pressure in percent of its saturation level, per step.
    let mut pressure: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for s in steps {
        for g in &s.signals {
            pressure
                .entry(&g.resource)
                .or_default()
                // Capped, so that one signal far past its line does not flatten the others.
                .push((s.load, (100.0 * g.pressure).min(300.0)));
        }
    }
    let mut signals: Vec<Series> = pressure
        .into_iter()
        .enumerate()
        .map(|(k, (resource, points))| Series {
            label: resource.to_owned(),
            colour: Rgb::nth(k),
            width: 2,
            points,
        })
        .collect();
    signals.extend(knee(sustainable.map(|s| s.load), &signals, &at_knee));
    let max_load = steps.iter().map(|s| s.load).fold(1.0, f64::max);
    let max_rps = steps.iter().map(|s| s.throughput_rps).fold(1.0, f64::max);
    [
        Chart {
            title: "Latency against throughput (corrected, every request)".into(),
            x: XAxis::Quantity(max_rps, "requests/s"),
            y_desc: "ms",
            y: YAxis::Number,
            series: latency_vs_throughput,
        },
        Chart {
            title: format!("Latency percentiles against load ({unit})"),
            x: XAxis::Quantity(max_load, unit),
            y_desc: "ms",
            y: YAxis::Number,
            series: latency_vs_load,
        },
        Chart {
            title: format!("Throughput against load ({unit})"),
            x: XAxis::Quantity(max_load, unit),
            y_desc: "requests/s",
            y: YAxis::Number,
            series: throughput_vs_load,
        },
        Chart {
            title: "Saturation signals against load (100% = saturated, capped at 300%)".into(),
            x: XAxis::Quantity(max_load, unit),
            y_desc: "% of saturation",
            y: YAxis::Number,
            series: signals,
        },
    ]
    .iter()
    .map(figure)
    .collect()
}
