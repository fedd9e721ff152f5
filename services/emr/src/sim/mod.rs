//! The simulated Epic and Cerner: real HTTP servers speaking a FHIR R4 subset (docs/vendors.md).
//!
//! Layout: `dialect` (where the two vendors differ), `data` (the seeded patients and the tasks),
//! `model` (a Task body parsed once), `fhir` (the JSON shapes), `outcome` (OperationOutcome
//! errors), `routes` and `search` (handlers), `faults`, `throttle` and `latency` (the behaviour
//! knobs), `listener` (a port that can really close), `metrics` (what the vendor was asked and how
//! it answered), `config` (the settings and knobs).

use std::{future::Future, io, net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use emrlab_common::{auth::JwtKeys, knobs::KnobCell};
use emrlab_seed::{Profile, Vendor};

pub mod config;
mod data;
mod dialect;
mod faults;
mod fhir;
mod latency;
mod listener;
mod metrics;
mod model;
mod outcome;
mod routes;
mod search;
mod throttle;

pub use config::{CERNER_KNOBS, EPIC_KNOBS, SimSettings, VendorConfig, VendorsConfig};

use data::Store;
use dialect::Dialect;
use listener::{Connection, OutageListener};
use throttle::Throttler;

/// The FHIR base path of `vendor` (`/api/FHIR/R4` at Epic).
pub fn fhir_base(vendor: Vendor) -> &'static str {
    dialect::of(vendor).base
}

/// What every handler of one simulated vendor can reach.
struct Sim {
    dialect: &'static Dialect,
    /// `http://<addr>`, the start of every absolute URL the vendor writes.
    origin: String,
    store: Store,
    knobs: Arc<KnobCell<SimSettings>>,
    throttle: Throttler,
    /// Cancelled at shutdown: ends hangs, trickles and injected latency.
    stop: CancellationToken,
}

impl Sim {
    /// The `component` label: the vendor's name.
    fn component(&self) -> &'static str {
        self.dialect.vendor.as_str()
    }

    fn base_url(&self) -> String {
        format!("{}{}", self.origin, self.dialect.base)
    }

    fn record(&self, operation: metrics::Operation, outcome: metrics::Outcome, elapsed: Option<std::time::Duration>) {
        metrics::record(self.component(), operation, outcome, elapsed);
    }
}

/// One simulated vendor, bound and ready to run.
pub struct Simulator {
    sim: Arc<Sim>,
    addr: SocketAddr,
    listener: OutageListener,
    app: axum::Router,
    control: emrlab_common::server::Server,
}

impl Simulator {
    /// Binds `settings.vendors.<vendor>.addr` (port 0 = any), generating the seed data set.
    pub async fn bind(
        vendor: Vendor,
        settings: SimSettings,
        profile: Profile,
        seed: u64,
        keys: Arc<JwtKeys>,
    ) -> io::Result<Self> {
        let dialect = dialect::of(vendor);
        let settings_control_addr = settings.vendors.get(vendor).control_addr;
        let socket = TcpListener::bind(settings.vendors.get(vendor).addr).await?;
        let addr = socket.local_addr()?;
        let now = time::OffsetDateTime::now_utc();
        // The large profile takes a while to generate: keep it off the async workers.
        let store = tokio::task::spawn_blocking(move || Store::seed(dialect, profile, seed, now))
            .await
            .map_err(io::Error::other)?;
        let knobs = Arc::new(KnobCell::new(vendor.as_str(), dialect.knobs, settings));
        let listener = OutageListener::new(vendor, socket, knobs.subscribe())?;
        // A wildcard address is no place to send a client: name the loopback instead.
        let host = match addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
            ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
            _ => addr,
        };
        let sim = Arc::new(Sim {
            dialect,
            origin: format!("http://{host}"),
            store,
            knobs,
            throttle: Throttler::default(),
            stop: CancellationToken::new(),
        });
        tracing::info!(
            %vendor,
            %addr,
            patients = sim.store.patients().len(),
            tasks = sim.store.task_count(),
            "simulated vendor bound"
        );
        let (app, control) = routes::routers(sim.clone(), keys);
        let control = emrlab_common::server::Server::bind(settings_control_addr, control).await?;
        Ok(Self {
            sim,
            addr,
            listener,
            app,
            control,
        })
    }

    /// The address actually bound (the chosen port when asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control port's address: health, metrics and knobs, open during an outage.
    pub fn control_addr(&self) -> SocketAddr {
        self.control
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// `http://<addr><fhir base>`, what the EMR service's adapters are configured with.
    pub fn base_url(&self) -> String {
        self.sim.base_url()
    }

    /// The knob cell, so tests can switch faults without going through the gateway.
    pub fn knobs(&self) -> Arc<KnobCell<SimSettings>> {
        self.sim.knobs.clone()
    }

    /// Serves until `shutdown`, then finishes in-flight requests (hanging ones end at shutdown).
    pub fn run(self, shutdown: CancellationToken) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let Self {
            sim,
            listener,
            app,
            control,
            ..
        } = self;
        let control = control.run(shutdown.clone());
        async move {
            let (fhir, control) = tokio::join!(Self::serve_fhir(sim, listener, app, shutdown), control);
            fhir.and(control)
        }
    }

    async fn serve_fhir(
        sim: Arc<Sim>,
        listener: OutageListener,
        app: axum::Router,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<Connection>())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future();
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => return result,
            // Graceful shutdown waits for in-flight requests; those the knobs keep waiting
            // on purpose are told to finish now.
            () = shutdown.cancelled() => sim.stop.cancel(),
        }
        serve.await
    }
}
