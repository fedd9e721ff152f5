//! A WebSocket client of the gateway's `/api/v1/ws`, for the tests of live events.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode},
};

/// Long enough for a loaded CI machine, short enough that a missing event fails quickly.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Ws(pub WebSocketStream<TcpStream>);

/// Opens `/api/v1/ws{query}` with an optional bearer token; the refusal's status otherwise.
pub async fn open(app: &super::TestApp, query: &str, token: Option<&str>) -> Result<Ws, StatusCode> {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut request = format!("ws://{addr}/api/v1/ws{query}").into_client_request().unwrap();
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        request.headers_mut().insert("authorization", value);
    }
    let stream = TcpStream::connect(&addr).await.unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(Ws(socket)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
        }
        Err(other) => panic!("the WebSocket handshake failed: {other}"),
    }
}

pub async fn connect(app: &super::TestApp, query: &str, token: &str) -> Ws {
    open(app, query, Some(token)).await.expect("the WebSocket opens")
}

impl Ws {
    /// The next JSON text message, failing after the deadline.
    pub async fn next_json(&mut self) -> Value {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.0.next().await.expect("the WebSocket ended").unwrap() {
                    Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                    Message::Close(frame) => panic!("closed by the gateway: {frame:?}"),
                    _ => {}
                }
            }
        })
        .await
        .expect("no message before the deadline")
    }

    pub async fn send(&mut self, message: Value) {
        self.0.send(Message::Text(message.to_string().into())).await.unwrap();
    }

    /// The close code the gateway ends the connection with, skipping messages before it.
    pub async fn close_code(&mut self) -> CloseCode {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.0.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => return frame.code,
                    Some(Ok(_)) => {}
                    other => panic!("ended without a close frame: {other:?}"),
                }
            }
        })
        .await
        .expect("no close before the deadline")
    }
}

impl Ws {
    /// The next event of type `kind`, skipping others (the organisation's other traffic).
    pub async fn next_event(&mut self, kind: &str) -> Value {
        tokio::time::timeout(DEADLINE, async {
            loop {
                let message = self.next_json().await;
                if message["type"] == kind {
                    return message;
                }
            }
        })
        .await
        .expect("no such event before the deadline")
    }
}
