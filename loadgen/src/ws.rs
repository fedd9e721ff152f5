//! WebSocket steps: a VU opens one WebSocket (kept across steps), sends a text message and
//! expects one containing a given text within a deadline; the step's latency is connect (when it
//! had to) plus send plus the wait, which is the message latency the seed's 200 ms target is about.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig},
};

/// Per-connection read buffer: tungstenite's 128 KiB default costs ~140 KB per idle socket, too
/// much for thousands of VUs; event messages are small.
const READ_BUFFER: usize = 4 * 1024;

/// A VU's WebSocket.
pub struct Socket(WebSocketStream<TcpStream>);

impl Socket {
    /// Opens `ws://{addr}{path}`.
    pub async fn connect(addr: &str, host: &str, path: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let request = format!("ws://{host}{path}")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(Self(socket))
    }

    /// Sends a text message.
    pub async fn send(&mut self, text: String) -> Result<(), String> {
        self.0
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// Waits for a text message containing `expected`, skipping others, until `within` passes.
    pub async fn expect(&mut self, expected: &str, within: Duration) -> Result<(), String> {
        let wait = async {
            while let Some(message) = self.0.next().await {
                match message.map_err(|e| format!("receive: {e}"))? {
                    Message::Text(text) if text.contains(expected) => return Ok(()),
                    Message::Close(_) => return Err("the server closed the WebSocket".to_owned()),
                    _ => {}
                }
            }
            Err("the WebSocket ended".to_owned())
        };
        tokio::time::timeout(within, wait).await.map_err(|_| {
            format!(
                "no message containing `{expected}` within {}",
                humantime::format_duration(within)
            )
        })?
    }
}
