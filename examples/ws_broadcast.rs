//! A bare WebSocket broadcast server: the reference for `benches/websocket.sh`, "what this
//! machine can do" for holding many WebSocket connections and fanning one message out to all.
//!
//! `cargo run --release --example ws_broadcast -- [WS_ADDR] [CONTROL_ADDR]` (defaults
//! 127.0.0.1:9001 and 127.0.0.1:9002):
//! - WS_ADDR accepts WebSocket connections on any path with tokio-tungstenite, configured as the
//!   gateway configures its sockets (4 KiB read buffer, 4 KiB write threshold, 4 KiB inbound
//!   limit), one task per connection;
//! - CONTROL_ADDR answers `POST /publish` (a JSON body) by sending
//!   `{"id", "type": "bench.event", "time": <RFC 3339 now>, "payload": <the body>}` to every
//!   connection, serialised once, and `GET /stats` with `{"connections", "published", "lagged"}`.
//!
//! What it leaves out is what the gateway's hub adds: authentication, organisations and filters,
//! replay, heartbeats, rate limits, caps and metrics. The difference is their price.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use futures::{SinkExt, StreamExt};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::broadcast::{self, error::RecvError},
};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes, protocol::WebSocketConfig};

/// The gateway's settings (gateway/src/ws/mod.rs), so both sides pay the same per socket.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
const MAX_INBOUND: usize = 4 * 1024;
/// Messages a connection may fall behind before it skips some (counted in `lagged`); the
/// gateway's per-client queue (`gateway.ws.queue`) defaults to 256 as well.
const QUEUE: usize = 256;

/// What the control endpoints share with the connections.
#[derive(Clone)]
struct Shared {
    tx: broadcast::Sender<Utf8Bytes>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    published: AtomicU64,
    lagged: AtomicU64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let ws_addr = addr_arg(1, "127.0.0.1:9001")?;
    let control_addr = addr_arg(2, "127.0.0.1:9002")?;
    let (tx, _) = broadcast::channel(QUEUE);
    let shared = Shared {
        tx,
        counters: Arc::default(),
    };
    let ws = TcpListener::bind(ws_addr).await?;
    let control = TcpListener::bind(control_addr).await?;
    println!(
        "ws_broadcast: ws://{} control http://{}",
        ws.local_addr()?,
        control.local_addr()?
    );
    let app = Router::new()
        .route("/publish", post(publish))
        .route("/stats", get(stats))
        .with_state(shared.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(control, app).await {
            eprintln!("control listener failed: {e}");
        }
    });
    loop {
        let stream = match ws.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (EMFILE) fails every accept at once; back off rather
                // than spin, as axum::serve does, and say so: the count reached is the result.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Subscribed before the handshake, so a message published meanwhile is not missed.
        tokio::spawn(serve(stream, shared.tx.subscribe(), shared.counters.clone()));
    }
}

/// One connection: writes every broadcast message, reads (and drops) what the client sends.
async fn serve(stream: TcpStream, mut rx: broadcast::Receiver<Utf8Bytes>, counters: Arc<Counters>) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_INBOUND))
        .max_frame_size(Some(MAX_INBOUND));
    let Ok(mut socket) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    counters.connections.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    counters.lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => break,
            },
            inbound = socket.next() => match inbound {
                // Pings are answered by tungstenite itself on the next write or flush.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    counters.connections.fetch_sub(1, Ordering::Relaxed);
}

/// `POST /publish`: stamps the time, serialises once, sends to every connection.
async fn publish(State(shared): State<Shared>, Json(payload): Json<serde_json::Value>) -> Json<serde_json::Value> {
    let id = shared.counters.published.fetch_add(1, Ordering::Relaxed) + 1;
    // Stamped as late as possible, as the task service stamps its events when it publishes them.
    let time = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let text = serde_json::json!({ "id": id, "type": "bench.event", "time": time, "payload": payload });
    // `send` fails only when nobody is connected, which is no error for a broadcast.
    let receivers = shared.tx.send(Utf8Bytes::from(text.to_string())).unwrap_or(0);
    Json(serde_json::json!({ "id": id, "receivers": receivers }))
}

/// `GET /stats`: connections open now, messages published, messages skipped by lagging clients.
async fn stats(State(shared): State<Shared>) -> Json<serde_json::Value> {
    let c = &shared.counters;
    Json(serde_json::json!({
        "connections": c.connections.load(Ordering::Relaxed),
        "published": c.published.load(Ordering::Relaxed),
        "lagged": c.lagged.load(Ordering::Relaxed),
    }))
}

fn addr_arg(index: usize, default: &str) -> anyhow::Result<SocketAddr> {
    let arg = std::env::args().nth(index).unwrap_or_else(|| default.to_owned());
    arg.parse().map_err(|e| anyhow::anyhow!("bad address {arg:?}: {e}"))
}
