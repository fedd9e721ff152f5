//! A circuit breaker per vendor: closed, open, half open, over a rolling window of outcomes.
//!
//! Hand-written rather than a crate because it must follow knobs changed at run time, export its
//! state as a gauge, log transitions, and run on tokio's clock so tests can pause time.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use tokio::time::Instant;

use crate::config::BreakerConfig;

/// The breaker's state, as the `emrlab_emr_breaker_state` gauge shows it (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: u32, passed: u32 },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// (when, failed) of the calls that ended in the window, oldest first.
    outcomes: VecDeque<(Instant, bool)>,
}

/// Whether a call may go ahead; a probe must be reported as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Call,
    Probe,
}

/// A refused call: the breaker is open (or its probes are all out) for about this long.
#[derive(Debug, Clone, Copy)]
pub struct Refused {
    pub retry_after: Duration,
}

#[derive(Debug)]
pub struct Breaker {
    name: &'static str,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(name: &'static str) -> Self {
        let breaker = Self {
            name,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                outcomes: VecDeque::new(),
            }),
        };
        breaker.publish(State::Closed);
        breaker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the counters inconsistent enough to matter.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> State {
        match self.lock().phase {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// Asks to make a call. A disabled breaker always admits and records nothing.
    pub fn admit(&self, cfg: &BreakerConfig) -> Result<Admission, Refused> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.phase {
            Phase::Closed => Ok(Admission::Call),
            Phase::Open { until } if now < until => Err(Refused {
                retry_after: until - now,
            }),
            Phase::Open { .. } => {
                inner.phase = Phase::HalfOpen { probing: 1, passed: 0 };
                drop(inner);
                self.transition(State::HalfOpen);
                Ok(Admission::Probe)
            }
            Phase::HalfOpen {
                ref mut probing,
                passed,
            } if *probing + passed < cfg.half_open_probes => {
                *probing += 1;
                Ok(Admission::Probe)
            }
            Phase::HalfOpen { .. } => Err(Refused {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// Reports how an admitted call ended.
    pub fn record(&self, cfg: &BreakerConfig, admission: Admission, failed: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        let next = match (&mut inner.phase, admission) {
            (Phase::HalfOpen { .. }, Admission::Probe) if failed => Some(self.open(&mut inner, cfg, now)),
            (Phase::HalfOpen { probing, passed }, Admission::Probe) => {
                *probing = probing.saturating_sub(1);
                *passed += 1;
                if *passed >= cfg.half_open_probes {
                    inner.phase = Phase::Closed;
                    inner.outcomes.clear();
                    Some(State::Closed)
                } else {
                    None
                }
            }
            (Phase::Closed, _) => {
                inner.outcomes.push_back((now, failed));
                while inner
                    .outcomes
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > cfg.window)
                {
                    inner.outcomes.pop_front();
                }
                let calls = inner.outcomes.len() as u64;
                let failures = inner.outcomes.iter().filter(|(_, f)| *f).count() as u64;
                (calls >= u64::from(cfg.minimum_calls) && failures * 100 >= u64::from(cfg.failure_rate) * calls)
                    .then(|| self.open(&mut inner, cfg, now))
            }
            // A call admitted before the breaker opened, or a probe's late answer after a reset.
            _ => None,
        };
        drop(inner);
        if let Some(state) = next {
            self.transition(state);
        }
    }

    fn open(&self, inner: &mut Inner, cfg: &BreakerConfig, now: Instant) -> State {
        inner.phase = Phase::Open {
            until: now + cfg.open_for,
        };
        inner.outcomes.clear();
        State::Open
    }

    /// Back to closed with an empty window (the breaker was switched off and on again).
    pub fn reset(&self) {
        let mut inner = self.lock();
        let was_closed = matches!(inner.phase, Phase::Closed);
        inner.phase = Phase::Closed;
        inner.outcomes.clear();
        drop(inner);
        if !was_closed {
            self.transition(State::Closed);
        }
    }

    fn transition(&self, state: State) {
        match state {
            State::Open => tracing::warn!(vendor = self.name, "circuit breaker opened: failing fast"),
            State::HalfOpen => tracing::info!(vendor = self.name, "circuit breaker half open: probing"),
            State::Closed => tracing::info!(vendor = self.name, "circuit breaker closed"),
        }
        self.publish(state);
    }

    fn publish(&self, state: State) {
        metrics::gauge!(crate::names::BREAKER_STATE, "component" => "emr", "vendor" => self.name).set(state.gauge());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            enabled: true,
            failure_rate: 50,
            minimum_calls: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(30),
            half_open_probes: 2,
        }
    }

    fn call(breaker: &Breaker, failed: bool) -> Result<(), Refused> {
        let admission = breaker.admit(&cfg())?;
        breaker.record(&cfg(), admission, failed);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_the_failure_rate_then_probes_and_closes() {
        let breaker = Breaker::new("epic");
        for failed in [false, true, false] {
            call(&breaker, failed).unwrap();
        }
        assert_eq!(breaker.state(), State::Closed, "three calls are under the minimum");
        call(&breaker, true).unwrap();
        assert_eq!(breaker.state(), State::Open, "2 of 4 failed: 50%");
        let refused = call(&breaker, false).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(30));

        tokio::time::advance(Duration::from_secs(30)).await;
        let first = breaker.admit(&cfg()).unwrap();
        let second = breaker.admit(&cfg()).unwrap();
        assert_eq!((first, second), (Admission::Probe, Admission::Probe));
        assert!(breaker.admit(&cfg()).is_err(), "only two probes at once");
        breaker.record(&cfg(), first, false);
        assert_eq!(breaker.state(), State::HalfOpen);
        breaker.record(&cfg(), second, false);
        assert_eq!(breaker.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again_and_old_failures_leave_the_window() {
        let breaker = Breaker::new("cerner");
        for _ in 0..3 {
            call(&breaker, true).unwrap();
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        call(&breaker, false).unwrap();
        assert_eq!(breaker.state(), State::Closed, "the three failures left the window");
        for _ in 0..3 {
            call(&breaker, true).unwrap();
        }
        assert_eq!(breaker.state(), State::Open);
        tokio::time::advance(Duration::from_secs(30)).await;
        call(&breaker, true).unwrap();
        assert_eq!(breaker.state(), State::Open, "the probe failed");
        assert!(call(&breaker, false).is_err());
    }
}
