//! The hub: which clients are connected, per organisation, and the one dispatcher task that
//! fans every event out to them.
//!
//! Fan-out is one task reading the bus, not a bus receiver per connection: with 10,000
//! connections across many organisations, a receiver each would wake every connection for every
//! event of every organisation. The dispatcher serialises an event once, stores it in its
//! organisation's replay buffer and `try_send`s the same bytes into the bounded queue of each
//! client of that organisation whose filter admits it. A full queue is a slow consumer: its
//! sender is dropped, and the connection closes with 1013 so the client resumes.

use std::sync::{
    Arc, Mutex, Weak,
    atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering},
};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use emrlab_common::{
    auth::{Claims, OrgId, UserId},
    events::{Event, EventBus, count_dropped},
    knobs::KnobCell,
    metrics::names,
};

use super::{
    protocol::{Filter, event_text},
    replay::{Replay, Resume, Stored},
    ticket::Tickets,
};
use crate::Settings;

/// Why the hub let go of a client; the connection turns it into a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Release {
    /// Still registered (or the connection ended by itself).
    None = 0,
    /// Its queue was full.
    SlowConsumer = 1,
}

/// What the dispatcher and a connection share about one client.
pub struct Shared {
    filter: Mutex<Filter>,
    released: AtomicU8,
}

impl Shared {
    /// The filter now in force.
    pub fn filter(&self) -> Filter {
        *self.filter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the filter (a `subscribe` message).
    pub fn set_filter(&self, filter: Filter) {
        *self.filter.lock().unwrap_or_else(|p| p.into_inner()) = filter;
    }

    /// Why the hub dropped this client's queue, if it did.
    pub fn released(&self) -> Release {
        match self.released.load(Ordering::Acquire) {
            1 => Release::SlowConsumer,
            _ => Release::None,
        }
    }
}

struct Client {
    tx: mpsc::Sender<Utf8Bytes>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Room {
    clients: Vec<(u64, Client)>,
    replay: Replay,
}

struct Inner {
    rooms: DashMap<OrgId, Room>,
    per_token: DashMap<Uuid, u32>,
    open: AtomicUsize,
    next_id: AtomicU64,
    knobs: Arc<KnobCell<Settings>>,
    tickets: Tickets,
    stop: CancellationToken,
    // Cancels the dispatcher and the Redis listener when the last handle to the hub is gone.
    _stop_on_drop: DropGuard,
}

/// The gateway's WebSocket hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

/// Why a connection was refused before the upgrade.
pub enum Refused {
    /// The gateway holds `gateway.ws.max_connections` already.
    Full,
    /// This token holds `gateway.ws.max_per_token` already.
    TokenCap,
}

/// A client's place in the hub: its queue's receiving end and what it shares with the
/// dispatcher. Dropping it unregisters the client and frees its connection slots.
pub struct Membership {
    pub rx: mpsc::Receiver<Utf8Bytes>,
    pub shared: Arc<Shared>,
    slot: Slot,
    id: u64,
}

/// A counted connection: the global and per-token counts, released on drop.
pub struct Slot {
    hub: Hub,
    token: Uuid,
    org: OrgId,
    user: UserId,
}

impl Hub {
    /// A hub reading `bus`; its dispatcher runs until the hub is dropped.
    pub fn new(bus: &EventBus, knobs: Arc<KnobCell<Settings>>) -> Self {
        let stop = CancellationToken::new();
        let hub = Self(Arc::new(Inner {
            rooms: DashMap::new(),
            per_token: DashMap::new(),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            knobs,
            tickets: Tickets::default(),
            stop: stop.clone(),
            _stop_on_drop: stop.clone().drop_guard(),
        }));
        metrics::gauge!(names::WS_CONNECTIONS, "component" => "gateway").set(0.0);
        tokio::spawn(dispatch(Arc::downgrade(&hub.0), bus.subscribe(), stop.clone()));
        tokio::spawn(sweep(Arc::downgrade(&hub.0), stop));
        hub
    }

    /// Cancelled when the hub goes away; background work tied to it (the Redis listener) ends.
    pub fn stop_token(&self) -> CancellationToken {
        self.0.stop.clone()
    }

    /// The connection tickets.
    pub fn tickets(&self) -> &Tickets {
        &self.0.tickets
    }

    /// Takes a connection slot for `claims`, or says which cap refuses it.
    pub fn admit(&self, claims: &Claims) -> Result<Slot, Refused> {
        let ws = &self.0.knobs.get().gateway.ws;
        // Counted first, checked after: two racing connections cannot both squeeze past the cap.
        if self.0.open.fetch_add(1, Ordering::AcqRel) >= ws.max_connections {
            self.0.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        {
            let mut count = self.0.per_token.entry(claims.jti).or_insert(0);
            if *count >= ws.max_per_token {
                drop(count);
                self.0.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::TokenCap);
            }
            *count += 1;
        }
        metrics::gauge!(names::WS_CONNECTIONS, "component" => "gateway").increment(1.0);
        Ok(Slot {
            hub: self.clone(),
            token: claims.jti,
            org: claims.org,
            user: claims.sub,
        })
    }

    /// Registers an admitted client with `filter` and says what it missed since `last`. The
    /// replay is taken under the same lock as the registration, so nothing falls between them.
    pub fn join(&self, slot: Slot, filter: Filter, last: Option<Uuid>) -> (Membership, Resume) {
        let queue = self.0.knobs.get().gateway.ws.queue.max(1);
        let (tx, rx) = mpsc::channel(queue);
        let shared = Arc::new(Shared {
            filter: Mutex::new(filter),
            released: AtomicU8::new(Release::None as u8),
        });
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let mut room = self.0.rooms.entry(slot.org).or_default();
        let resume = room.replay.after(last, &filter);
        room.clients.push((
            id,
            Client {
                tx,
                shared: shared.clone(),
            },
        ));
        drop(room);
        (Membership { rx, shared, slot, id }, resume)
    }

    fn fan_out(&self, event: &Event) {
        let Some(text) = event_text(event) else {
            count_dropped("gateway", "unserialisable", 1);
            return;
        };
        let capacity = self.0.knobs.get().gateway.ws.replay;
        let mut room = self.0.rooms.entry(event.org).or_default();
        room.replay.push(Stored::new(event, text.clone()), capacity);
        let (mut delivered, mut slow) = (0_u64, 0_u64);
        room.clients.retain(|(_, client)| {
            if !client.shared.filter().admits(event.ward, &event.users) {
                return true;
            }
            match client.tx.try_send(text.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Dropping the sender wakes the connection, which reads the reason and closes.
                    client
                        .shared
                        .released
                        .store(Release::SlowConsumer as u8, Ordering::Release);
                    slow += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        drop(room);
        metrics::counter!(names::EVENTS_DELIVERED, "component" => "gateway").increment(delivered);
        if slow > 0 {
            metrics::counter!(names::WS_DROPPED, "component" => "gateway", "reason" => "slow_consumer").increment(slow);
        }
    }
}

impl Slot {
    /// The practitioner the connection is for.
    pub fn user(&self) -> UserId {
        self.user
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let inner = &self.hub.0;
        inner.open.fetch_sub(1, Ordering::AcqRel);
        inner.per_token.remove_if_mut(&self.token, |_, count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
        metrics::gauge!(names::WS_CONNECTIONS, "component" => "gateway").decrement(1.0);
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(mut room) = self.slot.hub.0.rooms.get_mut(&self.slot.org) {
            room.clients.retain(|(id, _)| *id != self.id);
        }
    }
}

/// Reads the bus and fans out until the hub is dropped.
async fn dispatch(hub: Weak<Inner>, mut rx: broadcast::Receiver<Arc<Event>>, stop: CancellationToken) {
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            received = rx.recv() => received,
        };
        match received {
            Ok(event) => {
                let Some(inner) = hub.upgrade() else { return };
                Hub(inner).fan_out(&event);
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "the hub fell behind the event bus");
                count_dropped("gateway", "lagged", n);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Forgets expired tickets every 10 s.
async fn sweep(hub: Weak<Inner>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(inner) = hub.upgrade() else { return };
        inner.tickets.sweep();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use emrlab_common::auth::Role;

    use super::*;

    fn claims(org: OrgId) -> Claims {
        Claims {
            sub: UserId(Uuid::now_v7()),
            org,
            role: Role::Nurse,
            iss: "emrlab".into(),
            aud: "emrlab-api".into(),
            iat: 0,
            exp: 0,
            jti: Uuid::now_v7(),
        }
    }

    fn hub(change: impl FnOnce(&mut Settings)) -> Hub {
        let mut settings = Settings::default();
        change(&mut settings);
        Hub::new(
            &EventBus::new(),
            Arc::new(KnobCell::new("gateway", crate::KNOBS, settings)),
        )
    }

    #[tokio::test]
    async fn a_full_queue_releases_the_client_as_a_slow_consumer() {
        let hub = hub(|s| s.gateway.ws.queue = 1);
        let org = OrgId(Uuid::now_v7());
        let slot = hub.admit(&claims(org)).ok().unwrap();
        let (mut member, _) = hub.join(slot, Filter::default(), None);
        for _ in 0..2 {
            hub.fan_out(&Event::new("task.created", org, json!({})));
        }
        assert!(member.rx.recv().await.is_some(), "the first event was queued");
        assert!(member.rx.recv().await.is_none(), "the second found the queue full");
        assert_eq!(member.shared.released(), Release::SlowConsumer);
        hub.fan_out(&Event::new("task.created", OrgId(Uuid::now_v7()), json!({})));
    }

    #[tokio::test]
    async fn the_caps_count_open_connections_per_token_and_in_all() {
        let hub = hub(|s| {
            s.gateway.ws.max_per_token = 1;
            s.gateway.ws.max_connections = 2;
        });
        let org = OrgId(Uuid::now_v7());
        let (first, second) = (claims(org), claims(org));
        let slot = hub.admit(&first).ok().unwrap();
        assert!(matches!(hub.admit(&first), Err(Refused::TokenCap)));
        let other = hub.admit(&second).ok().unwrap();
        assert!(matches!(hub.admit(&claims(org)), Err(Refused::Full)));
        drop((slot, other));
        assert!(hub.admit(&first).is_ok(), "closing frees the slots");
    }
}
