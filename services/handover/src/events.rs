//! The handover service's live events: `handover.requested` once a handover is stored,
//! `handover.accepted` once its tasks are reassigned, each carrying the handover as the REST API
//! returns it, routed to its ward and to both practitioners. Published after the change is
//! committed and never waited for: a lost event never undoes the change.

use emrlab_common::{
    auth::{OrgId, UserId},
    events::{Event, EventPublisher},
};

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

/// Publishes one event of the organisation `org`.
pub fn publish(events: &EventPublisher, org: OrgId, event: HandoverEvent<'_>) {
    let handover = event.handover();
    let Ok(payload) = serde_json::to_value(handover) else {
        return;
    };
    let parties = [handover.from_practitioner_id, handover.to_practitioner_id].map(UserId);
    events.publish(
        Event::new(event.kind(), org, payload)
            .ward(handover.ward_id)
            .for_users(parties),
    );
}
