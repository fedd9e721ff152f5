//! Where handover events leave the service: `handover.requested` once a handover is stored,
//! `handover.accepted` once its tasks are reassigned. The platform's event bus (issue 6's live
//! events) plugs in by replacing [`AppState::events`](crate::AppState); until then the events
//! are only logged, by id.

use crate::model::Handover;

/// A handover event, with the handover as stored at that moment.
#[derive(Debug, Clone, Copy)]
pub enum HandoverEvent<'a> {
    /// A handover was created (status `requested`).
    Requested(&'a Handover),
    /// A handover was accepted and its tasks now belong to the receiver.
    Accepted(&'a Handover),
}

impl HandoverEvent<'_> {
    /// The event type as the live event stream names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Requested(_) => "handover.requested",
            Self::Accepted(_) => "handover.accepted",
        }
    }

    /// The handover the event is about.
    pub fn handover(&self) -> &Handover {
        match self {
            Self::Requested(h) | Self::Accepted(h) => h,
        }
    }
}

/// Receives every handover event after the change it reports is committed. Must not block:
/// it runs on the request's path.
pub trait EventSink: Send + Sync + 'static {
    /// Publishes one event (best effort: a lost event never undoes the change).
    fn publish(&self, event: HandoverEvent<'_>);
}

/// The sink until the bus exists: a debug line per event, ids only.
pub struct LogEvents;

impl EventSink for LogEvents {
    fn publish(&self, event: HandoverEvent<'_>) {
        tracing::debug!(event = event.kind(), handover_id = %event.handover().id, "handover event");
    }
}
