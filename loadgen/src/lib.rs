//! emrlab's load generator: closed (VUs) and open (arrival rate) models with ramping stages,
//! latencies in HdrHistograms corrected for coordinated omission, TOML scenarios with checks,
//! captures and thresholds, and a result file that merges exactly.
//!
//! Layout: `scenario` (the file format) → `plan` (compiled) → `run` (coordinator) → `worker`
//! (one thread each, VUs on a local runtime) → `vu` (one user's iterations, over `client`);
//! `stats`, `thresholds`, `result`, `report` and `progress` measure and tell; `html` makes a
//! report page from result files; `stall` is a target server with known behaviour; `builtin`
//! holds the shipped scenarios; `capacity` runs steps of increasing load to the breaking point.

pub mod builtin;
pub mod capacity;
mod client;
pub mod compare;
pub mod device;
pub mod experiment;
pub mod html;
pub mod labs;
pub mod phases;
pub mod plan;
mod progress;
pub mod report;
pub mod result;
pub mod run;
pub mod scenario;
pub mod scrape;
pub mod stages;
pub mod stall;
pub mod stats;
mod template;
mod think;
pub mod thresholds;
mod vu;
mod vu_sync;
mod worker;
mod ws;

use std::time::Duration;

pub use run::{RunOptions, run};
pub use scenario::{Model, Scenario};

/// `closed` or `open`.
pub fn model_name(model: Model) -> &'static str {
    match model {
        Model::Closed => "closed",
        Model::Open => "open",
    }
}

/// The scenario of an ad-hoc run: one GET of `path`, at `rate` iterations/s (open) or with `vus`
/// VUs (closed), held for `duration`, as wrk2 or oha would.
pub fn ad_hoc(path: &str, rate: Option<f64>, vus: Option<u32>, duration: Duration) -> Scenario {
    let (model, target) = match rate {
        Some(rate) => (Model::Open, rate),
        None => (Model::Closed, f64::from(vus.unwrap_or(10))),
    };
    let max_vus = rate.map(|_| vus.unwrap_or(1_000));
    Scenario {
        name: "ad-hoc".into(),
        description: format!("GET {path}"),
        load: scenario::LoadSpec {
            model,
            start: target,
            stages: vec![scenario::Stage { duration, target }],
            max_vus,
            max_waiting: 10_000,
            request_timeout: Duration::from_secs(60),
            graceful_stop: Duration::from_secs(5),
        },
        thresholds: Default::default(),
        users: None,
        setup: Default::default(),
        teardown: Default::default(),
        flows: vec![scenario::Flow {
            name: "get".into(),
            weight: 1,
            steps: vec![scenario::Step {
                request: Some(format!("GET {path}")),
                ..scenario::Step::named(&format!("GET {path}"))
            }],
        }],
    }
}
