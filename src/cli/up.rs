//! `emrlab up`: every component in one process on loopback, the gateway in front.

use std::net::SocketAddr;

use emrlab::{Platform, PlatformConfig};
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
    /// Run every component as its own process (`emrlab serve <component>`), wired as the
    /// containers are, instead of all in this one.
    #[arg(long)]
    split: bool,
}

/// What `up` prints once the platform answers: where everything is and how to log in.
pub struct Banner {
    database: String,
    seeded: String,
    cache: &'static str,
}

impl Banner {
    fn new(cfg: &PlatformConfig, seeded: SeedReport, cache: &'static str) -> Self {
        let database = match &cfg.database_url {
            Some(url) if url.starts_with("postgres") => "PostgreSQL".to_owned(),
            Some(_) => "SQLite at the configured URL".to_owned(),
            None => format!("SQLite in {}", cfg.data_dir.display()),
        };
        let seeded = match seeded {
            SeedReport::AlreadySeeded => "database already seeded".to_owned(),
            SeedReport::Seeded {
                practitioners,
                patients,
                tasks,
            } => format!("seeded {practitioners} practitioners, {patients} patients, {tasks} tasks"),
        };
        Self {
            database,
            seeded,
            cache,
        }
    }

    /// `components` are (name, URL) in the order to show; `how` says how they run.
    pub fn print(&self, gateway: SocketAddr, components: Vec<(&str, String)>, how: &str) {
        let Self {
            database,
            seeded,
            cache,
        } = self;
        println!("emrlab is up ({how}; {database}, {cache} cache; {seeded})");
        for (name, url) in components {
            println!("  {name:<8} {url}");
        }
        println!("  log in as nurse.0001 / emrlab (also doctor.0001, charge.0001, admin, operator; password emrlab)");
        println!(
            "  curl -s -X POST http://{gateway}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"nurse.0001\",\"password\":\"emrlab\"}}'"
        );
        println!("Ctrl-C stops it.");
    }
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
    if args.split {
        // Here, once, so the processes find the schema and the data and do not race to make them.
        let db = emrlab::open_database(&cfg, "cli").await?;
        let seeded = emrlab::seed(&cfg, &db).await?;
        db.close().await;
        let cache = if cfg.redis_url().is_some() {
            "redis"
        } else {
            "in-process (one per process)"
        };
        let banner = Banner::new(&cfg, seeded, cache);
        return super::split::run(cli, cfg, banner).await;
    }
    let platform = Platform::bind(cfg.clone()).await?;
    let banner = Banner::new(&cfg, platform.seeded(), platform.cache_kind());
    let mut components = vec![
        ("gateway", format!("http://{}", platform.gateway_addr())),
        ("task", format!("http://{}", platform.task_addr())),
        ("emr", format!("http://{}", platform.emr_addr())),
        ("sync", format!("http://{}", platform.sync_addr())),
        ("handover", format!("http://{}", platform.handover_addr())),
    ];
    for vendor in emrlab_emr::Vendor::ALL {
        let url = format!(
            "http://{}{} (simulated)",
            platform.vendor_addr(vendor),
            emrlab_emr::sim::fhir_base(vendor)
        );
        components.push((vendor.as_str(), url));
    }
    banner.print(platform.gateway_addr(), components, "one process");
    platform.run(emrlab_common::server::shutdown_on_signal()).await
}
