//! `emrlab compare`: two result files side by side; exit 99 on a regression beyond the threshold,
//! as `emrlab load` does when a threshold breaks.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use emrlab_loadgen::{compare, result::RunResult};

const REGRESSION: u8 = 99;

#[derive(clap::Args)]
pub struct Args {
    /// The reference run (`emrlab load --out`, `emrlab db bench --out`).
    baseline: PathBuf,
    /// The run to judge against it.
    candidate: PathBuf,
    /// A change worse than this many percent is a regression (the seed's compare script: 10).
    #[arg(long, default_value_t = 10.0, value_parser = threshold)]
    threshold: f64,
    /// `text` for the terminal, `markdown` for a pull-request comment.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Markdown,
}

fn threshold(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("{s:?} is not a percentage (a number, 0 or more)")),
    }
}

fn read(path: &PathBuf) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let run: RunResult = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an emrlab result file (docs/result-format.md)",
            path.display()
        )
    })?;
    anyhow::ensure!(
        run.format == emrlab_loadgen::result::FORMAT,
        "{} is in format {:?}; this emrlab reads {:?}",
        path.display(),
        run.format,
        emrlab_loadgen::result::FORMAT
    );
    Ok(run)
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let comparison = compare::compare(&read(&args.baseline)?, &read(&args.candidate)?, args.threshold);
    let out = match args.format {
        Format::Text => compare::text(&comparison),
        Format::Markdown => compare::markdown(&comparison),
    };
    print!("{out}");
    Ok(if comparison.regressions() > 0 {
        ExitCode::from(REGRESSION)
    } else {
        ExitCode::SUCCESS
    })
}
