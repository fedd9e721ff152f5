//! The event bus: services publish what happened (`task.created`, `handover.accepted`, …) and the
//! gateway's WebSocket hub fans it out to the organisation's clients.
//!
//! Plumbing only: an [`Event`] carries a type name, its organisation, a JSON payload and the
//! routing attributes the hub filters on (ward, practitioners); what a payload means is the
//! publishing service's business. Three transports, chosen by how the platform runs:
//!
//! - in process ([`EventBus::publisher`]), when the services share the gateway's process;
//! - Redis pub/sub ([`redis`]), when a Redis URL is configured, so several gateways fan out the
//!   same events;
//! - HTTP to the gateway's `POST /internal/events` ([`EventPublisher::http`]), for separate
//!   processes without Redis.
//!
//! Publishing never fails and never waits: a full queue drops the event and counts it in
//! `emrlab_events_dropped_total`, because a live feed must not slow or fail a clinical write.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{
    auth::{OrgId, UserId},
    metrics::names,
};

mod publish;
pub mod redis;

pub use publish::EventPublisher;

/// Events the in-process bus holds for a subscriber that has not read them yet; a subscriber
/// further behind loses the oldest (counted as dropped, reason `lagged`).
const BUS_CAPACITY: usize = 4_096;
/// Practitioners one event may name; more are dropped from routing (the event still goes out).
const MAX_USERS: usize = 64;

/// Something that happened, as the services publish it and the hub routes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// A UUID v7, so ids sort by publication time; clients resume after one.
    pub id: Uuid,
    /// What happened, `<noun>.<past participle>`: `task.created`, `sync.conflict`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was published (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The organisation whose clients may see it; no other organisation's client ever does.
    pub org: OrgId,
    /// The resource as its REST API shows it; ids only, no patient names.
    pub payload: Value,
    /// The ward it concerns, for `{"type":"subscribe","ward":…}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ward: Option<Uuid>,
    /// The practitioners it concerns (assignee, handover parties), for `"mine": true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserId>,
}

impl Event {
    /// A new event of `kind` for `org`, stamped now with a fresh id.
    pub fn new(kind: impl Into<String>, org: OrgId, payload: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: kind.into(),
            time: OffsetDateTime::now_utc(),
            org,
            payload,
            ward: None,
            users: Vec::new(),
        }
    }

    /// Routes the event to a ward's subscribers too.
    pub fn ward(mut self, ward: impl Into<Option<Uuid>>) -> Self {
        self.ward = ward.into();
        self
    }

    /// Names the practitioners it concerns (adds to any named before).
    pub fn for_users(mut self, users: impl IntoIterator<Item = UserId>) -> Self {
        for user in users {
            if self.users.len() < MAX_USERS && !self.users.contains(&user) {
                self.users.push(user);
            }
        }
        self
    }

    /// Whether `user` is among the practitioners it concerns.
    pub fn concerns(&self, user: UserId) -> bool {
        self.users.contains(&user)
    }
}

/// `[events]`: how services hand events to the gateway when they do not share its process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// The Redis pub/sub channel (`events.redis_channel`); gateways sharing one see each other's
    /// events, so separate platforms on one Redis need separate channels.
    pub redis_channel: String,
    /// Events waiting to leave a service for Redis or the gateway (`events.queue`); more are
    /// dropped and counted.
    pub queue: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            redis_channel: "emrlab:events".into(),
            queue: 1_024,
        }
    }
}

/// The fan-out point inside a gateway's process: every transport ends here, and the hub
/// subscribes. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(BUS_CAPACITY).0,
        }
    }

    /// A publisher writing straight into this bus (services in the gateway's process).
    pub fn publisher(&self, component: &'static str) -> EventPublisher {
        EventPublisher::in_process(self.clone(), component)
    }

    /// Events from now on. A receiver that falls [`BUS_CAPACITY`] behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Hands an event that arrived over a transport to the subscribers.
    pub fn deliver(&self, event: Event) {
        // No subscriber (no hub yet, or a service-only process) is not an error: nobody listens.
        let _ = self.tx.send(Arc::new(event));
    }
}

/// Counts events dropped on the way, by component and reason (`queue_full`, `transport`, `lagged`).
pub fn count_dropped(component: &'static str, reason: &'static str, n: u64) {
    metrics::counter!(names::EVENTS_DROPPED, "component" => component, "reason" => reason).increment(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_serialises_with_type_time_and_only_the_routing_it_has() {
        let org = OrgId(Uuid::nil());
        let user = UserId(Uuid::now_v7());
        let event = Event::new("task.created", org, serde_json::json!({"id": "x"})).for_users([user, user]);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "task.created");
        assert!(json.get("ward").is_none());
        assert_eq!(json["users"].as_array().map(Vec::len), Some(1));
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert!(back.concerns(user));
    }

    #[tokio::test]
    async fn an_in_process_publisher_reaches_every_subscriber() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        let event = Event::new("task.updated", OrgId(Uuid::nil()), Value::Null).ward(Uuid::nil());
        bus.publisher("test").publish(event.clone());
        assert_eq!(*rx.recv().await.unwrap(), event);
    }
}
