//! Single flight: identical reads in flight at once share one vendor call. The call runs on its
//! own task, so it finishes (and leaves the table) even if every caller waiting on it goes away.

use std::{future::Future, sync::Arc};

use dashmap::{DashMap, mapref::entry::Entry};
use futures::{FutureExt, future::BoxFuture, future::Shared};
use tracing::Instrument;

type Flight<T, E> = Shared<BoxFuture<'static, Result<T, E>>>;

pub struct SingleFlight<T, E> {
    flights: Arc<DashMap<String, Flight<T, E>>>,
}

impl<T, E> Default for SingleFlight<T, E> {
    fn default() -> Self {
        Self {
            flights: Arc::default(),
        }
    }
}

/// Whether this caller started the call or joined one in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Joiner,
}

impl<T, E> SingleFlight<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// Runs `call` under `key` unless a call with that key is in flight, whose result is shared.
    /// `lost` turns a call that panicked or was cancelled into the caller's error.
    pub async fn run<F>(&self, key: &str, call: F, lost: fn() -> E) -> (Role, Result<T, E>)
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let (role, flight) = match self.flights.entry(key.to_owned()) {
            Entry::Occupied(entry) => (Role::Joiner, entry.get().clone()),
            Entry::Vacant(entry) => {
                let flights = self.flights.clone();
                let owned_key = key.to_owned();
                // In the leader's span, so its trace shows the call it made for everyone.
                let task = tokio::spawn(
                    async move {
                        let result = call.await;
                        flights.remove(&owned_key);
                        result
                    }
                    .in_current_span(),
                );
                let flight: Flight<T, E> = task
                    .map(move |joined| joined.unwrap_or_else(|_| Err(lost())))
                    .boxed()
                    .shared();
                entry.insert(flight.clone());
                (Role::Leader, flight)
            }
        };
        (role, flight.await)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_identical_calls_run_once_and_a_later_call_runs_again() {
        let flights: SingleFlight<u32, String> = SingleFlight::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        let run = |calls: Arc<AtomicUsize>, mut gate: tokio::sync::watch::Receiver<bool>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = gate.wait_for(|open| *open).await;
            Ok::<u32, String>(7)
        };
        let waiting: Vec<_> = (0..50)
            .map(|_| flights.run("patient:1", run(calls.clone(), gate.clone()), || "lost".into()))
            .collect();
        let all = futures::future::join_all(waiting);
        let opener = async {
            tokio::task::yield_now().await;
            let _ = release.send(true);
        };
        let (results, ()) = tokio::join!(all, opener);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(results.iter().filter(|(role, _)| *role == Role::Leader).count(), 1);
        assert!(results.iter().all(|(_, r)| r == &Ok(7)));
        let (role, _) = flights
            .run("patient:1", run(calls.clone(), gate), || "lost".into())
            .await;
        assert_eq!((role, calls.load(Ordering::SeqCst)), (Role::Leader, 2));
    }
}
