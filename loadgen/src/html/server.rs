//! The server-side charts, from the Prometheus series scraped while the load ran (`scraped`), on
//! the same time axis as the client-side ones: pool connections in use, pool acquire wait, cache
//! hit ratio, EMR breaker state, vendor call latency and rate-limit rejections. Counters and
//! histogram sums become per-interval values between consecutive scrapes, since a cumulative
//! total hides when things happened.

use std::collections::BTreeMap;

use super::{
    Arm,
    charts::{Chart, Rgb, Series, XAxis, YAxis, figure},
    esc,
    timeline::{label, seconds},
};
use crate::{result::RunResult, scrape::split};

/// Group value → `(t, value)` at each scrape that had it.
type Lines = BTreeMap<String, Vec<(f64, f64)>>;

/// How a chart turns its series into lines.
enum Kind {
    /// A gauge, as scraped.
    Gauge,
    /// A counter's increase per second.
    Rate,
    /// A histogram's `_sum` increase over its `_count` increase, in milliseconds.
    MeanMillis,
    /// The increase of the series labelled `result="hit"` over the increase of all of them.
    HitRatio,
}

/// One server-side chart: a metric, the label that splits it into lines, and how to read it.
struct Spec {
    title: &'static str,
    metric: &'static str,
    group: &'static str,
    kind: Kind,
    y_desc: &'static str,
    y: YAxis,
}

/// Names and labels as services/common/src/metrics.rs, services/emr and the gateway write them.
const SPECS: [Spec; 6] = [
    Spec {
        title: "DB pool connections in use",
        metric: "emrlab_db_pool_connections_in_use",
        group: "component",
        kind: Kind::Gauge,
        y_desc: "connections",
        y: YAxis::Number,
    },
    Spec {
        title: "DB pool acquire wait (mean per interval)",
        metric: "emrlab_db_pool_acquire_duration_seconds",
        group: "component",
        kind: Kind::MeanMillis,
        y_desc: "ms",
        y: YAxis::Number,
    },
    Spec {
        title: "Cache hit ratio (per interval)",
        metric: "emrlab_cache_requests_total",
        group: "cache",
        kind: Kind::HitRatio,
        y_desc: "hits",
        y: YAxis::Ratio,
    },
    Spec {
        title: "EMR vendor breaker state",
        metric: "emrlab_emr_breaker_state",
        group: "vendor",
        kind: Kind::Gauge,
        y_desc: "state",
        y: YAxis::Breaker,
    },
    Spec {
        title: "EMR vendor call latency (mean per interval)",
        metric: "emrlab_emr_vendor_call_duration_seconds",
        group: "vendor",
        kind: Kind::MeanMillis,
        y_desc: "ms",
        y: YAxis::Number,
    },
    Spec {
        title: "Rate-limit rejections",
        metric: "emrlab_gateway_rate_limited_total",
        group: "limiter",
        kind: Kind::Rate,
        y_desc: "429s per second",
        y: YAxis::Number,
    },
];

/// Every server-side chart, or why there is none.
pub fn charts(arms: &[Arm<'_>]) -> String {
    if arms.iter().all(|a| a.result.scraped.is_empty()) {
        return "<p class=\"missing\">Nothing was scraped (<code>--no-scrape</code>, or the target has no \
                <code>/metrics</code>).</p>\n"
            .to_owned();
    }
    let mut figures = String::new();
    let mut absent = Vec::new();
    for spec in &SPECS {
        let per_arm: Vec<Lines> = arms.iter().map(|a| lines(a.result, spec)).collect();
        let mut series = Vec::new();
        for (i, (arm, lines)) in arms.iter().zip(&per_arm).enumerate() {
            for (k, (group, points)) in lines.iter().enumerate() {
                series.push(Series {
                    label: label(arms, arm, group),
                    colour: Rgb::pick(i, arms.len(), k, lines.len()),
                    width: 2,
                    points: points.clone(),
                });
            }
        }
        // Said in one line below the charts rather than as an empty frame in the grid.
        if series.iter().all(|s| s.points.is_empty()) {
            absent.push(format!(
                "{}: not scraped (no <code>{}</code>)",
                esc(spec.title),
                esc(spec.metric)
            ));
            continue;
        }
        figures.push_str(&figure(&Chart {
            title: spec.title.into(),
            x: XAxis::Seconds(seconds(arms)),
            y_desc: spec.y_desc,
            y: spec.y,
            series,
        }));
    }
    let absent: String = absent
        .iter()
        .map(|a| format!("<p class=\"missing\">{a}.</p>\n"))
        .collect();
    format!("<div class=\"charts\">\n{figures}</div>\n{absent}")
}

fn lines(r: &RunResult, spec: &Spec) -> Lines {
    let all = |_: &[(String, String)]| true;
    match spec.kind {
        Kind::Gauge => sums(r, spec.metric, spec.group, all),
        Kind::Rate => {
            let per_second = |(t0, v0): (f64, f64), (t1, v1): (f64, f64)| (t1 > t0).then(|| (v1 - v0) / (t1 - t0));
            sums(r, spec.metric, spec.group, all)
                .into_iter()
                .map(|(group, points)| (group, steps(&points, per_second)))
                .collect()
        }
        Kind::MeanMillis => {
            let sum = sums(r, &format!("{}_sum", spec.metric), spec.group, all);
            let count = sums(r, &format!("{}_count", spec.metric), spec.group, all);
            per_interval(&sum, &count, 1_000.0)
        }
        Kind::HitRatio => {
            let hit = |labels: &[(String, String)]| labels.iter().any(|(k, v)| k == "result" && v == "hit");
            let hits = sums(r, spec.metric, spec.group, hit);
            per_interval(&hits, &sums(r, spec.metric, spec.group, all), 1.0)
        }
    }
}

/// Per value of label `group`, the sum of the `metric` series that `keep` accepts, at each
/// scrape. With several scraped URLs (processes), each URL's lines stay apart.
fn sums(r: &RunResult, metric: &str, group: &str, keep: impl Fn(&[(String, String)]) -> bool) -> Lines {
    let first = r.scraped.first().map(|s| s.url.as_str());
    let several_urls = r.scraped.iter().any(|s| Some(s.url.as_str()) != first);
    let mut lines = Lines::new();
    for scrape in &r.scraped {
        let mut at = BTreeMap::<String, f64>::new();
        for (series, value) in &scrape.series {
            let (name, labels) = split(series);
            if name != metric || !keep(&labels) {
                continue;
            }
            let value_of = labels.iter().find(|(k, _)| k == group).map_or("-", |(_, v)| v.as_str());
            let key = if several_urls {
                format!("{value_of} @ {}", scrape.url)
            } else {
                value_of.to_owned()
            };
            *at.entry(key).or_default() += value;
        }
        // A group absent from a scrape gets no point there (not a zero): the series did not exist yet.
        for (key, value) in at {
            lines.entry(key).or_default().push((scrape.t, value));
        }
    }
    lines
}

/// One point per pair of consecutive points, at the later one's time; a counter that went down
/// (the target restarted) gives none for that interval.
fn steps(points: &[(f64, f64)], f: impl Fn((f64, f64), (f64, f64)) -> Option<f64>) -> Vec<(f64, f64)> {
    points
        .windows(2)
        .filter_map(|w| {
            let (&a, &b) = (w.first()?, w.get(1)?);
            (b.1 >= a.1).then_some(())?;
            Some((b.0, f(a, b)?))
        })
        .collect()
}

/// `scale × Δnumerator / Δdenominator` per interval of the denominator's scrapes; no point where
/// the denominator did not move (nothing happened, so there is no mean or ratio).
fn per_interval(numerator: &Lines, denominator: &Lines, scale: f64) -> Lines {
    let at = |line: Option<&Vec<(f64, f64)>>, t: f64| {
        // Both come from the same scrapes, so their times are the same numbers; a numerator
        // series not yet in a scrape (no hit so far) is 0.
        line.and_then(|l| l.iter().find(|p| p.0 == t)).map_or(0.0, |p| p.1)
    };
    denominator
        .iter()
        .map(|(group, points)| {
            let n = numerator.get(group);
            let ratio = |a: (f64, f64), b: (f64, f64)| {
                let (dn, dd) = (at(n, b.0) - at(n, a.0), b.1 - a.1);
                (dd > 0.0 && dn >= 0.0).then(|| scale * dn / dd)
            };
            (group.clone(), steps(points, ratio))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Scrape;

    #[test]
    fn counters_become_per_interval_ratios_and_means() {
        let scrape = |t: f64, hits: f64, misses: f64| Scrape {
            url: "u".into(),
            t,
            series: vec![
                (
                    r#"emrlab_cache_requests_total{cache="moka",result="hit"}"#.to_owned(),
                    hits,
                ),
                (
                    r#"emrlab_cache_requests_total{cache="moka",result="miss"}"#.to_owned(),
                    misses,
                ),
            ],
        };
        let mut run = crate::result::RunResult::from_groups(
            "r",
            "",
            "x",
            time::OffsetDateTime::UNIX_EPOCH,
            Default::default(),
            &[],
        );
        run.scraped = vec![
            scrape(5.0, 0.0, 10.0),
            scrape(10.0, 30.0, 20.0),
            scrape(15.0, 30.0, 20.0),
        ];
        // 30 hits of 40 lookups between 5 s and 10 s; nothing after, so no point at 15 s.
        assert_eq!(lines(&run, &SPECS[2])["moka"], [(10.0, 0.75)]);
        assert_eq!(lines(&run, &SPECS[5]), Lines::new());
    }
}
