//! `GET /api/v1/openapi.json`: the public API's OpenAPI 3.1 description.
//!
//! Kept as a document rather than derived from handlers because the gateway links no service
//! code; `tests/openapi/` keeps it equal to the routes the running stack answers.

use axum::{http::header, response::IntoResponse};

/// The document, embedded at build time.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
