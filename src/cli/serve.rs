//! `emrlab serve <component>`: one component alone, configured by file and environment,
//! which is how the containers run.

use std::net::SocketAddr;

use anyhow::Context;

use super::{Cli, Overrides, load};

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Component {
    Gateway,
    Task,
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

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let section = match args.component {
        Component::Stall => return serve_stall(args).await,
        Component::Gateway => "gateway",
        Component::Task => "tasks",
    };
    let mut overrides = Overrides::default();
    if let Some(addr) = args.addr {
        let section = if section == "gateway" {
            &mut overrides.gateway
        } else {
            &mut overrides.tasks
        };
        section.insert("addr".into(), addr.to_string().into());
    }
    let cfg = load(cli, overrides)?;
    let keys = emrlab::jwt_keys(&cfg, false)?;
    let server = if section == "gateway" {
        let task_url = cfg
            .services
            .task_url
            .clone()
            .context("set EMRLAB_SERVICES__TASK_URL: the gateway must know where the task service is")?;
        emrlab::bind_gateway(&cfg, keys, task_url).await?.0
    } else {
        emrlab::bind_task(&cfg, keys).await?.0
    };
    println!("{section} listening on http://{}", server.local_addr()?);
    server
        .run(emrlab_common::server::shutdown_on_signal())
        .await
        .context(section)
}
