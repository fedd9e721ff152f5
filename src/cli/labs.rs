//! `emrlab labs`: list the labs; `emrlab labs check`: run each in its short mode and say whether
//! it still shows its expected direction (a benchmark-like command, not part of the tests).

use std::{path::PathBuf, process::ExitCode, time::Instant};

use anyhow::Context;
use emrlab_loadgen::{
    experiment::{Experiment, decide::Finding},
    labs::LABS,
};

use super::{Cli, experiment};

/// The exit code when a lab did not show its expected direction.
const NOT_AS_EXPECTED: u8 = 99;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run every lab (or those named) in its short mode; exit 99 unless each shows its
    /// expected direction.
    Check {
        /// Only these labs.
        labs: Vec<String>,
        /// Where to write each lab's result file (`<lab>.json`).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

fn parsed() -> anyhow::Result<Vec<Experiment>> {
    LABS.iter().map(|(name, text)| Experiment::parse(text, name)).collect()
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        None => {
            for lab in parsed()? {
                println!("{:<22} {}", lab.name, lab.title);
                println!("{:<22} docs/labs/{}.md · emrlab experiment {}", "", lab.name, lab.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check { labs, out }) => check(cli, labs, out.as_ref()),
    }
}

fn check(cli: &Cli, only: &[String], out: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let all = parsed()?;
    if let Some(unknown) = only.iter().find(|n| !all.iter().any(|l| &l.name == *n)) {
        anyhow::bail!("no lab `{unknown}` (see `emrlab labs`)");
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut rows = Vec::new();
    for lab in all.iter().filter(|l| only.is_empty() || only.contains(&l.name)) {
        let started = Instant::now();
        let outcome = experiment::execute(cli, lab, None, true, true, None, "emrlab");
        let seconds = started.elapsed().as_secs();
        let row = match outcome {
            Ok(result) => {
                if let Some(dir) = out {
                    let path = dir.join(format!("{}.json", lab.name));
                    std::fs::write(&path, serde_json::to_vec_pretty(&result)?)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                let lines: Vec<String> = result.candidates.iter().map(|c| c.sentence.clone()).collect();
                let verdict = match result.as_expected() {
                    true => "as expected",
                    false if result.candidates.iter().any(|c| c.verdict == Finding::Worse) => "WORSE",
                    false => "UNCLEAR",
                };
                (lab.name.clone(), verdict.to_owned(), seconds, lines)
            }
            Err(e) => (lab.name.clone(), "FAILED".to_owned(), seconds, vec![format!("{e:#}")]),
        };
        println!("{:<22} {:<12} {:>4} s", row.0, row.1, row.2);
        for line in &row.3 {
            println!("    {line}");
        }
        rows.push(row);
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.1 != "as expected")
        .map(|r| r.0.as_str())
        .collect();
    println!(
        "\n{} of {} labs showed their expected direction{}",
        rows.len() - failed.len(),
        rows.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; not: {}", failed.join(", "))
        }
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_AS_EXPECTED)
    })
}
