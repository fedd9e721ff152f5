//! `emrlab serve <component>`: one component alone, configured by file and environment,
//! which is how the containers run.

use std::net::SocketAddr;

use anyhow::Context;

use super::{Cli, Overrides, load};

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Component {
    Gateway,
    Task,
}

#[derive(clap::Args)]
pub struct Args {
    /// The component to run.
    component: Component,
    /// Where it listens (default: its configured address).
    #[arg(long, value_name = "ADDR")]
    addr: Option<SocketAddr>,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let mut overrides = Overrides::default();
    if let Some(addr) = args.addr {
        let section = match args.component {
            Component::Gateway => &mut overrides.gateway,
            Component::Task => &mut overrides.tasks,
        };
        section.insert("addr".into(), addr.to_string().into());
    }
    let cfg = load(cli, overrides)?;
    let keys = emrlab::jwt_keys(&cfg, false)?;
    let (server, name) = match args.component {
        Component::Task => (emrlab::bind_task(&cfg, keys).await?.0, "task"),
        Component::Gateway => {
            let task_url = cfg
                .services
                .task_url
                .clone()
                .context("set EMRLAB_SERVICES__TASK_URL: the gateway must know where the task service is")?;
            (emrlab::bind_gateway(&cfg, keys, task_url).await?.0, "gateway")
        }
    };
    println!("{name} listening on http://{}", server.local_addr()?);
    server
        .run(emrlab_common::server::shutdown_on_signal())
        .await
        .context(name)
}
