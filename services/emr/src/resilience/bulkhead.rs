//! The bulkhead: a cap on vendor calls in flight per vendor. A caller over the cap is refused at
//! once rather than queued, so a slow vendor cannot take every connection and task with it.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The cap of one vendor; `None` when `emr.max_in_flight` is `off`.
#[derive(Default)]
pub struct Bulkhead {
    slots: ArcSwapOption<Semaphore>,
}

/// Held for the length of a call; `None` inside when there is no cap.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

/// The cap is reached.
#[derive(Debug, Clone, Copy)]
pub struct Full;

impl Bulkhead {
    pub fn new(cap: Option<u32>) -> Self {
        let bulkhead = Self::default();
        bulkhead.resize(cap);
        bulkhead
    }

    /// Applies a new cap to calls that start from now on; calls in flight keep their slots.
    pub fn resize(&self, cap: Option<u32>) {
        self.slots.store(cap.map(|cap| Arc::new(Semaphore::new(cap as usize))));
    }

    pub fn enter(&self) -> Result<Slot, Full> {
        match self.slots.load_full() {
            None => Ok(Slot { _permit: None }),
            Some(slots) => slots
                .try_acquire_owned()
                .map(|p| Slot { _permit: Some(p) })
                .map_err(|_| Full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_the_cap_until_a_slot_is_freed_and_off_means_no_cap() {
        let bulkhead = Bulkhead::new(Some(2));
        let first = bulkhead.enter().unwrap();
        let _second = bulkhead.enter().unwrap();
        assert!(bulkhead.enter().is_err());
        drop(first);
        assert!(bulkhead.enter().is_ok());
        bulkhead.resize(None);
        let held: Vec<Slot> = (0..1_000).map(|_| bulkhead.enter().unwrap()).collect();
        assert_eq!(held.len(), 1_000);
    }
}
