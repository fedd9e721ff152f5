//! Rate limiters: GCRA token buckets (governor) and fixed windows, keyed per token or client.
//! Rebuilt whole when a knob changes, so a new setting starts from a clean slate.

use std::{
    num::NonZeroU32,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use crate::config::{self, LimitKind};

/// One limiter.
pub enum Limiter {
    Off,
    Bucket(DefaultKeyedRateLimiter<String>),
    Window {
        window: Duration,
        max: u32,
        counts: DashMap<String, (Instant, u32)>,
    },
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn bucket(per_second: u32, burst: u32) -> Limiter {
    Limiter::Bucket(RateLimiter::keyed(
        Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst)),
    ))
}

impl Limiter {
    fn for_requests(cfg: &config::RateLimit) -> Self {
        match cfg.kind {
            LimitKind::Off => Self::Off,
            LimitKind::TokenBucket => bucket(cfg.per_second, cfg.burst),
            LimitKind::FixedWindow => Self::Window {
                window: cfg.window,
                max: cfg.max,
                counts: DashMap::new(),
            },
        }
    }

    /// `Ok` to proceed, or how long until this key may try again.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        match self {
            Self::Off => Ok(()),
            Self::Bucket(limiter) => limiter
                .check_key(&key.to_owned())
                .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now())),
            Self::Window { window, max, counts } => {
                let now = Instant::now();
                let mut entry = counts.entry(key.to_owned()).or_insert((now, 0));
                let (started, count) = &mut *entry;
                if now.duration_since(*started) >= *window {
                    (*started, *count) = (now, 0);
                }
                if *count >= *max {
                    return Err(*window - now.duration_since(*started));
                }
                *count += 1;
                Ok(())
            }
        }
    }

    fn sweep(&self) {
        match self {
            Self::Off => {}
            Self::Bucket(limiter) => limiter.retain_recent(),
            Self::Window { window, counts, .. } => counts.retain(|_, (started, _)| started.elapsed() < *window),
        }
    }
}

/// The gateway's two limiters.
pub struct Limits {
    pub requests: ArcSwap<Limiter>,
    pub logins: ArcSwap<Limiter>,
}

impl Limits {
    pub fn new(cfg: &config::Config) -> Self {
        Self {
            requests: ArcSwap::from_pointee(Limiter::for_requests(&cfg.rate_limit)),
            logins: ArcSwap::from_pointee(bucket(cfg.login_rate_limit.per_second, cfg.login_rate_limit.burst)),
        }
    }

    pub fn rebuild(&self, cfg: &config::Config) {
        self.requests.store(Arc::new(Limiter::for_requests(&cfg.rate_limit)));
        self.logins.store(Arc::new(bucket(
            cfg.login_rate_limit.per_second,
            cfg.login_rate_limit.burst,
        )));
    }
}

/// Forgets idle keys every 10 s, so a stream of one-off tokens cannot grow the maps without bound.
pub fn spawn_sweeper(limits: Weak<Limits>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            let Some(limits) = limits.upgrade() else {
                break;
            };
            limits.requests.load().sweep();
            limits.logins.load().sweep();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_window_admits_max_then_refuses_until_it_ends() {
        let cfg = config::RateLimit {
            kind: LimitKind::FixedWindow,
            max: 3,
            window: Duration::from_secs(60),
            ..Default::default()
        };
        let limiter = Limiter::for_requests(&cfg);
        assert!((0..3).all(|_| limiter.check("a").is_ok()));
        let wait = limiter.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(limiter.check("b").is_ok(), "another key has its own window");
    }

    #[test]
    fn a_token_bucket_admits_its_burst_per_key() {
        let cfg = config::RateLimit {
            per_second: 1,
            burst: 5,
            ..Default::default()
        };
        let limiter = Limiter::for_requests(&cfg);
        assert_eq!((0..10).filter(|_| limiter.check("t").is_ok()).count(), 5);
        assert!(limiter.check("u").is_ok());
    }
}
