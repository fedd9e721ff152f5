//! The default command (`cargo run --release` with no arguments): a one-minute demonstration.
//! The short emr-cache lab (cache off vs in memory) on a throwaway embedded stack, a report in
//! the current directory, the verdict, and what to try next.

use std::{path::Path, process::ExitCode};

use anyhow::Context;

use super::{Cli, experiment};

const REPORT: &str = "emrlab-report.html";

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    println!("emrlab demo: does a cache in front of a slow vendor EMR help, and by how much?");
    println!("Starting emrlab on a throwaway SQLite database, then 20 nurses read patients through the");
    println!("EMR service with its cache off and in memory, in interleaved rounds (about a minute).\n");
    let lab = experiment::resolve("emr-cache")?;
    // No Redis for the demo: it needs nothing installed; `emrlab experiment emr-cache` adds it.
    let result = experiment::execute(cli, &lab, None, true, false, None, "emrlab")?;
    println!("\n{}", result.text());
    std::fs::write(REPORT, emrlab_loadgen::experiment::page::html(&result))
        .with_context(|| format!("writing {REPORT}"))?;
    let shown = std::fs::canonicalize(REPORT).unwrap_or_else(|_| Path::new(REPORT).to_owned());
    println!("The report (opens offline in any browser): {}", shown.display());
    println!("\nNext:");
    println!("  cargo run --release -- up                 the whole platform on 127.0.0.1:8080 (README: Try it)");
    println!("  cargo run --release -- labs               the labs, one per classic EMR-platform bottleneck");
    println!("  cargo run --release -- experiment emr-cache   this lab in full, with Redis as a third arm");
    println!("  cargo run --release -- load --list        the load scenarios, to point at emrlab or your own system");
    Ok(ExitCode::SUCCESS)
}
