//! `emrlab up --split`: every component as its own `emrlab serve <component>` process, wired by
//! the same environment variables as the containers (docker-compose.yml), for users without
//! Docker and for measurements that need a process per component (CPU, memory, a crash).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    time::Instant,
};

use emrlab::PlatformConfig;
use emrlab_emr::Vendor;

use super::{Cli, up::Banner};

/// How long a component may take to answer its health check after starting.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a stopping component may take to finish its in-flight requests before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// One component to start: its `serve` name, the variables giving its addresses, and the URL
/// that answers once it is ready.
struct Spec {
    name: &'static str,
    addrs: Vec<(&'static str, SocketAddr)>,
    ready: String,
    /// What `up` prints for it.
    shown: String,
}

/// Environment variables every component process gets.
type Env = Vec<(&'static str, String)>;

struct Running {
    name: &'static str,
    child: Child,
}

/// A free port on `ip`, kept taken by `held` until the caller drops it. It is free again before
/// the component binds it; another program taking it in between makes that component fail to
/// start, which is reported.
fn hold(ip: IpAddr, held: &mut Vec<std::net::TcpListener>) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind((ip, 0))?;
    let addr = listener.local_addr()?;
    held.push(listener);
    Ok(addr)
}

fn http(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

fn fhir(vendor: Vendor, addr: SocketAddr) -> String {
    format!("{}{}", http(addr), emrlab_emr::sim::fhir_base(vendor))
}

/// The components in start order (the vendors before the EMR service, the gateway last) and the
/// environment that tells each where the others are.
fn plan(cfg: &PlatformConfig) -> anyhow::Result<(Vec<Spec>, Env)> {
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Every listener is held until all are chosen, so no two components get the same port.
    let mut held = Vec::new();
    let gateway = match cfg.gateway.addr.port() {
        0 => hold(cfg.gateway.addr.ip(), &mut held)?,
        _ => cfg.gateway.addr,
    };
    let mut next = || hold(local, &mut held);
    let (task, emr, sync, handover) = (next()?, next()?, next()?, next()?);
    let (epic, epic_control, cerner, cerner_control) = (next()?, next()?, next()?, next()?);
    drop(held);
    let specs = vec![
        Spec {
            name: "epic",
            addrs: vec![
                ("EMRLAB_VENDORS__EPIC__ADDR", epic),
                ("EMRLAB_VENDORS__EPIC__CONTROL_ADDR", epic_control),
            ],
            ready: format!("{}/health", http(epic_control)),
            shown: fhir(Vendor::Epic, epic),
        },
        Spec {
            name: "cerner",
            addrs: vec![
                ("EMRLAB_VENDORS__CERNER__ADDR", cerner),
                ("EMRLAB_VENDORS__CERNER__CONTROL_ADDR", cerner_control),
            ],
            ready: format!("{}/health", http(cerner_control)),
            shown: fhir(Vendor::Cerner, cerner),
        },
        service("emr", "EMRLAB_EMR__ADDR", emr),
        service("task", "EMRLAB_TASKS__ADDR", task),
        service("sync", "EMRLAB_SYNC__ADDR", sync),
        service("handover", "EMRLAB_HANDOVER__ADDR", handover),
        Spec {
            name: "gateway",
            addrs: vec![("EMRLAB_GATEWAY__ADDR", gateway)],
            // The gateway's /ready asks every service: the whole platform is up when it answers.
            ready: format!("{}/ready", http(connectable(gateway))),
            shown: http(connectable(gateway)),
        },
    ];
    let mut env = vec![
        ("EMRLAB_AUTH__JWT_SECRET", emrlab::jwt_secret(cfg, true)?),
        ("EMRLAB_SEED__PROFILE", profile_name(cfg)?),
        ("EMRLAB_SEED__NUMBER", cfg.seed.number.to_string()),
        ("DATABASE_URL", cfg.database_url()),
        ("EMRLAB_SERVICES__TASK_URL", http(task)),
        ("EMRLAB_SERVICES__EMR_URL", http(emr)),
        ("EMRLAB_SERVICES__SYNC_URL", http(sync)),
        ("EMRLAB_SERVICES__HANDOVER_URL", http(handover)),
        ("EMRLAB_SERVICES__EPIC_URL", http(epic)),
        ("EMRLAB_SERVICES__CERNER_URL", http(cerner)),
        ("EMRLAB_SERVICES__EPIC_CONTROL_URL", http(epic_control)),
        ("EMRLAB_SERVICES__CERNER_CONTROL_URL", http(cerner_control)),
        // Without Redis the services publish their events to the gateway over HTTP.
        ("EMRLAB_SERVICES__GATEWAY_URL", http(connectable(gateway))),
    ];
    if let Some(url) = cfg.redis_url() {
        env.push(("REDIS_URL", url.to_owned()));
    }
    for spec in &specs {
        env.extend(spec.addrs.iter().map(|(name, addr)| (*name, addr.to_string())));
    }
    Ok((specs, env))
}

/// The simulators generate their patients from the seed profile: every process must agree on it.
fn profile_name(cfg: &PlatformConfig) -> anyhow::Result<String> {
    let value = serde_json::to_value(cfg.seed.profile)?;
    value
        .as_str()
        .map(str::to_owned)
        .context("the seed profile has no name")
}

fn service(name: &'static str, variable: &'static str, addr: SocketAddr) -> Spec {
    Spec {
        name,
        addrs: vec![(variable, addr)],
        ready: format!("{}/ready", http(addr)),
        shown: http(addr),
    }
}

/// Where to reach a server bound to `addr` (a wildcard address is reached on loopback).
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        _ => addr,
    }
}

/// Copies a child's output to ours, each line prefixed with the component's name.
fn forward(name: &'static str, output: impl AsyncRead + Unpin + Send + 'static, to_stderr: bool) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if to_stderr {
                eprintln!("{name:<8} | {line}");
            } else {
                println!("{name:<8} | {line}");
            }
        }
    });
}

fn spawn(cli: &Cli, cfg: &PlatformConfig, spec: &Spec, env: &Env) -> anyhow::Result<Running> {
    let mut command = Command::new(std::env::current_exe().context("finding the emrlab executable")?);
    if let Some(config) = &cli.config {
        command.arg("--config").arg(config);
    }
    // Each child exports its own spans, as `emrlab-<component>`.
    if let Some(endpoint) = &cli.otlp_endpoint {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    command
        .arg("--data-dir")
        .arg(&cfg.data_dir)
        .args(["serve", spec.name])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting the {} process", spec.name))?;
    if let Some(out) = child.stdout.take() {
        forward(spec.name, out, false);
    }
    if let Some(err) = child.stderr.take() {
        forward(spec.name, err, true);
    }
    Ok(Running { name: spec.name, child })
}

/// Waits until `url` answers 2xx, failing early if the component's process exits.
async fn wait_ready(http: &reqwest::Client, running: &mut Running, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(status) = running.child.try_wait()? {
            anyhow::bail!("{} exited during start-up ({status})", running.name);
        }
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} did not answer {url} within {READY_WITHIN:?}",
            running.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks every child still running to stop (SIGTERM: in-flight requests finish), then kills the
/// ones that have not stopped in time.
async fn stop(children: &mut [Running]) {
    for running in children.iter() {
        if let Some(pid) = running.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
    }
    for running in children.iter_mut() {
        match tokio::time::timeout(STOP_WITHIN, running.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("{} did not stop within {STOP_WITHIN:?}; killing it", running.name);
                let _ = running.child.kill().await;
            }
        }
    }
}

/// Starts every component as a process once the database is migrated and seeded, prints where
/// each listens, and runs until a signal or until one of them exits (which stops the others).
pub async fn run(cli: &Cli, cfg: PlatformConfig, banner: Banner) -> anyhow::Result<()> {
    let (specs, env) = plan(&cfg)?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let mut children: Vec<Running> = Vec::with_capacity(specs.len());
    let shutdown = emrlab_common::server::shutdown_on_signal();
    for spec in &specs {
        let started = match spawn(cli, &cfg, spec, &env) {
            Ok(mut running) => {
                let ready = tokio::select! {
                    ready = wait_ready(&client, &mut running, &spec.ready) => ready,
                    () = shutdown.cancelled() => Err(anyhow::anyhow!("interrupted during start-up")),
                };
                children.push(running);
                ready
            }
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            stop(&mut children).await;
            return Err(e);
        }
    }
    let mut rows: Vec<_> = specs
        .iter()
        .zip(&children)
        .map(|(spec, running)| {
            let pid = running
                .child
                .id()
                .map_or_else(String::new, |pid| format!(" (pid {pid})"));
            (spec.name, format!("{}{pid}", spec.shown))
        })
        .collect();
    // Started last, shown first: the gateway is the one address users need.
    rows.rotate_right(1);
    let gateway = specs.last().map_or(cfg.gateway.addr, |s| connectable(s.addrs[0].1));
    banner.print(gateway, rows, "one process per component");
    let exited = {
        let waits = children
            .iter_mut()
            .map(|r| Box::pin(async move { (r.name, r.child.wait().await) }));
        tokio::select! {
            ((name, status), _, _) = futures::future::select_all(waits) => Some((name, status)),
            () = shutdown.cancelled() => None,
        }
    };
    stop(&mut children).await;
    match exited {
        None => Ok(()),
        Some((name, status)) => {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            anyhow::bail!("{name} exited ({status}); the other components were stopped")
        }
    }
}
