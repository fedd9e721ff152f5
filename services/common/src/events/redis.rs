//! The Redis transport: services `PUBLISH` events as JSON on one channel (`events.redis_channel`)
//! and every gateway subscribed to it delivers them into its own [`EventBus`], so each gateway's
//! hub sees every event whichever instance's service published it.
//!
//! Pub/sub is fire-and-forget: a gateway that is disconnected misses what was published
//! meanwhile, and its clients learn it when they resume (`resync_required`).

use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;

use super::{Event, EventBus, EventPublisher};
use crate::metrics::names;

/// Wait before resubscribing after the connection to Redis failed.
const RECONNECT: Duration = Duration::from_secs(1);

impl EventPublisher {
    /// A publisher sending to `channel` on the Redis at `url` through a queue of `queue` events.
    pub async fn redis(
        url: &str,
        channel: &str,
        component: &'static str,
        queue: usize,
    ) -> Result<Self, redis::RedisError> {
        let conn = ConnectionManager::new(redis::Client::open(url)?).await?;
        let channel = channel.to_owned();
        Ok(Self::queued(component, "redis", queue, move |batch| {
            let (mut conn, channel) = (conn.clone(), channel.clone());
            async move {
                // One round trip per batch: a pipeline of PUBLISH commands.
                let mut pipe = redis::pipe();
                for event in &batch {
                    let json = serde_json::to_string(event).map_err(|e| e.to_string())?;
                    pipe.publish(&channel, json).ignore();
                }
                pipe.query_async::<()>(&mut conn).await.map_err(|e| e.to_string())
            }
        }))
    }
}

/// Subscribes to `channel` on the Redis at `url` and delivers every event into `bus`, until
/// `stop` is cancelled; reconnects after a failure. Checks the connection once before returning,
/// so a wrong URL fails at start-up rather than in the background.
pub async fn listen(
    url: &str,
    channel: &str,
    bus: EventBus,
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let channel = channel.to_owned();
    tokio::spawn(async move {
        let mut first = Some(pubsub);
        loop {
            let pubsub = match first.take() {
                Some(pubsub) => Ok(pubsub),
                None => subscribe(&client, &channel).await,
            };
            match pubsub {
                Ok(mut pubsub) => {
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            message = messages.next() => match message {
                                Some(message) => receive(&bus, message.get_payload_bytes()),
                                None => break,
                            },
                        }
                    }
                    tracing::warn!("the Redis event subscription ended; resubscribing");
                }
                Err(error) => tracing::warn!(%error, "cannot subscribe to Redis events; retrying"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RECONNECT) => {}
            }
        }
    });
    Ok(())
}

async fn subscribe(client: &redis::Client, channel: &str) -> Result<redis::aio::PubSub, redis::RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

fn receive(bus: &EventBus, payload: &[u8]) {
    match serde_json::from_slice::<Event>(payload) {
        Ok(event) => {
            metrics::counter!(names::EVENTS_RECEIVED, "component" => "gateway", "transport" => "redis").increment(1);
            bus.deliver(event);
        }
        // Someone else's message on our channel; it cannot be routed, so it is counted and skipped.
        Err(_) => super::count_dropped("gateway", "unreadable", 1),
    }
}
