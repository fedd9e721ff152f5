//! The one way every component serves HTTP: bind first (port 0 works, the caller reads the
//! address), then serve until the shutdown token fires, letting in-flight requests finish.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, OnResponse, TraceLayer},
};
use tracing::Span;

use crate::{
    error::{ApiError, method_not_allowed, route_not_found},
    extract::MAX_BODY_BYTES,
};

/// Longest a service spends on one request; shorter than the gateway's upstream timeout so the
/// caller sees this clear 503 rather than a gateway 504.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The request-id header, generated at the edge when absent and forwarded to every hop.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Connections one listener holds open at once; more wait in the kernel's accept backlog.
/// Two listeners at this cap stay under the 20,000 open files a process may have here, with room
/// for pools and upstream connections.
pub const MAX_CONNECTIONS: usize = 8_192;

/// A bound listener with the app it will serve.
pub struct Server {
    listener: TcpListener,
    app: Router,
    max_connections: usize,
}

/// A listener that stops accepting at [`MAX_CONNECTIONS`] until a connection closes.
pub struct CappedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

/// The peer's address, as `ConnectInfo<ClientAddr>` in handlers (rate limits per client).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, CappedListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, CappedListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// A connection holding its slot until it is dropped.
pub struct CappedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only fails if that invariant breaks.
        let slot = loop {
            if let Ok(slot) = self.slots.clone().acquire_owned().await {
                break slot;
            }
        };
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        // Responses are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        (CappedStream { stream, _slot: slot }, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Server {
    /// Binds `addr`; nothing is served until [`Server::run`].
    pub async fn bind(addr: SocketAddr, app: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            app,
            max_connections: MAX_CONNECTIONS,
        })
    }

    /// Raises or lowers the connection cap (a load target holding 10,000 idle VUs needs more).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// The address actually bound (the chosen port when asked for 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then waits for in-flight requests.
    pub fn run(self, shutdown: CancellationToken) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        let app = self.app.into_make_service_with_connect_info::<ClientAddr>();
        let listener = CappedListener {
            inner: self.listener,
            slots: Arc::new(Semaphore::new(self.max_connections)),
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .into_future()
    }
}

/// Wraps a component's routes with what every component shares: JSON 404/405, body limit,
/// request timeout, metrics, a request span carrying the request id, and the id itself.
pub fn with_common_layers(
    router: Router,
    component: &'static str,
    routes: &'static [(&'static str, &'static str)],
) -> Router {
    let tracker = Arc::new(crate::metrics::Tracker::new(component, routes));
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(timeout))
        .layer(middleware::from_fn(move |req, next| {
            crate::metrics::track(tracker.clone(), req, next)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request<Body>| crate::telemetry::server_span(component, req))
                .on_response(|res: &Response, latency: Duration, span: &Span| {
                    crate::telemetry::record_status(span, res.status());
                    DefaultOnResponse::default().on_response(res, latency, span);
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_unusable_request_id))
}

/// Longest `x-request-id` a client may choose. The id goes into every log line and span of the
/// request and to every upstream, so a longer one, or one with anything but visible ASCII, is
/// replaced by a generated one.
const MAX_REQUEST_ID: usize = 128;

async fn drop_unusable_request_id(mut req: Request) -> Request {
    let unusable = req
        .headers()
        .get_all(&REQUEST_ID)
        .iter()
        .any(|id| id.len() > MAX_REQUEST_ID || !id.as_bytes().iter().all(u8::is_ascii_graphic));
    if unusable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

async fn timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; try again",
        )
        .retry_after(1)
        .into_response(),
    }
}

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
        trigger.cancel();
    });
    token
}

/// `GET /health`: the process is up.
pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /ready` of a component whose one dependency is its database.
pub async fn database_ready(db: &crate::db::AnyDb) -> Result<axum::Json<serde_json::Value>, ApiError> {
    db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database not reachable");
        ApiError::unavailable("the database is not reachable")
    })?;
    Ok(axum::Json(
        serde_json::json!({ "status": "ready", "database": db.backend() }),
    ))
}

/// What every service with a database serves besides its API: `/health`, `/ready` (the database
/// answers), `/metrics` and the internal knob endpoint.
pub fn operational_routes<T>(
    db: crate::db::AnyDb,
    knobs: Arc<crate::knobs::KnobCell<T>>,
    keys: Arc<crate::auth::JwtKeys>,
) -> Router
where
    T: serde::Serialize + serde::de::DeserializeOwned + Default + Send + Sync + 'static,
{
    Router::new()
        .route("/health", axum::routing::get(health))
        .route(
            "/ready",
            axum::routing::get(move || async move { database_ready(&db).await }),
        )
        .route("/metrics", axum::routing::get(crate::metrics::endpoint))
        .merge(crate::internal::knob_router(knobs, keys))
}
