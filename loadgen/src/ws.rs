//! WebSocket steps: a VU opens one WebSocket (kept across steps), sends a text message and
//! expects one containing a given text within a deadline; the step's latency is connect (when it
//! had to) plus send plus the wait, which is the message latency the seed's 200 ms target is about.
//! A subscriber step sends nothing and expects the event of a change the VU just made over REST
//! (`expect = "${task_id}"`): its latency is from the REST answer to the event.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{HeaderName, HeaderValue};
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
    /// Opens `ws://{addr}{path}` with extra `headers` on the upgrade request (a bearer token).
    pub async fn connect(addr: &str, host: &str, path: &str, headers: &[(HeaderName, String)]) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut request = format!("ws://{host}{path}")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|_| format!("header {name} is not a valid value"))?;
            request.headers_mut().insert(name.clone(), value);
        }
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

    /// Reads messages for `period`, calling `on_event` with the latency of each one that carries
    /// an RFC 3339 `time` (arrival minus that time; zero if the clocks disagree the other way).
    pub async fn listen(&mut self, period: Duration, mut on_event: impl FnMut(Duration)) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + period;
        loop {
            let Ok(message) = tokio::time::timeout_at(deadline, self.0.next()).await else {
                return Ok(());
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(latency) = event_latency(&text) {
                        on_event(latency);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(0, |f| u16::from(f.code));
                    return Err(format!("the server closed the WebSocket ({code})"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("receive: {e}")),
                None => return Err("the WebSocket ended".to_owned()),
            }
        }
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

/// Arrival minus the `time` an event message carries, if it carries one.
fn event_latency(text: &str) -> Option<Duration> {
    #[derive(serde::Deserialize)]
    struct Stamped {
        #[serde(with = "time::serde::rfc3339")]
        time: time::OffsetDateTime,
    }
    let stamped: Stamped = serde_json::from_str(text).ok()?;
    let elapsed = time::OffsetDateTime::now_utc() - stamped.time;
    Some(Duration::try_from(elapsed).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_latency_is_arrival_minus_its_time_and_other_messages_have_none() {
        let sent = time::OffsetDateTime::now_utc() - time::Duration::milliseconds(250);
        let text = serde_json::json!({"id": "x", "type": "task.created", "time": sent.format(&time::format_description::well_known::Rfc3339).unwrap(), "payload": {}});
        let latency = event_latency(&text.to_string()).unwrap();
        assert!(
            latency >= Duration::from_millis(250) && latency < Duration::from_secs(5),
            "{latency:?}"
        );
        assert_eq!(event_latency(r#"{"type":"subscribed"}"#), None);
        let future = r#"{"time":"2999-01-01T00:00:00Z"}"#;
        assert_eq!(event_latency(future), Some(Duration::ZERO));
    }
}
