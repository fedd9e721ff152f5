//! One HTTP/1.1 keep-alive connection per VU, straight on hyper's connection API: no pool
//! lookups, no per-request client state, and a reconnect only after a failure or a close.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a request produced no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within the request timeout")]
    TimedOut,
}

/// A VU's connection to the target.
pub struct Connection {
    addr: Arc<str>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// A connection that dials on first use.
    pub fn new(addr: Arc<str>) -> Self {
        Self { addr, sender: None }
    }

    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, SendError> {
        if let Some(sender) = &mut self.sender
            && sender.ready().await.is_err()
        {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = TcpStream::connect(&*self.addr).await.map_err(SendError::Connect)?;
            let _ = stream.set_nodelay(true);
            // Requests are small: one flattened write beats a writev of header and body buffers.
            let (sender, connection) = http1::Builder::new()
                .writev(false)
                .handshake(TokioIo::new(stream))
                .await?;
            // The connection task ends when the sender is dropped or the peer closes.
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| SendError::Connect(std::io::Error::other("no connection")))
    }

    /// Drops the connection; the next request dials a new one.
    pub fn reset(&mut self) {
        self.sender = None;
    }

    /// Sends a request and reads the whole response; the body is kept only when `keep_body`.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
        keep_body: bool,
    ) -> Result<(StatusCode, Bytes), SendError> {
        let result = async {
            let response = self.ready().await?.send_request(request).await?;
            let status = response.status();
            let mut body = response.into_body();
            if keep_body {
                return Ok((status, body.collect().await?.to_bytes()));
            }
            // Read to the end so the connection can be reused; frames are dropped as they come.
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok((status, Bytes::new()))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}
