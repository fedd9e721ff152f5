//! What saturated during a step: the platform's own signals from its `/metrics` (database pool
//! in use and acquire wait, vendor calls in flight and bulkhead rejections, breaker state,
//! rate-limit rejections, the async sync queue) and the CPU of each process from /proc.
//!
//! Each signal carries a pressure: its value over the level at which the resource counts as
//! saturated, so signals of different kinds compare and 1.0 is the line. The levels are below;
//! each says where it comes from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cpu::{GENERATOR, MACHINE, Usage};
use crate::scrape::{Scrape, split};

/// A process at 90% of every core leaves the scheduler no slack: queues grow from there.
pub const CPU_SATURATED: f64 = 0.9;
/// A pool that is in use 90% of the time makes most requests wait for a connection (M/M/c).
pub const POOL_SATURATED: f64 = 0.9;
/// A mean acquire wait of 10 ms is already a fifth of a fast request's budget.
pub const ACQUIRE_WAIT_SATURATED_MS: f64 = 10.0;

/// One resource's state over a step's measured part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signal {
    /// `cpu emrlab up (pid 12)`, `db pool task`, `breaker epic`, …
    pub resource: String,
    /// The value, in words with its unit (`1.72 cores`, `95% in use`).
    pub shown: String,
    /// Value over the saturation level: at 1.0 or above the resource is saturated.
    pub pressure: f64,
}

impl Signal {
    /// Whether the resource was saturated.
    pub fn saturated(&self) -> bool {
        self.pressure >= 1.0
    }
}

/// Per group label value, the series' values at each scrape of the measured part.
fn gauge(scrapes: &[&Scrape], metric: &str, group: &str) -> BTreeMap<String, Vec<f64>> {
    let mut lines: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for scrape in scrapes {
        let mut at: BTreeMap<String, f64> = BTreeMap::new();
        for (series, value) in &scrape.series {
            let (name, labels) = split(series);
            if name == metric {
                let key = labels.iter().find(|(k, _)| k == group).map_or("-", |(_, v)| v.as_str());
                *at.entry(key.to_owned()).or_default() += value;
            }
        }
        for (key, value) in at {
            lines.entry(key).or_default().push(value);
        }
    }
    lines
}

/// A counter's increase over the measured part (0 when it went down: a restart).
fn increase(values: &[f64]) -> f64 {
    match (values.first(), values.last()) {
        (Some(a), Some(b)) if b >= a => b - a,
        _ => 0.0,
    }
}

/// A refusal means the resource was full: the line (1.0), plus up to 1.0 more for one refusal a
/// second or more, so that refusing more ranks higher without dwarfing every other signal.
fn refusals(refused: f64, seconds: f64) -> f64 {
    if refused > 0.0 {
        1.0 + (refused / seconds.max(1e-9)).min(1.0)
    } else {
        0.0
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The platform's signals from the scrapes taken at or after `from` seconds into the step.
pub fn scraped(scraped: &[Scrape], from: f64, seconds: f64) -> Vec<Signal> {
    let scrapes: Vec<&Scrape> = scraped.iter().filter(|s| s.t >= from).collect();
    let mut signals = Vec::new();
    let in_use = gauge(&scrapes, "emrlab_db_pool_connections_in_use", "component");
    let max = gauge(&scrapes, "emrlab_db_pool_connections_max", "component");
    for (component, used) in &in_use {
        let size = max.get(component).map_or(0.0, |m| mean(m));
        if size > 0.0 {
            let share = mean(used) / size;
            signals.push(Signal {
                resource: format!("db pool {component}"),
                shown: format!("{:.0}% of {size:.0} in use", 100.0 * share),
                pressure: share / POOL_SATURATED,
            });
        }
    }
    let wait_sum = gauge(&scrapes, "emrlab_db_pool_acquire_duration_seconds_sum", "component");
    let wait_count = gauge(&scrapes, "emrlab_db_pool_acquire_duration_seconds_count", "component");
    for (component, sum) in &wait_sum {
        let count = wait_count.get(component).map_or(0.0, |c| increase(c));
        if count > 0.0 {
            let ms = 1_000.0 * increase(sum) / count;
            signals.push(Signal {
                resource: format!("db acquire wait {component}"),
                shown: format!("{ms:.1} ms mean"),
                pressure: ms / ACQUIRE_WAIT_SATURATED_MS,
            });
        }
    }
    let rejected = gauge(&scrapes, "emrlab_emr_vendor_rejections_total", "vendor");
    for (vendor, in_flight) in gauge(&scrapes, "emrlab_emr_vendor_calls_in_flight", "vendor") {
        let refused = rejected.get(&vendor).map_or(0.0, |r| increase(r));
        // The bulkhead's size is a knob the metrics do not carry; a refusal says it was full.
        signals.push(Signal {
            resource: format!("vendor in flight {vendor}"),
            shown: format!(
                "peak {:.0}, {refused:.0} refused by the bulkhead",
                in_flight.iter().copied().fold(0.0, f64::max)
            ),
            pressure: refusals(refused, seconds),
        });
    }
    for (vendor, states) in gauge(&scrapes, "emrlab_emr_breaker_state", "vendor") {
        let open = states.iter().filter(|s| **s >= 1.0).count();
        signals.push(Signal {
            resource: format!("breaker {vendor}"),
            shown: format!("not closed in {open} of {} scrapes", states.len()),
            pressure: if open > 0 {
                1.0 + open as f64 / states.len() as f64
            } else {
                0.0
            },
        });
    }
    let limited: f64 = gauge(&scrapes, "emrlab_gateway_rate_limited_total", "limiter")
        .values()
        .map(|v| increase(v))
        .sum();
    if scrapes.iter().any(|s| !s.series.is_empty()) {
        signals.push(Signal {
            resource: "rate limit".into(),
            shown: format!("{:.1} rejections/s", limited / seconds.max(1e-9)),
            pressure: refusals(limited, seconds),
        });
    }
    let depth = gauge(&scrapes, "emrlab_sync_queue_depth", "component");
    let refused: f64 = gauge(&scrapes, "emrlab_sync_queue_rejections_total", "component")
        .values()
        .map(|v| increase(v))
        .sum();
    if !depth.is_empty() {
        let peak = depth.values().flatten().copied().fold(0.0, f64::max);
        signals.push(Signal {
            resource: "sync queue".into(),
            shown: format!("peak depth {peak:.0}, {refused:.0} refused"),
            pressure: refusals(refused, seconds),
        });
    }
    signals
}

/// What to try against a saturated resource: the knobs that act on it, and where its cause shows.
/// None for the generator's own CPU: that is the generator's limit, not the platform's.
pub fn next_step(resource: &str) -> Option<&'static str> {
    const HINTS: [(&str, &str); 7] = [
        ("cpu generator", ""),
        (
            "db ",
            "db.pool_size (more connections), or shorten what holds them: the slowest requests of the \
             step in the HTML report, and `emrlab db report` for the statements",
        ),
        (
            "vendor in flight",
            "emr.max_in_flight (a larger bulkhead), or fewer vendor calls: emr.cache, emr.dedup",
        ),
        (
            "breaker",
            "the vendor is failing: its knobs (vendors.*) and emr.breaker.*",
        ),
        (
            "rate limit",
            "gateway.rate_limit.per_second and .burst, or gateway.rate_limit.key",
        ),
        ("sync queue", "sync.queue_capacity, or sync.mode = inline"),
        (
            "cpu ",
            "less work per request (caches: dashboard.source, emr.cache), or more cores",
        ),
    ];
    HINTS
        .iter()
        .find(|(prefix, _)| resource.starts_with(prefix))
        .map(|(_, hint)| *hint)
        .filter(|hint| !hint.is_empty())
}

/// CPU signals: each platform process and the machine against every core of it; the generator
/// against the cores its worker threads can use.
pub fn cpu(usage: &[Usage], generator_cores: f64) -> Vec<Signal> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let (watched, others) = super::cpu::watched_and_others(usage);
    usage
        .iter()
        .map(|u| {
            let cores = if u.name == GENERATOR { generator_cores } else { cpus };
            // On a shared machine a busy machine may be someone else's build: the machine counts
            // what the watched processes (platform, databases, generator) took of it, and says
            // what the rest took.
            let (used, what) = if u.name == MACHINE {
                (
                    watched,
                    format!("of {cpus:.0} by the watched processes, {others:.2} by others"),
                )
            } else {
                (u.cores, format!("of {cores:.0}"))
            };
            Signal {
                resource: format!("cpu {}", u.name),
                shown: format!("{used:.2} cores {what}"),
                pressure: used / (CPU_SATURATED * cores.max(1.0)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(t: f64, series: &[(&str, f64)]) -> Scrape {
        Scrape {
            url: "u".into(),
            t,
            series: series.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn a_full_pool_and_an_open_breaker_are_saturated_and_a_quiet_limiter_is_not() {
        // The pool full or nearly, the breaker open at the last scrape, the limiter's counter still.
        let measured = |t: f64, in_use: f64, breaker: f64| {
            scrape(
                t,
                &[
                    (r#"emrlab_db_pool_connections_in_use{component="task"}"#, in_use),
                    (r#"emrlab_db_pool_connections_max{component="task"}"#, 10.0),
                    (r#"emrlab_emr_breaker_state{vendor="epic"}"#, breaker),
                    (r#"emrlab_gateway_rate_limited_total{limiter="token"}"#, 4.0),
                ],
            )
        };
        let steps = [
            // Warm-up: left out.
            scrape(1.0, &[(r#"emrlab_emr_breaker_state{vendor="epic"}"#, 1.0)]),
            measured(5.0, 10.0, 0.0),
            measured(10.0, 9.0, 1.0),
        ];
        let signals = scraped(&steps, 3.0, 5.0);
        let of = |r: &str| signals.iter().find(|s| s.resource == r).unwrap();
        assert!(of("db pool task").saturated(), "{signals:?}");
        assert_eq!(of("db pool task").shown, "95% of 10 in use");
        assert!(of("breaker epic").saturated());
        assert_eq!(of("breaker epic").shown, "not closed in 1 of 2 scrapes");
        assert!(!of("rate limit").saturated(), "the counter did not move while measured");
    }

    #[test]
    fn a_saturated_resource_names_the_knobs_to_try_and_the_generator_none() {
        let next = |r: &str| next_step(r).unwrap_or("none");
        assert!(next("db acquire wait task").starts_with("db.pool_size"));
        assert!(next("db pool sync").starts_with("db.pool_size"));
        assert!(next("vendor in flight epic").contains("emr.max_in_flight"));
        assert!(next("rate limit").contains("gateway.rate_limit.per_second"));
        assert!(next("cpu emrlab up (pid 7)").contains("dashboard.source"));
        assert_eq!(next("cpu generator (this process)"), "none");
    }
}
