//! CPU time of the processes behind a capacity step, from /proc on this machine: the platform's
//! `emrlab` processes (the one listening on the target's port, the `emrlab` ancestors it runs
//! under and their `emrlab` children, so `emrlab up --split` shows each component), every
//! `postgres` and `redis-server` process, the generator (this process), and the machine as a whole.
//!
//! The `procfs` crate reads the files; it also knows the kernel's clock tick without `unsafe`
//! `sysconf`, and maps a listening socket to its process through `/proc/<pid>/fd`. Only Linux has
//! /proc: elsewhere nothing is watched and the report says so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A process's (or a group's) CPU over a step, in cores: 1.5 is one and a half cores busy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub name: String,
    pub cores: f64,
}

/// Of a step's usage: the cores the watched processes (platform, databases, generator) took
/// together, and the cores the rest of the machine took besides.
pub fn watched_and_others(usage: &[Usage]) -> (f64, f64) {
    let (machine, watched) = usage.iter().fold((0.0, 0.0), |(m, w), u| match u.name.as_str() {
        MACHINE => (m + u.cores, w),
        _ => (m, w + u.cores),
    });
    (watched, (machine - watched).max(0.0))
}

/// Cumulative CPU ticks at one instant: per watched name, per pid; and the machine's busy and
/// total ticks (all cores).
#[derive(Debug, Clone, Default)]
pub struct Sample {
    ticks: BTreeMap<String, BTreeMap<i32, u64>>,
    machine: (u64, u64),
}

/// The generator's entry in [`Usage`] lists.
pub const GENERATOR: &str = "generator (this process)";
/// The machine's entry: every core, every process.
pub const MACHINE: &str = "machine";

/// What to watch, found once before the first step.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// Platform processes by name (`emrlab up`, `emrlab serve task`).
    platform: Vec<(String, i32)>,
    /// Whether the target listens in this very process (the in-process stall server, a test).
    pub target_in_process: bool,
}

impl Watch {
    /// The processes behind `target` (a base URL) when it is on this machine.
    pub fn discover(target: &str) -> Self {
        imp::discover(target)
    }

    /// Names of the platform processes found, for the run's notes.
    pub fn platform_names(&self) -> Vec<String> {
        self.platform.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Reads every watched process's ticks now.
    pub fn sample(&self) -> Sample {
        imp::sample(self)
    }
}

/// CPU between two samples `seconds` apart, in cores, biggest first; the generator and the
/// machine always included. A process in only one sample (a PostgreSQL backend that started or
/// ended in between) counts for nothing: its ticks before the first sample are unknown.
pub fn usage(before: &Sample, after: &Sample, seconds: f64) -> Vec<Usage> {
    let per_second = imp::ticks_per_second() as f64 * seconds.max(1e-9);
    let mut usage: Vec<Usage> = after
        .ticks
        .iter()
        .map(|(name, pids)| {
            let ticks: u64 = pids
                .iter()
                .filter_map(|(pid, t)| Some(t.saturating_sub(*before.ticks.get(name)?.get(pid)?)))
                .sum();
            Usage {
                name: name.clone(),
                cores: ticks as f64 / per_second,
            }
        })
        .collect();
    let (busy, total) = (
        after.machine.0.saturating_sub(before.machine.0),
        after.machine.1.saturating_sub(before.machine.1),
    );
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    usage.push(Usage {
        name: MACHINE.into(),
        cores: if total == 0 {
            0.0
        } else {
            cpus * busy as f64 / total as f64
        },
    });
    usage.sort_by(|a, b| b.cores.total_cmp(&a.cores));
    usage
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::BTreeMap;

    use procfs::{
        CurrentSI, KernelStats,
        net::TcpState,
        process::{FDTarget, Process, all_processes},
    };

    use super::{GENERATOR, Sample, Watch};

    pub fn ticks_per_second() -> u64 {
        procfs::ticks_per_second().max(1)
    }

    /// `emrlab serve task` from a command line `/path/to/emrlab serve task --flag`: the binary's
    /// file name and the words before the first flag.
    fn name_of(process: &Process) -> String {
        let words = process.cmdline().unwrap_or_default();
        let mut words = words.iter();
        let binary = words
            .next()
            .and_then(|b| b.rsplit('/').next())
            .unwrap_or("emrlab")
            .to_owned();
        std::iter::once(binary)
            .chain(words.take_while(|w| !w.starts_with('-')).cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn is_emrlab(process: &Process) -> bool {
        process.stat().is_ok_and(|s| s.comm == "emrlab")
    }

    /// The pid listening on `port` on this machine, if any (and if its fds are readable).
    fn listener(port: u16) -> Option<i32> {
        let sockets: Vec<u64> = procfs::net::tcp()
            .into_iter()
            .chain(procfs::net::tcp6())
            .flatten()
            .filter(|e| e.state == TcpState::Listen && e.local_address.port() == port)
            .map(|e| e.inode)
            .collect();
        all_processes().ok()?.flatten().find_map(|p| {
            let owns = p
                .fd()
                .ok()?
                .flatten()
                .any(|fd| matches!(fd.target, FDTarget::Socket(inode) if sockets.contains(&inode)));
            owns.then_some(p.pid)
        })
    }

    fn local_port(target: &str) -> Option<u16> {
        let uri: http::Uri = target.parse().ok()?;
        let host = uri.host()?.trim_matches(['[', ']']);
        let local = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
        local.then(|| uri.port_u16().unwrap_or(80))
    }

    pub fn discover(target: &str) -> Watch {
        let Some(pid) = local_port(target).and_then(listener) else {
            return Watch::default();
        };
        if pid == std::process::id() as i32 {
            return Watch {
                platform: Vec::new(),
                target_in_process: true,
            };
        }
        // Up to the outermost emrlab (`up --split` is the parent of its components), then every
        // emrlab below it.
        let mut root = pid;
        while let Some(parent) = Process::new(root).and_then(|p| p.stat()).ok().map(|s| s.ppid) {
            match Process::new(parent) {
                Ok(p) if parent > 1 && is_emrlab(&p) => root = parent,
                _ => break,
            }
        }
        let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in all_processes().into_iter().flatten().flatten() {
            if let Ok(stat) = p.stat()
                && stat.comm == "emrlab"
            {
                children.entry(stat.ppid).or_default().push(p.pid);
            }
        }
        let (mut platform, mut todo) = (Vec::new(), vec![root]);
        while let Some(pid) = todo.pop() {
            if let Ok(p) = Process::new(pid) {
                platform.push((format!("{} (pid {pid})", name_of(&p)), pid));
            }
            todo.extend(children.get(&pid).into_iter().flatten());
        }
        Watch {
            platform,
            target_in_process: false,
        }
    }

    fn ticks(p: &Process) -> Option<u64> {
        p.stat().ok().map(|s| s.utime + s.stime)
    }

    pub fn sample(watch: &Watch) -> Sample {
        let mut sample = Sample::default();
        let mut put = |name: &str, pid: i32, t: u64| {
            sample.ticks.entry(name.to_owned()).or_default().insert(pid, t);
        };
        for (name, pid) in &watch.platform {
            if let Some(t) = Process::new(*pid).ok().as_ref().and_then(ticks) {
                put(name, *pid, t);
            }
        }
        if let Some(t) = Process::myself().ok().as_ref().and_then(ticks) {
            put(GENERATOR, std::process::id() as i32, t);
        }
        // Databases run one process per connection: every one of them, found again each time.
        for p in all_processes().into_iter().flatten().flatten() {
            let Ok(stat) = p.stat() else { continue };
            let group = match stat.comm.as_str() {
                "postgres" => "postgres (every process)",
                "redis-server" => "redis-server (every process)",
                _ => continue,
            };
            put(group, p.pid, stat.utime + stat.stime);
        }
        if let Ok(stats) = KernelStats::current() {
            let c = &stats.total;
            let idle = c.idle + c.iowait.unwrap_or(0);
            let busy = c.user + c.nice + c.system + c.irq.unwrap_or(0) + c.softirq.unwrap_or(0) + c.steal.unwrap_or(0);
            sample.machine = (busy, busy + idle);
        }
        sample
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Sample, Watch};

    pub fn ticks_per_second() -> u64 {
        100
    }

    pub fn discover(_target: &str) -> Watch {
        Watch::default()
    }

    pub fn sample(_watch: &Watch) -> Sample {
        Sample::default()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_generators_own_cpu_is_measured_between_two_samples() {
        let watch = Watch::default();
        let before = watch.sample();
        // Burn CPU until the kernel has counted some ticks of it (deadline, not a fixed time).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut after = watch.sample();
        let mut x = 0u64;
        while usage(&before, &after, 1.0)
            .iter()
            .all(|u| u.name != GENERATOR || u.cores == 0.0)
            && std::time::Instant::now() < deadline
        {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            after = watch.sample();
        }
        let used = usage(&before, &after, 1.0);
        assert!(used.iter().any(|u| u.name == GENERATOR && u.cores > 0.0), "{used:?}");
        assert!(used.iter().any(|u| u.name == MACHINE), "{used:?}");
    }

    #[test]
    fn the_machine_less_the_watched_processes_is_what_others_took() {
        let of = |name: &str, cores: f64| Usage {
            name: name.into(),
            cores,
        };
        let usage = [of(MACHINE, 1.5), of("emrlab up", 0.9), of(GENERATOR, 0.3)];
        let (watched, others) = watched_and_others(&usage);
        assert!(
            (watched - 1.2).abs() < 1e-9 && (others - 0.3).abs() < 1e-9,
            "{watched} {others}"
        );
        // Samples taken a tick apart can make the watched sum exceed the machine: nobody else.
        assert_eq!(watched_and_others(&[of(MACHINE, 1.0), of("emrlab up", 1.1)]).1, 0.0);
    }
}
