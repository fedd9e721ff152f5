//! The client-side charts: per-second latency percentiles, throughput and failures, busy VUs
//! (from each result's `timeline`), and the whole run's latency by percentile (from the `all`
//! corrected histogram). Several arms overlay in one chart, each in its own hue.

use super::{
    Arm,
    charts::{Chart, Rgb, Series, XAxis, YAxis, figure},
};
use crate::{result::decode, stats::Second};

/// The time axis every over-time chart shares: the longest timeline or latest scrape.
pub fn seconds(arms: &[Arm<'_>]) -> f64 {
    // One axis for every over-time chart, client and server, so a spike lines up across them.
    arms.iter()
        .flat_map(|a| {
            let scraped = a.result.scraped.iter().map(|s| s.t);
            std::iter::once(a.result.timeline.len() as f64).chain(scraped)
        })
        .fold(1.0, f64::max)
}

/// A series' legend: what it is, after the arm's label when there are several arms.
pub fn label(arms: &[Arm<'_>], arm: &Arm<'_>, what: &str) -> String {
    if arms.len() > 1 {
        format!("{}: {what}", arm.label)
    } else {
        what.to_owned()
    }
}

/// Every client-side chart, as figures of one grid.
pub fn charts(arms: &[Arm<'_>]) -> String {
    let mut out = "<div class=\"charts\">\n".to_owned();
    if arms.iter().all(|a| a.result.timeline.is_empty()) {
        out.push_str("<p class=\"missing\">No per-second timeline in these files (a db bench has none).</p>\n");
    } else {
        out.push_str(&figure(&latency(arms)));
        out.push_str(&figure(&throughput(arms)));
        // A fast target leaves no VU busy at the end of a second: a flat zero is not worth a chart.
        if arms.iter().any(|a| a.result.timeline.iter().any(|s| s.vus > 0)) {
            out.push_str(&figure(&vus(arms)));
        }
    }
    out.push_str(&distribution(arms));
    out.push_str("</div>\n");
    out
}

fn over_time(arm: &Arm<'_>, value: impl Fn(&Second) -> Option<f64>) -> Vec<(f64, f64)> {
    let point = |s: &Second| value(s).map(|v| (s.t as f64, v));
    arm.result.timeline.iter().filter_map(point).collect()
}

fn latency(arms: &[Arm<'_>]) -> Chart {
    type Pick = fn(&Second) -> f64;
    let percentiles: [(&str, Pick); 3] = [("p50", |s| s.p50_ms), ("p95", |s| s.p95_ms), ("p99", |s| s.p99_ms)];
    let mut series = Vec::new();
    for (i, arm) in arms.iter().enumerate() {
        for (k, (name, pick)) in percentiles.iter().enumerate() {
            series.push(Series {
                label: label(arms, arm, name),
                colour: Rgb::nth(i).shade(k, percentiles.len()),
                width: if k == 0 { 1 } else { 2 },
                // A second without requests has no percentile, not a zero one.
                points: over_time(arm, |s| (s.requests > 0).then(|| pick(s))),
            });
        }
    }
    Chart {
        title: "Latency per second (corrected)".into(),
        x: XAxis::Seconds(seconds(arms)),
        y_desc: "ms",
        y: YAxis::Number,
        series,
    }
}

fn throughput(arms: &[Arm<'_>]) -> Chart {
    let mut series = Vec::new();
    for (i, arm) in arms.iter().enumerate() {
        // A lone arm: failures in red against blue. Several: the arm's hue, failures lighter.
        let (requests, failed) = if arms.len() > 1 {
            (Rgb::nth(i), Rgb::nth(i).shade(0, 2))
        } else {
            (Rgb::nth(0), Rgb::nth(1))
        };
        series.push(Series {
            label: label(arms, arm, "requests/s"),
            colour: requests,
            width: 2,
            points: over_time(arm, |s| Some(s.requests as f64)),
        });
        series.push(Series {
            label: label(arms, arm, "failed/s"),
            colour: failed,
            width: 2,
            points: over_time(arm, |s| Some(s.failed as f64)),
        });
    }
    Chart {
        title: "Throughput and failures per second".into(),
        x: XAxis::Seconds(seconds(arms)),
        y_desc: "requests per second",
        y: YAxis::Number,
        series,
    }
}

fn vus(arms: &[Arm<'_>]) -> Chart {
    let series = arms
        .iter()
        .enumerate()
        .map(|(i, arm)| Series {
            label: label(arms, arm, "busy VUs"),
            colour: Rgb::nth(i),
            width: 2,
            points: over_time(arm, |s| Some(s.vus as f64)),
        })
        .collect();
    Chart {
        title: "VUs in an iteration".into(),
        x: XAxis::Seconds(seconds(arms)),
        y_desc: "VUs",
        y: YAxis::Number,
        series,
    }
}

/// The latency at each percentile, HdrHistogram's way: x is `log10(1 / (1 - p))`, so 90%, 99%
/// and 99.9% are equally far apart and the tail gets the room it deserves.
fn distribution(arms: &[Arm<'_>]) -> String {
    let histograms: Vec<_> = arms
        .iter()
        .enumerate()
        .filter_map(|(i, arm)| Some((i, arm, decode(&arm.result.all.histograms.corrected)?)))
        .filter(|(_, _, h)| !h.is_empty())
        .collect();
    if histograms.is_empty() {
        return "<p class=\"missing\">Latency by percentile: no histogram with data.</p>\n".to_owned();
    }
    // One decade per factor of ten in the sample: beyond that a percentile is only the maximum.
    let most = histograms.iter().map(|(_, _, h)| h.len()).max().unwrap_or(1);
    let nines = (most as f64).log10().ceil().clamp(2.0, 6.0);
    let series = histograms
        .iter()
        .map(|(i, arm, h)| {
            let mut points: Vec<(f64, f64)> = h
                .iter_quantiles(5)
                .filter(|v| v.quantile_iterated_to() < 1.0)
                .map(|v| {
                    (
                        -(1.0 - v.quantile_iterated_to()).log10(),
                        v.value_iterated_to() as f64 / 1_000.0,
                    )
                })
                .filter(|(x, _)| *x <= nines)
                .collect();
            // The maximum sits where one sample in `len` is: 1 / (1 - p) = len.
            points.push(((h.len() as f64).log10().min(nines), h.max() as f64 / 1_000.0));
            Series {
                label: label(arms, arm, "all requests"),
                colour: Rgb::nth(*i),
                width: 2,
                points,
            }
        })
        .collect();
    figure(&Chart {
        title: "Latency by percentile (all requests, corrected)".into(),
        x: XAxis::Percentile(nines),
        y_desc: "ms",
        y: YAxis::Number,
        series,
    })
}
