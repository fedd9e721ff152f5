//! `emrlab up`: every component in one process on loopback, the gateway in front.

use std::net::SocketAddr;

use emrlab::Platform;
use emrlab_task::seed::{Profile, SeedReport};

use super::{Cli, Overrides, load};

#[derive(clap::Args)]
pub struct Args {
    /// The gateway's address (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    gateway_addr: Option<SocketAddr>,
    /// The seed profile for an empty database: small, default or large.
    #[arg(long)]
    profile: Option<Profile>,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let mut overrides = Overrides::default();
    if let Some(addr) = args.gateway_addr {
        overrides.set("gateway", "addr", addr.to_string());
    }
    if let Some(profile) = args.profile {
        overrides.set("seed", "profile", serde_json::to_value(profile)?);
    }
    let cfg = load(cli, overrides)?;
    let database = match &cfg.database_url {
        Some(url) if url.starts_with("postgres") => "PostgreSQL".to_owned(),
        Some(_) => "SQLite at the configured URL".to_owned(),
        None => format!("SQLite in {}", cfg.data_dir.display()),
    };
    let platform = Platform::bind(cfg).await?;
    let seeded = match platform.seeded() {
        SeedReport::AlreadySeeded => "database already seeded".to_owned(),
        SeedReport::Seeded {
            practitioners,
            patients,
            tasks,
        } => format!("seeded {practitioners} practitioners, {patients} patients, {tasks} tasks"),
    };
    let gateway = platform.gateway_addr();
    println!("emrlab is up ({database}, {} cache; {seeded})", platform.cache_kind());
    println!("  gateway  http://{gateway}");
    println!("  task     http://{}", platform.task_addr());
    println!("  emr      http://{}", platform.emr_addr());
    println!("  sync     http://{}", platform.sync_addr());
    println!("  handover http://{}", platform.handover_addr());
    for vendor in emrlab_emr::Vendor::ALL {
        println!(
            "  {:<8} http://{}{} (simulated)",
            vendor.as_str(),
            platform.vendor_addr(vendor),
            emrlab_emr::sim::fhir_base(vendor)
        );
    }
    println!("  log in as nurse.0001 / emrlab (also doctor.0001, charge.0001, admin, operator; password emrlab)");
    println!(
        "  curl -s -X POST http://{gateway}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"nurse.0001\",\"password\":\"emrlab\"}}'"
    );
    println!("Ctrl-C stops it.");
    platform.run(emrlab_common::server::shutdown_on_signal()).await
}
