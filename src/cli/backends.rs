//! The throwaway PostgreSQL and Redis an experiment asks for, started with the project's own
//! scripts (the ones CI uses), embedded so the binary works from any directory.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

use anyhow::Context;

const PG_UP: &str = include_str!("../../scripts/pg-up");
const PG_DOWN: &str = include_str!("../../scripts/pg-down");
const REDIS_UP: &str = include_str!("../../scripts/redis-up");
const REDIS_DOWN: &str = include_str!("../../scripts/redis-down");

/// Running backends, stopped (and their files removed) on drop.
pub struct Backends {
    dir: tempfile::TempDir,
    pub postgres: Option<String>,
    pub redis: Option<String>,
}

impl Backends {
    /// Starts what is asked for.
    pub fn start(postgres: bool, redis: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("emrlab-experiment.").tempdir()?;
        // The postgres user must reach the cluster inside; tempdir makes it 0700.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let mut backends = Self {
            dir,
            postgres: None,
            redis: None,
        };
        if postgres {
            eprintln!("starting a throwaway PostgreSQL (scripts/pg-up)…");
            backends.postgres = Some(backends.script("pg-up", PG_UP, "pg", &[("PG_FAST", "1")])?);
        }
        if redis {
            eprintln!("starting a throwaway Redis (scripts/redis-up)…");
            backends.redis = Some(backends.script("redis-up", REDIS_UP, "redis", &[])?);
        }
        Ok(backends)
    }

    /// Runs an embedded script on `DIR/<state>`; its one line of output is the URL.
    fn script(&self, name: &str, text: &str, state: &str, env: &[(&str, &str)]) -> anyhow::Result<String> {
        let output = run(self.dir.path(), name, text, state, env)?;
        anyhow::ensure!(
            output.status.success(),
            "scripts/{name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

fn run(dir: &Path, name: &str, text: &str, state: &str, env: &[(&str, &str)]) -> anyhow::Result<std::process::Output> {
    let script = dir.join(name);
    std::fs::write(&script, text).with_context(|| format!("writing {}", script.display()))?;
    let mut command = Command::new("bash");
    command.arg(&script).arg(dir.join(state));
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().with_context(|| format!("running scripts/{name}"))
}

impl Backends {
    /// What stops them and removes their files, for a Ctrl-C handler: a process that exits
    /// skips `Drop`.
    pub fn stopper(&self) -> impl FnOnce() + Send + 'static {
        let (dir, postgres, redis) = (
            self.dir.path().to_owned(),
            self.postgres.is_some(),
            self.redis.is_some(),
        );
        move || {
            stop(&dir, postgres, redis);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn stop(dir: &Path, postgres: bool, redis: bool) {
    if redis {
        let _ = run(dir, "redis-down", REDIS_DOWN, "redis", &[]);
    }
    if postgres {
        let _ = run(dir, "pg-down", PG_DOWN, "pg", &[]);
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        stop(self.dir.path(), self.postgres.is_some(), self.redis.is_some());
    }
}
