//! The CLI: clap parsing and wiring, one module per subcommand.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use serde::Serialize;

use emrlab::PlatformConfig;

mod backends;
mod capacity;
mod compare;
mod config;
mod db;
mod demo;
mod experiment;
mod labs;
mod load;
mod report;
mod serve;
mod setup;
mod split;
mod stack;
mod up;

/// emrlab: a reference EMR platform under test, with its own load generator.
#[derive(Parser)]
#[command(name = "emrlab", version, about)]
struct Cli {
    /// A TOML configuration file (see docs/configuration.md).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the embedded SQLite database lives.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use this database instead of the embedded SQLite (postgres://… or sqlite://…).
    #[arg(long, global = true, env = "DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// Use Redis for the cache instead of the in-process one.
    #[arg(long, global = true, env = "REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// Export request spans over OTLP/HTTP to this collector (`http://localhost:4318`; empty: off).
    /// Applies to the commands that run the platform: up, serve, experiment, labs and the demo.
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole platform in one process (without a command: a one-minute demo instead).
    Up(up::Args),
    /// Run one component alone, as a container does.
    Serve(serve::Args),
    /// Drive load at a system (this one or any other) and report honest percentiles.
    Load(load::Args),
    /// Find how much load a system sustains under an SLO, and what saturates first: steps of
    /// increasing load (a search, or `--sweep`); exit 99 if the SLO breaks at the first step.
    Capacity(capacity::Args),
    /// Compare two result files request by request; exit 99 on a regression.
    Compare(compare::Args),
    /// Run a lab or an experiment file: baseline and candidate knob sets in interleaved rounds,
    /// with a verdict per candidate.
    Experiment(experiment::Args),
    /// The labs, one per classic EMR-platform bottleneck; `labs check` runs each briefly.
    Labs(labs::Args),
    /// Write one HTML page from result files (load or experiment), side by side, that opens offline.
    Report(report::Args),
    /// Apply the database migrations.
    Migrate,
    /// Seed an empty database.
    Seed(setup::SeedArgs),
    /// Check every insurance authorization against its reservations (used + scheduled ≤ total);
    /// prints each violation and exits non-zero if there is one.
    Verify,
    /// Diagnose the database: `db report` (what its statistics say) and `db bench` (heavy
    /// queries with and without the seed indexes, and a pool stress).
    Db {
        #[command(subcommand)]
        command: db::Command,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: config::Command,
    },
}

/// The flags that override the configuration, as a partial configuration.
#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_url: Option<String>,
    /// Settings given by flags, by section (`gateway`, `seed`, `vendors`…).
    #[serde(flatten)]
    sections: serde_json::Map<String, serde_json::Value>,
}

impl Overrides {
    /// Sets `key` in a section given by its dotted path (`vendors.epic`).
    fn set(&mut self, section: &str, key: &str, value: impl Into<serde_json::Value>) {
        let mut path = section.split('.');
        let first = path.next().unwrap_or(section).to_owned();
        let mut table = self.sections.entry(first).or_insert_with(|| serde_json::json!({}));
        for part in path {
            table = &mut table[part];
        }
        table[key] = value.into();
    }
}

fn load(cli: &Cli, overrides: Overrides) -> anyhow::Result<PlatformConfig> {
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        redis_url: cli.redis_url.clone(),
        ..overrides
    };
    emrlab_common::config::load(&PlatformConfig::default(), cli.config.as_deref(), overrides)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.command {
        // The stack runs under the rounds' own output; the 5xx a fault lab provokes are its point.
        None | Some(Command::Experiment(_) | Command::Labs(_)) => "warn,tower_http=off",
        _ => emrlab_common::telemetry::DEFAULT_FILTER,
    };
    let service_name = match &cli.command {
        Some(Command::Serve(args)) => Some(format!("emrlab-{}", args.component_name())),
        None | Some(Command::Up(_) | Command::Experiment(_) | Command::Labs(_)) => Some("emrlab".to_owned()),
        Some(_) => None,
    };
    let export = service_name.and_then(|name| emrlab_common::telemetry::Export::to(cli.otlp_endpoint.as_deref(), name));
    // Dropped last, after the runtime and the servers on it stopped: it flushes the spans left.
    let _telemetry = match emrlab_common::telemetry::install(filter, export) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Load(args)) = &cli.command {
        // The load generator runs its own worker threads and runtimes; it needs none here.
        drop(runtime);
        return load::run(args).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::Capacity(args)) = &cli.command {
        // The load engine runs its own worker threads and runtimes; it needs none here.
        drop(runtime);
        return capacity::run(args).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::Experiment(args)) = &cli.command {
        // The experiment starts its own stack and runtimes; the load engine needs none here.
        drop(runtime);
        return experiment::run(&cli, args).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    if cli.command.is_none() {
        drop(runtime);
        return demo::run(&cli).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::Labs(args)) = &cli.command {
        drop(runtime);
        return labs::run(&cli, args).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::Compare(args)) = &cli.command {
        return compare::run(args).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::Report(args)) = &cli.command {
        return match report::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = runtime.block_on(async {
        match &cli.command {
            None => Ok(()),
            Some(Command::Up(args)) => up::run(&cli, args).await,
            Some(Command::Serve(args)) => serve::run(&cli, args).await,
            Some(Command::Migrate) => setup::migrate(&cli).await,
            Some(Command::Seed(args)) => setup::seed(&cli, args).await,
            Some(Command::Verify) => setup::verify(&cli).await,
            Some(Command::Db { command }) => db::run(&cli, command).await,
            Some(Command::Config { command }) => config::run(&cli, command),
            Some(
                Command::Load(_)
                | Command::Capacity(_)
                | Command::Compare(_)
                | Command::Report(_)
                | Command::Experiment(_)
                | Command::Labs(_),
            ) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
