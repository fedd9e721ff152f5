//! The per-organisation replay buffer: the last `gateway.ws.replay` events of an organisation,
//! serialised once, so a client that reconnects with `last_event_id` gets what it missed.
//!
//! Positions, not id order, decide what is "after" an id: events arrive in the order the bus
//! delivered them, and that is the order every client saw.

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;
use uuid::Uuid;

use super::protocol::Filter;
use emrlab_common::events::Event;

/// One stored event: its routing attributes and the message every client is sent.
pub struct Stored {
    pub id: Uuid,
    pub ward: Option<Uuid>,
    pub users: Vec<emrlab_common::auth::UserId>,
    pub text: Utf8Bytes,
}

impl Stored {
    /// Keeps what routing needs of `event` beside its message.
    pub fn new(event: &Event, text: Utf8Bytes) -> Self {
        Self {
            id: event.id,
            ward: event.ward,
            users: event.users.clone(),
            text,
        }
    }
}

/// What a resuming client gets.
pub enum Resume {
    /// It asked for nothing: live events only.
    Fresh,
    /// The events after its last one that its filter lets through, oldest first.
    Replay(Vec<Utf8Bytes>),
    /// Its last event is no longer kept (or never was): it must refetch over REST.
    ResyncRequired(Uuid),
}

/// A bounded ring of an organisation's recent events.
#[derive(Default)]
pub struct Replay(VecDeque<Stored>);

impl Replay {
    /// Appends an event, dropping the oldest beyond `capacity` (which may have shrunk by knob).
    pub fn push(&mut self, stored: Stored, capacity: usize) {
        while self.0.len() >= capacity.max(1) {
            self.0.pop_front();
        }
        if capacity > 0 {
            self.0.push_back(stored);
        }
    }

    /// The events after `last` for a client with `filter`.
    pub fn after(&self, last: Option<Uuid>, filter: &Filter) -> Resume {
        let Some(last) = last else {
            return Resume::Fresh;
        };
        match self.0.iter().position(|s| s.id == last) {
            Some(at) => Resume::Replay(
                self.0
                    .iter()
                    .skip(at + 1)
                    .filter(|s| filter.admits(s.ward, &s.users))
                    .map(|s| s.text.clone())
                    .collect(),
            ),
            None => Resume::ResyncRequired(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(ward: Option<Uuid>) -> Stored {
        Stored {
            id: Uuid::now_v7(),
            ward,
            users: vec![],
            text: Utf8Bytes::from_static("{}"),
        }
    }

    #[test]
    fn a_resume_replays_what_followed_and_a_forgotten_id_asks_for_a_resync() {
        let mut replay = Replay::default();
        let ward = Uuid::now_v7();
        let (first, second, third) = (stored(None), stored(Some(ward)), stored(None));
        let (first_id, second_id) = (first.id, second.id);
        for s in [first, second, third] {
            replay.push(s, 2);
        }
        assert!(matches!(replay.after(None, &Filter::default()), Resume::Fresh));
        assert!(matches!(
            replay.after(Some(first_id), &Filter::default()),
            Resume::ResyncRequired(_)
        ));
        let Resume::Replay(all) = replay.after(Some(second_id), &Filter::default()) else {
            panic!("the second event is still kept");
        };
        assert_eq!(all.len(), 1);
        let ward_only = Filter {
            ward: Some(ward),
            ..Filter::default()
        };
        assert!(matches!(replay.after(Some(second_id), &ward_only), Resume::Replay(v) if v.is_empty()));
    }
}
