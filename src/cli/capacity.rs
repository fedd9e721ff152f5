//! `emrlab capacity <scenario>`: steps of increasing load against a running platform (or any HTTP
//! system) until the SLO breaks, with what saturated first; a table on the terminal, the result
//! file and an HTML report. The logic is `emrlab_loadgen::capacity`; docs/capacity.md.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use emrlab_loadgen::{
    Model,
    capacity::{self, Mode, Options, Stop, slo::Slo},
    plan::Plan,
};

/// The exit code when the SLO broke at the first step (as a broken threshold of `emrlab load`).
const BROKEN_AT_FIRST_STEP: u8 = 99;

#[derive(clap::Args)]
pub struct Args {
    /// A built-in scenario (`emrlab load --list`) or a TOML file.
    scenario: String,
    /// The objective each step must meet: `[GROUP:]CONDITION,…`, a group being a request name
    /// (`emr_verify`), `api` (every request no other term names) or `all` (docs/capacity.md).
    /// Default: the seed SLA, without its EMR terms when the scenario has no `emr verify`.
    #[arg(long)]
    slo: Option<String>,
    /// Base URL of the system under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Run exactly these loads (VUs, or iterations/s in the open model) instead of searching.
    #[arg(long, value_delimiter = ',', value_name = "LOADS")]
    sweep: Vec<f64>,
    /// The search's first load.
    #[arg(long, default_value_t = 10.0)]
    start: f64,
    /// Each coarse step's load over the previous one's.
    #[arg(long, default_value_t = 2.0)]
    factor: f64,
    /// The bisection stops when the first bad load is within this fraction of the last good one.
    #[arg(long, default_value_t = 0.1)]
    resolution: f64,
    /// The search never goes above this load.
    #[arg(long, default_value_t = 10_000.0)]
    max: f64,
    /// Runs of the answer that must meet the SLO (a failed one moves the answer down).
    #[arg(long, default_value_t = 2)]
    repeat: u32,
    /// `closed` (loads are VUs) or `open` (loads are iterations/s); default: the scenario's.
    #[arg(long, value_parser = ["closed", "open"])]
    model: Option<String>,
    /// Each step's warm-up, discarded (whole seconds).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Each step's measured part.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    measured: Duration,
    /// No step starts that would end later than this after the first began.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    budget: Duration,
    /// Prometheus endpoints to scrape during each step (default: <url>/metrics).
    #[arg(long, value_name = "URL")]
    scrape: Vec<String>,
    /// Engine threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// The result file (default: emrlab-capacity-<scenario>.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The HTML report (default: emrlab-capacity-<scenario>.html).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let scenario = super::load::load_scenario(&args.scenario)?;
    let base = args.url.trim_end_matches('/').to_owned();
    let names = Plan::compile(scenario.clone(), &base)
        .map_err(|e| anyhow::anyhow!(e))?
        .step_names;
    let slo_text = match &args.slo {
        Some(text) => text.clone(),
        None if names.iter().any(|n| n == "emr verify") => capacity::slo::SEED_SLA.to_owned(),
        None => "api:p95<500ms,errors<0.1%".to_owned(),
    };
    let slo = Slo::parse(&slo_text, &names).map_err(|e| anyhow::anyhow!("--slo: {e}"))?;
    anyhow::ensure!(
        args.warmup.subsec_nanos() == 0,
        "--warmup must be whole seconds (the engine discards whole seconds)"
    );
    anyhow::ensure!(!args.measured.is_zero(), "--measured must be above zero");
    anyhow::ensure!(
        args.sweep.iter().all(|l| l.is_finite() && *l > 0.0),
        "--sweep loads must be above zero"
    );
    anyhow::ensure!(
        args.start >= 1.0 && args.factor > 1.0 && args.resolution > 0.0 && args.max >= args.start,
        "the search needs --start ≥ 1, --factor > 1, --resolution > 0 and --max ≥ --start"
    );
    let model = match args.model.as_deref() {
        Some("open") => Model::Open,
        Some(_) => Model::Closed,
        None => scenario.load.model,
    };
    let mode = if args.sweep.is_empty() {
        Mode::Search {
            start: args.start,
            factor: args.factor,
            resolution: args.resolution,
            max: args.max,
        }
    } else {
        Mode::Sweep(args.sweep.clone())
    };
    let options = Options {
        mode,
        model,
        warmup: args.warmup,
        measured: args.measured,
        repeats: args.repeat.max(1),
        budget: args.budget,
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        scrape: if args.scrape.is_empty() {
            vec![format!("{base}/metrics")]
        } else {
            args.scrape.clone()
        },
        scrape_every: Duration::from_secs(2),
    };
    eprintln!(
        "{}: steps of {:?} warm-up + {:?} measured against {base}, SLO {}, budget {:?}",
        scenario.name, options.warmup, options.measured, slo.text, options.budget
    );
    let result = capacity::run(&scenario, &base, &slo, &options, &mut |line| eprintln!("  {line}"))?;
    print!("{}", result.text());
    let name = &scenario.name;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("emrlab-capacity-{name}.json")));
    std::fs::write(&out, serde_json::to_vec_pretty(&result)?).with_context(|| format!("writing {}", out.display()))?;
    println!("result written to {}", out.display());
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("emrlab-capacity-{name}.html")));
    std::fs::write(&report, emrlab_loadgen::html::capacity::page(&result))
        .with_context(|| format!("writing {}", report.display()))?;
    println!("report written to {}", report.display());
    if result.stop == Stop::BrokenAtFirstStep {
        eprintln!(
            "error: the SLO broke at the first step ({:.0}); no load in range is sustainable",
            result.steps.first().map_or(0.0, |s| s.load)
        );
        return Ok(ExitCode::from(BROKEN_AT_FIRST_STEP));
    }
    Ok(ExitCode::SUCCESS)
}
