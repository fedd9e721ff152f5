//! The WebSocket protocol's messages and close codes (docs/api.md, "Live events").
//!
//! Server → client: events `{"id","type","time","payload"}`, and control messages whose `type`
//! has no dot (`subscribed`, `resync_required`, `error`, `pong`). Client → server: `subscribe`
//! and `ping`, as JSON text.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{auth::UserId, events::Event};

/// Close codes the hub uses; docs/api.md lists them for clients.
pub mod close {
    /// The client asked to close, or the gateway is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame that breaks the WebSocket protocol.
    pub const PROTOCOL: u16 = 1002;
    /// A message over the 4 KiB inbound limit.
    pub const TOO_BIG: u16 = 1009;
    /// Repeated bad or too many messages.
    pub const POLICY: u16 = 1008;
    /// The client's send queue was full (a slow consumer): reconnect with `last_event_id`.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// No pong or message for two heartbeat periods.
    pub const HEARTBEAT: u16 = 4000;
    /// The access token the connection was opened with has expired: reconnect with a new one.
    pub const TOKEN_EXPIRED: u16 = 4001;
}

/// Which of its organisation's events a client receives; both parts must match when both are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events about this ward.
    pub ward: Option<Uuid>,
    /// Only events naming this practitioner (`"mine": true`).
    pub user: Option<UserId>,
}

impl Filter {
    /// Whether an event with these routing attributes passes.
    pub fn admits(&self, ward: Option<Uuid>, users: &[UserId]) -> bool {
        self.ward.is_none_or(|w| ward == Some(w)) && self.user.is_none_or(|u| users.contains(&u))
    }
}

/// A message a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Replaces the filter: `{"type":"subscribe"}` is everything again.
    Subscribe {
        #[serde(default)]
        ward: Option<Uuid>,
        #[serde(default)]
        mine: bool,
    },
    /// An application-level ping for clients (browsers) that cannot see protocol pings.
    Ping,
}

/// The message sent for an event: serialised once, sent to every client it concerns.
pub fn event_text(event: &Event) -> Option<Utf8Bytes> {
    #[derive(Serialize)]
    struct Outbound<'a> {
        id: Uuid,
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(with = "time::serde::rfc3339")]
        time: OffsetDateTime,
        payload: &'a serde_json::Value,
    }
    let outbound = Outbound {
        id: event.id,
        kind: &event.kind,
        time: event.time,
        payload: &event.payload,
    };
    serde_json::to_string(&outbound).ok().map(Utf8Bytes::from)
}

/// `{"type":"subscribed","ward":…,"mine":…}`: the filter now in force.
pub fn subscribed(filter: &Filter) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": "subscribed", "ward": filter.ward, "mine": filter.user.is_some()}).to_string())
}

/// `{"type":"resync_required","last_event_id":…}`: the client's last event is no longer kept.
pub fn resync_required(last: Uuid) -> Utf8Bytes {
    Utf8Bytes::from(
        json!({
            "type": "resync_required",
            "last_event_id": last,
            "message": "events after this id are no longer kept; refetch over the REST API"
        })
        .to_string(),
    )
}

/// `{"type":"error","error":<code>,"message":…}` for a message the hub could not take.
pub fn error(code: &str, message: &str) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": "error", "error": code, "message": message}).to_string())
}

/// `{"type":"pong"}`.
pub fn pong() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"type":"pong"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_needs_every_part_it_sets() {
        let (ward, me) = (Uuid::now_v7(), UserId(Uuid::now_v7()));
        let both = Filter {
            ward: Some(ward),
            user: Some(me),
        };
        assert!(Filter::default().admits(None, &[]));
        assert!(both.admits(Some(ward), &[me]));
        assert!(!both.admits(Some(ward), &[]));
        assert!(!both.admits(None, &[me]));
    }

    #[test]
    fn client_messages_parse_strictly() {
        let ok: ClientMessage = serde_json::from_str(r#"{"type":"subscribe","mine":true}"#).unwrap();
        assert!(matches!(ok, ClientMessage::Subscribe { ward: None, mine: true }));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","wrad":"x"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"unsubscribe"}"#).is_err());
    }
}
