//! `emrlab serve stall`: a target with known behaviour, for the engine's tests, the
//! coordinated-omission lab and capacity runs. Every request waits for one of `workers` slots,
//! then takes `service_time`; every `stall_every`, the whole server freezes for `stall_for`
//! (a stop-the-world pause), so the true latency distribution is known in advance.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::State, routing::any};
use serde::{Deserialize, Serialize};
use tokio::{sync::Semaphore, time::Instant};

/// The stall server's settings (`[stall]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub addr: SocketAddr,
    /// Time each request takes once it has a worker.
    #[serde(with = "humantime_serde")]
    pub service_time: Duration,
    /// Requests served at once; the rest queue.
    pub workers: u32,
    /// Period of the freezes (0: never).
    #[serde(with = "humantime_serde")]
    pub stall_every: Duration,
    /// Length of each freeze, at the start of every period.
    #[serde(with = "humantime_serde")]
    pub stall_for: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            service_time: Duration::from_millis(1),
            workers: 64,
            stall_every: Duration::ZERO,
            stall_for: Duration::ZERO,
        }
    }
}

#[derive(Clone)]
struct Stall {
    config: Arc<Config>,
    workers: Arc<Semaphore>,
    start: Instant,
}

impl Stall {
    /// When the freeze covering `now` ends, if `now` is inside one.
    fn frozen_until(&self, now: Instant) -> Option<Instant> {
        let (every, length) = (self.config.stall_every, self.config.stall_for);
        if every.is_zero() || length.is_zero() {
            return None;
        }
        let since = now - self.start;
        let phase = Duration::from_nanos((since.as_nanos() % every.as_nanos()) as u64);
        (phase < length).then(|| now + (length - phase))
    }
}

async fn serve(State(stall): State<Stall>) -> &'static str {
    // Only fails once closed, which never happens; serving without a slot is the harmless fallback.
    let _slot = stall.workers.acquire().await.ok();
    if let Some(until) = stall.frozen_until(Instant::now()) {
        tokio::time::sleep_until(until).await;
    }
    tokio::time::sleep(stall.config.service_time).await;
    "ok"
}

/// The stall server's router: every path and method is served the same way.
pub fn router(config: Config) -> Router {
    let state = Stall {
        workers: Arc::new(Semaphore::new(config.workers.max(1) as usize)),
        config: Arc::new(config),
        start: Instant::now(),
    };
    Router::new()
        .route("/", any(serve))
        .route("/{*path}", any(serve))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn freezes_repeat_at_the_start_of_every_period() {
        let config = Config {
            stall_every: Duration::from_secs(1),
            stall_for: Duration::from_millis(200),
            ..Config::default()
        };
        let stall = Stall {
            workers: Arc::new(Semaphore::new(1)),
            config: Arc::new(config),
            start: Instant::now(),
        };
        let at = |ms: u64| stall.start + Duration::from_millis(ms);
        assert_eq!(stall.frozen_until(at(50)), Some(at(200)));
        assert_eq!(stall.frozen_until(at(500)), None);
        assert_eq!(stall.frozen_until(at(1_100)), Some(at(1_200)));
    }
}
