//! `emrlab experiment <lab|file.toml>`: start the stack the experiment names (or drive `--url`),
//! run its arms in interleaved rounds, print the verdicts, write the result file.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use emrlab_loadgen::experiment::{
    Backend, Experiment,
    outcome::ExperimentResult,
    runner::{self, Options},
};

use super::{Cli, stack::Stack};

/// The exit code when a candidate came out confidently worse than the baseline (as `compare`).
const WORSE: u8 = 99;

#[derive(clap::Args)]
pub struct Args {
    /// A lab (`emrlab labs`) or an experiment file.
    experiment: String,
    /// Drive this running emrlab (its gateway) instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// The short rounds (as `emrlab labs check` runs them).
    #[arg(long)]
    short: bool,
    /// The result file (default: emrlab-experiment-<name>.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The HTML report (default: emrlab-experiment-<name>.html).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Engine threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// The operator's password on the target (the seeded one is `emrlab`).
    #[arg(long, default_value = "emrlab")]
    operator_password: String,
}

/// Reads a lab by name or an experiment file by path.
pub fn resolve(name: &str) -> anyhow::Result<Experiment> {
    let text = match emrlab_loadgen::labs::find(name) {
        Some(text) => text.to_owned(),
        None => std::fs::read_to_string(name)
            .with_context(|| format!("`{name}` is neither a lab (see `emrlab labs`) nor a readable file"))?,
    };
    Experiment::parse(&text, name)
}

/// Runs `experiment` on a stack of its own (or at `url`), printing each round.
pub fn execute(
    cli: &Cli,
    experiment: &Experiment,
    url: Option<&str>,
    short: bool,
    optional_backends: bool,
    workers: Option<usize>,
    password: &str,
) -> anyhow::Result<ExperimentResult> {
    let stack = match url {
        Some(_) => None,
        None => Some(Stack::start(cli, experiment, optional_backends)?),
    };
    let (base, available) = match (&stack, url) {
        (Some(stack), _) => (stack.url.clone(), stack.available.clone()),
        // A running target: its backends are unknown, so every arm runs; a knob it cannot take
        // (a Redis cache without Redis) is refused with a clear message.
        (None, Some(url)) => (
            url.trim_end_matches('/').to_owned(),
            vec![Backend::Embedded, Backend::Postgres, Backend::Redis],
        ),
        (None, None) => anyhow::bail!("no target"),
    };
    let options = Options {
        short,
        available,
        workers: workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        scrape: vec![format!("{base}/metrics")],
        operator: ("operator".into(), password.to_owned()),
    };
    let rounds = if short { &experiment.short } else { &experiment.rounds };
    let arms = experiment
        .arms()
        .filter(|a| a.requires.iter().all(|b| options.available.contains(b)))
        .count();
    eprintln!(
        "{}: {} arms × {} rounds of {:?} (after a {:?} warm-up each), interleaved, against {base}",
        experiment.name, arms, rounds.count, rounds.duration, rounds.warmup
    );
    let result = runner::run(experiment, &base, &options, &mut |line| eprintln!("  {line}"));
    drop(stack);
    result
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let experiment = resolve(&args.experiment)?;
    let result = execute(
        cli,
        &experiment,
        args.url.as_deref(),
        args.short,
        true,
        args.workers,
        &args.operator_password,
    )?;
    print!("{}", result.text());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("emrlab-experiment-{}.json", experiment.name)));
    std::fs::write(&out, serde_json::to_vec_pretty(&result)?).with_context(|| format!("writing {}", out.display()))?;
    println!("result written to {}", out.display());
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("emrlab-experiment-{}.html", experiment.name)));
    std::fs::write(&report, emrlab_loadgen::experiment::page::html(&result))
        .with_context(|| format!("writing {}", report.display()))?;
    println!("report written to {}", report.display());
    let worse = result
        .candidates
        .iter()
        .any(|c| c.verdict == emrlab_loadgen::experiment::decide::Finding::Worse);
    Ok(if worse {
        ExitCode::from(WORSE)
    } else {
        ExitCode::SUCCESS
    })
}
