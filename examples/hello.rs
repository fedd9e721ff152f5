//! A bare axum hello-world: the reference "what this machine can do" server for `benches/gateway.sh`.
//!
//! `cargo run --release --example hello -- [ADDR]` serves `GET /` → `Hello, World!` on ADDR
//! (default 127.0.0.1:3000) on a multi-threaded tokio runtime, with nothing else in the way.

use std::net::SocketAddr;

use axum::{Router, routing::get};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| anyhow::anyhow!("bad address {arg:?}: {e}"))?,
        None => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("hello listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
