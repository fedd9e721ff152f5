//! `emrlab db report` and `emrlab db bench`: the database diagnostics of the task service's
//! `diagnostics` module, printed, and the bench written in the load generator's result format.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use serde_json::json;

use emrlab_loadgen::result::{Group, RunResult};
use emrlab_task::diagnostics::{
    bench::{self, BenchOptions, BenchReport},
    render, report,
    stress::LEVELS,
};

use super::{Cli, Overrides, load};

#[derive(clap::Subcommand)]
pub enum Command {
    /// What the database says about itself: slow statements, index candidates, dead tuples,
    /// connections and the cache hit ratio (PostgreSQL), or the hot queries' plans (SQLite).
    Report(ReportArgs),
    /// Ten heavy queries with and without the seed indexes, then a pool stress at 10–100
    /// connections. Puts the indexes back as they were.
    Bench(BenchArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// text (a table) or json (one document).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Timed runs of each query per index set, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    iterations: u32,
    /// How long each pool level runs.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    stress_duration: Duration,
    /// Pool sizes to stress, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = LEVELS)]
    pool_levels: Vec<u32>,
    /// Also write the result as JSON, in the load generator's format (docs/result-format.md).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub async fn run(cli: &Cli, command: &Command) -> anyhow::Result<()> {
    let cfg = load(cli, Overrides::default())?;
    let db = emrlab::open_database(&cfg, "cli").await?;
    match command {
        Command::Report(args) => {
            let report = report::take(&db).await.context("taking the database report")?;
            match args.format {
                Format::Text => print!("{}", render::report(&report)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
        }
        Command::Bench(args) => {
            let opts = BenchOptions {
                iterations: args.iterations.max(1),
                stress_duration: args.stress_duration,
                pool_levels: args.pool_levels.clone(),
                pool_settings: cfg.db.clone(),
            };
            let result = bench::run(&db, &opts).await.context("running the database bench")?;
            print!("{}", render::bench(&result));
            if let Some(path) = &args.out {
                let file = result_file(&result, &redacted(&cfg.database_url()))?;
                std::fs::write(path, serde_json::to_vec_pretty(&file)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
    }
    db.close().await;
    Ok(())
}

/// The URL without a password, for the result file's `target`.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The bench as a load result: `query/<indexes>/<name>` per query and index set, `pool/<n>` and
/// `pool/<n>/acquire` per level that ran; the rest under `db_bench`.
fn result_file(b: &BenchReport, target: &str) -> anyhow::Result<serde_json::Value> {
    let set = |s| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut groups: Vec<Group> = b
        .queries
        .iter()
        .map(|q| Group {
            name: format!("query/{}/{}", set(q.indexes), q.name),
            histogram: q.histogram.clone(),
            failed: q.failed,
        })
        .collect();
    for l in b.stress.iter().filter(|l| l.skipped.is_none()) {
        groups.push(Group {
            name: format!("pool/{}", l.connections),
            histogram: l.latency.clone(),
            failed: l.failed,
        });
        groups.push(Group {
            name: format!("pool/{}/acquire", l.connections),
            histogram: l.acquire.clone(),
            failed: 0,
        });
    }
    let description = format!(
        "emrlab db bench: ten heavy queries x {} runs with and without the seed indexes, then pool stress",
        b.iterations
    );
    let run = RunResult::from_groups("db-bench", &description, target, b.started_at, b.elapsed, &groups);
    let mut file = serde_json::to_value(run)?;
    file["db_bench"] = json!({
        "backend": b.backend,
        "iterations": b.iterations,
        "indexes_before": b.indexes_before,
        "queries": b.queries.iter().map(|q| json!({
            "name": q.name,
            "what": q.what,
            "indexes": set(q.indexes),
            "rows": q.rows,
            "error": q.error,
        })).collect::<Vec<_>>(),
        "pool": b.stress.iter().map(|l| json!({
            "connections": l.connections,
            "skipped": l.skipped,
            "elapsed_s": l.elapsed.as_secs_f64(),
            "queries": l.latency.len(),
            "failed": l.failed,
            "queries_per_second": l.queries_per_second(),
            "first_error": l.first_error,
        })).collect::<Vec<_>>(),
    });
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_file_names_the_database_without_its_password() {
        assert_eq!(redacted("postgres://u:secret@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
