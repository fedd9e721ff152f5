//! emrlab plumbing shared by every service and the gateway: configuration and runtime knobs,
//! database pools, the cache interface, the event bus, auth claims and password hashing, the JSON error body,
//! metrics, telemetry and the server/shutdown path.
//!
//! Not for domain types: no task, patient or route lives here. Two services that want one domain
//! type talk over HTTP with a DTO owned by the callee.

pub mod auth;
pub mod cache;
pub mod config;
pub mod cursor;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod indexes;
pub mod internal;
pub mod knobs;
pub mod metrics;
pub mod server;
pub mod sqlite_inline;
pub mod telemetry;
pub mod testing;
