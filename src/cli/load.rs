//! `emrlab load`: drive a built-in scenario, a scenario file, or an ad-hoc GET against any HTTP
//! system, print a summary, write the result file, and exit 99 when a threshold breaks.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use emrlab_loadgen::{RunOptions, Scenario, builtin, plan::Plan, report, result::RunResult};

/// The exit code for a run whose thresholds broke (k6's).
const THRESHOLDS_BROKEN: u8 = 99;

#[derive(clap::Args)]
pub struct Args {
    /// A built-in scenario (`--list`) or a TOML file; without one, an ad-hoc GET of --url.
    scenario: Option<String>,
    /// Base URL of the system under test (with a path for an ad-hoc run).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Open model at this many iterations per second (replaces the scenario's stages).
    #[arg(long)]
    rate: Option<f64>,
    /// Closed model with this many VUs (replaces the stages); with --rate, the VU pool.
    #[arg(long)]
    vus: Option<u32>,
    /// Total duration; a scenario's stages are stretched or squeezed to fit.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Multiply every VU count and rate.
    #[arg(long)]
    scale: Option<f64>,
    /// Write the full result (docs/result-format.md) here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Prometheus endpoints to scrape while running (default: <url>/metrics).
    #[arg(long, value_name = "URL")]
    scrape: Vec<String>,
    /// Do not scrape any metrics.
    #[arg(long)]
    no_scrape: bool,
    /// Engine threads (default: one per core); their histograms are merged.
    #[arg(long)]
    workers: Option<usize>,
    /// List the built-in scenarios.
    #[arg(long)]
    list: bool,
    /// No live progress.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn load_scenario(name: &str) -> anyhow::Result<Scenario> {
    let (text, source) = match builtin::find(name) {
        Some(text) => (text.to_owned(), format!("{name} (built in)")),
        None => (
            std::fs::read_to_string(name)
                .with_context(|| format!("`{name}` is neither a built-in scenario (see --list) nor a readable file"))?,
            name.to_owned(),
        ),
    };
    Ok(Scenario::parse(&text, &source)?)
}

/// Splits an ad-hoc URL into the base and the path to GET.
fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => (url[..after_scheme + i].to_owned(), url[after_scheme + i..].to_owned()),
        None => (url.to_owned(), "/".to_owned()),
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.list {
        for (name, text) in builtin::SCENARIOS {
            let description = Scenario::parse(text, name).map(|s| s.description).unwrap_or_default();
            println!("{name:<20} {description}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (mut scenario, base) = match &args.scenario {
        Some(name) => (load_scenario(name)?, args.url.trim_end_matches('/').to_owned()),
        None => {
            let (base, path) = split_url(&args.url);
            (
                emrlab_loadgen::ad_hoc(
                    &path,
                    args.rate,
                    args.vus,
                    args.duration.unwrap_or(Duration::from_secs(10)),
                ),
                base,
            )
        }
    };
    if args.scenario.is_some() {
        override_load(&mut scenario, args);
    }
    if let Some(duration) = args.duration {
        scenario.rescale(duration);
    }
    if let Some(factor) = args.scale {
        anyhow::ensure!(factor > 0.0, "--scale must be above 0");
        scenario.scale(factor);
    }
    let scrape = if args.no_scrape {
        Vec::new()
    } else if args.scrape.is_empty() {
        vec![format!("{base}/metrics")]
    } else {
        args.scrape.clone()
    };
    let plan = Plan::compile(scenario.clone(), &base).map_err(|e| anyhow::anyhow!(e))?;
    let options = RunOptions {
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        progress: !args.quiet,
        scrape,
        scrape_every: Duration::from_secs(5),
        started: None,
    };
    let started_at = time::OffsetDateTime::now_utc();
    let outcome = emrlab_loadgen::run(plan, &options).context("running the load")?;
    let result = RunResult::new(&scenario, &base, &outcome, started_at);
    print!("{}", report::summary(&result));
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("result written to {}", path.display());
    }
    Ok(if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(THRESHOLDS_BROKEN)
    })
}

/// `--vus` / `--rate` on a scenario: a constant load for the scenario's duration, as an
/// experiment's `[load]` is applied.
fn override_load(scenario: &mut Scenario, args: &Args) {
    let load = emrlab_loadgen::experiment::LoadOverride {
        vus: args.vus,
        rate: args.rate,
    };
    *scenario = emrlab_loadgen::experiment::round_scenario(scenario, &load, None, scenario.duration());
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ad_hoc_url_splits_into_base_and_path() {
        assert_eq!(
            super::split_url("http://127.0.0.1:9090/x?y=1"),
            ("http://127.0.0.1:9090".into(), "/x?y=1".into())
        );
        assert_eq!(super::split_url("http://h:1"), ("http://h:1".into(), "/".into()));
    }
}
