//! Live events over WebSocket: `GET /api/v1/ws`, `POST /api/v1/ws/ticket` and the services'
//! `POST /internal/events` (docs/api.md, "Live events"; docs/architecture.md for the design).
//!
//! Layout: `hub` (registry and fan-out), `connection` (one task per socket), `protocol`
//! (messages, filters, close codes), `replay` (per-organisation resume buffer), `ticket`.
//!
//! An upgrade is not a request for the per-token rate limiter (which would refuse the 51st
//! connection of a token in a second); each token has its own cap on open connections instead
//! (`gateway.ws.max_per_token`), and the gateway a global one (`gateway.ws.max_connections`).

use axum::{
    Extension,
    extract::{
        State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use uuid::Uuid;

use emrlab_common::{
    auth::{Claims, Internal, Role, bearer, token_rejection},
    error::ApiError,
    events::Event,
    extract::{Json, Query},
    metrics::names,
};

use crate::AppState;

mod connection;
pub mod hub;
mod protocol;
mod replay;
mod ticket;

pub use hub::Hub;

/// Inbound messages are small JSON objects; a bigger frame is refused by tungstenite (1009).
const MAX_INBOUND: usize = 4 * 1024;
/// tungstenite's default 128 KiB read buffer costs ~140 KB per idle connection; 4 KiB fits every
/// message a client may send and keeps 10,000 connections in tens of megabytes.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes gathered before a write; a flush follows every batch anyway.
const WRITE_BUFFER: usize = 4 * 1024;
/// A client whose socket will not take more than this is failing; the write errors and it ends.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Events one `POST /internal/events` may carry (a publisher sends 100 at most).
const MAX_PUBLISHED: usize = 1_000;

/// `GET /api/v1/ws` query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectQuery {
    /// A ticket from `POST /api/v1/ws/ticket`, for clients that cannot send a header.
    ticket: Option<String>,
    /// Resume after this event: what the client missed is replayed first.
    last_event_id: Option<Uuid>,
    /// The initial filter, as a `subscribe` message would set it (so a replay honours it).
    ward: Option<Uuid>,
    #[serde(default)]
    mine: bool,
    /// Named only to refuse them clearly: a token in a URL reaches logs.
    access_token: Option<String>,
    token: Option<String>,
}

fn clinical(claims: &Claims) -> Result<(), ApiError> {
    // Events carry clinical data (task payloads); the operator runs the platform and sees none.
    if claims.role == Role::Operator {
        return Err(ApiError::forbidden("the operator role receives no clinical events"));
    }
    Ok(())
}

/// `GET /api/v1/ws`: authenticates (header or ticket), admits, then upgrades.
pub async fn connect(
    State(state): State<AppState>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    admit(state, query, &headers, upgrade).unwrap_or_else(IntoResponse::into_response)
}

fn admit(
    state: AppState,
    query: ConnectQuery,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let reject = token_rejection;
    if query.access_token.is_some() || query.token.is_some() {
        return Err(reject(
            "never put a token in a URL: send it as Authorization: Bearer, or use a ticket from POST /api/v1/ws/ticket",
        ));
    }
    let claims = match (bearer(headers), &query.ticket) {
        (Some(token), _) => state.keys.verify(token).map_err(|e| reject(&e.to_string()))?,
        (None, Some(ticket)) => state
            .hub
            .tickets()
            .redeem(ticket)
            .ok_or_else(|| reject("the ticket is unknown, expired or already used"))?,
        (None, None) => return Err(reject("missing bearer token or ticket")),
    };
    clinical(&claims)?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this route speaks WebSocket only; send an upgrade request",
        )
    })?;
    let slot = state.hub.admit(&claims).map_err(|refused| {
        let (reason, error) = match refused {
            hub::Refused::Full => (
                "full",
                ApiError::unavailable("too many live connections; retry shortly"),
            ),
            hub::Refused::TokenCap => (
                "token_cap",
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_connections",
                    "this token holds as many live connections as it may (gateway.ws.max_per_token)",
                )
                .retry_after(1),
            ),
        };
        metrics::counter!(names::WS_DROPPED, "component" => "gateway", "reason" => reason).increment(1);
        error
    })?;
    let filter = protocol::Filter {
        ward: query.ward,
        user: query.mine.then_some(slot.user()),
    };
    let last = query.last_event_id;
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_INBOUND)
        .max_frame_size(MAX_INBOUND)
        .on_upgrade(move |socket| async move {
            // Registered only now: a failed handshake must not leave a client in the hub.
            let (member, resume) = state.hub.join(slot, filter, last);
            connection::serve(socket, state, claims, member, resume).await;
        }))
}

/// `POST /api/v1/ws/ticket`: a single-use ticket for `GET /api/v1/ws?ticket=…`.
pub async fn issue_ticket(State(state): State<AppState>, Extension(claims): Extension<Claims>) -> Response {
    if let Err(error) = clinical(&claims) {
        return error.into_response();
    }
    let ttl = state.knobs.get().gateway.ws.ticket_ttl;
    match state.hub.tickets().issue(claims, ttl) {
        Some(ticket) => {
            axum::Json(serde_json::json!({ "ticket": ticket, "expires_in": ttl.as_secs() })).into_response()
        }
        None => ApiError::unavailable("too many outstanding tickets; retry shortly").into_response(),
    }
}

/// `POST /internal/events`: a batch of events from a service in another process (no Redis).
pub async fn publish_events(
    State(state): State<AppState>,
    Internal(caller): Internal,
    Json(events): Json<Vec<Event>>,
) -> Response {
    if events.len() > MAX_PUBLISHED {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("send at most {MAX_PUBLISHED} events at once"),
        )
        .into_response();
    }
    let n = events.len();
    metrics::counter!(names::EVENTS_RECEIVED, "component" => "gateway", "transport" => "http").increment(n as u64);
    for event in events {
        state.bus.deliver(event);
    }
    tracing::debug!(caller = %caller, events = n, "events received");
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "accepted": n }))).into_response()
}
