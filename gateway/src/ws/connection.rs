//! One WebSocket connection: a single task that writes the client's queued events, reads its
//! messages, pings it and closes it with a code saying why.
//!
//! Writing and reading share the task, so a client whose TCP window stays full stops draining its
//! queue; the dispatcher then finds the queue full and lets it go (1013). Nothing a client sends
//! can panic it: every message is parsed into [`ClientMessage`] or answered with an error.

use std::{num::NonZeroU32, time::Duration};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use emrlab_common::{auth::Claims, metrics::names};

use super::{
    hub::{Membership, Release},
    protocol::{self, ClientMessage, Filter, close},
    replay::Resume,
};
use crate::AppState;

/// Bad or over-rate messages a client may send before it is closed with 1008.
const MAX_STRIKES: u32 = 5;
/// Queued events written before one flush: fewer syscalls under a burst, little extra latency.
const WRITE_BATCH: usize = 32;
/// Longest the hub waits to deliver a close frame to a client that may be gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a connection ended, for the close frame and the metric.
struct Ending {
    code: u16,
    reason: &'static str,
    label: Option<&'static str>,
}

impl Ending {
    fn new(code: u16, reason: &'static str, label: &'static str) -> Self {
        Self {
            code,
            reason,
            label: Some(label),
        }
    }
}

/// Serves an upgraded connection until it ends.
pub async fn serve(mut socket: WebSocket, state: AppState, claims: Claims, member: Membership, resume: Resume) {
    let ending = run(&mut socket, &state, &claims, member, resume).await;
    if let Some(label) = ending.label {
        metrics::counter!(names::WS_DROPPED, "component" => "gateway", "reason" => label).increment(1);
    }
    if ending.code != 0 {
        let frame = CloseFrame {
            code: ending.code,
            reason: Utf8Bytes::from_static(ending.reason),
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
}

async fn run(
    socket: &mut WebSocket,
    state: &AppState,
    claims: &Claims,
    mut member: Membership,
    resume: Resume,
) -> Ending {
    let gone = Ending {
        code: 0,
        reason: "",
        label: None,
    };
    match resume {
        Resume::Fresh => {}
        Resume::ResyncRequired(last) => {
            if socket
                .send(Message::Text(protocol::resync_required(last)))
                .await
                .is_err()
            {
                return gone;
            }
        }
        Resume::Replay(events) => {
            for text in events {
                if socket.feed(Message::Text(text)).await.is_err() {
                    return gone;
                }
            }
            if socket.flush().await.is_err() {
                return gone;
            }
        }
    }
    let per_second = NonZeroU32::new(state.knobs.get().gateway.ws.inbound_per_second).unwrap_or(NonZeroU32::MIN);
    let limiter: DefaultDirectRateLimiter = RateLimiter::direct(Quota::per_second(per_second));
    let mut strikes = 0_u32;
    let mut last_heard = Instant::now();
    let mut next_ping = Instant::now() + state.knobs.get().gateway.ws.heartbeat;
    // A connection outlives no token: at its expiry the client must come back with a fresh one.
    let expires = Instant::now() + Duration::from_secs(u64::try_from(claims.exp - now()).unwrap_or(0));
    loop {
        tokio::select! {
            queued = member.rx.recv() => {
                let Some(text) = queued else {
                    return match member.shared.released() {
                        Release::SlowConsumer => Ending {
                            code: close::TRY_AGAIN_LATER,
                            reason: "slow consumer: reconnect with last_event_id",
                            label: None, // counted by the dispatcher
                        },
                        Release::None => Ending::new(close::GOING_AWAY, "the gateway is shutting down", "shutdown"),
                    };
                };
                if write_batch(socket, &mut member, text).await.is_err() {
                    return gone;
                }
            }
            inbound = socket.recv() => {
                let message = match inbound {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => return read_failure(error),
                    None => return gone,
                };
                last_heard = Instant::now();
                let reply = match message {
                    Message::Text(text) if limiter.check().is_ok() => handle(&text, &member, claims),
                    Message::Text(_) => Err(protocol::error("rate_limited", "too many messages; slow down")),
                    Message::Binary(_) => Err(protocol::error("unsupported", "send JSON text messages")),
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Close(_) => return gone,
                };
                let text = match reply {
                    Ok(text) => text,
                    Err(text) => {
                        strikes += 1;
                        if strikes >= MAX_STRIKES {
                            return Ending::new(close::POLICY, "too many bad messages", "abuse");
                        }
                        text
                    }
                };
                if socket.send(Message::Text(text)).await.is_err() {
                    return gone;
                }
            }
            () = tokio::time::sleep_until(next_ping) => {
                let period = state.knobs.get().gateway.ws.heartbeat;
                if last_heard.elapsed() >= period * 2 {
                    return Ending::new(close::HEARTBEAT, "no pong within two heartbeats", "heartbeat");
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return gone;
                }
                next_ping = Instant::now() + period;
            }
            () = tokio::time::sleep_until(expires) => {
                return Ending::new(close::TOKEN_EXPIRED, "token expired: reconnect with a new one", "token_expired");
            }
        }
    }
}

/// Writes `first` and whatever else is queued (up to [`WRITE_BATCH`]), then flushes once.
async fn write_batch(socket: &mut WebSocket, member: &mut Membership, first: Utf8Bytes) -> Result<(), axum::Error> {
    socket.feed(Message::Text(first)).await?;
    for _ in 1..WRITE_BATCH {
        match member.rx.try_recv() {
            Ok(text) => socket.feed(Message::Text(text)).await?,
            Err(_) => break,
        }
    }
    socket.flush().await
}

/// Why reading failed: a client that went away needs no close frame and is no abuse; a frame over
/// the limit or a protocol violation gets one saying so.
fn read_failure(error: axum::Error) -> Ending {
    use tokio_tungstenite::tungstenite::{Error, error::ProtocolError};
    match error.into_inner().downcast::<Error>().map(|e| *e) {
        Ok(Error::Capacity(_)) => Ending::new(close::TOO_BIG, "message over 4 KiB", "too_big"),
        Ok(
            Error::ConnectionClosed
            | Error::AlreadyClosed
            | Error::Io(_)
            | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
        )
        | Err(_) => Ending {
            code: 0,
            reason: "",
            label: None,
        },
        Ok(_) => Ending::new(close::PROTOCOL, "malformed frame", "bad_frame"),
    }
}

/// Answers one client message: the reply, or an error reply that counts as a strike.
fn handle(text: &str, member: &Membership, claims: &Claims) -> Result<Utf8Bytes, Utf8Bytes> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::Subscribe { ward, mine }) => {
            let filter = Filter {
                ward,
                user: mine.then_some(claims.sub),
            };
            member.shared.set_filter(filter);
            Ok(protocol::subscribed(&filter))
        }
        Ok(ClientMessage::Ping) => Ok(protocol::pong()),
        Err(e) => Err(protocol::error(
            "invalid_message",
            &format!("not a message this API takes ({e}); see docs/api.md"),
        )),
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
