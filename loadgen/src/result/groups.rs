//! A result file for timings taken outside the HTTP engine (`emrlab db bench`): named groups of
//! latencies become the steps of a run, so `emrlab compare` and reports read them like any other.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{ClassResult, FORMAT, Histograms, Latency, Machine, RunResult, StepResult, Totals, encode};
use crate::scenario::Scenario;

/// A named group of timings measured outside the HTTP engine (`emrlab db bench`): the latency of
/// each success in microseconds, and how many failed.
pub struct Group {
    pub name: String,
    pub histogram: Histogram<u64>,
    pub failed: u64,
}

impl Group {
    fn result(&self) -> StepResult {
        let latency = Latency::of(&self.histogram);
        let ok = self.histogram.len();
        let statuses = [("ok", ok), ("error", self.failed)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
        let class = ClassResult {
            requests: ok,
            corrected: latency.clone(),
            histogram: encode(&self.histogram),
        };
        StepResult {
            name: self.name.clone(),
            requests: ok + self.failed,
            failed: self.failed,
            statuses,
            checks_passed: 0,
            checks_failed: 0,
            corrected: latency.clone(),
            uncorrected: latency,
            histograms: Histograms {
                corrected: encode(&self.histogram),
                uncorrected: encode(&self.histogram),
            },
            by_status_class: [("ok".to_owned(), class)].into_iter().collect(),
        }
    }
}

impl RunResult {
    /// A result file for timings taken outside the HTTP engine: each group becomes a step (its
    /// statuses `ok` and `error`), the scenario names them in one flow with no requests, and the
    /// closed model's corrected and uncorrected latencies are the same. docs/result-format.md.
    pub fn from_groups(
        name: &str,
        description: &str,
        target: &str,
        started_at: time::OffsetDateTime,
        elapsed: std::time::Duration,
        groups: &[Group],
    ) -> Self {
        let mut all = Group {
            name: "all".into(),
            histogram: crate::stats::histogram(),
            failed: 0,
        };
        for g in groups {
            // Same bounds in every group (the caller's one constructor), so adding is exact.
            let _ = all.histogram.add(&g.histogram);
            all.failed += g.failed;
        }
        let total = all.histogram.len() + all.failed;
        let scenario = Scenario {
            name: name.to_owned(),
            description: description.to_owned(),
            load: crate::scenario::LoadSpec {
                model: crate::scenario::Model::Closed,
                start: 1.0,
                stages: vec![crate::scenario::Stage {
                    duration: elapsed,
                    target: 1.0,
                }],
                max_vus: None,
                max_waiting: 0,
                request_timeout: std::time::Duration::ZERO,
                graceful_stop: std::time::Duration::ZERO,
            },
            thresholds: Default::default(),
            users: None,
            setup: Default::default(),
            teardown: Default::default(),
            flows: vec![crate::scenario::Flow {
                name: name.to_owned(),
                weight: 1,
                steps: groups.iter().map(|g| crate::scenario::Step::named(&g.name)).collect(),
            }],
        };
        Self {
            format: FORMAT.to_owned(),
            scenario,
            target: target.to_owned(),
            machine: Machine::this(),
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            elapsed_s: elapsed.as_secs_f64(),
            workers: 1,
            totals: Totals {
                requests: total,
                failed: all.failed,
                requests_per_second: total as f64 / elapsed.as_secs_f64().max(1e-9),
                iterations: total,
                dropped_iterations: 0,
                checks_passed: 0,
                checks_failed: 0,
            },
            all: all.result(),
            steps: groups.iter().map(Group::result).collect(),
            timeline: Vec::new(),
            thresholds: Vec::new(),
            aborts: BTreeMap::new(),
            scraped: Vec::new(),
            knobs: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::decode;

    #[test]
    fn a_file_of_groups_reads_back_as_a_result_with_one_step_per_group() {
        let mut fast = crate::stats::histogram();
        for v in [900, 1_000, 1_100] {
            fast.record(v).unwrap();
        }
        let groups = [
            Group {
                name: "query/seed/01".into(),
                histogram: fast.clone(),
                failed: 0,
            },
            Group {
                name: "pool/10".into(),
                histogram: fast.clone(),
                failed: 2,
            },
        ];
        let started = time::OffsetDateTime::now_utc();
        let run = RunResult::from_groups(
            "db-bench",
            "d",
            "postgres://h/db",
            started,
            std::time::Duration::from_secs(2),
            &groups,
        );
        // A writer may add fields (`db_bench`); a reader of the format must still take the file.
        let mut file = serde_json::to_value(&run).unwrap();
        file["db_bench"] = serde_json::json!({"backend": "postgres"});
        let back: RunResult = serde_json::from_value(file).unwrap();
        let names: Vec<&str> = back.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["query/seed/01", "pool/10"]);
        assert_eq!((back.steps[1].requests, back.steps[1].failed), (5, 2));
        assert_eq!(back.steps[1].statuses["error"], 2);
        assert_eq!(decode(&back.steps[0].histograms.corrected).unwrap(), fast);
        assert_eq!((back.all.requests, back.totals.requests), (8, 8));
        assert_eq!(
            back.steps[0].corrected.p50_ms,
            fast.value_at_quantile(0.5) as f64 / 1_000.0
        );
    }
}
