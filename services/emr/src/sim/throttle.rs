//! The vendor's own throttling (`vendors.<v>.throttle.*`): a cap on requests in progress or on
//! requests per second, beyond which it answers 429.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use super::config::{Throttle, ThrottleKind};

/// Counts requests in progress and in the current second, whatever the knob says, so a switch
/// from `off` to a cap applies to traffic already under way.
pub struct Throttler {
    in_progress: Arc<AtomicU64>,
    started: Instant,
    // (second since `started`, requests admitted in it). A fixed window is coarser than a token
    // bucket, and fine for "at most `limit` per second".
    window: Mutex<(u64, u64)>,
}

/// A request in progress; it stops counting when dropped, however the request ends.
pub struct Slot(Arc<AtomicU64>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for Throttler {
    fn default() -> Self {
        Self {
            in_progress: Arc::default(),
            started: Instant::now(),
            window: Mutex::new((0, 0)),
        }
    }
}

impl Throttler {
    /// Admits a request under `throttle`, or returns `None` when it is over the cap.
    pub fn admit(&self, throttle: &Throttle) -> Option<Slot> {
        let limit = u64::from(throttle.limit);
        let before = self.in_progress.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.in_progress.clone());
        let admitted = match throttle.kind {
            ThrottleKind::Off => true,
            ThrottleKind::Concurrency => before < limit,
            ThrottleKind::Rate => self.take_from_window(limit),
        };
        admitted.then_some(slot)
    }

    fn take_from_window(&self, limit: u64) -> bool {
        let second = self.started.elapsed().as_secs();
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.0 != second {
            *window = (second, 0);
        }
        let admitted = window.1 < limit;
        window.1 += u64::from(admitted);
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn throttle(kind: ThrottleKind, limit: u32) -> Throttle {
        Throttle {
            kind,
            limit,
            retry_after: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_concurrency_cap_frees_a_slot_when_a_request_ends() {
        let throttler = Throttler::default();
        let cap = throttle(ThrottleKind::Concurrency, 2);
        let first = throttler.admit(&cap);
        let second = throttler.admit(&cap);
        assert!(first.is_some() && second.is_some());
        assert!(throttler.admit(&cap).is_none());
        drop(first);
        assert!(throttler.admit(&cap).is_some());
    }

    #[test]
    fn a_rate_cap_admits_the_limit_then_refuses_within_the_second() {
        let throttler = Throttler::default();
        let cap = throttle(ThrottleKind::Rate, 3);
        // Slots are dropped at once: only the count per second matters here.
        let admitted = (0..10).filter(|_| throttler.admit(&cap).is_some()).count();
        // The window may roll over during the loop on a slow machine, never more than once.
        assert!((3..=6).contains(&admitted), "{admitted}");
        assert!(throttler.admit(&throttle(ThrottleKind::Off, 1)).is_some());
    }
}
