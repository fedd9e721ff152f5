//! The simulator's listener, which can really close its port: while `vendors.<v>.outage` is
//! `refuse` it drops its socket, so callers get ECONNREFUSED as from a vendor that is down, and
//! cuts the connections already open; when the outage ends it binds the same address again.
//! Otherwise it is `common::server::CappedListener`: capped connections, TCP_NODELAY.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{extract::connect_info::Connected, serve::IncomingStream};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use emrlab_common::server::MAX_CONNECTIONS;
use emrlab_seed::Vendor;

use super::config::{Outage, SimSettings};

/// How long to wait before trying again when the port cannot be bound or accept fails (out of
/// file descriptors, say): long enough not to spin, short enough to come back promptly.
const RETRY: Duration = Duration::from_millis(100);

/// A listener that follows the vendor's `outage` knob.
pub struct OutageListener {
    vendor: Vendor,
    addr: SocketAddr,
    /// `None` while refusing.
    socket: Option<TcpListener>,
    /// `None` once the knob cell is gone; the outage then stays as it last was.
    settings: Option<watch::Receiver<Arc<SimSettings>>>,
    slots: Arc<Semaphore>,
    /// Parent of every open connection's token: cancelled to cut them all when refusing starts.
    connections: CancellationToken,
}

/// An accepted connection, cut (reads and writes fail) once its token is cancelled.
pub struct SimStream {
    stream: TcpStream,
    token: CancellationToken,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
    _slot: OwnedSemaphorePermit,
}

/// A request's connection, as `ConnectInfo<Connection>`, so a request can cut its own.
#[derive(Clone)]
pub struct Connection(CancellationToken);

impl Connection {
    /// Closes the connection: the caller sees it reset.
    pub fn cut(&self) {
        self.0.cancel();
    }
}

impl Connected<IncomingStream<'_, OutageListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, OutageListener>) -> Self {
        Self(stream.io().token.clone())
    }
}

impl OutageListener {
    /// Takes over a bound socket; `settings` says when to close and reopen it.
    pub fn new(vendor: Vendor, socket: TcpListener, settings: watch::Receiver<Arc<SimSettings>>) -> io::Result<Self> {
        Ok(Self {
            vendor,
            addr: socket.local_addr()?,
            socket: Some(socket),
            settings: Some(settings),
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            connections: CancellationToken::new(),
        })
    }

    fn refusing(&self) -> bool {
        self.settings
            .as_ref()
            .is_some_and(|rx| rx.borrow().vendors.get(self.vendor).outage == Outage::Refuse)
    }

    /// Waits for a knob change; never returns once the knob cell is gone.
    async fn changed(settings: &mut Option<watch::Receiver<Arc<SimSettings>>>) {
        match settings {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    *settings = None;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Brings the socket in line with the knob: closed while refusing, open otherwise.
    async fn follow_outage(&mut self) {
        while self.refusing() {
            if self.socket.take().is_some() {
                self.connections.cancel();
                self.connections = CancellationToken::new();
                tracing::warn!(vendor = %self.vendor, addr = %self.addr, "outage: refusing connections");
            }
            Self::changed(&mut self.settings).await;
        }
        while self.socket.is_none() {
            // Tokio sets SO_REUSEADDR, so the port's connections in TIME_WAIT do not block this.
            match TcpListener::bind(self.addr).await {
                Ok(socket) => {
                    tracing::info!(vendor = %self.vendor, addr = %self.addr, "outage over: accepting connections");
                    self.socket = Some(socket);
                }
                Err(e) => {
                    tracing::error!(vendor = %self.vendor, addr = %self.addr, error = %e, "cannot bind again; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

impl axum::serve::Listener for OutageListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    // Cancel-safe: axum drops this future at shutdown, and every state change is kept in `self`.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            self.follow_outage().await;
            let Some(socket) = &self.socket else {
                continue;
            };
            // Waiting for a free slot watches the knob too: at the cap, an outage must still
            // close the port and cut the open connections at once.
            let slot_then_accept = async {
                let slot = self.slots.clone().acquire_owned().await;
                (slot, socket.accept().await)
            };
            tokio::select! {
                (slot, accepted) = slot_then_accept => match (slot, accepted) {
                    (Ok(slot), Ok((stream, remote))) => {
                        // Answers are small and latency matters more than packet count.
                        let _ = stream.set_nodelay(true);
                        let token = self.connections.child_token();
                        let cut = Box::pin(token.clone().cancelled_owned());
                        return (SimStream { stream, token, cut, _slot: slot }, remote);
                    }
                    // The semaphore is never closed, so this only happens if that invariant breaks.
                    (Err(_), _) => {}
                    // A connection that died in the backlog is no reason to pause.
                    (_, Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {}
                    (_, Err(e)) => {
                        tracing::error!(vendor = %self.vendor, error = %e, "accept failed");
                        tokio::time::sleep(RETRY).await;
                    }
                },
                () = Self::changed(&mut self.settings) => {}
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl SimStream {
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.cut
            .as_mut()
            .poll(cx)
            .is_ready()
            .then(|| io::Error::new(io::ErrorKind::ConnectionReset, "the simulated vendor went away"))
    }
}

impl AsyncRead for SimStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_cut(cx) {
            Some(cut) => Poll::Ready(Err(cut)),
            None => Pin::new(&mut this.stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_cut(cx) {
            Some(cut) => Poll::Ready(Err(cut)),
            None => Pin::new(&mut this.stream).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_cut(cx) {
            Some(cut) => Poll::Ready(Err(cut)),
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
