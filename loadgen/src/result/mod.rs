//! The result file (`--out result.json`): the whole run, in a format documented in
//! docs/result-format.md. Histograms are stored serialized (HdrHistogram V2, base64), so results
//! of several processes or runs merge exactly.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use hdrhistogram::{
    Histogram,
    serialization::{Deserializer, Serializer, V2Serializer},
};
use serde::{Deserialize, Serialize};

mod groups;

pub use groups::Group;

use crate::{
    run::Outcome,
    scenario::Scenario,
    stats::{Second, StepStats, percentile_ms},
    thresholds::Verdict,
};

/// The format tag; bumped on any incompatible change.
pub const FORMAT: &str = "emrlab-load-result/1";

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |v: u64| v as f64 / 1_000.0;
        Self {
            min_ms: if h.is_empty() { 0.0 } else { ms(h.min()) },
            mean_ms: h.mean() / 1_000.0,
            p50_ms: percentile_ms(h, 50.0),
            p90_ms: percentile_ms(h, 90.0),
            p95_ms: percentile_ms(h, 95.0),
            p99_ms: percentile_ms(h, 99.0),
            p999_ms: percentile_ms(h, 99.9),
            max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
        }
    }
}

/// One request name's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub requests: u64,
    pub failed: u64,
    pub statuses: BTreeMap<String, u64>,
    pub checks_passed: u64,
    pub checks_failed: u64,
    /// Latency from each request's intended send time (open model); what to quote.
    pub corrected: Latency,
    /// Latency from the actual send time; equals `corrected` in the closed model.
    pub uncorrected: Latency,
    /// Base64 HdrHistogram V2 (microseconds), to merge runs exactly.
    pub histograms: Histograms,
    /// Corrected latency by status class (`2xx`, `4xx`, `5xx`, `error`, …).
    pub by_status_class: BTreeMap<String, ClassResult>,
}

/// One status class of one request name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassResult {
    pub requests: u64,
    pub corrected: Latency,
    /// Base64 HdrHistogram V2 of the corrected latency (microseconds).
    pub histogram: String,
}

/// Serialized histograms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histograms {
    pub corrected: String,
    pub uncorrected: String,
}

/// Totals over every request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub failed: u64,
    pub requests_per_second: f64,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
}

/// Where the run ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpus: usize,
    pub os: String,
    /// Physical memory in bytes (`MemTotal`), 0 if unknown; added within format 1.
    #[serde(default)]
    pub memory_bytes: u64,
    /// The distribution's `PRETTY_NAME`, `""` if unknown; added within format 1.
    #[serde(default)]
    pub os_release: String,
}

impl Machine {
    /// The machine this process runs on.
    pub fn this() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self {
            hostname: read("/etc/hostname").trim().to_owned(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            os: std::env::consts::OS.to_owned(),
            memory_bytes: mem_total(&read("/proc/meminfo")).unwrap_or(0),
            os_release: pretty_name(&read("/etc/os-release")).unwrap_or_default(),
        }
    }
}

/// `MemTotal` of /proc/meminfo in bytes (the file says kB, meaning KiB).
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// `PRETTY_NAME` of /etc/os-release, its shell quoting removed.
fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?.trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    Some(unquoted.to_owned())
}

/// The result file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub format: String,
    pub scenario: Scenario,
    pub target: String,
    pub machine: Machine,
    pub started_at: String,
    pub elapsed_s: f64,
    pub workers: usize,
    pub totals: Totals,
    pub all: StepResult,
    pub steps: Vec<StepResult>,
    pub timeline: Vec<Second>,
    pub thresholds: Vec<VerdictResult>,
    pub aborts: BTreeMap<String, u64>,
    pub scraped: Vec<crate::scrape::Scrape>,
    /// The knobs in effect (name → value), when the tool that ran the load knew them (an
    /// experiment runner does; `emrlab load` alone does not). Added within format 1.
    #[serde(default)]
    pub knobs: BTreeMap<String, serde_json::Value>,
}

/// A threshold's verdict as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerdictResult {
    pub metric: String,
    pub condition: String,
    pub actual: Option<f64>,
    pub ok: bool,
}

impl From<&Verdict> for VerdictResult {
    fn from(v: &Verdict) -> Self {
        Self {
            metric: v.metric.clone(),
            condition: v.condition.clone(),
            actual: v.actual,
            ok: v.ok,
        }
    }
}

/// Serializes a histogram to base64 V2.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2Serializer::new().serialize(h, &mut bytes) {
        Ok(_) => STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// Reads a histogram written by [`encode`].
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    let bytes = STANDARD.decode(text).ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

fn step_result(s: &StepStats) -> StepResult {
    StepResult {
        name: s.name.clone(),
        requests: s.count(),
        failed: s.failed,
        statuses: s
            .statuses
            .iter()
            .map(|(k, v)| (if *k == 0 { "error".to_owned() } else { k.to_string() }, *v))
            .collect(),
        checks_passed: s.checks_passed,
        checks_failed: s.checks_failed,
        corrected: Latency::of(&s.corrected),
        uncorrected: Latency::of(&s.uncorrected),
        histograms: Histograms {
            corrected: encode(&s.corrected),
            uncorrected: encode(&s.uncorrected),
        },
        by_status_class: s
            .by_class
            .iter()
            .map(|(class, h)| {
                let result = ClassResult {
                    requests: h.len(),
                    corrected: Latency::of(h),
                    histogram: encode(h),
                };
                ((*class).to_owned(), result)
            })
            .collect(),
    }
}

impl RunResult {
    /// The result of a finished run.
    pub fn new(scenario: &Scenario, target: &str, outcome: &Outcome, started_at: time::OffsetDateTime) -> Self {
        let total = outcome.summary.total();
        let measured = outcome.measured(scenario).as_secs_f64().max(1e-9);
        Self {
            format: FORMAT.to_owned(),
            scenario: scenario.clone(),
            target: target.to_owned(),
            machine: Machine::this(),
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            elapsed_s: outcome.elapsed.as_secs_f64(),
            workers: outcome.workers,
            totals: Totals {
                requests: total.count(),
                failed: total.failed,
                requests_per_second: total.count() as f64 / measured,
                iterations: outcome.summary.iterations,
                dropped_iterations: outcome.summary.dropped,
                checks_passed: total.checks_passed,
                checks_failed: total.checks_failed,
            },
            all: step_result(&total),
            steps: outcome.summary.steps.iter().map(step_result).collect(),
            timeline: outcome.summary.timeline.clone(),
            thresholds: outcome.verdicts.iter().map(VerdictResult::from).collect(),
            aborts: outcome.aborts.clone(),
            scraped: outcome.scraped.clone(),
            knobs: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_file() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
        for v in [1, 10, 100, 12_345, 9_999_999] {
            h.record(v).unwrap();
        }
        assert_eq!(decode(&encode(&h)).unwrap(), h);
    }

    #[test]
    fn memory_and_os_release_are_read_from_their_files() {
        let meminfo = "MemTotal:       24683784 kB\nMemFree:        1 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_683_784 * 1024));
        assert_eq!(mem_total("garbage"), None);
        let release = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(pretty_name(release).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(pretty_name("PRETTY_NAME=Alpine").as_deref(), Some("Alpine"));
    }

    #[test]
    fn a_file_written_before_memory_os_release_and_knobs_still_reads() {
        let run = RunResult::from_groups(
            "old",
            "",
            "http://x",
            time::OffsetDateTime::UNIX_EPOCH,
            std::time::Duration::from_secs(1),
            &[],
        );
        let mut file = serde_json::to_value(&run).unwrap();
        let machine = file["machine"].as_object_mut().unwrap();
        machine.remove("memory_bytes");
        machine.remove("os_release");
        file.as_object_mut().unwrap().remove("knobs");
        let back: RunResult = serde_json::from_value(file).unwrap();
        assert_eq!((back.machine.memory_bytes, back.machine.os_release.as_str()), (0, ""));
        assert!(back.knobs.is_empty());
    }
}
