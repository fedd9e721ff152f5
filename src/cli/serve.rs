//! `emrlab serve <component>`: one component alone, configured by file and environment,
//! which is how the containers run.

use std::net::SocketAddr;

use anyhow::Context;

use emrlab_emr::Vendor;

use super::{Cli, Overrides, load};

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Component {
    Gateway,
    Task,
    Emr,
    Sync,
    /// The shift-handover service.
    Handover,
    /// The simulated Epic (docs/vendors.md).
    Epic,
    /// The simulated Cerner.
    Cerner,
    /// A target with known behaviour for load-generator tests and labs.
    Stall,
}

#[derive(clap::Args)]
pub struct Args {
    /// The component to run.
    component: Component,
    /// Where it listens (default: its configured address).
    #[arg(long, value_name = "ADDR")]
    addr: Option<SocketAddr>,
    /// stall: time each request takes once a worker has it.
    #[arg(long, value_parser = humantime::parse_duration)]
    service_time: Option<std::time::Duration>,
    /// stall: requests served at once.
    #[arg(long)]
    workers: Option<u32>,
    /// stall: period of the server-wide freezes.
    #[arg(long, value_parser = humantime::parse_duration)]
    stall_every: Option<std::time::Duration>,
    /// stall: length of each freeze.
    #[arg(long, value_parser = humantime::parse_duration)]
    stall_for: Option<std::time::Duration>,
    /// stall: connections held open at once (default 8,192; the process may open 20,000 files).
    #[arg(long)]
    max_connections: Option<usize>,
}

impl Args {
    /// The component's name as given on the command line (`emr`, `epic`), for `service.name`.
    pub fn component_name(&self) -> String {
        clap::ValueEnum::to_possible_value(&self.component)
            .map_or_else(|| "component".to_owned(), |v| v.get_name().to_owned())
    }
}

async fn serve_stall(args: &Args) -> anyhow::Result<()> {
    let defaults = emrlab_loadgen::stall::Config::default();
    let config = emrlab_loadgen::stall::Config {
        addr: args.addr.unwrap_or(defaults.addr),
        service_time: args.service_time.unwrap_or(defaults.service_time),
        workers: args.workers.unwrap_or(defaults.workers),
        stall_every: args.stall_every.unwrap_or(defaults.stall_every),
        stall_for: args.stall_for.unwrap_or(defaults.stall_for),
    };
    let server = emrlab_common::server::Server::bind(config.addr, emrlab_loadgen::stall::router(config.clone()))
        .await?
        .max_connections(args.max_connections.unwrap_or(emrlab_common::server::MAX_CONNECTIONS));
    println!("stall server on http://{} ({config:?})", server.local_addr()?);
    server
        .run(emrlab_common::server::shutdown_on_signal())
        .await
        .context("stall server")
}

fn required(value: &Option<String>, variable: &str, why: &str) -> anyhow::Result<String> {
    value.clone().with_context(|| format!("set {variable}: {why}"))
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let section = match args.component {
        Component::Stall => return serve_stall(args).await,
        Component::Gateway => "gateway",
        Component::Task => "tasks",
        Component::Emr => "emr",
        Component::Sync => "sync",
        Component::Handover => "handover",
        Component::Epic => "vendors.epic",
        Component::Cerner => "vendors.cerner",
    };
    let mut overrides = Overrides::default();
    if let Some(addr) = args.addr {
        overrides.set(section, "addr", addr.to_string());
    }
    let cfg = load(cli, overrides)?;
    let keys = emrlab::jwt_keys(&cfg, false)?;
    let services = &cfg.services;
    let emr_url = || {
        required(
            &services.emr_url,
            "EMRLAB_SERVICES__EMR_URL",
            "where the EMR service is",
        )
    };
    let task_url = || {
        required(
            &services.task_url,
            "EMRLAB_SERVICES__TASK_URL",
            "where the task service is",
        )
    };
    let (name, shutdown) = (section, emrlab_common::server::shutdown_on_signal());
    let server = match args.component {
        Component::Epic | Component::Cerner => {
            let vendor = if matches!(args.component, Component::Epic) {
                Vendor::Epic
            } else {
                Vendor::Cerner
            };
            let simulator = emrlab::bind_vendor(&cfg, keys, vendor).await?;
            println!(
                "{vendor} simulator: FHIR at {}, control at http://{}",
                simulator.base_url(),
                simulator.control_addr()
            );
            return simulator.run(shutdown).await.context(name);
        }
        Component::Gateway => {
            let upstreams = emrlab::Upstreams {
                task: task_url()?,
                emr: emr_url()?,
                sync: required(
                    &services.sync_url,
                    "EMRLAB_SERVICES__SYNC_URL",
                    "where the sync service is",
                )?,
                handover: required(
                    &services.handover_url,
                    "EMRLAB_SERVICES__HANDOVER_URL",
                    "where the handover service is",
                )?,
                vendors: [
                    (Vendor::Epic, &services.epic_control_url),
                    (Vendor::Cerner, &services.cerner_control_url),
                ]
                .into_iter()
                .filter_map(|(vendor, url)| url.clone().map(|url| (vendor, url)))
                .collect(),
            };
            emrlab::bind_gateway(&cfg, keys, upstreams, emrlab_common::events::EventBus::new())
                .await?
                .0
        }
        Component::Task => {
            let events = emrlab::event_publisher(&cfg, keys.clone(), None, "task").await?;
            let cache = emrlab_common::cache::open(cfg.redis_url(), &cfg.cache_prefix)
                .await
                .context("connecting to Redis")?;
            if services.handover_url.is_none() {
                tracing::warn!("EMRLAB_SERVICES__HANDOVER_URL is not set: the dashboard shows no pending handovers");
            }
            emrlab::bind_task(&cfg, keys, emr_url()?, events, cache).await?.0
        }
        Component::Sync => {
            let cache = emrlab_common::cache::open(cfg.redis_url(), &cfg.cache_prefix)
                .await
                .context("connecting to Redis")?;
            let events = emrlab::event_publisher(&cfg, keys.clone(), None, "sync").await?;
            emrlab::bind_sync(&cfg, keys, cache, task_url()?, events).await?.0
        }
        Component::Handover => {
            let events = emrlab::event_publisher(&cfg, keys.clone(), None, "handover").await?;
            emrlab::bind_handover(&cfg, keys, task_url()?, events).await?.0
        }
        // Stall returned before the configuration was loaded.
        Component::Emr | Component::Stall => {
            let epic = required(&services.epic_url, "EMRLAB_SERVICES__EPIC_URL", "where Epic is")?;
            let cerner = required(&services.cerner_url, "EMRLAB_SERVICES__CERNER_URL", "where Cerner is")?;
            let redis = match cfg.redis_url() {
                Some(url) => Some(
                    emrlab_common::cache::open(Some(url), &cfg.cache_prefix)
                        .await
                        .context("connecting to Redis")?,
                ),
                None => None,
            };
            emrlab::bind_emr(&cfg, keys, redis, &epic, &cerner).await?.0
        }
    };
    println!("{name} listening on http://{}", server.local_addr()?);
    server.run(shutdown).await.context(name)
}
