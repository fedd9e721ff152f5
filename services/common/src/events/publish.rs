//! The publishing side services hold: [`EventPublisher`], cheap to clone, never blocking.
//!
//! In process an event goes straight into the gateway's [`EventBus`]. Over Redis or HTTP it goes
//! into a bounded queue that one forwarder task per publisher drains in batches, so a slow
//! transport costs dropped events (counted), never a slow request.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::mpsc;

use super::{Event, EventBus, count_dropped};
use crate::{auth::JwtKeys, metrics::names};

/// Events one forwarder sends at once: one Redis pipeline or one HTTP request.
const BATCH: usize = 100;
/// Longest an HTTP publish to the gateway may take; the events are dropped after it.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
enum Route {
    Off,
    InProcess(EventBus),
    Queued(mpsc::Sender<Event>),
}

/// Where a service sends its events. Cheap to clone: hold one in the service's state.
#[derive(Clone)]
pub struct EventPublisher {
    route: Route,
    component: &'static str,
    transport: &'static str,
}

impl EventPublisher {
    /// A publisher that discards everything (a service tested without a gateway).
    pub fn disabled() -> Self {
        Self {
            route: Route::Off,
            component: "none",
            transport: "off",
        }
    }

    pub(super) fn in_process(bus: EventBus, component: &'static str) -> Self {
        register(component, "in_process", &[]);
        Self {
            route: Route::InProcess(bus),
            component,
            transport: "in_process",
        }
    }

    /// A publisher posting to the gateway's `POST /internal/events` at `gateway_url` with an
    /// internal token, through a queue of `queue` events.
    pub fn http(gateway_url: &str, keys: Arc<JwtKeys>, component: &'static str, queue: usize) -> Self {
        let url = format!("{}/internal/events", gateway_url.trim_end_matches('/'));
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self::queued(component, "http", queue, move |batch| {
            let (client, url, keys) = (client.clone(), url.clone(), keys.clone());
            async move {
                let token = keys.issue_internal(component).map_err(|e| e.to_string())?;
                let request = client.post(url).bearer_auth(token).json(&batch);
                let response = crate::telemetry::send(request, "gateway", "events")
                    .await
                    .map_err(|e| e.to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the gateway answered {}", response.status()))
                }
            }
        })
    }

    /// A publisher whose forwarder hands each batch to `send`; used by the Redis and HTTP
    /// transports. Must be called inside a tokio runtime.
    pub(super) fn queued<F, Fut>(component: &'static str, transport: &'static str, queue: usize, send: F) -> Self
    where
        F: Fn(Vec<Event>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        register(component, transport, &["transport", "queue_full"]);
        let (tx, mut rx) = mpsc::channel::<Event>(queue.max(1));
        tokio::spawn(async move {
            // Ends once every clone of the publisher is gone and the queue is drained.
            while let Some(first) = rx.recv().await {
                let mut batch = Vec::with_capacity(BATCH.min(rx.len() + 1));
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let n = batch.len() as u64;
                if let Err(error) = send(batch).await {
                    tracing::warn!(transport, events = n, %error, "events could not be published; dropped");
                    count_dropped(component, "transport", n);
                }
            }
        });
        Self {
            route: Route::Queued(tx),
            component,
            transport,
        }
    }

    /// Publishes `event`: never waits and never fails; a full queue drops it and counts it.
    pub fn publish(&self, event: Event) {
        let delivered = match &self.route {
            Route::Off => return,
            Route::InProcess(bus) => {
                bus.deliver(event);
                true
            }
            Route::Queued(tx) => tx.try_send(event).is_ok(),
        };
        if delivered {
            metrics::counter!(names::EVENTS_PUBLISHED, "component" => self.component, "transport" => self.transport)
                .increment(1);
        } else {
            count_dropped(self.component, "queue_full", 1);
        }
    }
}

/// Creates a publisher's series at zero, so a dashboard sees a component's events, and the ways
/// its transport can lose them, before the first one.
fn register(component: &'static str, transport: &'static str, drop_reasons: &[&'static str]) {
    let _ = metrics::counter!(names::EVENTS_PUBLISHED, "component" => component, "transport" => transport);
    for reason in drop_reasons {
        count_dropped(component, reason, 0);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use uuid::Uuid;

    use super::*;
    use crate::auth::OrgId;

    #[tokio::test]
    async fn a_queued_publisher_forwards_in_batches_and_a_disabled_one_drops_quietly() {
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let publisher = EventPublisher::queued("test", "test", 8, move |batch| {
            let seen_tx = seen_tx.clone();
            async move {
                let _ = seen_tx.send(batch.len());
                Ok(())
            }
        });
        for _ in 0..3 {
            publisher.publish(Event::new("task.created", OrgId(Uuid::nil()), Value::Null));
        }
        let mut total = 0;
        while total < 3 {
            total += seen.recv().await.unwrap();
        }
        assert_eq!(total, 3);
        EventPublisher::disabled().publish(Event::new("x.y", OrgId(Uuid::nil()), Value::Null));
    }
}
