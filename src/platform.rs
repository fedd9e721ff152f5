//! [`Platform`]: every component in one process, each on its own port, as `emrlab up` runs them
//! and the end-to-end tests start them.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use emrlab_common::{cache::Cache, db::AnyDb, events::EventBus, server::Server};
use emrlab_emr::{Vendor, sim::Simulator};

use crate::{
    PlatformConfig, Upstreams, bind_emr, bind_gateway, bind_handover, bind_sync, bind_task, bind_vendor,
    event_publisher, jwt_keys, seed,
};

fn url(server: &Server) -> anyhow::Result<String> {
    Ok(format!("http://{}", server.local_addr()?))
}

/// Every component in one process, each on its own port.
pub struct Platform {
    gateway: Server,
    task: Server,
    emr: Server,
    sync: Server,
    handover: Server,
    vendors: Vec<Simulator>,
    dbs: Vec<AnyDb>,
    cache: Arc<dyn Cache>,
    seeded: emrlab_task::seed::SeedReport,
}

impl Platform {
    /// Opens the backends, migrates, seeds an empty database and binds every listener.
    pub async fn bind(cfg: PlatformConfig) -> anyhow::Result<Self> {
        let keys = jwt_keys(&cfg, true)?;
        let cache = emrlab_common::cache::open(cfg.redis_url(), &cfg.cache_prefix)
            .await
            .context("connecting to Redis")?;
        cache.ping().await.context("pinging the cache")?;
        let redis = cfg.redis_url().is_some().then(|| cache.clone());
        let epic = bind_vendor(&cfg, keys.clone(), Vendor::Epic).await?;
        let cerner = bind_vendor(&cfg, keys.clone(), Vendor::Cerner).await?;
        let (epic_url, cerner_url) = (
            format!("http://{}", epic.local_addr()),
            format!("http://{}", cerner.local_addr()),
        );
        let (emr, emr_db) = bind_emr(&cfg, keys.clone(), redis, &epic_url, &cerner_url).await?;
        // One bus for the process: the task service writes into it, the gateway's hub reads it
        // (with Redis configured both go through Redis instead, as separate processes would).
        let bus = EventBus::new();
        let events = event_publisher(&cfg, keys.clone(), Some(&bus), "task").await?;
        let (task, task_db, handover_counts) = bind_task(&cfg, keys.clone(), url(&emr)?, events, cache.clone()).await?;
        let seeded = seed(&cfg, &task_db).await?;
        let events = event_publisher(&cfg, keys.clone(), Some(&bus), "sync").await?;
        let (sync, sync_db) = bind_sync(&cfg, keys.clone(), cache.clone(), url(&task)?, events).await?;
        let events = event_publisher(&cfg, keys.clone(), Some(&bus), "handover").await?;
        let (handover, handover_db) = bind_handover(&cfg, keys.clone(), url(&task)?, events).await?;
        // Each of the two asks the other: the task service learns this URL once it is bound.
        handover_counts.set_url(url(&handover)?);
        let upstreams = Upstreams {
            task: url(&task)?,
            emr: url(&emr)?,
            sync: url(&sync)?,
            handover: url(&handover)?,
            vendors: vec![
                (Vendor::Epic, format!("http://{}", epic.control_addr())),
                (Vendor::Cerner, format!("http://{}", cerner.control_addr())),
            ],
        };
        let (gateway, gateway_db) = bind_gateway(&cfg, keys, upstreams, bus).await?;
        Ok(Self {
            gateway,
            task,
            emr,
            sync,
            handover,
            vendors: vec![epic, cerner],
            dbs: vec![task_db, emr_db, sync_db, handover_db, gateway_db],
            cache,
            seeded,
        })
    }

    /// The gateway's address.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The task service's address.
    pub fn task_addr(&self) -> SocketAddr {
        self.task
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The EMR service's address.
    pub fn emr_addr(&self) -> SocketAddr {
        self.emr
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The sync service's address.
    pub fn sync_addr(&self) -> SocketAddr {
        self.sync
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The handover service's address.
    pub fn handover_addr(&self) -> SocketAddr {
        self.handover
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// A simulated vendor's address.
    pub fn vendor_addr(&self, vendor: Vendor) -> SocketAddr {
        self.vendors[usize::from(vendor == Vendor::Cerner)].local_addr()
    }

    /// What seeding did at start-up.
    pub fn seeded(&self) -> emrlab_task::seed::SeedReport {
        self.seeded
    }

    /// `memory` or `redis`.
    pub fn cache_kind(&self) -> &'static str {
        self.cache.kind()
    }

    /// Serves until `shutdown`, then lets in-flight requests finish and closes the pools.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let vendors = futures::future::join_all(self.vendors.into_iter().map(|v| v.run(shutdown.clone())));
        let (gateway, task, emr, sync, handover, vendors) = tokio::join!(
            self.gateway.run(shutdown.clone()),
            self.task.run(shutdown.clone()),
            self.emr.run(shutdown.clone()),
            self.sync.run(shutdown.clone()),
            self.handover.run(shutdown.clone()),
            vendors
        );
        for db in &self.dbs {
            db.close().await;
        }
        gateway.context("gateway")?;
        task.context("task service")?;
        emr.context("EMR service")?;
        sync.context("sync service")?;
        handover.context("handover service")?;
        for vendor in vendors {
            vendor.context("vendor simulator")?;
        }
        Ok(())
    }
}
