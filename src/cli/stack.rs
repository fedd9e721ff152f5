//! The target an experiment starts for itself: the whole platform in this process on a
//! throwaway data directory (with the PostgreSQL and Redis the experiment names), or the stall
//! server; stopped, and its files removed, when dropped.

use std::net::SocketAddr;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use emrlab::Platform;
use emrlab_loadgen::experiment::{Backend, Experiment, Target};

use super::{Cli, Overrides, backends::Backends, load};

/// A running target.
pub struct Stack {
    pub url: String,
    /// The backends it runs on, so arms needing others are skipped.
    pub available: Vec<Backend>,
    runtime: tokio::runtime::Runtime,
    shutdown: CancellationToken,
    serving: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Dropped after the platform has stopped (field order): the database lives there.
    _data: tempfile::TempDir,
    _backends: Backends,
}

impl Stack {
    /// Starts the target `experiment` needs. `optional` also starts a backend only some arms
    /// need (the Redis arm of the cache lab); without it those arms are skipped.
    pub fn start(cli: &Cli, experiment: &Experiment, optional: bool) -> anyhow::Result<Self> {
        let wants =
            |b: Backend| experiment.needs(b) || (optional && experiment.arms().any(|a| a.requires.contains(&b)));
        let backends = Backends::start(
            wants(Backend::Postgres) && cli.database_url.is_none() && experiment.target == Target::Platform,
            wants(Backend::Redis) && cli.redis_url.is_none() && experiment.target == Target::Platform,
        )?;
        let data = tempfile::Builder::new().prefix("emrlab-experiment-data.").tempdir()?;
        let runtime = tokio::runtime::Runtime::new()?;
        // Ctrl-C ends the process without unwinding: stop the throwaway servers and remove
        // the files first, or they would outlive it.
        let (stop_backends, data_path) = (backends.stopper(), data.path().to_owned());
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping the experiment's throwaway backends");
                stop_backends();
                let _ = std::fs::remove_dir_all(data_path);
                std::process::exit(130);
            }
        });
        let shutdown = CancellationToken::new();
        let (url, serving, available) = match experiment.target {
            Target::Stall => {
                let config = experiment.stall.clone().unwrap_or_default();
                let server = runtime.block_on(emrlab_common::server::Server::bind(
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    emrlab_loadgen::stall::router(config),
                ))?;
                let url = format!("http://{}", server.local_addr()?);
                let token = shutdown.clone();
                let serving = runtime.spawn(async move { server.run(token).await.context("stall server") });
                (url, serving, vec![Backend::Embedded])
            }
            Target::Platform => {
                let mut overrides = Overrides::default();
                overrides.set("gateway", "addr", "127.0.0.1:0");
                let mut cfg = load(cli, overrides)?;
                if cli.data_dir.is_none() {
                    cfg.data_dir = data.path().to_owned();
                }
                if backends.postgres.is_some() {
                    cfg.database_url = backends.postgres.clone();
                }
                if backends.redis.is_some() {
                    cfg.redis_url = backends.redis.clone();
                }
                let mut available = vec![Backend::Embedded];
                if cfg.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")) {
                    available.push(Backend::Postgres);
                }
                if cfg.redis_url.is_some() {
                    available.push(Backend::Redis);
                }
                eprintln!("starting emrlab (migrating and seeding a fresh database)…");
                let platform = runtime.block_on(Platform::bind(cfg))?;
                let url = format!("http://{}", platform.gateway_addr());
                let serving = runtime.spawn(platform.run(shutdown.clone()));
                (url, serving, available)
            }
        };
        Ok(Self {
            url,
            available,
            runtime,
            shutdown,
            serving: Some(serving),
            _data: data,
            _backends: backends,
        })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(serving) = self.serving.take() {
            match self.runtime.block_on(serving) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("warning: stopping the stack: {e:#}"),
                Err(e) => eprintln!("warning: stopping the stack: {e}"),
            }
        }
    }
}
